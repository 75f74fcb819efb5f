"""The theory curves the figures draw, from :func:`pyscale.predict` (SPEC §3), in one
place so that every figure asks the same questions the same way."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..problem import Problem
from ..engines import simulate

__all__ = ["PredictedPhases", "predicted_phases", "prediction"]


def prediction(problem: Problem):
    """``pyscale.predict(problem)`` (SPEC §3)."""
    from ..theory import predict
    return predict(problem)


@dataclass(frozen=True)
class PredictedPhases:
    """Predicted T1(δ) = log(δ/|C|)/ρ, and the Corollary 1 bound on T2(ε) evaluated from the
    flow's state at T1' (the time after which s ≥ 1/3 + s0); None where not available."""
    T1: float
    escape_rate: float
    escape_prefactor: float
    T1_prime: Optional[float]
    T2_bound: Optional[float]
    s0: float


def predicted_phases(problem: Problem, delta: float = 0.05, eps: float = 0.05,
                     s0: float = 0.1, horizon: float = 1e3) -> PredictedPhases:
    """SPEC §3 phase predictions. T1' is read off a flow run (records every 1 % in log t
    up to ``horizon``); the flow is rerun to exactly T1' for the state the bound needs."""
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
