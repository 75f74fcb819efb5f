"""Figure 8: link pairs side by side — the population flow at a = 2, d = 10⁹ (compressed:
``Problem.power_law(10⁹, 2, compress=10⁻²)``, exact in distribution) for phase retrieval
(σ = τ = z²), amplitude measurements (|z|), a square student on an |z| teacher, ReLU, erf
and the Hermite polynomial He₃ (information exponent 3). Not in the paper: its list of
future work (links page: Predictions for a pair); T1 as in the phases (model page: Phases).

Left: the excess risk L − σ² on log-log axes; right: the cosine |u|/√(s s*). Vertical
dashed lines: the predicted escape time T1 = log(δ s*/|C|)/ρ where the theory gives one —
a linear small start (information exponent 2, a smooth student); the legend says why the
others have none (k* = 1: no escape plateau; a kinked student: its start is not linear;
k* = 3: a polynomial escape, not derived). The same seed for every pair.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...model.links import Link, LinkPair
from ...model.problem import Problem
from ._plot import Runs, figure_legend, log_axes, log_times, new_figure, palette, positive, save
from ._theory import prediction

TITLE = "Link pairs side by side"

#: label -> the pair (student, teacher)
PAIRS = {"z² (phase retrieval)": ("square", "square"), "|z|": ("abs", "abs"),
         "z² student, |z| teacher": ("square", "abs"), "ReLU": ("relu", "relu"),
         "erf": ("erf", "erf"), "He₃": ("hermite(0,0,0,1)", "hermite(0,0,0,1)")}

#: why a pair's escape law gives no T1, by its small-start regime (one short phrase)
NO_T1 = {"first_order": "k* = 1: no escape plateau", "kinked": "kinked start: not linear",
         "higher_order": "k* ≥ 3: polynomial escape", "no_escape": "κ ≤ 0: no escape",
         "no_signal": "no signal from a small start"}

PARAMS = {
    "full": {"d": 10 ** 9, "a": 2.0, "compress": 1e-2, "horizon": 1e5, "records": 300,
             "delta": 0.05, "seed": 0},
    "quick": {"d": 10 ** 6, "a": 2.0, "compress": 5e-2, "horizon": 1e3, "records": 120,
              "delta": 0.05, "seed": 0},
}


def _pair(names: tuple) -> LinkPair:
    return LinkPair(*(Link.hermite([0, 0, 0, 1]) if n.startswith("hermite") else n
                      for n in names))


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    fig, (ax_risk, ax_cos) = new_figure(2, 1, panel=(5.2, 4.0),
                                        title=f"{TITLE}: flow, a = {p['a']:g}, d = {p['d']:.0e}")
    times = log_times(p["horizon"], p["records"])
    with Runs(len(PAIRS), "figure 8", progress) as runs:
        for (label, names), color in zip(PAIRS.items(), palette(len(PAIRS))):
            problem = Problem.power_law(p["d"], p["a"], seed=p["seed"], link=_pair(names),
                                        compress=p["compress"])
            traj = runs.simulate(problem, "flow", desc=f"flow {label}", t=times)
            pred = prediction(problem)
            t1 = pred.summary(p["delta"])["T1"]
            note = f"T1 = {t1:.3g}" if t1 is not None else NO_T1[pred.pair.regime]
            ax_risk.plot(*positive(traj.t, traj.excess_risk), color=color,
                         label=f"{label} ({note})")
            ax_cos.plot(*positive(traj.t, np.abs(traj.cosine)), color=color)
            for ax in (ax_risk, ax_cos):
                if t1 is not None:
                    ax.axvline(t1, color=color, linestyle="--", linewidth=1.0)
    ax_risk.plot([], [], color="0.3", linestyle="--", linewidth=1.0,
                 label=f"predicted T1 (δ = {p['delta']:g})")
    log_axes(ax_risk, "time t", "excess risk L − σ²", "excess risk")
    log_axes(ax_cos, "time t", "|cosine| = |u|/√(s s*)", "alignment")
    figure_legend(fig, [ax_risk], ncol=2)
    return save(fig, out)
