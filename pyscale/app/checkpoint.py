"""Long single runs that survive being stopped: run an engine, save its resumable state
every ``every`` seconds of wall time, and pick up exactly where a previous run stopped.

The engines stop cleanly when their progress callback returns False and hand back a
trajectory holding the records so far and the state to continue from (``traj.w``,
``meta['t_reached']``, the flow's ``meta['h_next']``, the step engines' ``meta['last_step']``);
``simulate(..., resume=traj)`` then continues the very same computation. A checkpointed
run is therefore bitwise identical to an uninterrupted one (model page: Time and steps; tested in
``tests/test_io.py``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

from ..engines import simulate
from ..errors import Interrupted
from ..model.problem import Problem
from ..results.identity import check_same_problem
from ..results.trajectory import Trajectory
from .io import BadFileError, load_trajectory, read_header, save_trajectory

__all__ = ["run_checkpointed"]


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                     default=str)


_UNTOUCHED = ("it was not modified: restore a copy, or move it away to start the run "
              "over")


def _checked(read, path: Path):
    """``read(path)``; a damaged checkpoint raises BadFileError naming it and saying that
    it was left untouched (it may be the only copy of a long run)."""
    try:
        return read(path)
    except BadFileError as err:
        reason = str(err).split(": ", 1)[-1]
        raise BadFileError(path, f"checkpoint is unusable ({reason.split('; ')[0]})",
                           _UNTOUCHED) from None


def _read_checkpoint_header(path: Path) -> dict:
    header = _checked(read_header, path)
    if not isinstance(header.get("meta"), dict):
        raise BadFileError(path, "checkpoint has no engine state (meta)")
    return header


def _previous(path: Path, problem: Problem, method: str, extra: dict) -> Trajectory:
    """The run a checkpoint holds, if it is a run of this problem, method and description
    that can be continued (verified by its digest and identities); else an error naming
    the checkpoint, which is left as it is."""
    header = _read_checkpoint_header(path)
    stored = {"extra": header.get("extra", {}), "method": header.get("method")}
    if not _same(stored, {"extra": extra, "method": method}):
        raise ValueError(f"the checkpoint {path} belongs to another run "
                         f"({stored}); remove it or choose another path")
    try:
        check_same_problem(header["meta"], problem, "the checkpoint")
    except ValueError as err:
        raise BadFileError(path, str(err), _UNTOUCHED) from None
    prev = _checked(load_trajectory, path)
    if prev.status == "diverged":
        raise BadFileError(path, f"the checkpoint holds a run that diverged at step "
                                 f"{prev.meta.get('diverged_at_step')}: its state is not one "
                                 f"to continue from", _UNTOUCHED + " (with a lower lr)")
    return prev


def _reached(prev: Trajectory, method: str, options: dict) -> bool:
    """Whether a finished run already went as far as ``options`` ask."""
    from ..engines.progress import run_horizon
    horizon = run_horizon(method, options)
    if horizon is None:
        return True
    return float(prev.meta.get("t_reached", prev.t[-1] if len(prev) else 0.0)) >= \
        horizon * (1 - 1e-12)


def run_checkpointed(problem: Problem, method: str, path, every: float = 60.0,
                     progress: Optional[Callable[[float, int], Optional[bool]]] = None,
                     extra: Optional[dict] = None, **options) -> Trajectory:
    """``simulate(problem, method, **options)``, saving to ``path`` (``.npz``) every
    ``every`` seconds and at the end; if ``path`` holds a checkpoint of the same run
    (same ``extra`` description and method, same problem by its identity, not diverged;
    verified by its digest), continue from it; a finished run that reached the horizon
    asked for is returned as it is.

    ``extra``: a JSON-able description of the run (the CLI passes its problem and run
    configuration); a checkpoint whose description differs is refused with ValueError
    rather than silently mixed. On Ctrl-C the latest state is saved before
    :class:`~pyscale.Interrupted` propagates, so rerunning the same call resumes.
    """
    every = float(every)
    if not every > 0:
        raise ValueError(f"every must be > 0 seconds, got {every}")
    path = Path(path)
    extra = dict(extra or {})
    prev: Optional[Trajectory] = None
    if path.exists():
        prev = _previous(path, problem, method, extra)
        if prev.status == "event" or (prev.success and _reached(prev, method, options)):
            return prev
    while True:
        deadline = time.monotonic() + every
        checkpoint_due = [False]

        def hook(t, steps, deadline=deadline, checkpoint_due=checkpoint_due):
            if progress is not None and progress(t, steps) is False:
                return False
            if steps > 0 and time.monotonic() >= deadline:  # stop after progress only
                checkpoint_due[0] = True
                return False
            return None

        try:
            traj = simulate(problem, method, progress=hook, resume=prev, **options)
        except Interrupted as err:
            stopped = err.trajectory  # the whole run so far, resumed segments included
            if stopped is None or len(stopped) == 0:
                # Stopped before the first record: nothing resumable yet. Start over with
                # a longer interval (only the first segment of a run can end up here).
                if checkpoint_due[0]:
                    every *= 2.0
                    continue
                raise
            prev = stopped
            save_trajectory(prev, path, problem=problem, extra=extra)
            if checkpoint_due[0]:
                continue
            raise
        save_trajectory(traj, path, problem=problem, extra=extra)
        return traj
