"""Figure 4 (SPEC §4): the population MSE after T2 against the frozen Phase III
approximation MSE(T2 + τ) ≈ MSE(T2) · Ŝ_d(τ) of SPEC §3 — d = 300, GD with η = 10⁻³, T2
the first step at which |u| reaches 0.9.

Per exponent a (documented choice: a = 1.5, 2, 3): GD runs to T2, its state w(T2) feeds
:meth:`Prediction.tail_mse` (black dashed), and GD continues for τ up to ``tau_gd``
(solid). Learning the whole tail takes τ ~ d^a, far beyond affordable GD steps at
η = 10⁻³, so the population *flow* continues from the same w(T2) to ``tau_flow`` (thin,
coloured dashed; GD at η = 10⁻³ and the flow agree to O(η) where both run). Dotted grey:
the uniform proxy MSE(T2) · S_d(τ), S_d(τ) = (1/d) Σ_i e^{−16 λ_i τ}.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..problem import Problem
from ..engines import simulate
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


def make(out: Path, quick: bool = False, progress: Optional[bool] = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    fig, axes = new_figure(len(p["a"]), 1, panel=(4.4, 3.8),
                           title=f"{TITLE}: d = {p['d']}, GD η = {p['lr']:g}, "
                                 f"T2: |u| = {p['u_T2']:g}")
    colors = palette(len(p["a"]) + 1)
    gd_steps = int(round(p["tau_gd"] / p["lr"]))
    with Runs(3 * len(p["a"]), "figure 4", progress) as runs:
        for ax, a, color in zip(axes, p["a"], colors):
            problem = Problem.power_law(p["d"], a, seed=p["seed"])
            with runs.engine("gd", p["t2_max"], f"T2 search a={a:g}"):
                k2, at_t2 = state_at_alignment(problem, p["lr"], p["u_T2"], p["t2_max"])
            t2 = k2 * p["lr"]
            after = problem.with_w0(at_t2.w)
            gd = runs.simulate(after, "gd", desc=f"gd a={a:g}", lr=p["lr"], steps=gd_steps,
                               record=log_records(gd_steps, 200))
            flow = runs.simulate(after, "flow", desc=f"flow a={a:g}",
                                 t=log_times(p["tau_flow"], 300, start=p["lr"]))
            tau = np.geomspace(p["lr"], p["tau_flow"], 400)
            pred = prediction(problem)
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
    return save(fig, out)
