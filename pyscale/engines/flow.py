"""``method="flow"``: the population gradient flow ẇ = −∇L(w),
ẇ_i = λ_i [4 (s* − 3 s) w_i + 8 u w*_i] (model page: Gradient flow), integrated by the
stiffly accurate Rosenbrock method RODAS4 (or ROS4) of the C++ core, O(d) per stage
through the diagonal-plus-rank-2 Jacobian. ``rtol`` is the global accuracy of s and u.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from .. import _core
from .. import _validate as check
from ..model.problem import Problem
from ..results.trajectory import Trajectory
from ._run import base_meta, core_pair, core_problem, finish, progress_hook, start
from .flow_events import dense_completion, parse_events, terminal_observer

__all__ = ["run", "OPTIONS", "SCHEMES"]

SCHEMES = {"rodas4": _core.flow.FlowScheme.rodas4, "ros4": _core.flow.FlowScheme.ros4,
           "exponential": _core.flow.FlowScheme.exponential}
RECORD_MODES = {"interpolate": _core.flow.FlowRecordMode.interpolate,
                "step": _core.flow.FlowRecordMode.step}
OPTIONS = ("t", "rtol", "atol", "h0", "hmax", "max_steps", "threads", "progress",
           "progress_every", "resume", "scheme", "record_mode", "events")


def _options(rtol: Any, atol: Any, h0: Any, hmax: Any, max_steps: Any, threads: Any,
             progress_every: Any, scheme: Any) -> "_core.flow.FlowOptions":
    opt = _core.flow.FlowOptions()
    opt.scheme = SCHEMES[check.choice("scheme", scheme, SCHEMES)]
    opt.rtol = check.real("rtol", rtol, 1e-14, 1.0, high_open=True)
    opt.atol = -1.0 if atol is None else check.positive("atol", atol)
    opt.h0 = 0.0 if h0 is None else check.positive("h0", h0)
    opt.hmax = np.inf if hmax is None or hmax == np.inf else check.positive("hmax", hmax)
    opt.max_steps = check.integer("max_steps", max_steps, 1, check.MAX_STEPS)
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    return opt


def run(problem: Problem, *, t: Any = None, rtol: float = 1e-9, atol: Optional[float] = None,
        h0: Optional[float] = None, hmax: float = np.inf, max_steps: int = 100_000_000,
        threads: int = 0, progress: Any = None, progress_every: int = 64,
        resume: Optional[Trajectory] = None, scheme: str = "rodas4",
        record_mode: str = "interpolate", events: Any = None) -> Trajectory:
    """The flow from ``problem.w0`` (or the end of ``resume``) through the record times ``t``
    (a horizon → 0 and 200 log-spaced times from 0.01, or increasing times); see
    :func:`pyscale.simulate`. ``record_mode``: ``"interpolate"`` (records read off the
    dense output; no step lands on them but the last) or ``"step"`` (a step lands on each).
    ``events``: see :mod:`pyscale.engines.flow_events`. The trajectory keeps the dense output
    (``traj.dense``) for exact stopping times (:mod:`pyscale.results.phases`)."""
    if t is None:
        raise ValueError("method='flow' needs t= (record times, or a horizon)")
    times = check.record_times(t)
    opt = _options(rtol, atol, h0, hmax, max_steps, threads, progress_every, scheme)
    opt.record_mode = RECORD_MODES[check.choice("record_mode", record_mode, RECORD_MODES)]
    evs = parse_events(events)
    opt.dense_every_step = bool(evs)  # event records carry every field
    begun = start(problem, "flow", resume, t_end=float(times[-1]))
    t0 = float(begun.resume.get("t", 0.0))
    if begun.previous is not None:
        # The state may lie past the last record (a run interrupted between records).
        times = times[times > t0]
    state = _core.flow.FlowState(t0, float(begun.resume.get("h_next", 0.0)))
    started = time.perf_counter()
    out = _core.flow.run_flow(core_problem(problem), core_pair(problem), begun.w, state, times,
                              opt, progress_hook(progress),
                              terminal_observer(evs, problem.s_star, problem.noise, problem.d))
    meta = base_meta(problem, "flow")
    meta.update(scheme=scheme, rtol=opt.rtol, atol=out.atol, steps=out.steps,
                rejected=out.rejected, rhs_evals=out.rhs_evals, passes=out.passes,
                exponential_steps=out.exponential_steps,
                t_reached=out.state.t, threads=out.threads,
                wall_time=time.perf_counter() - started,
                resume={"t": out.state.t, "h_next": out.state.h_next},
                record_mode=record_mode, stopped_by_event=bool(out.stopped_by_event))
    return finish(out, begun.w, meta, begun, "the flow",
                  complete=dense_completion(out, problem, evs))
