"""``method="gd"``: population gradient descent w ← w − lr ∇L(w) = w + lr (c0 Q w + c1 Q w*),
(c0, c1) the problem's link pair's flow coefficients (links page: Flow coefficients; the
square: ∇L = (12 s − 4 s*) Q w − 8 u Q w*, model page: Time and steps), one fused O(d) pass
per step in the C++ core; t = step · lr.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from ..results.trajectory import Trajectory
from ._options import step_options
from ._run import core_pair, core_problem, finish, progress_hook, start, step_meta, step_state

__all__ = ["run", "OPTIONS", "HINT"]

OPTIONS = ("lr", "steps", "record", "threads", "progress", "progress_every",
           "divergence_factor", "resume")
HINT = ("lower lr (lr * lambda_max * |c0| must stay below 2; for the square "
        "c0 = 4 (s* - 3 s))")


def run(problem: Problem, *, lr: Optional[float] = None, steps: Optional[int] = None,
        record: Any = None, threads: int = 0, progress: Any = None, progress_every: int = 4096,
        divergence_factor: float = 1e30, resume: Optional[Trajectory] = None) -> Trajectory:
    """``steps`` steps of population GD from ``problem.w0`` (or the end of ``resume``);
    see :func:`pyscale.simulate`."""
    lr, steps, rec, factor = step_options(lr, steps, record, divergence_factor)
    opt = _core.steps.GdOptions()
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.divergence_factor = factor
    begun = start(problem, "gd", resume, {"lr": lr}, t_end=steps * lr)
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    started = time.perf_counter()
    out = _core.steps.run_gd(core_problem(problem), core_pair(problem), begun.w, lr, state,
                             steps, rec, opt, progress_hook(progress))
    meta = step_meta(problem, "gd", out, begun, lr, started)
    return finish(out, begun.w, meta, begun, "gradient descent", HINT)
