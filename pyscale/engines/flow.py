"""``method="flow"``: the population gradient flow ẇ = −∇L(w) = c0 Q w + c1 Q w*, with
(c0, c1) = (−2 ∂ℓ/∂s, −∂ℓ/∂u) from the problem's link pair (links page: Flow coefficients;
the square: ẇ_i = λ_i [4 (s* − 3 s) w_i + 8 u w*_i], model page: Gradient flow), integrated
by the stiffly accurate Rosenbrock method RODAS4 (or ROS4) of the C++ core, O(d) per stage
through the diagonal-plus-rank-2 Jacobian. ``rtol`` is the global accuracy of s and u.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from ..results.columns import no_mse_message
from ..results.trajectory import Trajectory
from ._options import RECORD_MODES, SCHEMES
from ._run import base_meta, core_pair, core_problem, finish, progress_hook, start
from .flow_events import dense_completion, parse_events, terminal_observer

__all__ = ["run", "OPTIONS"]

SCHEME_NAMES = {v: k for k, v in SCHEMES.items()}
OPTIONS = ("t", "rtol", "atol", "h0", "hmax", "max_steps", "threads", "progress",
           "progress_every", "resume", "scheme", "record_mode", "events")
#: The solver's smallest step relative to max(|t|, 1) (the core's step controller): a
#: step below it is a step-size underflow.
MIN_RELATIVE_STEP = 1e-15


def _options(rtol: Any, atol: Any, h0: Any, hmax: Any, max_steps: Any, threads: Any,
             progress_every: Any, scheme: Any) -> "_core.flow.FlowOptions":
    opt = _core.flow.FlowOptions()
    opt.scheme = SCHEMES[check.choice("scheme", scheme, SCHEMES)]
    opt.rtol = check.rtol(rtol)
    opt.atol = -1.0 if atol is None else check.positive("atol", atol)
    opt.h0 = 0.0 if h0 is None else check.real("h0", h0, MIN_RELATIVE_STEP, low_open=True)
    opt.hmax = np.inf if hmax is None or hmax == np.inf else \
        check.real("hmax", hmax, MIN_RELATIVE_STEP, low_open=True)
    opt.max_steps = check.max_steps(max_steps)
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    return opt


def _resolved_scheme(opt: Any, t_end: float, resume: Any) -> Any:
    """The scheme a run uses: ``auto`` resolved here, so that the run's identity and meta name
    the scheme whose numerics it has — by the core's rule (flow engine page: Choosing the
    scheme) for a fresh run, and as the scheme of the run it continues for a resume (a resume
    continues the same computation, whatever horizon it now goes to)."""
    if opt.scheme == SCHEMES["auto"] and resume is not None:
        used = getattr(resume, "meta", {}).get("scheme")
        if used in SCHEMES and used != "auto":
            return SCHEMES[used]
    return _core.flow.choose_flow_scheme(opt.scheme, opt.rtol, t_end)


def run(problem: Problem, *, t: Any = None, rtol: float = 1e-9, atol: Optional[float] = None,
        h0: Optional[float] = None, hmax: float = np.inf, max_steps: int = 100_000_000,
        threads: int = 0, progress: Any = None, progress_every: int = 64,
        resume: Optional[Trajectory] = None, scheme: str = "auto",
        record_mode: str = "interpolate", events: Any = None) -> Trajectory:
    """The flow from ``problem.w0`` (or the end of ``resume``) through the record times ``t``
    (a horizon → 0 and 200 log-spaced times from 0.01, or increasing times); see
    :func:`pyscale.simulate`. ``record_mode``: ``"interpolate"`` (records read off the
    dense output; no step lands on them but the last) or ``"step"`` (a step lands on each).
    ``events``: see :mod:`pyscale.engines.flow_events`. ``scheme``: ``"auto"`` (the default:
    ``"exponential"`` for a last record time ≥ 10^6 at rtol ≤ 1e-8, ``"rodas4"`` otherwise;
    flow engine page: Choosing the scheme), ``"rodas4"``, ``"ros4"`` or ``"exponential"``;
    ``meta["scheme"]`` is the one the run used. The trajectory keeps the dense output
    (``traj.dense``) for exact stopping times (:mod:`pyscale.results.phases`)."""
    if t is None:
        raise ValueError("method='flow' needs t= (record times, or a horizon)")
    times = check.record_times(t)
    opt = _options(rtol, atol, h0, hmax, max_steps, threads, progress_every, scheme)
    opt.scheme = _resolved_scheme(opt, float(times[-1]), resume)
    scheme = SCHEME_NAMES[opt.scheme]
    opt.record_mode = RECORD_MODES[check.choice("record_mode", record_mode, RECORD_MODES)]
    evs = parse_events(events)
    if any(ev.field == "mse" for ev in evs) and problem.link.mse_kind == "undefined":
        raise ValueError(f"events on 'mse': {no_mse_message(problem.link.identity)}")
    opt.dense_every_step = bool(evs)  # event records carry every field
    begun = start(problem, "flow", resume, {"rtol": opt.rtol, "atol": atol, "scheme": scheme,
                                            "hmax": opt.hmax}, t_end=float(times[-1]))
    t0 = float(begun.resume.get("t", 0.0))
    if begun.previous is not None:
        # The state may lie past the last record (a run interrupted between records).
        times = times[times > t0]
    state = _core.flow.FlowState(t0, float(begun.resume.get("h_next", 0.0)))
    started = time.perf_counter()
    out = _core.flow.run_flow(core_problem(problem), core_pair(problem), begun.w, state, times,
                              opt, progress_hook(progress),
                              terminal_observer(evs, problem.s_star, problem.noise, problem.d,
                                                problem.link))
    meta = base_meta(problem, "flow")
    meta.update(scheme=scheme, rtol=opt.rtol, atol=out.atol, steps=out.steps,
                rejected=out.rejected, rhs_evals=out.rhs_evals, passes=out.passes,
                exponential_steps=out.exponential_steps,
                t_reached=out.state.t, threads=out.threads,
                wall_time=time.perf_counter() - started,
                resume={"t": out.state.t, "h_next": out.state.h_next},
                record_mode=record_mode, stopped_by_event=bool(out.stopped_by_event))
    if out.steps == 0 and out.status == _core.RunStatus.step_limit:
        raise ValueError(_why_no_step(problem, begun.w, t0, times, opt))
    traj = finish(out, begun.w, meta, begun, "the flow",
                  complete=dense_completion(out, problem, evs))
    if out.stopped_by_event:  # a terminal event ended the run where it was asked to
        traj.meta["status"] = "event"
    return traj


def _why_no_step(problem: Problem, w: np.ndarray, t0: float, times: np.ndarray,
                 opt: "_core.flow.FlowOptions") -> str:
    """Why the solver could not take a single step (every step size underflowed)."""
    smallest = MIN_RELATIVE_STEP * max(abs(t0), 1.0)
    for name, h in (("h0", opt.h0), ("hmax", opt.hmax)):
        if 0 < h <= smallest * 10:
            return (f"{name} = {h:g} is too small: the flow's smallest step at t = {t0:g} is "
                    f"{smallest:g} (steps below it are a step-size underflow)")
    if times.size and times[-1] - t0 <= smallest * 10:
        return (f"t: the horizon {times[-1]:g} lies within {smallest:g} of the start "
                f"t = {t0:g}, below the flow's smallest step: there is nothing to integrate "
                f"(the state is w(t0) to rounding)")
    s = float(np.dot(problem.eigenvalues * w, w))
    # the solver's first step: rtol^(1/4) / (λ_max (4 s* + 12 s + 1)) (the core's estimate)
    first = opt.rtol ** 0.25 / (problem.lambda_max * (4.0 * problem.s_star + 12.0 * abs(s)
                                                      + 1.0))
    return (f"w0 is too large for the flow at rtol = {opt.rtol:g}: s(0) = w0ᵀQw0 = {s:.3g} "
            f"makes its first step, about rtol^(1/4)/(λ_max (4 s* + 12 s)) = {first:.3g}, "
            f"fall to the solver's smallest step {smallest:g}; rescale w0 or raise rtol")
