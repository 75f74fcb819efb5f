"""Figure 2: MSE, |u| and s under population gradient descent with the phases shaded
(model page: Phases) — a = 2, d = 1000, lr η = 10⁻², 10⁷ steps (t = 10⁵), δ = ε = 0.05.

Shaded, from the measured stopping times: Phase I (escape, t < T1, T1 the first time
|u| ≥ δ), Phase IIa (T1 to T1', after which s stays above s*(1/3 + s0), s0 = 0.1: the
threshold of T1', model page: Phases), Phase IIb (T1' to T2, the
first time |u| and s lie in [1 − ε, 1]: u approaches 1 while the MSE stays on its plateau
σ*² = ||w*||²/d) and Phase III (t > T2: the spectral tail is learned and the MSE leaves the
plateau). Measured T1 (dashed) and the predicted escape time log(δ/|C|)/ρ (dotted; model
page: Escape) are drawn in different styles; on the |u| panel the escape law |C| e^{ρt}.
The legend (below the panels) gives the Corollary 1 bound on T2 (s0 = 0.1), an upper
bound far to the right of the measured T2.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...model.problem import Problem
from ._plot import Runs, figure_legend, log_axes, log_records, new_figure, positive, save
from ._theory import predicted_phases

TITLE = "Population GD: the three phases"

PARAMS = {
    "full": {"d": 1000, "a": 2.0, "lr": 1e-2, "steps": 10_000_000, "delta": 0.05,
             "eps": 0.05, "seed": 0},
    "quick": {"d": 200, "a": 2.0, "lr": 1e-2, "steps": 100_000, "delta": 0.05,
              "eps": 0.05, "seed": 0},
}


#: (name, legend text, colour) of each shaded phase, in order; {T1} etc. are filled in
PHASES = (("I", "Phase I: escape, t < T1 = {T1}", "C3"),
          ("IIa", "Phase IIa: s rises past s*(1/3 + s0), T1 → T1' = {T1p}", "C1"),
          ("IIb", "Phase IIb: u → 1 on the MSE plateau, T1' → T2 = {T2}", "C2"),
          ("III", "Phase III: spectral tail learned, t > T2", "C0"))


def phase_edges(traj, ph):
    """The phase boundaries [t_first, T1, T1', T2, t_last] (first and last positive record
    times; None where a stopping time is not reached)."""
    t = traj.t[traj.t > 0]
    return [float(t[0]), ph.T1, ph.T1_prime, ph.T2, float(t[-1])]


def shade_phases(ax, edges) -> None:
    """Shade each phase between its edges (legend: name and times) and name it just above
    the axes; a phase whose edges are not both reached is left out."""
    times = {k: "—" if v is None else f"{v:.3g}"
             for k, v in zip(("T1", "T1p", "T2"), edges[1:4])}
    for i, (name, text, color) in enumerate(PHASES):
        lo, hi = edges[i], edges[i + 1]
        if lo is None or hi is None or hi <= lo:
            continue
        lo = max(lo, edges[0])
        ax.axvspan(lo, hi, color=color, alpha=0.13, linewidth=0, label=text.format(**times))
        ax.text(np.sqrt(lo * hi), 1.02, name, transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8, color=color, fontweight="bold")


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    problem = Problem.power_law(p["d"], p["a"], seed=p["seed"])
    with Runs(1, "figure 2", progress) as runs:
        traj = runs.simulate(problem, "gd", desc=f"gd d={p['d']}", lr=p["lr"],
                             steps=p["steps"], record=log_records(p["steps"], 400))
    ph = traj.phases(delta=p["delta"], eps=p["eps"])
    theory = predicted_phases(problem, p["delta"], p["eps"])
    fig, axes = new_figure(3, 1, panel=(4.4, 3.7),
                           title=f"{TITLE}: a = {p['a']:g}, d = {p['d']}, η = {p['lr']:g}, "
                                 f"{p['steps']:.0e} steps, δ = ε = {p['eps']:g}")
    panels = [(traj.mse, "MSE(w, w*)"), (np.abs(traj.u), "|u| = |w^T Q w*|"),
              (traj.s, "s = w^T Q w")]
    edges = phase_edges(traj, ph)
    for ax, (values, ylabel) in zip(axes, panels):
        shade_phases(ax, edges)
        ax.plot(*positive(traj.t, values), color="k", linewidth=1.6, label="GD")
        if ph.T1:  # drawn wide so that the predicted T1's dotted line does not hide it
            ax.axvline(ph.T1, color="C3", linestyle="--", linewidth=2.2,
                       label=f"T1 measured (|u| ≥ δ) = {ph.T1:.3g}")
        # predicted T1: dotted with a ▲ on the frame (it sits close to the measured one)
        ax.plot([theory.T1, theory.T1], [0.0, 1.0], transform=ax.get_xaxis_transform(),
                color="k", linestyle=":", linewidth=1.4, marker="^", markevery=[0],
                markersize=6, clip_on=False,
                label=f"T1 predicted, log(δ/|C|)/ρ = {theory.T1:.3g}")
        log_axes(ax, "time t = step · η", ylabel)
    t_esc = traj.t[(traj.t > 0) & (traj.t <= 1.5 * theory.T1)]
    axes[1].plot(t_esc, abs(theory.escape_prefactor) * np.exp(theory.escape_rate * t_esc),
                 color="C4", linestyle="-.", linewidth=1.3,
                 label=f"escape law |C| e^(ρt), ρ = {theory.escape_rate:.3g}")
    sigma2 = problem.star_norm2 / problem.d
    axes[0].axhline(sigma2, color="0.45", linestyle=(0, (5, 2, 1, 2)), linewidth=1.0,
                    label=f"plateau σ*² = ||w*||²/d = {sigma2:.3g}")
    level = problem.s_star * (1 / 3 + ph.s0)  # the threshold that defines T1'
    axes[2].axhline(level, color="0.45", linestyle=(0, (3, 1, 1, 1, 1, 1)), linewidth=1.0,
                    label=f"s = s*(1/3 + s0) = {level:.3g} (T1': s stays above)")
    bound = ("—" if theory.T2_bound is None else f"{theory.T2_bound:.2g}")
    axes[1].plot([], [], " ", label=f"Corollary 1 bound: T2 ≤ {bound} (s0 = {theory.s0:g})")
    figure_legend(fig, axes, ncol=3)
    return save(fig, out)
