"""``method="flow"`` on a two-layer network: the population gradient flow
dW/dt = Q (W A + W* Bᵀ), row by row dW_i/dt = λ_i (W_i A + W*_i Bᵀ), with (A, B) from the
overlaps (S, U) and the kernel sums of the link pair and readouts (networks page: The
gradient). The C++ core integrates it with the single-index flow's Rosenbrock method
(RODAS4, or ROS4), step-size controller and dense output; each stage solves with the
per-coordinate p × p blocks λ_i A plus the coupling of rank ≤ p (p + k) by a Woodbury stage
solve, O(d p (p + k)) per pass (networks page: The flow's Jacobian). ``rtol`` is the accuracy
of S and of each unit's row of U. A compressed network (one Gram matrix per mode) runs
unchanged: exact up to the grouping's O(δ).
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from ._options import flow_options
from ._run import core_network, network_finish, network_meta, network_start, progress_hook

__all__ = ["run", "OPTIONS"]

OPTIONS = ("t", "rtol", "atol", "h0", "hmax", "max_steps", "threads", "progress",
           "progress_every", "resume", "scheme", "record_mode")


def run(problem: Problem, *, t: Any = None, rtol: float = 1e-9, atol: Optional[float] = None,
        h0: Optional[float] = None, hmax: float = np.inf, max_steps: int = 100_000_000,
        threads: int = 0, progress: Any = None, progress_every: int = 64,
        resume: Any = None, scheme: str = "rodas4", record_mode: str = "interpolate") -> Any:
    """The network flow from ``problem.w0`` (or the end of ``resume``) through the record
    times ``t`` (a horizon → 0 and 200 log-spaced times from 0.01, or increasing times);
    options as for the single-index flow (:func:`pyscale.simulate`). Returns a
    :class:`~pyscale.results.network.NetworkTrajectory`."""
    if t is None:
        raise ValueError("method='flow' needs t= (record times, or a horizon)")
    times = check.record_times(t)
    opt = flow_options(rtol, atol, h0, hmax, max_steps, threads, progress_every, scheme,
                       record_mode)
    begun = network_start(problem, "flow", resume, {"rtol": opt.rtol, "scheme": scheme})
    t0 = float(begun.resume.get("t", 0.0))
    if begun.previous is not None:
        times = times[times > t0]
    prob, kern = core_network(problem)
    started = time.perf_counter()
    start = _core.flow.FlowState(t0, float(begun.resume.get("h_next", 0.0)))
    out = _core.network.run_flow(prob, kern, begun.w, start, times, opt,
                                 progress_hook(progress))
    meta = network_meta(problem, "flow")
    meta.update(scheme=scheme, rtol=opt.rtol, atol=out.atol, steps=out.steps,
                rejected=out.rejected, rhs_evals=out.rhs_evals, passes=out.passes,
                t_reached=out.state.t, threads=out.threads,
                wall_time=time.perf_counter() - started,
                resume={"t": out.state.t, "h_next": out.state.h_next}, record_mode=record_mode)
    return network_finish(out, begun.w, meta, begun, "the network flow")
