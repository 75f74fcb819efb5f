"""Figure 3: the alignment |u|(t) for several spectral exponents a — d = 1000,
population GD with η = 10⁻³ — against the escape law (model page: Escape).

Left: |u| on log-log axes over the whole run (escape, then the slow approach to 1).
Right: the escape window on a logarithmic |u| axis against linear t, where the predicted
law |C| e^{ρt} (dashed) is a straight line; dotted: the Volterra equation (model page:
Gradient flow) with Θ(t) = s* t, which the law approximates; ticks at the predicted
T1 = log(δ/|C|)/ρ. The
exponents a = 1.5, 2, 3, 4 are a documented choice (the theory needs a > 1); escape is
faster for larger a.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...model.problem import Problem
from ._plot import Runs, log_axes, log_records, new_figure, palette, positive, save
from ._theory import prediction

TITLE = "Escape: |u|(t) for several a"

PARAMS = {
    "full": {"d": 1000, "a": (1.5, 2.0, 3.0, 4.0), "lr": 1e-3, "steps": 200_000,
             "delta": 0.05, "seed": 0},
    "quick": {"d": 200, "a": (1.5, 3.0), "lr": 1e-3, "steps": 20_000, "delta": 0.05,
              "seed": 0},
}


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    fig, (ax_log, ax_esc) = new_figure(2, 1, panel=(5.0, 4.0),
                                       title=f"{TITLE}: d = {p['d']}, GD η = {p['lr']:g}")
    colors = palette(len(p["a"]))
    window = 0.0
    with Runs(len(p["a"]), "figure 3", progress) as runs:
        for a, color in zip(p["a"], colors):
            problem = Problem.power_law(p["d"], a, seed=p["seed"])
            traj = runs.simulate(problem, "gd", desc=f"gd a={a:g}", lr=p["lr"],
                                 steps=p["steps"], record=log_records(p["steps"], 300))
            pred = prediction(problem)
            t1 = pred.escape_time(p["delta"])
            window = max(window, 2.0 * t1)
            ax_log.plot(*positive(traj.t, np.abs(traj.u)), color=color, label=f"a = {a:g}")
            dense = _escape_window_run(problem, p, 2.5 * t1)
            ax_esc.plot(dense.t, np.abs(dense.u), color=color, label=f"GD, a = {a:g}")
            t = np.linspace(0.0, 2.0 * t1, 200)
            ax_esc.plot(t, np.abs(pred.u_escape(t)), color=color, linestyle="--",
                        linewidth=1.1)
            ax_esc.plot(t, np.abs(pred.u_volterra(t)), color=color, linestyle=":",
                        linewidth=1.3)
            ax_esc.axvline(t1, color=color, linestyle="-", linewidth=0.6, alpha=0.6)
    log_axes(ax_log, "time t = step · η", "|u|", "whole run (log-log)")
    ax_log.legend(loc="lower right")
    ax_esc.plot([], [], color="0.3", linestyle="--", linewidth=1.1,
                label="escape law |C| e^(ρt)")
    ax_esc.plot([], [], color="0.3", linestyle=":", linewidth=1.3,
                label="Volterra, Θ = s* t")
    ax_esc.plot([], [], color="0.3", linestyle="-", linewidth=0.6,
                label=f"predicted T1 (δ = {p['delta']:g})")
    log_axes(ax_esc, "time t", "|u|", "escape window", x="linear")
    ax_esc.set_xlim(0.0, window)
    ax_esc.set_ylim(1e-3, 1.5)
    # outside, right of the panel: the escape curves cross every corner of the window
    ax_esc.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save(fig, out)


def _escape_window_run(problem: Problem, p: dict, t_end: float):
    """GD recorded on a linear grid over the escape window (cheap: t_end / η steps)."""
    from ...engines import simulate
    steps = max(10, int(round(t_end / p["lr"])))
    record = np.unique(np.linspace(0, steps, 200).round().astype(np.int64))
    return simulate(problem, "gd", lr=p["lr"], steps=steps, record=record)
