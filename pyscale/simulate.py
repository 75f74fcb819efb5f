"""simulate(): one entry point for every engine. It validates options, allocates the
buffers, calls the C++ core and wraps the result in a :class:`~pyscale.Trajectory`.

Engines (``method=``):

* ``"flow"`` — population gradient flow ẇ = −∇L(w) (SPEC §2), stiff Rosenbrock solver
  with error control (``rtol``), O(d) per stage through the diagonal + rank-2 Jacobian.
* ``"gd"`` — population gradient descent w ← w − lr ∇L(w), one fused pass per step.
* ``"sgd"`` — online SGD on fresh samples; ``"erm"`` — full-batch GD on a fixed data set
  (:mod:`pyscale.stochastic`).
"""
from __future__ import annotations

import time
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np

from . import _core
from .errors import DivergenceError, Interrupted
from .problem import Problem
from .trajectory import FIELDS, Trajectory

__all__ = ["simulate", "default_times", "default_record_steps", "record_times", "ENGINES"]

ProgressCallback = Callable[[float, int], Optional[bool]]


def default_times(horizon: float, n: int = 200, start: float = 1e-2) -> np.ndarray:
    """0 followed by n log-spaced times from ``start`` to ``horizon``."""
    horizon = float(horizon)
    if not (horizon > 0) or not np.isfinite(horizon):
        raise ValueError(f"the horizon t must be positive and finite, got {horizon}")
    start = min(start, horizon)
    return np.concatenate([[0.0], np.geomspace(start, horizon, n)])


def record_times(t) -> np.ndarray:
    """Record times from a horizon (→ :func:`default_times`) or an increasing 1-D array."""
    times = np.asarray(t, dtype=np.float64)
    if times.ndim == 0:
        times = default_times(float(times))
    if times.ndim != 1 or times.size == 0:
        raise ValueError("t must be a horizon or a non-empty 1-D array of record times")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError("record times must be finite and >= 0")
    if np.any(np.diff(times) <= 0):
        raise ValueError("record times must be strictly increasing")
    return times


def default_record_steps(steps: int, n: int = 200) -> np.ndarray:
    """0, steps and about n log-spaced step indices in between (unique integers)."""
    if steps <= 0:
        return np.zeros(1, dtype=np.int64)
    idx = np.unique(np.geomspace(1, steps, n).round().astype(np.int64))
    return np.unique(np.concatenate([[0], idx, [steps]]))


def _positive_lr(lr) -> float:
    if lr is None:
        raise ValueError("lr= is required")
    lr = float(lr)
    if not (lr > 0) or not np.isfinite(lr):
        raise ValueError(f"lr must be positive and finite, got {lr}")
    return lr


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    try:
        ok = int(value) == value
    except (TypeError, ValueError):
        ok = False
    if not ok or int(value) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _record_steps(steps: int, record) -> np.ndarray:
    """Step indices to record for the step engines: None (about 200 log-spaced), a count,
    or strictly increasing indices within [0, steps]."""
    if record is None:
        return default_record_steps(steps)
    if np.ndim(record) == 0:
        return default_record_steps(steps, _int_at_least("record", record, 1))
    rec = np.asarray(record)
    if rec.ndim != 1 or rec.size == 0 or not np.all(rec == np.round(rec)):
        raise ValueError("record must be a 1-D array of step indices")
    rec = rec.astype(np.int64)
    if np.any(np.diff(rec) <= 0) or rec[0] < 0 or rec[-1] > steps:
        raise ValueError(f"record steps must be strictly increasing within [0, {steps}]")
    return rec


def _callback(progress) -> Optional[Callable[[float, int], bool]]:
    if progress is None or progress is False:
        return None
    if not callable(progress):
        raise TypeError("progress must be a callable (t, steps) -> bool | None")

    def hook(t, steps):
        return progress(t, steps) is not False
    return hook


def _base_meta(problem: Problem, method: str) -> dict:
    from . import __version__
    return {"method": method, "d": problem.d, "n_coords": problem.n_coords,
            "s_star": problem.s_star, "noise": problem.noise, "problem": dict(problem.info),
            "version": __version__}


def _finish(out: dict, records: np.ndarray, w: np.ndarray, meta: dict, what: str,
            previous: Optional[Trajectory] = None,
            complete: Optional[Callable[[Trajectory], Trajectory]] = None) -> Trajectory:
    """Wraps the core's answer (after ``previous``, the run it resumed; ``complete``
    adds engine-specific parts to the new segment); raises with the whole partial
    trajectory on divergence or Ctrl-C."""
    segment = Trajectory.from_records(records[: out["records_written"]], w, meta)
    traj = _concat(previous, complete(segment) if complete else segment)
    status = out["status"]
    if status == "diverged":
        step = int(meta["diverged_at_step"])
        raise DivergenceError(
            f"{what} diverged at step {step} (t = {step * meta['lr']:.6g}): the iterate became "
            f"non-finite or exploded; lower lr (lr * lambda_max * (12 s + 4 s*) must stay "
            f"below 2). The trajectory up to step {meta['last_good_step']} is in "
            f"err.trajectory.", step, traj)
    if status == "interrupted":
        why = "Ctrl-C" if out.get("signalled") else "the progress callback"
        raise Interrupted(f"{what} stopped by {why} at t = {meta['t_reached']:.6g}; resume "
                          f"with simulate(..., resume=err.trajectory)", traj)
    if status == "step_limit":
        import warnings
        warnings.warn(f"{what} stopped at t = {meta['t_reached']:.6g}: step budget exhausted "
                      f"(max_steps) or step size underflow; the trajectory is truncated",
                      RuntimeWarning, stacklevel=3)
    return traj


def _resume_state(problem: Problem, resume: Optional[Trajectory], method: str):
    if resume is None:
        return np.array(problem.w0, dtype=np.float64, copy=True), None
    if resume.meta.get("method") != method:
        raise ValueError(f"cannot resume a {resume.meta.get('method')!r} trajectory "
                         f"with method={method!r}")
    if resume.w is None or len(resume) == 0:
        raise ValueError("the trajectory to resume has no final state")
    w = np.array(resume.w, dtype=np.float64, copy=True)
    if w.shape != (problem.n_coords,):
        raise ValueError("the trajectory to resume belongs to a problem of another size")
    return w, resume


def _concat(first: Optional[Trajectory], second: Trajectory) -> Trajectory:
    if first is None:
        return second
    cols = {k: np.concatenate([getattr(first, k), getattr(second, k)]) for k in FIELDS}
    meta = dict(second.meta)
    for key in ("steps", "rejected", "rhs_evals", "passes", "wall_time"):
        if key in first.meta and key in meta:
            meta[key] = first.meta[key] + meta[key]
    meta["resumed"] = True
    from .events import concat_dense
    dense, events = concat_dense(first, second)
    return Trajectory(w=second.w, meta=meta, dense=dense, events=events, **cols)


def _run_flow(problem: Problem, *, t=None, rtol: float = 1e-9, atol: Optional[float] = None,
              h0: Optional[float] = None, hmax: float = np.inf, max_steps: int = 100_000_000,
              threads: int = 0, progress: Optional[ProgressCallback] = None,
              progress_every: int = 64, resume: Optional[Trajectory] = None,
              scheme: str = "rodas4", record_mode: str = "interpolate",
              events=None) -> Trajectory:
    from .events import dense_completion, parse_events, terminal_observer
    evs = parse_events(events)
    if t is None:
        raise ValueError("method='flow' needs t= (record times, or a horizon)")
    times = record_times(t)
    rtol = float(rtol)
    if not (1e-14 <= rtol < 1):
        raise ValueError(f"rtol must lie in [1e-14, 1), got {rtol}")
    w, prev = _resume_state(problem, resume, "flow")
    # The state may lie past the last record (a run interrupted between records).
    t0 = 0.0 if prev is None else float(prev.meta.get("t_reached", prev.t[-1]))
    times = times[times > t0] if prev is not None else times
    if h0 is None and prev is not None:
        h0 = float(prev.meta.get("h_next", 0.0))
    start = time.perf_counter()
    out = _core.flow_run(problem.eigenvalues, problem.w_star, w, float(problem.d),
                         problem.noise, t0, times, rtol, -1.0 if atol is None else float(atol),
                         0.0 if h0 is None else float(h0), float(hmax), int(max_steps),
                         int(threads), int(progress_every), _callback(progress), scheme,
                         record_mode, True, bool(evs),
                         terminal_observer(evs, problem.s_star, problem.noise, problem.d))
    meta = _base_meta(problem, "flow")
    meta.update(scheme=scheme, rtol=rtol, atol=out["atol"], steps=out["steps"], rejected=out["rejected"],
                rhs_evals=out["rhs_evals"], passes=out["passes"], h_next=out["h_next"],
                status=out["status"], t_reached=out["t"], threads=out["threads"],
                wall_time=time.perf_counter() - start)
    meta.update(record_mode=record_mode, stopped_by_event=out["stopped_by_event"])
    return _finish(out, out["records"], w, meta, "the flow", prev,
                   dense_completion(out, problem, evs))


def _run_gd(problem: Problem, *, lr: float = None, steps: int = None,
            record: Union[None, int, Sequence[int]] = None, threads: int = 0,
            progress: Optional[ProgressCallback] = None, progress_every: int = 4096,
            divergence_factor: float = 1e30, resume: Optional[Trajectory] = None) -> Trajectory:
    if lr is None or steps is None:
        raise ValueError("method='gd' needs lr= and steps=")
    lr = _positive_lr(lr)
    steps = _int_at_least("steps", steps, 0)
    rec = _record_steps(steps, record)
    w, prev = _resume_state(problem, resume, "gd")
    step0 = 0
    if prev is not None:
        if float(prev.meta["lr"]) != lr:
            raise ValueError("resume with the same lr as the interrupted run")
        step0 = int(prev.meta["last_step"])
        rec = rec[rec > step0]
    start = time.perf_counter()
    out = _core.gd_run(problem.eigenvalues, problem.w_star, w, float(problem.d), problem.noise,
                       lr, step0, steps, rec, int(threads), int(progress_every),
                       float(divergence_factor), _callback(progress))
    meta = _base_meta(problem, "gd")
    meta.update(lr=lr, steps=out["last_step"] - step0, last_step=out["last_step"],
                status=out["status"], diverged_at_step=out["diverged_at_step"],
                last_good_step=out["last_step"] - (1 if out["status"] == "diverged" else 0),
                t_reached=out["last_step"] * lr, threads=out["threads"],
                wall_time=time.perf_counter() - start)
    return _finish(out, out["records"], w, meta, "gradient descent", prev)


def _run_sgd(problem: Problem, **options) -> Trajectory:
    # Imported on use: pyscale.stochastic imports helpers from this module.
    from .stochastic import run_sgd
    return run_sgd(problem, **options)


def _run_erm(problem: Problem, **options) -> Trajectory:
    from .stochastic import run_erm
    return run_erm(problem, **options)


#: method name -> engine runner(problem, **options) -> Trajectory
ENGINES: Dict[str, Callable[..., Trajectory]] = {"flow": _run_flow, "gd": _run_gd,
                                                 "sgd": _run_sgd, "erm": _run_erm}


def simulate(problem: Problem, method: str = "flow", **options) -> Trajectory:
    """Run one engine on ``problem`` and return its :class:`~pyscale.Trajectory`.

    Common options: ``threads`` (results do not depend on it), ``progress`` (callable
    ``(t, steps) -> bool | None``; returning False stops the run), ``resume`` (a trajectory
    returned by an interrupted or shorter run; continues it exactly).

    ``method="flow"``: ``t`` (increasing record times, or a horizon → 200 log-spaced
    times), ``rtol`` (default 1e-9), ``atol``, ``h0``, ``hmax``, ``max_steps``,
    ``scheme`` (``"rodas4"``, the default, or ``"ros4"``), ``record_mode``
    (``"interpolate"``, the default: records read off the dense output, no step lands on
    them but the last; ``"step"``: a step lands on every record), ``events``
    (:mod:`pyscale.events`). The trajectory keeps the dense output (``traj.dense``) for
    exact stopping times (:mod:`pyscale.phases`).
    ``method="gd"``: ``lr``, ``steps``, ``record`` (step indices, or a count).
    ``method="sgd"``: online SGD on fresh samples — ``lr``, ``steps``, ``record``, ``batch``
    (default 1), ``noise`` (label-noise variance; None → ``problem.noise``), ``seed``.
    ``method="erm"``: full-batch GD on ``n_samples`` fixed samples — ``n_samples``, ``lr``,
    ``steps``, ``record``, ``noise``, ``seed``; needs 8·n_samples·d bytes.
    See :mod:`pyscale.stochastic` (and :func:`pyscale.simulate_many` for ensembles).

    Raises :class:`~pyscale.DivergenceError` (with the partial trajectory) when GD
    diverges and :class:`~pyscale.Interrupted` on Ctrl-C or when ``progress`` returns False.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    try:
        engine = ENGINES[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(ENGINES)}") from None
    return engine(problem, **options)
