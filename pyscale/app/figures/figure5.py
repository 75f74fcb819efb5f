"""Figure 5: the order parameters |u| and s under online SGD for a ∈ {0.5, 1, 1.5} with label
noise ξ ~ N(0, 0.05) (variance 0.05) (model page: SGD floor).

Choices made here: d = 1000, s* = 1 (``target="unit_q"``), lr = 10⁻² (2·10⁻² diverges for
some seeds at a = 1.5), batch 1, t up to 5·10³; solid: the MEDIAN over 4 seeds of the
sample stream, band: the 10 % to 90 % quantiles over seeds; dashed: the population gradient
flow from the same w(0) (the lr → 0 limit of the mean; model page: Time and steps).

``make(out, d=...)`` (``pyscale figure 5 --d 1e9``) replaces the dimension; above 10⁴ the
problems are compressed (δ = 10⁻²) and SGD and the flow run on the same compressed problem
(the mode chain, :mod:`pyscale.app.figures._dimension`). A member that diverges is left out of
the median and the band, and the legend says how many did and when.
"""
from __future__ import annotations

from pathlib import Path

from ._dimension import build_problem, describe, figure_params
from ._plot import (
    Runs,
    figure_legend,
    log_axes,
    log_records,
    log_times,
    new_figure,
    palette,
    positive,
    save,
)

TITLE = "Online SGD: order parameters"

PARAMS = {
    "full": {"d": 1000, "a": (0.5, 1.0, 1.5), "lr": 1e-2, "steps": 500_000, "seeds": 4,
             "noise": 0.05, "seed": 0},
    "quick": {"d": 100, "a": (0.5, 1.5), "lr": 1e-2, "steps": 20_000, "seeds": 2,
              "noise": 0.05, "seed": 0},
}


#: make() takes d= (``pyscale figure 5 --d``).
ANY_D = True


def make(out: Path, quick: bool = False, progress: bool | None = None,
         d: int | None = None) -> Path:
    p = figure_params(PARAMS, quick, d)
    horizon = p["steps"] * p["lr"]
    records = log_records(p["steps"], 150)
    fig, (ax_u, ax_s) = new_figure(
        2, 1, panel=(4.8, 3.9),
        title=f"{TITLE}: {describe(p['d'])}, lr = {p['lr']:g}, label noise σ² = "
              f"{p['noise']:g}\nsolid: median of {p['seeds']} seeds; band: 10–90 % quantiles "
              f"over seeds")
    colors = palette(len(p["a"]))
    with Runs(2 * len(p["a"]), "figure 5", progress) as runs:
        for a, color in zip(p["a"], colors):
            problem = build_problem(p["d"], a, horizon, seed=p["seed"], noise=p["noise"])
            members = runs.sgd_members(problem, p["seeds"], desc=f"sgd a={a:g}",
                                       lr=p["lr"], steps=p["steps"], record=records)
            flow = runs.simulate(problem, "flow", desc=f"flow a={a:g}",
                                 t=log_times(horizon, 200, start=p["lr"]))
            ens = members.ensemble
            for ax, name, flow_values in ((ax_u, "abs_u", abs(flow.u)), (ax_s, "s", flow.s)):
                if ens is None:  # every seed diverged: the legend says so, the flow stays
                    ax.plot([], [], color=color, label=f"SGD, a = {a:g}{members.note()}")
                else:
                    keep = ens.t > 0
                    lo, mid, hi = ens.band(name, (0.1, 0.5, 0.9))
                    ax.fill_between(ens.t[keep], lo[keep], hi[keep], color=color, alpha=0.2,
                                    linewidth=0)
                    ax.plot(*positive(ens.t, mid), color=color,
                            label=f"SGD median, a = {a:g}{members.note()}")
                ax.plot(*positive(flow.t, flow_values), color=color, linestyle="--",
                        linewidth=1.1)
    for ax, ylabel in ((ax_u, "|u| = |w^T Q w*|"), (ax_s, "s = w^T Q w")):
        ax.plot([], [], color="0.3", linestyle="--", linewidth=1.1, label="population flow")
        ax.fill_between([], [], [], color="0.3", alpha=0.2, linewidth=0,
                        label=f"10–90 % quantiles over {p['seeds']} seeds")
        log_axes(ax, "time t = step · lr", ylabel)
    ax_s.axhline(1 / 3, color="0.5", linestyle="-.", linewidth=1.0, label="s = 1/3")
    figure_legend(fig, (ax_u, ax_s), ncol=4)
    return save(fig, out)
