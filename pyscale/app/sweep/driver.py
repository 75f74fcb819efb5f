"""Running a sweep: the tasks not already stored are submitted to a backend, their results
stored as they come, failures retried, and a worker that dies survived — the task it was
running is rerun (a death is not the task's error: it has its own budget), everything else
goes on.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ...errors import Interrupted
from ..config import SweepConfig
from .backends import DaskBackend, LocalBackend, check_main_guard
from .store import SweepDirectory
from .tasks import Task, check_distinct, run_task, tasks_of

__all__ = ["SweepResult", "run_sweep", "DEATH_RETRIES"]

#: Reruns of a task whose worker died while running it, beyond ``retries`` (a death may
#: be the machine's, not the task's); a task whose worker dies on every one of them is
#: reported failed.
DEATH_RETRIES = 2


@dataclass
class SweepResult:
    """What a sweep produced: tidy tables (all finished tasks, including earlier runs'),
    counts, and the failures (task_id → last error) that survived their retries."""
    out: Path
    records: Any
    summary: Any
    n_tasks: int
    computed: List[str] = field(default_factory=list)
    reused: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    deaths: int = 0

    def __repr__(self) -> str:
        return (f"SweepResult(out={str(self.out)!r}, tasks={self.n_tasks}, "
                f"computed={len(self.computed)}, reused={len(self.reused)}, "
                f"failed={len(self.failed)}, interrupted={self.interrupted})")


def _options(cfg: Optional[SweepConfig], out, workers, dask, retries):
    """The run's out, workers, dask and retries: arguments first, then the config's."""
    import pyscale._validate as check
    out = out if out is not None else (cfg.out if cfg is not None else None)
    if out is None:
        raise ValueError("give the output directory: out= (or [sweep] out in the config)")
    workers = workers if workers is not None else (cfg.workers if cfg else None)
    if workers is not None:
        workers = check.integer("workers", workers, 1)
    dask = dask if dask is not None else (cfg.dask if cfg else None)
    retries = check.integer("retries", retries if retries is not None
                            else (cfg.retries if cfg else 2), 0)
    return Path(out), workers, dask, retries


def run_sweep(config: Union[SweepConfig, Sequence[Task]], out=None, *,
              workers: Optional[int] = None, dask=None, dask_processes: bool = True,
              retries: Optional[int] = None, progress: Optional[bool] = None,
              on_task_done: Optional[Callable[[Task, str], None]] = None,
              runner: Callable = run_task) -> SweepResult:
    """Run every task of ``config`` not already stored under ``out``; return the tables.

    ``out`` defaults to ``config.out``; ``workers``, ``dask``, ``retries`` default to the
    config's ``[sweep]`` values (2 retries). ``dask=None`` → local processes; ``"local"`` →
    a dask LocalCluster (``dask_processes=False``: worker threads in this process); an
    address or a ``distributed.Client`` → that cluster. ``progress``: a tqdm bar over tasks
    (None: when stderr is a terminal). ``on_task_done(task, status)`` is called after each
    task is stored (status "done" or "failed"). ``runner(task)`` computes a task (default
    :func:`run_task`; must be picklable for process backends).

    Stored parts are verified (checksum, rows, columns, task) before they count as done; a
    damaged one is recomputed. A local worker that dies is replaced and the task it was
    running rerun (up to :data:`DEATH_RETRIES` times beyond ``retries``); nothing else in
    flight is touched. A second, different sweep into the same ``out`` adds its tasks to
    the index: nothing finished is ever hidden or overwritten. Notices (deaths, retries,
    damaged parts) go to stderr.

    Local worker processes import the calling script: a script must start its sweep under
    ``if __name__ == "__main__":`` — one that does not is refused at once, saying so.

    Ctrl-C (KeyboardInterrupt) cancels the outstanding tasks and raises
    :class:`~pyscale.Interrupted` whose ``result`` holds the :class:`SweepResult` so far;
    every finished task is already on disk, so running the same sweep again resumes.
    """
    tasks = tasks_of(config)
    if not tasks:
        raise ValueError("the sweep has no tasks")
    check_distinct(tasks)
    cfg = config if isinstance(config, SweepConfig) else None
    out, workers, dask, retries = _options(cfg, out, workers, dask, retries)
    directory = SweepDirectory(out)
    try:
        return _run_in(directory, tasks, workers, dask, dask_processes, retries, progress,
                       on_task_done, runner)
    finally:
        directory.close()


def _backend(dask, workers, runner, dask_processes):
    if dask is None:
        check_main_guard()
        return LocalBackend(workers, runner)
    if dask == "local" and dask_processes:
        check_main_guard()
    return DaskBackend(dask, workers, runner, processes=dask_processes)


def _run_in(directory: SweepDirectory, tasks, workers, dask, dask_processes, retries,
            progress, on_task_done, runner) -> SweepResult:
    from ...engines.progress import task_bar
    out = directory.out
    directory.add_tasks(tasks)
    result = SweepResult(out=out, records=None, summary=None, n_tasks=len(tasks))
    todo = []
    for t in tasks:
        if directory.is_done(t):
            result.reused.append(t.task_id)
        else:
            todo.append(t)
    directory.save_index()
    bar = task_bar(len(tasks), "sweep", enabled=progress, initial=len(result.reused))
    for message in directory.damaged:
        bar.write(f"recomputing a damaged part: {message}", file=sys.stderr)
    backend = None
    try:
        if todo:
            backend = _backend(dask, workers, runner, dask_processes)
            _drive(backend, todo, retries, directory, result, bar, on_task_done)
    except KeyboardInterrupt:
        result.interrupted = True
        if backend is not None:
            backend.close(cancel=True)
            backend = None
        _finish(directory, tasks, result)
        bar.close()
        err = Interrupted(f"sweep interrupted: {len(result.computed) + len(result.reused)} of "
                          f"{len(tasks)} tasks are stored in {out}; run it again to resume")
        err.result = result  # type: ignore[attr-defined]
        raise err from None
    finally:
        if backend is not None:
            backend.close()
        bar.close()
    return _finish(directory, tasks, result)


class _Attempts:
    """Each task's attempts: errors against ``retries``, worker deaths against their own
    budget."""

    def __init__(self, retries: int):
        self.retries = retries
        self.errors: Dict[str, int] = {}
        self.deaths: Dict[str, int] = {}

    def again(self, task: Task, kind: str) -> bool:
        """Count a failure of ``kind`` ("failed" or "died"); whether to run it again."""
        book = self.deaths if kind == "died" else self.errors
        book[task.task_id] = book.get(task.task_id, 0) + 1
        limit = self.retries + (DEATH_RETRIES if kind == "died" else 0)
        return self.errors.get(task.task_id, 0) + self.deaths.get(task.task_id, 0) <= limit

    def count(self, task: Task) -> int:
        return 1 + self.errors.get(task.task_id, 0) + self.deaths.get(task.task_id, 0)


def _drive(backend, todo: List[Task], retries: int, directory: SweepDirectory,
           result: SweepResult, bar, on_task_done) -> None:
    """Submit, collect, store, retry, with at most ``backend.capacity`` tasks in flight."""
    queue = list(reversed(todo))
    attempts = _Attempts(retries)
    in_flight = 0

    def lost(task: Task, kind: str, message: str) -> None:
        if kind == "died":
            result.deaths += 1
        if attempts.again(task, kind):
            if kind == "died":
                bar.write(f"task {task.task_id}: {message}; running it again",
                          file=sys.stderr)
            queue.append(task)
            return
        result.failed[task.task_id] = message
        bar.write(f"task {task.task_id} ({task.description()}) failed after "
                  f"{attempts.count(task) - 1} attempts: {message}", file=sys.stderr)
        if on_task_done is not None:
            on_task_done(task, "failed")

    while queue or in_flight:
        while queue and in_flight < backend.capacity:
            backend.submit(queue.pop())
            in_flight += 1
        for kind, task, value in backend.wait():
            in_flight -= 1
            if kind != "done":
                lost(task, kind, value)
                continue
            records, summary = value
            directory.store(task, records, summary)
            result.computed.append(task.task_id)
            result.failed.pop(task.task_id, None)
            bar.update(1)
            if on_task_done is not None:
                on_task_done(task, "done")


def _finish(directory: SweepDirectory, tasks: List[Task], result: SweepResult):
    from ..io import read_parts
    directory.save_index()
    ids = [t.task_id for t in tasks if t.task_id in directory.index["parts"]]
    out = directory.out
    result.records = read_parts(out / "records", ids)
    result.summary = read_parts(out / "summary", ids)
    directory.write_failures(result.failed, result.computed)
    return result
