"""Long single runs that survive being stopped: run an engine, save its resumable state
every ``every`` seconds of wall time, and pick up exactly where a previous run stopped.

The engines stop cleanly when their progress callback returns False and hand back a
trajectory holding the records so far and the state to continue from (``traj.w``,
``meta['t_reached']``, the flow's ``meta['h_next']``, the step engines' ``meta['last_step']``);
``simulate(..., resume=traj)`` then continues the very same computation. A checkpointed
run is therefore bitwise identical to an uninterrupted one (SPEC §5 engines; tested in
``tests/test_io.py``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

from .errors import Interrupted
from .io import read_header, save_trajectory, load_trajectory
from .problem import Problem
from .engines import simulate
from .trajectory import Trajectory

__all__ = ["run_checkpointed"]


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                     default=str)


def run_checkpointed(problem: Problem, method: str, path, every: float = 60.0,
                     progress: Optional[Callable[[float, int], Optional[bool]]] = None,
                     extra: Optional[dict] = None, **options) -> Trajectory:
    """``simulate(problem, method, **options)``, saving to ``path`` (``.npz``) every
    ``every`` seconds and at the end; if ``path`` holds a checkpoint of the same run
    (same ``extra`` description, method and problem info), continue from it.

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
    if path.is_file():
        header = read_header(path)
        stored = {"extra": header.get("extra", {}), "method": header.get("method"),
                  "problem": header["meta"].get("problem")}
        wanted = {"extra": extra, "method": method, "problem": dict(problem.info)}
        if not _same(stored, wanted):
            raise ValueError(f"the checkpoint {path} belongs to another run "
                             f"({stored}); remove it or choose another path")
        prev = load_trajectory(path)
        if prev.status == "completed":
            return prev
    while True:
        deadline = time.monotonic() + every
        checkpoint_due = [False]

        def hook(t, steps):
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
