"""The theory curves the figures draw, from :func:`pyscale.predict` (model page: Phases), in
one place so that every figure asks the same questions the same way."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...engines import simulate
from ...model.problem import Problem
from ...results.phases import DEFAULTS

__all__ = ["PredictedPhases", "predicted_phases", "prediction", "phase2b_clock",
           "phase2b_window"]


def prediction(problem: Problem):
    """``pyscale.predict(problem)`` (model page: Phases)."""
    from ...theory import predict
    return predict(problem)


@dataclass(frozen=True)
class PredictedPhases:
    """Predicted T1(δ) = log(δ/|C|)/ρ, and the Corollary 1 bound on T2(ε) evaluated from the
    flow's state at T1' (the time after which s ≥ 1/3 + s0); None where not available."""
    T1: float
    escape_rate: float
    escape_prefactor: float
    T1_prime: float | None
    T2_bound: float | None
    s0: float


def predicted_phases(problem: Problem, delta: float = DEFAULTS.delta,
                     eps: float = DEFAULTS.eps, s0: float = DEFAULTS.s0,
                     horizon: float = 1e3) -> PredictedPhases:
    """Predicted phase times (model page: Phases). T1' is read off a flow run (records
    every 1 % in log t up to ``horizon``); the flow is rerun to exactly T1' for the state
    the bound needs."""
    pred = prediction(problem)
    flow = simulate(problem, "flow", t=np.concatenate([[0.0], np.geomspace(1e-3, horizon,
                                                                          500)]))
    t1p = flow.phases(delta=delta, eps=eps, s0=s0).T1_prime
    t2 = None
    if t1p is not None and t1p > 0:
        state = simulate(problem, "flow", t=np.array([0.0, t1p])).w
        try:
            t2 = float(pred.t2_bound(eps, state, s0, t1_prime=t1p).T2)
        except ValueError:
            t2 = None
    return PredictedPhases(T1=pred.escape_time(delta), escape_rate=pred.escape_rate,
                           escape_prefactor=pred.escape_prefactor, T1_prime=t1p,
                           T2_bound=t2, s0=s0)


def phase2b_clock(traj, t1_prime: float, s_star: float = 1.0) -> np.ndarray:
    """Λ(t) = Θ(T1') − Θ(t), Θ(t) = ∫_0^t (s* − 3 s) dt' (trapezoid rule on the records),
    the variable of the Phase IIb law 1 − u ≍ Λ^{−(a−1)/a} (model page: Phases); 0 up to
    T1'. Once s ≈ s*, Λ ≈ 2 s* (t − T1')."""
    from ...analysis.compare import theta_on_records
    theta = theta_on_records(traj, s_star)
    k = int(np.searchsorted(traj.t, t1_prime))
    return np.where(traj.t > t1_prime, theta[k] - theta, 0.0)


def phase2b_window(d: int, a: float, min_learned: float = 5.0,
                   max_bias: float = 0.1) -> tuple[float, float]:
    """The Λ range where the Phase IIb law 1 − u ≍ Λ^{−(a−1)/a} holds at dimension d
    (model page: Phases), for a > 1.

    By time Λ the k = (Λ / H_{d,a})^{1/a} leading directions are learned (λ_k Λ = 1 with
    λ_k = k^{−a} / H_{d,a}), and 1 − u is the unlearned tail mass
    Σ_{i>k} λ_i (w*_i)² ∝ k^{1−a} − d^{1−a}. The law needs a tail to speak of,
    ``k ≥ min_learned``, and the finite-d term small: (k/d)^{a−1} ≤ ``max_bias`` (it steepens
    the log-log slope by the factor 1 / (1 − (k/d)^{a−1})), i.e. Λ^{1/a} ≪ d.

    Parameters
    ----------
    d : dimension; a : spectral exponent (> 1).
    min_learned : fewest learned directions k at the window's start.
    max_bias : largest relative finite-d correction (k/d)^{a−1} at its end.

    Returns
    -------
    (Λ_lo, Λ_hi) = (H k_lo^a, H k_hi^a) with k_lo = min_learned, k_hi = d · max_bias^{1/(a−1)}
    (in time units: Λ ≈ 2 s* (t − T1')); Λ_lo ≥ Λ_hi means the law has no window at this d.
    """
    if not a > 1:
        raise ValueError(f"the Phase IIb law needs a > 1, got a = {a}")
    harmonic = float(np.sum(np.arange(1, int(d) + 1, dtype=np.float64)[::-1] ** (-a)))
    k_hi = d * max_bias ** (1.0 / (a - 1.0))
    return harmonic * min_learned ** a, harmonic * k_hi ** a
