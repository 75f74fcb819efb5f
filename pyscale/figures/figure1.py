"""Figure 1: the MSE under online SGD for several spectral exponents a, the isotropic case
a = 0 included, on log-log axes (model page: SGD floor).

The paper uses the same initialisation, label noise and step size for all a. Choices made
here: ||w*||² = d (``target="norm_d"``, so every curve starts at MSE ≈ 1 and the curves are
comparable across a), label-noise variance 0.05 (as in Figure 5), lr = 2·10⁻² with batch 1,
t = step·lr up to 10⁴. Solid: the MEAN over seeds of the sample stream; band: the 10 % to
90 % quantiles over seeds (linear interpolation between the seeds' values). Dashed: the
population gradient flow from the same w(0), which the mean SGD trajectory follows as
lr → 0 (model page: Time and steps) — the deterministic reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..problem import Problem
from ._plot import Runs, log_axes, log_records, log_times, new_figure, palette, positive, save

TITLE = "Online SGD: MSE for several spectral exponents a"

PARAMS = {
    "full": {"d": 1000, "a": (0.0, 0.5, 1.0, 1.5, 2.0), "lr": 2e-2, "steps": 500_000,
             "seeds": 3, "noise": 0.05, "seed": 0},
    "quick": {"d": 100, "a": (0.0, 1.0, 2.0), "lr": 2e-2, "steps": 10_000, "seeds": 2,
              "noise": 0.05, "seed": 0},
}


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    horizon = p["steps"] * p["lr"]
    records = log_records(p["steps"], 150)
    fig, (ax,) = new_figure(1, 1, panel=(6.4, 4.6))
    colors = palette(len(p["a"]))
    floor = np.inf
    with Runs(2 * len(p["a"]), "figure 1", progress) as runs:
        for a, color in zip(p["a"], colors):
            problem = Problem.power_law(p["d"], a, seed=p["seed"], target="norm_d",
                                        noise=p["noise"])
            ens = runs.simulate_many(problem, p["seeds"], "sgd", desc=f"sgd a={a:g}",
                                     lr=p["lr"], steps=p["steps"], record=records)
            flow = runs.simulate(problem, "flow", desc=f"flow a={a:g}",
                                 t=log_times(horizon, 200, start=p["lr"]))
            label = "isotropic (a = 0)" if a == 0 else f"a = {a:g}"
            lo, hi = ens.band("mse", (0.1, 0.9))
            keep = ens.t > 0
            ax.fill_between(ens.t[keep], lo[keep], hi[keep], color=color, alpha=0.18,
                            linewidth=0)
            ax.plot(*positive(ens.t, ens.mean_mse), color=color, label=f"SGD mean, {label}")
            ax.plot(*positive(flow.t, flow.mse), color=color, linestyle="--", linewidth=1.1)
            floor = min(floor, float(np.nanmin(ens.mean_mse)))
    ax.plot([], [], color="0.3", linestyle="--", linewidth=1.1, label="population flow")
    ax.fill_between([], [], [], color="0.3", alpha=0.18, linewidth=0,
                    label=f"10–90 % quantiles over {p['seeds']} seeds")
    # The noiseless flow converges to rounding; show the range SGD explores.
    ax.set_ylim(bottom=floor / 30.0)
    log_axes(ax, "time t = step · lr", "MSE(w, w*)",
             f"{TITLE}\nd = {p['d']}, lr = {p['lr']:g}, label noise σ² = {p['noise']:g}\n"
             f"solid: mean of {p['seeds']} seeds; band: 10–90 % quantiles over seeds")
    ax.legend(loc="lower left")
    return save(fig, out)
