"""Figure 2 (SPEC §4): MSE, |u| and s under population gradient descent with the three
phases of SPEC §3 marked — a = 2, d = 1000, lr η = 10⁻², 10⁷ steps (t = 10⁵), ε = 0.05.

Marked (vertical lines): the measured T1 (|u| ≥ δ = 0.05), T1' (s stays above 1/3 after)
and T2 (|u|, s ∈ [1 − ε, 1]); the predicted escape time log(δ/|C|)/ρ (dotted). On the |u|
panel the escape law |C| e^{ρt} (dashed); on the MSE panel the plateau level σ*² =
||w*||²/d. The Corollary 1 bound on T2 (s0 = 0.1) is printed in the title of the |u| panel
(it is an upper bound, far to the right of the measured T2).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..problem import Problem
from ._plot import Runs, log_axes, log_records, mark_time, new_figure, positive, save
from ._theory import predicted_phases

TITLE = "Population GD: the three phases"

PARAMS = {
    "full": {"d": 1000, "a": 2.0, "lr": 1e-2, "steps": 10_000_000, "delta": 0.05,
             "eps": 0.05, "seed": 0},
    "quick": {"d": 200, "a": 2.0, "lr": 1e-2, "steps": 100_000, "delta": 0.05,
              "eps": 0.05, "seed": 0},
}


def make(out: Path, quick: bool = False, progress: Optional[bool] = None) -> Path:
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
    panels = [("MSE", traj.mse, "MSE(w, w*)"), ("|u|", np.abs(traj.u), "|u| = |w^T Q w*|"),
              ("s", traj.s, "s = w^T Q w")]
    for ax, (name, values, ylabel) in zip(axes, panels):
        ax.plot(*positive(traj.t, values), color="C0", label="GD")
        mark_time(ax, ph.T1, f"T1 = {ph.T1:.3g}" if ph.T1 else "", "C3")
        mark_time(ax, ph.T1_prime, f"T1' = {ph.T1_prime:.3g}" if ph.T1_prime else "", "C1")
        mark_time(ax, ph.T2, f"T2 = {ph.T2:.3g}" if ph.T2 else "", "C2")
        mark_time(ax, theory.T1, f"predicted T1 = {theory.T1:.3g}", "C3", ":")
        log_axes(ax, "time t = step · η", ylabel)
    t_esc = traj.t[(traj.t > 0) & (traj.t <= 1.5 * theory.T1)]
    axes[1].plot(t_esc, abs(theory.escape_prefactor) * np.exp(theory.escape_rate * t_esc),
                 color="k", linestyle="--", linewidth=1.1,
                 label=f"|C| e^(ρt), ρ = {theory.escape_rate:.3g}")
    sigma2 = problem.star_norm2 / problem.d
    axes[0].axhline(sigma2, color="0.5", linestyle="-.", linewidth=1.0,
                    label=f"σ*² = {sigma2:.3g}")
    axes[2].axhline(1 / 3, color="0.5", linestyle="-.", linewidth=1.0, label="s = 1/3")
    bound = ("—" if theory.T2_bound is None else f"{theory.T2_bound:.2g}")
    axes[1].set_title(f"Corollary 1: T2 ≤ {bound}", fontsize=9)
    for ax in axes:
        ax.legend(loc="best", fontsize=7)
    return save(fig, out)
