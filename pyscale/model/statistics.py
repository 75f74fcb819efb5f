"""Summary statistics of a state (model page: Statistics and loss): one record row of
``w`` for a problem — s = wᵀQw, u = wᵀQw*, s2 = wᵀQ²w, u2 = wᵀQ²w*, the population loss
3s² + 3s*² − 4u² − 2s*s + σ², and the MSE min‖w ∓ w*‖²/d — computed by the core's fused,
blocked pass (the very numbers the engines record).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from .. import _core
from .. import _validate as check
from .problem import Problem

__all__ = ["statistics"]


def statistics(problem: Problem, w: Optional[Any] = None) -> Dict[str, float]:
    """The record fields (s, u, s2, u2, loss, mse) of ``w`` (default: ``problem.w0``)."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    state = problem.w0 if w is None else check.vector("w", w, problem.n_coords)
    core = _core.model.CoreProblem(problem.eigenvalues, problem.w_star, float(problem.d),
                             float(problem.noise))
    row = _core.model.statistics(core, _core.model.SquarePair(), state, 0.0)
    return {k: float(v) for k, v in zip(_core.model.RECORD_FIELDS, row) if k != "t"}
