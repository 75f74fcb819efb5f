"""What every engine run shares: the prologue (options, the state to start from, the core's
view of the problem) and the epilogue (the core's status → a :class:`Trajectory`, or the
exception that carries the *whole* partial trajectory, earlier resumed segments included).

Each engine module (flow, gd, sgd, erm) validates its own options, calls :func:`start`,
runs the core, and hands the core's result to :func:`finish`: so every engine has exactly
one divergence path and one interrupt path, and a resumed run is concatenated in one place.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

import numpy as np

import pyscale._core as _core

from .._digest import digest
from .._version import __version__
from ..errors import DivergenceError, DomainError, Interrupted
from ..model.compression import flow_rate_bound, rate_of
from ..model.problem import Problem
from ..results.columns import recorded
from ..results.identity import check_same_problem
from ..results.trajectory import Trajectory

__all__ = ["Start", "start", "check_horizon", "check_rate", "finish", "core_problem",
           "core_pair", "base_meta", "progress_hook", "divergence_message", "domain_message",
           "concat", "step_meta", "step_state", "run_identity", "COUNTERS", "core_network",
           "network_meta", "network_start", "network_concat", "network_finish",
           "network_step_meta"]

ProgressCallback = Callable[[float, int], Optional[bool]]

#: Per-run counters that add up over the segments of a resumed run.
COUNTERS = ("steps", "rejected", "rhs_evals", "passes", "exponential_steps", "wall_time",
            "samples_drawn")


def core_problem(problem: Problem, noise: Optional[float] = None) -> "_core.model.CoreProblem":
    """The arrays the core reads (kept alive by the returned object); ``noise`` overrides
    the problem's label-noise variance for this run."""
    return _core.model.CoreProblem(problem.eigenvalues, problem.w_star, float(problem.d),
                             float(problem.noise if noise is None else noise))


def core_pair(problem: Problem) -> Any:
    """The core's link pair for ``problem`` (:meth:`pyscale.LinkPair.core`): the object every
    engine entry point takes (pybind11 picks the engine compiled for its type)."""
    return problem.link.core()


def base_meta(problem: Problem, method: str) -> Dict[str, Any]:
    return {"method": method, "d": problem.d, "n_coords": problem.n_coords,
            "s_star": problem.s_star, "noise": problem.noise, "problem": dict(problem.info),
            "link": problem.link.identity, "mse_kind": problem.link.mse_kind,
            "problem_id": problem.identity(), "version": __version__}


def progress_hook(progress: Any) -> Optional[Callable[[float, int], bool]]:
    """The core's hook from ``progress``: None/False (none) or a callable ``(t, steps)``
    whose False return stops the run."""
    if progress is None or progress is False:
        return None
    if not callable(progress):
        raise TypeError(f"progress must be True, False, None or a callable (t, steps) -> "
                        f"bool | None, got {type(progress).__name__}")

    def hook(t: float, steps: int) -> bool:
        return progress(t, steps) is not False
    return hook


@dataclass
class Start:
    """Where a run starts: a fresh copy of the state, the trajectory it resumes (if any),
    that run's resumable state (``meta['resume']``), the run's identity and, for a
    horizon-aware compression, the (s*, K) its records are checked against
    (:func:`check_rate`)."""
    w: np.ndarray
    previous: Optional[Any] = None  # a Trajectory, or a network's NetworkTrajectory
    resume: Dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    problem_id: str = ""
    options: Dict[str, Any] = field(default_factory=dict)
    rate: Optional[tuple] = None


def run_identity(problem: Problem, method: str, same: Optional[Mapping[str, Any]]) -> str:
    """A run's identity: the digest of its problem's identity, its method and the options
    ``same`` that shape its dynamics (not its horizon or record grid: a resumed run
    continues the same computation further). Carried as ``meta["run_id"]``."""
    return digest({"kind": "pyscale.run", "problem": problem.identity(), "method": method,
                   "options": dict(same or {})})


def check_horizon(problem: Problem, t_end: float, w: np.ndarray) -> Optional[tuple]:
    """Refuse a run that leaves what a horizon-aware compression resolves (model page:
    Compression, Horizon-aware grouping): past its horizon T, or from a state whose
    coefficients' bound exceeds the K its modes were sized with. Returns (s*, K, the link pair)
    for :func:`check_rate`, or None for a problem without a horizon."""
    packed = problem.info.get("compressed") or {}
    horizon, rate = packed.get("horizon"), packed.get("rate")
    if horizon is None or rate is None:
        return None
    if t_end > horizon * (1.0 + 1e-12):
        raise ValueError(
            f"this problem is compressed for runs up to t = {horizon:.6g} (horizon=); a run "
            f"to t = {t_end:.6g} goes past what its modes resolve: compress it with "
            f"horizon >= {t_end:.6g}, or without a horizon")
    lam, ws = problem.eigenvalues, problem.w_star
    s_star = problem.s_star
    need = flow_rate_bound(s_star, float(np.dot(lam * w, w)), float(np.dot(lam * w, ws)),
                           problem.link)
    if need > rate * (1.0 + 1e-9):
        raise ValueError(
            f"this state's loss allows coefficients |c0| + |c1| up to {need:.6g}, above the "
            f"{rate:.6g} the problem's horizon-aware compression was sized for: compress "
            f"from this start (problem.compress(..., horizon=))")
    return s_star, rate, problem.link


def check_rate(bound: Optional[tuple], s: np.ndarray, u: np.ndarray, what: str) -> None:
    """Warn when a run's records leave the coefficients' bound K that its horizon-aware
    compression assumed (possible for online SGD, whose loss may rise): the O(δ) guarantee
    then does not cover the run."""
    if bound is None:
        return
    s_star, rate, pair = bound
    s, u = np.asarray(s, dtype=np.float64), np.asarray(u, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(u)
    seen = rate_of(s_star, s[ok], u[ok], pair)
    if seen > rate * (1.0 + 1e-9):
        warnings.warn(f"{what}: the coefficients |c0| + |c1| reached {seen:.6g}, above the "
                      f"bound K = {rate:.6g} its problem's horizon-aware compression "
                      f"assumed: compress with bound >= {seen:.6g} (or without a horizon) "
                      f"to cover this run",
                      RuntimeWarning, stacklevel=4)


def start(problem: Problem, method: str, resume: Optional[Trajectory],
          same: Optional[Mapping[str, Any]] = None, t_end: float = 0.0) -> Start:
    """The state to run from: ``problem.w0``, or the end of ``resume`` — which must be a
    run of this very problem (its identity) and method, with the options ``same``, that
    did not diverge. ``t_end``: the time the run ends at (checked against a compression's
    horizon)."""
    run_id = run_identity(problem, method, same)
    if resume is None:
        w0 = np.array(problem.w0, dtype=np.float64, copy=True)
        return Start(w0, run_id=run_id, problem_id=problem.identity(),
                     options=dict(same or {}), rate=check_horizon(problem, t_end, w0))
    if not isinstance(resume, Trajectory):
        raise TypeError(f"resume must be a Trajectory, got {type(resume).__name__}")
    if resume.meta.get("method") != method:
        raise ValueError(f"resume: cannot continue a {resume.meta.get('method')!r} "
                         f"trajectory with method={method!r}")
    if resume.status == "diverged":
        raise ValueError(f"resume: the trajectory diverged (at step "
                         f"{resume.meta.get('diverged_at_step')}): its last state is not "
                         f"one to continue from; rerun from the start with a lower lr")
    if resume.w is None or len(resume) == 0 or "resume" not in resume.meta:
        raise ValueError("resume: the trajectory has no final state to continue from")
    w = np.array(resume.w, dtype=np.float64, copy=True)
    if w.shape != (problem.n_coords,):
        raise ValueError(f"resume: the trajectory has {w.size} coordinates, the problem "
                         f"{problem.n_coords}")
    _check_belongs(resume, problem, same, run_id)
    return Start(w, resume, dict(resume.meta["resume"]), run_id, problem.identity(),
                 dict(same or {}), check_horizon(problem, t_end, w))


def _check_belongs(resume: Any, problem: Problem, same: Optional[Mapping[str, Any]],
                   run_id: str) -> None:
    """Refuse a trajectory (single-index or network) of another problem or of other options
    (by their identities)."""
    check_same_problem(resume.meta, problem, "resume: the trajectory")
    stored = resume.meta.get("run_options", {})
    for key, value in (same or {}).items():
        if stored.get(key) != value:
            raise ValueError(f"resume: {key} must be the interrupted run's "
                             f"{stored.get(key)!r}, got {value!r}")
    if resume.meta.get("run_id") != run_id:
        raise ValueError("resume: the trajectory is a run with other options (its run "
                         "identity differs)")


def concat(first: Optional[Trajectory], second: Trajectory,
           per_record: Iterable[str] = ()) -> Trajectory:
    """``second`` appended to ``first`` (the run it resumed): records, per-record meta
    arrays (``per_record``) and counters."""
    if first is None:
        return second
    cols: Dict[str, Any] = {k: np.concatenate([getattr(first, k), getattr(second, k)])
                            for k in recorded(second.meta)}
    cols.setdefault("mse", None)  # a pair without a recovery metric
    meta = _joined_meta(first.meta, second.meta, per_record)
    from .flow_events import concat_dense
    dense, events = concat_dense(first, second)
    return Trajectory(w=second.w, meta=meta, dense=dense, events=events, **cols)


def _joined_meta(first: Mapping[str, Any], second: Mapping[str, Any],
                 per_record: Iterable[str]) -> Dict[str, Any]:
    """The meta of a resumed run's whole trajectory: ``second``'s, with the per-record
    arrays ``per_record`` joined and the counters summed over both segments."""
    meta = dict(second)
    for key in per_record:
        if key in first and key in meta:
            meta[key] = np.concatenate([first[key], meta[key]])
    for key in COUNTERS:
        if key in first and key in meta:
            meta[key] = first[key] + meta[key]
    meta["resumed"] = True
    return meta


def divergence_message(what: str, step: int, lr: float, hint: str,
                       last_good: Optional[int] = None, members: str = "") -> str:
    """The one divergence message: what diverged, where, what to do, where the data is."""
    kept = "" if last_good is None else f" up to step {last_good}"
    return (f"{what} diverged at step {step} (t = {step * lr:.6g}){members}: the iterate "
            f"became non-finite or exploded; {hint}. The trajectory{kept} is in "
            f"err.trajectory.")


def domain_message(what: str, t: float, link: str, members: str = "") -> str:
    """The one message of a run stopped at the edge of its pair's domain: s = 0 with a
    kinked student (``link``: the pair's identity)."""
    return (f"{what} stopped at t = {t:.6g}{members}: s = wᵀQw reached 0, where the loss of "
            f"link pair {link!r} is not differentiable (its student has a kink at 0); the "
            f"trajectory up to there is in err.trajectory.")


def finish(run: Any, w: np.ndarray, meta: Dict[str, Any], begun: Start, what: str,
           hint: str = "", per_record: Optional[str] = None,
           complete: Optional[Callable[[Trajectory], Trajectory]] = None) -> Trajectory:
    """The core's result ``run`` → the whole trajectory (after ``begun.previous``; ``complete``
    adds engine-specific parts to the new segment); raises :class:`DivergenceError` /
    :class:`Interrupted` / :class:`DomainError` carrying it, or warns on a step limit."""
    n = int(run.records_written)
    meta.update(problem_id=begun.problem_id, run_id=begun.run_id,
                run_options=dict(begun.options))
    if per_record is not None:
        meta[per_record] = np.array(run.per_record[:n])
    meta["status"] = run.status.name
    traj = Trajectory.from_records(run.records[:n], w, meta)
    if complete is not None:
        traj = complete(traj)
    traj = concat(begun.previous, traj, () if per_record is None else (per_record,))
    check_rate(begun.rate, traj.s, traj.u, what)
    if run.status == _core.RunStatus.diverged:
        step = int(meta["diverged_at_step"])
        raise DivergenceError(divergence_message(what, step, meta["lr"], hint,
                                                 meta.get("last_good_step")), step, traj)
    if run.status == _core.RunStatus.out_of_domain:
        t = float(meta["t_reached"])
        raise DomainError(domain_message(what, t, meta["link"]), t, traj)
    _stopped_early(run, what, meta, traj)
    return traj


def step_meta(problem: Problem, method: str, run: Any, begun: Start, lr: float,
              started: float, **options: Any) -> Dict[str, Any]:
    """The meta of a step engine's run (gd, sgd, erm): options, counters, resumable state."""
    meta = base_meta(problem, method)
    meta.update(lr=lr, **options, **_step_fields(run, begun, lr, started))
    return meta


def _step_fields(run: Any, begun: Start, lr: float, started: float) -> Dict[str, Any]:
    """What every step engine's meta (single-index or network) says of its run: the steps
    made, where it stopped or diverged, its threads and wall time, the state to resume."""
    step0 = int(begun.resume.get("step", 0))
    last = int(run.state.step)
    diverged = run.status == _core.RunStatus.diverged
    return dict(steps=last - step0, last_step=last, diverged_at_step=int(run.diverged_at_step),
                last_good_step=last - 1 if diverged else last, t_reached=last * lr,
                threads=int(run.threads), wall_time=time.perf_counter() - started,
                resume={"step": last, "window_sum": float(run.state.window_sum),
                        "window_count": int(run.state.window_count)})


def step_state(begun: Start) -> "_core.steps.StepState":
    r = begun.resume
    return _core.steps.StepState(int(r.get("step", 0)), float(r.get("window_sum", 0.0)),
                           int(r.get("window_count", 0)))


# ---------------------------------------------------------------------------- networks
# What the network engines (network_flow, network_gd, network_sgd, network_erm) share:
# the core's problem and kernels, the meta, the state to start from and the epilogue,
# each the network twin of the single-index helper above.

def core_network(problem: Problem, noise: Optional[float] = None) -> tuple:
    """(NetworkProblem, NetworkKernels) of a network problem for the core: eigenvalues,
    W* (n, k), the units p, d, the label-noise variance (``noise`` overrides the problem's),
    and the kernel sums of its link pair with the readouts."""
    prob = _core.network.NetworkProblem(problem.eigenvalues, problem.w_star, problem.units,
                                        float(problem.d),
                                        float(problem.noise if noise is None else noise))
    # The network sums take the general pair (the square's closed forms included in it).
    pair = _core.model.LinkPair(problem.link.student.core(), problem.link.teacher.core())
    kern = _core.network.NetworkKernels(pair, np.asarray(problem.readout).tolist(),
                                        np.asarray(problem.teacher_readout).tolist())
    return prob, kern


def network_meta(problem: Problem, method: str, noise: Optional[float] = None
                 ) -> Dict[str, Any]:
    """The meta every network run starts from: the problem's sizes, S*, readouts, noise,
    link and provenance."""
    return {"method": method, "d": problem.d, "n_coords": problem.n_coords,
            "units": problem.units, "teacher_units": problem.teacher_units,
            "S_star": problem.S_star, "readout": problem.readout,
            "teacher_readout": problem.teacher_readout,
            "noise": float(problem.noise if noise is None else noise),
            "problem": dict(problem.info), "link": problem.link.identity,
            "problem_id": problem.identity(), "version": __version__}


def network_start(problem: Problem, method: str, resume: Any,
                  same: Optional[Mapping[str, Any]] = None, state: str = "w") -> Start:
    """The state to run from: ``problem.w0`` (n, p), or the end of ``resume`` — a
    NetworkTrajectory of this very problem (its identity) and method, with the options
    ``same`` (as :func:`start`). ``state``: where the resumed state lives (``"w"``, or
    ``"frames"`` in the resume meta for the mode chain)."""
    from ..results.network import NetworkTrajectory
    run_id = run_identity(problem, method, same)
    if resume is None:
        return Start(np.array(problem.w0, dtype=np.float64, copy=True), run_id=run_id,
                     problem_id=problem.identity(), options=dict(same or {}))
    if not isinstance(resume, NetworkTrajectory):
        raise TypeError(f"resume must be a NetworkTrajectory (a network run), got "
                        f"{type(resume).__name__}")
    if resume.meta.get("method") != method or "resume" not in resume.meta or len(resume) == 0:
        raise ValueError(f"resume: the trajectory is not a resumable {method!r} run of a "
                         f"network")
    saved = resume.w if state == "w" else resume.meta["resume"].get(state)
    w = np.array(saved, dtype=np.float64, copy=True)
    if state == "w" and w.shape != problem.w0.shape:
        raise ValueError(f"resume: the trajectory's state has shape {w.shape}, the problem "
                         f"{problem.w0.shape}")
    _check_belongs(resume, problem, same, run_id)
    return Start(w, resume, dict(resume.meta["resume"]), run_id, problem.identity(),
                 dict(same or {}))


def network_concat(first: Any, second: Any, per_record: Iterable[str] = ()) -> Any:
    """A network trajectory appended to the one it resumed (records, per-record meta,
    counters)."""
    if first is None:
        return second
    from ..results.network import NetworkTrajectory
    meta = _joined_meta(first.meta, second.meta, per_record)
    return NetworkTrajectory(t=np.concatenate([first.t, second.t]),
                             loss=np.concatenate([first.loss, second.loss]),
                             S=np.concatenate([first.S, second.S]),
                             U=np.concatenate([first.U, second.U]), w=second.w, meta=meta)


def network_finish(run: Any, w: Optional[np.ndarray], meta: Dict[str, Any], begun: Start,
                   what: str, hint: str = "", per_record: Optional[str] = None) -> Any:
    """The core's result → the whole NetworkTrajectory; raises DivergenceError /
    Interrupted carrying it, or warns on a step limit (as :func:`finish`)."""
    from ..results.network import NetworkTrajectory
    n = int(run.records_written)
    meta.update(problem_id=begun.problem_id, run_id=begun.run_id,
                run_options=dict(begun.options))
    if per_record is not None:
        meta[per_record] = np.array(run.per_record[:n])
    meta["status"] = run.status.name
    traj = NetworkTrajectory.from_records(np.asarray(run.records)[:n], w, meta,
                                          int(meta["units"]), int(meta["teacher_units"]))
    traj = network_concat(begun.previous, traj, () if per_record is None else (per_record,))
    if run.status == _core.RunStatus.diverged:
        step = int(meta["diverged_at_step"])
        raise DivergenceError(divergence_message(what, step, meta["lr"], hint,
                                                 meta.get("last_good_step")), step, traj)
    _stopped_early(run, what, meta, traj)
    return traj


def network_step_meta(problem: Problem, method: str, run: Any, begun: Start, lr: float,
                      started: float, noise: Optional[float] = None,
                      **options: Any) -> Dict[str, Any]:
    """The meta of a network step engine's run (as :func:`step_meta`)."""
    meta = network_meta(problem, method, noise)
    meta.update(lr=lr, **options, **_step_fields(run, begun, lr, started))
    return meta


def _stopped_early(run: Any, what: str, meta: Dict[str, Any], traj: Any) -> None:
    """Raise Interrupted for a run stopped by Ctrl-C or its progress callback (``traj``
    holds the records and the state to resume from); warn for one that ran out of steps."""
    if run.status == _core.RunStatus.interrupted:
        cause = "signal" if run.signalled else "callback"
        why = "Ctrl-C" if run.signalled else "the progress callback"
        raise Interrupted(f"{what} stopped by {why} at t = {meta['t_reached']:.6g}; resume "
                          f"with simulate(..., resume=err.trajectory)", traj, cause=cause)
    if run.status == _core.RunStatus.step_limit:
        warnings.warn(f"{what} stopped at t = {meta['t_reached']:.6g}: step budget "
                      f"exhausted (max_steps) or step size underflow; the trajectory is "
                      f"truncated", RuntimeWarning, stacklevel=5)
