"""Figure 6 (SPEC §4): log(1 − |u|) against log t for a ∈ {1.5, 2, 4} and
d ∈ {500, 2000, 5000} — the Phase IIb approach of u to 1 (SPEC §3).

Population gradient flow (rtol 10⁻⁹) to t = 10⁶. Two reference slopes are drawn through
the largest-d curve at t = 100: −1/a, the law 1 − u ≍ Λ(t)^{−1/a} as SPEC §3 states it
(dashed), and −(1 − 1/a), what the tail mass of Corollary 1 gives, 1 − u ≈ T(1/Λ) ≍
Λ^{−(1−1/a)} (dash-dotted); the two coincide at a = 2. Each panel's title gives the slope
fitted on the largest d over t ∈ [100, t_max/10] (:func:`pyscale.compare.fit_loglog`).
The law holds while 1 − u ≳ d^{−(a−1)/2}: larger d follows it longer before the finite
spectrum is exhausted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..compare import fit_loglog
from ..problem import Problem
from ._plot import Runs, log_axes, log_times, new_figure, palette, positive, save

TITLE = "Phase IIb: 1 − |u| vs t"

PARAMS = {
    "full": {"a": (1.5, 2.0, 4.0), "d": (500, 2000, 5000), "t": 1e6, "anchor": 100.0,
             "seed": 0},
    "quick": {"a": (1.5, 4.0), "d": (100, 300), "t": 1e4, "anchor": 30.0, "seed": 0},
}


def make(out: Path, quick: bool = False, progress: Optional[bool] = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    fig, axes = new_figure(len(p["a"]), 1, panel=(4.2, 3.7),
                           title=f"{TITLE} (population flow)")
    colors = palette(len(p["d"]))
    times = log_times(p["t"], 300)
    with Runs(len(p["a"]) * len(p["d"]), "figure 6", progress) as runs:
        for ax, a in zip(axes, p["a"]):
            for d, color in zip(p["d"], colors):
                problem = Problem.power_law(d, a, seed=p["seed"])
                traj = runs.simulate(problem, "flow", desc=f"flow a={a:g} d={d}", t=times)
                gap = 1.0 - np.abs(traj.u)
                ax.plot(*positive(traj.t, gap), color=color, label=f"d = {d}")
            anchor = float(np.interp(np.log(p["anchor"]), np.log(traj.t[1:]),
                                     np.log(gap[1:])))
            t_ref = np.geomspace(p["anchor"] / 10, p["t"], 50)
            ax.plot(t_ref, np.exp(anchor) * (t_ref / p["anchor"]) ** (-1.0 / a), "k--",
                    linewidth=1.1, label=f"slope −1/a = {-1.0 / a:.3g}")
            ax.plot(t_ref, np.exp(anchor) * (t_ref / p["anchor"]) ** (-(1.0 - 1.0 / a)),
                    "k-.", linewidth=1.1, label=f"slope −(1−1/a) = {-(1.0 - 1.0 / a):.3g}")
            fit = fit_loglog(traj.t, gap, (p["anchor"], p["t"] / 10))
            fitted = "" if fit is None else f": fitted slope {fit['slope']:.2f} (d = {d})"
            log_axes(ax, "time t", "1 − |u|", f"a = {a:g}{fitted}")
            ax.set_ylim(bottom=max(1e-12, ax.get_ylim()[0]))
            ax.legend(loc="lower left")
    return save(fig, out)
