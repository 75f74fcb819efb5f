"""Figure 4: the population MSE after T2 against the frozen Phase III approximation
MSE(T2 + τ) ≈ MSE(T2) · Ŝ_d(τ) (model page: Phase III) — d = 300, GD with η = 10⁻³, T2
the first step at which |u| reaches 0.9.

Per exponent a (documented choice: a = 1.5, 2, 3): GD runs to T2, its state w(T2) feeds
:meth:`Prediction.tail_mse` (black dashed), and GD continues for τ up to ``tau_gd``
(solid). Learning the whole tail takes τ ~ d^a, far beyond affordable GD steps at
η = 10⁻³, so the population *flow* continues from the same w(T2) to ``tau_flow`` (thin,
coloured dashed; GD at η = 10⁻³ and the flow agree to O(η) where both run). Dotted grey:
the uniform proxy MSE(T2) · S_d(τ), S_d(τ) = (1/d) Σ_i e^{−16 λ_i τ}.

Last panel: the relative error |frozen − population| / population of the approximation
against the flow (solid) and GD (dashed), down to MSE = 10⁻⁶ · MSE(T2); the frozen
approximation is O(ε) accurate with ε = 1 − |u(T2)| = 0.1 (dotted line) until the error of
the frozen rates, ε · 16 λ_i τ per mode, builds up deep in the decay.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...engines import simulate
from ...model.problem import Problem
from ._plot import Runs, log_axes, log_records, log_times, new_figure, palette, save
from ._theory import prediction

TITLE = "Phase III: MSE after T2 vs the frozen approximation"

PARAMS = {
    "full": {"d": 300, "a": (1.5, 2.0, 3.0), "lr": 1e-3, "u_T2": 0.9, "t2_max": 2_000.0,
             "tau_gd": 2_000.0, "tau_flow": 1e9, "seed": 0},
    "quick": {"d": 60, "a": (2.0,), "lr": 1e-3, "u_T2": 0.9, "t2_max": 500.0,
              "tau_gd": 100.0, "tau_flow": 1e7, "seed": 0},
}


def state_at_alignment(problem: Problem, lr: float, level: float, t_max: float):
    """GD's first step k with |u| ≥ level (searched every step up to t_max) and w there."""
    steps = int(round(t_max / lr))
    every = max(1, steps // 200_000)
    record = np.arange(0, steps + 1, every, dtype=np.int64)
    scan = simulate(problem, "gd", lr=lr, steps=steps, record=record)
    hit = np.flatnonzero(np.abs(scan.u) >= level)
    if hit.size == 0:
        raise RuntimeError(f"|u| does not reach {level} by t = {t_max:g}; raise t2_max")
    k = int(record[hit[0]])
    state = simulate(problem, "gd", lr=lr, steps=k, record=np.array([0, k]))
    return k, state


def relative_error(tau, mse, frozen_at, floor: float):
    """|frozen − mse| / mse at the times ``tau`` where mse ≥ floor (τ > 0)."""
    keep = (tau > 0) & (mse >= floor)
    frozen = frozen_at(tau[keep])
    return tau[keep], np.abs(frozen - mse[keep]) / mse[keep]


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    n = len(p["a"])
    fig, axes = new_figure(n + 1, 1, panel=(4.2, 3.8),
                           title=f"{TITLE}: d = {p['d']}, GD η = {p['lr']:g}, "
                                 f"T2: |u| = {p['u_T2']:g}")
    colors = palette(n + 1)
    gd_steps = int(round(p["tau_gd"] / p["lr"]))
    with Runs(3 * n, "figure 4", progress) as runs:
        for ax, a, color in zip(axes, p["a"], colors):
            problem = Problem.power_law(p["d"], a, seed=p["seed"])
            with runs.engine("gd", p["t2_max"], f"T2 search a={a:g}"):
                k2, at_t2 = state_at_alignment(problem, p["lr"], p["u_T2"], p["t2_max"])
            after = problem.with_w0(at_t2.w)
            gd = runs.simulate(after, "gd", desc=f"gd a={a:g}", lr=p["lr"], steps=gd_steps,
                               record=log_records(gd_steps, 200))
            flow = runs.simulate(after, "flow", desc=f"flow a={a:g}",
                                 t=log_times(p["tau_flow"], 300, start=p["lr"]))
            pred = prediction(problem)
            _mse_panel(ax, p, a, color, k2 * p["lr"], at_t2, gd, flow, pred)
            _error_panel(axes[-1], p, a, color, at_t2, gd, flow, pred)
    axes[-1].axhline(1.0 - p["u_T2"], color="0.4", linestyle=":", linewidth=1.2,
                     label=f"ε = 1 − |u(T2)| = {1.0 - p['u_T2']:.2g}")
    axes[-1].plot([], [], color="0.3", label="vs the flow")
    axes[-1].plot([], [], color="0.3", linestyle="none", marker="o", markersize=2.5,
                  label="vs GD (points: GD lies on the flow)")
    log_axes(axes[-1], "τ = t − T2", "|frozen − MSE| / MSE (population)",
             "frozen approximation: relative error")
    # outside, right of the panel: the curves fill the axes
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    return save(fig, out)


def _mse_panel(ax, p, a, color, t2, at_t2, gd, flow, pred) -> None:
    """Population MSE (GD, flow) after T2 against the frozen and uniform predictions."""
    tau = np.geomspace(p["lr"], p["tau_flow"], 400)
    frozen = pred.tail_mse(tau, at_t2.w)
    proxy = at_t2.mse[-1] * pred.spectral_proxy(tau)
    ax.plot(gd.t[1:], gd.mse[1:], color=color, label=f"GD (η = {p['lr']:g})")
    ax.plot(flow.t[1:], flow.mse[1:], color=color, linestyle="--", linewidth=1.0,
            label="flow from w(T2)")
    ax.plot(tau, frozen, color="k", linestyle="--", linewidth=1.2,
            label="MSE(T2)·Ŝ_d(τ) (frozen)")
    ax.plot(tau, proxy, color="0.55", linestyle=":", linewidth=1.2,
            label="MSE(T2)·S_d(τ) (uniform)")
    log_axes(ax, "τ = t − T2", "MSE(w, w*)", f"a = {a:g}, T2 = {t2:.3g}")
    # Six decades below MSE(T2): the flow ends at the rounding floor (~1e-32).
    bottom = at_t2.mse[-1] * 1e-6
    ax.set_ylim(bottom, at_t2.mse[-1] * 3.0)
    below = np.flatnonzero(frozen < bottom)
    if below.size:  # end the axis a decade after the prediction leaves the frame
        ax.set_xlim(right=min(p["tau_flow"], 10.0 * tau[below[0]]))
    ax.legend(loc="lower left", fontsize=7)


def _error_panel(ax, p, a, color, at_t2, gd, flow, pred) -> None:
    """Relative error of the frozen approximation against the flow and GD, where the
    population MSE is above 10⁻⁶ MSE(T2) (the MSE panels' range)."""
    floor = at_t2.mse[-1] * 1e-6

    def frozen(tau):
        return pred.tail_mse(tau, at_t2.w)
    ax.plot(*relative_error(flow.t, flow.mse, frozen, floor), color=color,
            label=f"a = {a:g}")
    tau, error = relative_error(gd.t, gd.mse, frozen, floor)
    # points, every few records: GD at this η follows the flow, so a line would hide
    ax.plot(tau[::8], error[::8], color=color, linestyle="none", marker="o", markersize=2.5)
