"""Figure 1: the MSE under online SGD for several spectral exponents a, the isotropic case
a = 0 included, on log-log axes (model page: SGD floor).

The paper uses the same initialisation, label noise and step size for all a. Choices made
here: ||w*||² = d (``target="norm_d"``, so every curve starts at MSE ≈ 1 and the curves are
comparable across a), label-noise variance 0.05 (as in Figure 5), lr = 2·10⁻² with batch 1,
t = step·lr up to 10⁴. Solid: the MEAN over seeds of the sample stream; band: the 10 % to
90 % quantiles over seeds (linear interpolation between the seeds' values). Dashed: the
population gradient flow from the same w(0), which the mean SGD trajectory follows as
lr → 0 (model page: Time and steps) — the deterministic reference.

``make(out, d=...)`` (``pyscale figure 1 --d 1e9``) replaces the dimension; above 10⁴ the
problems are compressed (δ = 10⁻²) and SGD and the flow run on the same compressed problem
(the mode chain, :mod:`pyscale.app.figures._dimension`). At d = 10⁹ the MSE stays at its
plateau ≈ ‖w*‖²/d = 1 over t ≤ 10⁴: learning a fraction of the tail takes t ~ d^a, and the
isotropic case (a = 0, λ = 1/d) does not even escape (predicted T1 ≈ 1.5·10⁹). A member
that diverges (at d = 10⁹, a = 2, lr = 2·10⁻², some seeds blow up in Phase II) is left out of
the mean and the band, and the legend says how many did and when.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ._dimension import ROUNDING, build_problem, describe, figure_params, is_compressed
from ._plot import (
    Runs,
    gapped,
    log_axes,
    log_records,
    log_times,
    new_figure,
    palette,
    run_concurrently,
    save,
)

TITLE = "Online SGD: MSE for several spectral exponents a"

PARAMS = {
    "full": {"d": 1000, "a": (0.0, 0.5, 1.0, 1.5, 2.0), "lr": 2e-2, "steps": 500_000,
             "seeds": 3, "noise": 0.05, "seed": 0},
    "quick": {"d": 100, "a": (0.0, 1.0, 2.0), "lr": 2e-2, "steps": 10_000, "seeds": 2,
              "noise": 0.05, "seed": 0},
}


#: make() takes d= (``pyscale figure 1 --d``).
ANY_D = True


def make(out: Path, quick: bool = False, progress: bool | None = None,
         d: int | None = None) -> Path:
    p = figure_params(PARAMS, quick, d)
    learned = is_compressed(p["d"])  # the MSE barely leaves its plateau: show what moves
    fig, axes = new_figure(2 if learned else 1, 1, panel=(6.4, 4.6))
    floor, top = np.inf, 0.0
    with Runs(2 * len(p["a"]), "figure 1", progress) as runs:
        problems = [build_problem(p["d"], a, p["steps"] * p["lr"], seed=p["seed"],
                                  target="norm_d", noise=p["noise"]) for a in p["a"]]
        # one exponent per core, each run on one thread: the ensembles' few seeds would
        # leave a core idle, and the exponents' runs are independent
        results = run_concurrently([partial(_runs, runs, problem, a, p)
                                    for a, problem in zip(p["a"], problems)],
                                   [problem.n_coords for problem in problems])
    for a, color, (members, flow) in zip(p["a"], palette(len(p["a"])), results):
        label = ("isotropic (a = 0)" if a == 0 else f"a = {a:g}") + members.note()
        ens = members.ensemble
        _curves(axes[0], ens, None if ens is None else ens.mse, flow.t, flow.mse, color, label)
        if ens is not None:
            floor = min(floor, float(np.nanmin(ens.mean_mse)))
            top = max(top, float(np.nanmax(ens.mean_mse)))
        if learned:
            _curves(axes[1], ens, None if ens is None else ens.mse[:, :1] - ens.mse,
                    flow.t, flow.mse[0] - flow.mse, color, "")
    _finish(fig, axes, p, floor, top)
    return save(fig, out)


def _runs(runs: Runs, problem, a: float, p: dict):
    """One exponent's SGD members and its population flow from the same w(0), on one
    thread (the results do not depend on it)."""
    horizon = p["steps"] * p["lr"]
    members = runs.sgd_members(problem, p["seeds"], desc=f"sgd a={a:g}", lr=p["lr"],
                               steps=p["steps"], record=log_records(p["steps"], 150),
                               threads=1)
    flow = runs.simulate(problem, "flow", desc=f"flow a={a:g}", threads=1,
                         t=log_times(horizon, 200, start=p["lr"]))
    return members, flow


def _curves(ax, ens, values, flow_t, flow_values, color, label: str) -> None:
    """Mean over seeds (solid) and 10–90 % band of ``values`` (seeds × records), and the
    flow (dashed); with ``ens`` None (every seed diverged) only the flow and the label."""
    if ens is None:
        ax.plot([], [], color=color, label=f"SGD, {label}" if label else "")
    else:
        keep = ens.t > 0
        with np.errstate(all="ignore"):
            lo, hi = np.nanquantile(values, (0.1, 0.9), axis=0)
            mean = np.nanmean(values, axis=0)
        ax.fill_between(ens.t[keep], lo[keep], hi[keep], color=color, alpha=0.18,
                        linewidth=0)
        ax.plot(*gapped(ens.t, mean), color=color,
                label=f"SGD mean, {label}" if label else "")
    ax.plot(*gapped(flow_t, flow_values), color=color, linestyle="--", linewidth=1.1)


def _finish(fig, axes, p: dict, floor: float, top: float) -> None:
    ax = axes[0]
    ax.plot([], [], color="0.3", linestyle="--", linewidth=1.1, label="population flow")
    ax.fill_between([], [], [], color="0.3", alpha=0.18, linewidth=0,
                    label=f"10–90 % quantiles over {p['seeds']} seeds")
    # The noiseless flow converges to rounding; show the range SGD explores.
    if 0 < floor < np.inf:  # (d = 1 starts at w(0) = ±w*: MSE 0)
        ax.set_ylim(bottom=floor / 30.0, top=1.5 * top if len(axes) > 1 else None)
    log_axes(ax, "time t = step · lr", "MSE(w, w*)",
             f"{TITLE}\n{describe(p['d'])}, lr = {p['lr']:g}, label noise σ² = "
             f"{p['noise']:g}\nsolid: mean of {p['seeds']} seeds; band: 10–90 % quantiles "
             f"over seeds")
    ax.legend(loc="lower left")
    if len(axes) > 1:
        # below ~1e-13 MSE(0), MSE(0) − MSE(t) is the rounding of the MSE's sum over modes
        axes[1].set_ylim(bottom=ROUNDING * top)
        log_axes(axes[1], "time t = step · lr", "MSE(0) − MSE(t)",
                 "the learned part of the MSE\n(the MSE stays on its plateau ‖w*‖²/d = 1: "
                 "the\nspectral tail takes t ~ d^a to learn)")
