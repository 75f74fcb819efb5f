"""Summary statistics of a state (model page: Statistics and loss): one record row of
``w`` for a problem — s = wᵀQw, u = wᵀQw*, s2 = wᵀQ²w, u2 = wᵀQ²w*, the population loss
ℓ(s, u) + σ² of its link pair (the square's 3s² + 3s*² − 4u² − 2s*s + σ²), and the pair's
recovery MSE (the square's min‖w ∓ w*‖²/d) — computed by the core's fused, blocked pass
(the very numbers the engines record).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import pyscale._core as _core
import pyscale._validate as check

from .network import require_single_index
from .problem import Problem

__all__ = ["statistics"]


def statistics(problem: Problem, w: Optional[Any] = None) -> Dict[str, float]:
    """The record fields (s, u, s2, u2, loss, mse) of ``w`` (default: ``problem.w0``); no
    mse for a link pair whose student is not its teacher."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    require_single_index("statistics (the single-index record fields)", problem)
    state = problem.w0 if w is None else check.vector("w", w, problem.n_coords)
    core = _core.model.CoreProblem(problem.eigenvalues, problem.w_star, float(problem.d),
                             float(problem.noise))
    row = _core.model.statistics(core, problem.link.core(), state, 0.0)
    out = {k: float(v) for k, v in zip(_core.model.RECORD_FIELDS, row) if k != "t"}
    if problem.link.mse_kind == "undefined":  # σ ≠ τ: no w* to recover, no mse
        del out["mse"]
    bad = [k for k, v in out.items() if not math.isfinite(v)]
    if bad:  # finite entries whose squares overflow: every field would be inf or NaN
        raise ValueError(f"w is too large: its statistics overflow float64 ({bad[0]} = "
                         f"{out[bad[0]]}; largest entry {float(abs(state).max()):.3g}); "
                         f"rescale it")
    return out
