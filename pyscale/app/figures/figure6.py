"""Figure 6: log(1 − |u|) against log t for a ∈ {1.5, 2, 4} and d ∈ {500, 2000, 5000} —
the Phase IIb approach of u to 1 (model page: Phases).

Population gradient flow (rtol 10⁻⁹) to t = 10⁶. The law is 1 − u ≍ Λ(t)^{−(a−1)/a} with
Λ(t) = Θ(T1') − Θ(t) ≈ 2 s* (t − T1'): 1 − u is the unlearned tail mass of the spectrum.
It holds only while the tail is there: from about k = 5 learned directions on
(k = (Λ/H_{d,a})^{1/a}) until the finite-d correction (k/d)^{a−1} reaches 10 %, i.e. while
Λ^{1/a} ≪ d (:func:`~pyscale.app.figures._theory.phase2b_window`); after that the spectrum is
exhausted and 1 − u falls exponentially. Each panel shades that window for the largest d,
fits the log-log slope of 1 − |u| against Λ there (:func:`pyscale.analysis.compare.fit_loglog`) and
prints the fit and the window in its title; the dashed line is the law's slope
−(a−1)/a through the fitted curve at the window's centre, drawn on the same Λ(t).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...analysis.compare import fit_loglog
from ...model.problem import Problem
from ._plot import Runs, figure_legend, log_axes, log_times, new_figure, palette, positive, save
from ._theory import phase2b_clock, phase2b_window

TITLE = "Phase IIb: 1 − |u| vs t"

PARAMS = {
    "full": {"a": (1.5, 2.0, 4.0), "d": (500, 2000, 5000), "t": 1e6, "s0": 0.1,
             "min_learned": 5.0, "max_bias": 0.1, "seed": 0},
    "quick": {"a": (1.5, 4.0), "d": (100, 300), "t": 1e4, "s0": 0.1, "min_learned": 5.0,
              "max_bias": 0.1, "seed": 0},
}


def law_fit(traj, d: int, a: float, p: dict) -> dict | None:
    """The Phase IIb fit of one flow run: slope of log(1 − |u|) against log Λ on the
    theory window of :func:`phase2b_window`; adds the window in t (``t_window``), the law's
    slope −(a−1)/a (``law``) and the clock Λ(t) (``clock``). None when T1' is not reached
    or the window holds fewer than 3 records."""
    t1p = traj.phases(s0=p["s0"]).T1_prime
    if t1p is None:
        return None
    clock = phase2b_clock(traj, t1p)
    lo, hi = phase2b_window(d, a, p["min_learned"], p["max_bias"])
    fit = fit_loglog(clock, 1.0 - np.abs(traj.u), (lo, hi))
    if fit is None:
        return None
    inside = (clock >= fit["window"][0]) & (clock <= fit["window"][1])
    fit.update(t_window=(float(traj.t[inside][0]), float(traj.t[inside][-1])),
               law=-(a - 1.0) / a, clock=clock, T1_prime=t1p)
    return fit


def _draw_law(ax, traj, fit) -> None:
    """The law's slope through the fitted line at the window's centre, on Λ(t), over the
    window widened by a factor 10 each side (where Λ > 0)."""
    lo, hi = fit["window"]
    centre = np.sqrt(lo * hi)
    level = np.exp(fit["intercept"]) * centre ** fit["slope"]
    clock = fit["clock"]
    show = (clock >= lo / 10.0) & (clock <= 10.0 * hi)
    ax.plot(traj.t[show], level * (clock[show] / centre) ** fit["law"], "k--", linewidth=1.2,
            zorder=5, label=r"law $\propto \Lambda(t)^{-(a-1)/a}$ through the fit at the "
                            "window's centre")


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    fig, axes = new_figure(len(p["a"]), 1, panel=(4.4, 3.9),
                           title=f"{TITLE} (population flow); law " + r"$1 - u \asymp "
                                 r"\Lambda^{-(a-1)/a}$, $\Lambda = \Theta(T_1') - \Theta(t) "
                                 r"\approx 2(t - T_1')$")
    colors = palette(len(p["d"]))
    times = log_times(p["t"], 300)
    with Runs(len(p["a"]) * len(p["d"]), "figure 6", progress) as runs:
        for ax, a in zip(axes, p["a"]):
            for d, color in zip(p["d"], colors):
                problem = Problem.power_law(d, a, seed=p["seed"])
                traj = runs.simulate(problem, "flow", desc=f"flow a={a:g} d={d}", t=times)
                ax.plot(*positive(traj.t, 1.0 - np.abs(traj.u)), color=color,
                        label=f"d = {d}")
            _panel(ax, traj, d, a, p)
    figure_legend(fig, axes)
    return save(fig, out)


def _panel(ax, traj, d: int, a: float, p: dict) -> None:
    """Fit window, fit and law line for the largest d; the title."""
    fit = law_fit(traj, d, a, p)
    if fit is None:
        title = f"a = {a:g}: no window where the law holds at d = {d}"
    else:
        t_lo, t_hi = fit["t_window"]
        ax.axvspan(t_lo, t_hi, color="0.5", alpha=0.12, linewidth=0,
                   label=f"fit window (largest d): k ≥ {p['min_learned']:g} directions "
                         f"learned, " + r"$(k/d)^{a-1}$" + f" ≤ {p['max_bias']:g}")
        _draw_law(ax, traj, fit)
        title = (f"a = {a:g}: fitted slope {fit['slope']:.3f}, law {fit['law']:.3f}\n"
                 f"fit on d = {d}, t ∈ [{t_lo:.3g}, {t_hi:.3g}]")
    log_axes(ax, "time t", "1 − |u|", title)
    ax.set_ylim(bottom=max(1e-12, ax.get_ylim()[0]))
