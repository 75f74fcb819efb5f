"""``method="gd"`` on a two-layer network: population gradient descent
W ← W + lr Q (W A + W* Bᵀ) (networks page: The gradient), one fused O(d p (p + k)) pass per
step in the C++ core; t = step · lr.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from ._options import step_options
from ._run import (
    core_network,
    network_finish,
    network_start,
    network_step_meta,
    progress_hook,
    step_state,
)

__all__ = ["run", "OPTIONS", "HINT"]

OPTIONS = ("lr", "steps", "record", "threads", "progress", "progress_every",
           "divergence_factor", "resume")
HINT = "lower lr (lr λ_max |μ(A)| must stay below 2, μ(A) the eigenvalues of the coefficient A)"


def run(problem: Problem, *, lr: Optional[float] = None, steps: Optional[int] = None,
        record: Any = None, threads: int = 0, progress: Any = None, progress_every: int = 4096,
        divergence_factor: float = 1e30, resume: Any = None) -> Any:
    """``steps`` steps of population GD of the network; see :func:`pyscale.simulate`."""
    lr, steps, rec, factor = step_options(lr, steps, record, divergence_factor)
    opt = _core.steps.GdOptions()
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.divergence_factor = factor
    begun = network_start(problem, "gd", resume, {"lr": lr})
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    prob, kern = core_network(problem)
    started = time.perf_counter()
    out = _core.network.run_gd(prob, kern, begun.w, lr, state, steps, rec, opt,
                               progress_hook(progress))
    meta = network_step_meta(problem, "gd", out, begun, lr, started)
    return network_finish(out, begun.w, meta, begun, "gradient descent of the network", HINT)
