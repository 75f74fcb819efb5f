"""Sweeps: a grid of problems × methods run on local processes or a Dask cluster, stored
as one tidy table task by task so that an interrupted sweep resumes where it stopped.

>>> from pyscale.config import parse_sweep                      # doctest: +SKIP
>>> config = parse_sweep({"grid": {"a": [1.5, 2.0], "d": [300], "seed": [0, 1]},
...                       "flow": {"t": 1e4}})
>>> result = run_sweep(config, "results/")                      # local processes
>>> result = run_sweep(config, "results/", dask="local")         # a dask LocalCluster
>>> result = run_sweep(config, "results/", dask="tcp://host:8786")  # an existing cluster
>>> result.records        # tidy: task_id, a, d, seed, method, ..., t, s, u, s2, u2, loss, mse
>>> result.summary        # per task: T1, T1', T2 (SPEC §3), final mse, escape rate, status

On disk (``out``): ``index.json`` (the task list), ``records/<task_id>.parquet`` and
``summary/<task_id>.parquet`` written by the coordinating process as each task finishes
(workers need no shared file system), ``failures.json`` for tasks that failed after their
retries. A task whose records file exists is done and never recomputed; task ids hash the
task's full parameters, so changing the grid only adds tasks. Read it back with
:func:`pyscale.io.read_table` or ``pyscale.load(out)``.

Backends: :class:`concurrent.futures.ProcessPoolExecutor` (default; ``workers`` processes)
or ``dask.distributed`` (``dask="local"`` starts a LocalCluster, any other string is a
scheduler address, or pass a ``distributed.Client``). Tasks run single-threaded
(``threads=1``; results never depend on the thread count). A task that raises is retried
``retries`` times, then reported in ``SweepResult.failed``; the sweep goes on.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from .config import ProblemConfig, RunConfig, SweepConfig
from .errors import DivergenceError, Interrupted
from .io import read_parts, write_json, write_part
from .trajectory import FIELDS

__all__ = ["Task", "SweepResult", "run_sweep", "run_task", "tasks_of", "SWEEP_FORMAT"]

SWEEP_FORMAT = "pyscale.sweep/1"

#: Run-option columns of the tidy table (NaN / None where a method has no such option).
OPTION_COLUMNS = ("lr", "steps", "batch", "sample_seed", "n_samples", "rtol")


@dataclass(frozen=True)
class Task:
    """One (problem, engine run) pair of a sweep."""
    problem: ProblemConfig
    run: RunConfig

    def description(self) -> dict:
        return {"problem": self.problem.as_dict(), "run": self.run.as_dict()}

    @property
    def task_id(self) -> str:
        """A stable id: a hash of the full parameters (same task → same id, any machine)."""
        text = json.dumps(self.description(), sort_keys=True, default=float)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def columns(self) -> Dict[str, Any]:
        """The task's parameters as the leading columns of the tidy table."""
        p, o = self.problem, self.run.engine_kwargs(self.problem.seed)
        cols = {"task_id": self.task_id, "a": p.a, "d": p.d, "seed": p.seed,
                "target": p.target, "noise": float(o.get("noise", p.noise)),
                "method": self.run.method}
        opts = self.run.options
        cols.update(lr=float(opts.get("lr", np.nan)), steps=int(opts.get("steps", -1)),
                    batch=int(opts.get("batch", 1)), sample_seed=int(o.get("seed", -1)),
                    n_samples=int(opts.get("n_samples", -1)),
                    rtol=float(opts.get("rtol", np.nan)))
        return cols


def tasks_of(config: Union[SweepConfig, Sequence[Task]]) -> List[Task]:
    """The tasks of a sweep configuration (or a list of tasks, returned as is)."""
    if isinstance(config, SweepConfig):
        return [Task(p, r) for p, r in config.tasks()]
    tasks = list(config)
    if not all(isinstance(t, Task) for t in tasks):
        raise TypeError("expected a SweepConfig or a sequence of Task")
    return tasks


def _escape_rate(problem) -> float:
    """ρ of SPEC §3 from :func:`pyscale.predict` where available (NaN otherwise, e.g. a≤1)."""
    try:
        from .theory import predict
    except ImportError:
        return float("nan")
    try:
        return float(predict(problem).escape_rate)
    except Exception:  # the theory does not apply to every problem (e.g. a <= 1)
        return float("nan")


def run_task(task: Task, threads: int = 1):
    """Run one task; returns (records, summary) DataFrames. Executed on the workers.

    A diverged run is a result, not a failure: its records up to divergence are kept and
    its status is ``"diverged"``.
    """
    import pandas as pd
    from .engines import simulate
    problem = task.problem.build()
    start = time.perf_counter()
    try:
        traj = simulate(problem, task.run.method, threads=threads,
                        **task.run.engine_kwargs(task.problem.seed))
        status = traj.status
    except DivergenceError as err:
        traj, status = err.trajectory, "diverged"
    wall = time.perf_counter() - start
    cols = task.columns()
    records = pd.DataFrame({**{k: [v] * len(traj) for k, v in cols.items()},
                            **{name: getattr(traj, name) for name in FIELDS}})
    phases = traj.phases()
    summary = pd.DataFrame([{**cols, "T1": phases.T1, "T1_prime": phases.T1_prime,
                             "T2": phases.T2, "t_final": float(traj.t[-1]) if len(traj) else
                             np.nan, "final_mse": float(traj.mse[-1]) if len(traj) else np.nan,
                             "final_abs_u": float(abs(traj.u[-1])) if len(traj) else np.nan,
                             "escape_rate": _escape_rate(problem), "status": status,
                             "wall_time": wall}])
    for name in ("T1", "T1_prime", "T2"):
        summary[name] = summary[name].astype(float)
    return records, summary


# ---------------------------------------------------------------------------- backends
class _LocalBackend:
    """Worker processes on this machine (spawned: safe with the engines' threads)."""
    name = "local"

    def __init__(self, workers: Optional[int]):
        import multiprocessing
        self.workers = workers or os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(self.workers,
                                        mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait_first(self, futures):
        done, pending = futures_wait(futures, return_when=FIRST_COMPLETED)
        return done, pending

    def close(self, cancel: bool = False):
        if not cancel:
            self.pool.shutdown(wait=True)
            return
        # Ctrl-C: stop the running tasks now instead of waiting for them (their results
        # would be discarded anyway; finished tasks are already on disk).
        processes = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)


class _DaskBackend:
    """A dask.distributed cluster: ``"local"`` (a LocalCluster), an address, or a Client."""
    name = "dask"

    def __init__(self, where, workers: Optional[int], processes: bool = True):
        from distributed import Client, LocalCluster
        self.cluster = None
        self.own_client = True
        if isinstance(where, Client):
            self.client, self.own_client = where, False
        elif where == "local":
            self.cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                        threads_per_worker=1, processes=processes,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(where)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or workers
        self.submitted: list = []

    def submit(self, fn, *args):
        future = self.client.submit(fn, *args, pure=False)
        self.submitted.append(future)
        return future

    def wait_first(self, futures):
        from distributed import wait
        done, pending = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done), set(pending)

    def close(self, cancel: bool = False):
        if cancel:
            self.client.cancel([f for f in self.submitted if not f.done()])
        if self.own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# ---------------------------------------------------------------------------- the sweep
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

    def __repr__(self) -> str:
        return (f"SweepResult(out={str(self.out)!r}, tasks={self.n_tasks}, "
                f"computed={len(self.computed)}, reused={len(self.reused)}, "
                f"failed={len(self.failed)}, interrupted={self.interrupted})")


def _write_index(out: Path, tasks: List[Task]) -> None:
    from ._version import __version__
    write_json(out / "index.json", {
        "format": SWEEP_FORMAT, "pyscale_version": __version__,
        "tasks": [{"task_id": t.task_id, **t.description()} for t in tasks]})


def _done(out: Path, task: Task) -> bool:
    return (out / "records" / f"{task.task_id}.parquet").is_file()


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

    Ctrl-C (KeyboardInterrupt) cancels the outstanding tasks and raises
    :class:`~pyscale.Interrupted` whose ``result`` holds the :class:`SweepResult` so far;
    every finished task is already on disk, so running the same sweep again resumes.
    """
    from .progress import task_bar
    tasks = tasks_of(config)
    if not tasks:
        raise ValueError("the sweep has no tasks")
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("the sweep lists the same task twice")
    cfg = config if isinstance(config, SweepConfig) else None
    out = out if out is not None else (cfg.out if cfg is not None else None)
    if out is None:
        raise ValueError("give the output directory: out= (or [sweep] out in the config)")
    out = Path(out)
    workers = workers if workers is not None else (cfg.workers if cfg else None)
    dask = dask if dask is not None else (cfg.dask if cfg else None)
    retries = retries if retries is not None else (cfg.retries if cfg else 2)
    out.mkdir(parents=True, exist_ok=True)
    _write_index(out, tasks)
    failures_path = out / "failures.json"
    result = SweepResult(out=out, records=None, summary=None, n_tasks=len(tasks))
    todo = []
    for t in tasks:
        if _done(out, t):
            result.reused.append(t.task_id)
        else:
            todo.append(t)
    bar = task_bar(len(tasks), "sweep", enabled=progress, initial=len(result.reused))
    backend = None
    try:
        if todo:
            backend = (_LocalBackend(workers) if dask is None
                       else _DaskBackend(dask, workers, processes=dask_processes))
            _drive(backend, todo, runner, retries, out, result, bar, on_task_done)
    except KeyboardInterrupt:
        result.interrupted = True
        if backend is not None:
            backend.close(cancel=True)
            backend = None
        _finish(out, tasks, result, failures_path)
        bar.close()
        err = Interrupted(f"sweep interrupted: {len(result.computed) + len(result.reused)} of "
                          f"{len(tasks)} tasks are stored in {out}; run it again to resume")
        err.result = result
        raise err from None
    finally:
        if backend is not None:
            backend.close()
        bar.close()
    return _finish(out, tasks, result, failures_path)


def _drive(backend, todo: List[Task], runner, retries: int, out: Path, result: SweepResult,
           bar, on_task_done) -> None:
    """Submit, collect, store, retry: keep at most ~2×workers tasks in flight."""
    queue = list(reversed(todo))
    attempts: Dict[str, int] = {}
    in_flight: Dict[Any, Task] = {}
    limit = 2 * max(1, int(backend.workers or 1))

    def fill():
        while queue and len(in_flight) < limit:
            task = queue.pop()
            attempts[task.task_id] = attempts.get(task.task_id, 0) + 1
            in_flight[backend.submit(runner, task)] = task

    fill()
    while in_flight:
        done, _ = backend.wait_first(set(in_flight))
        for fut in done:
            task = in_flight.pop(fut)
            try:
                records, summary = fut.result()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a worker error: retry, then report
                message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                if attempts[task.task_id] <= retries:
                    queue.append(task)
                    continue
                result.failed[task.task_id] = message
                bar.write(f"task {task.task_id} ({task.description()}) failed after "
                          f"{attempts[task.task_id]} attempts: {message}")
                if on_task_done is not None:
                    on_task_done(task, "failed")
                continue
            write_part(out / "summary", task.task_id, summary)
            write_part(out / "records", task.task_id, records)
            result.computed.append(task.task_id)
            result.failed.pop(task.task_id, None)
            bar.update(1)
            if on_task_done is not None:
                on_task_done(task, "done")
        fill()


def _finish(out: Path, tasks: List[Task], result: SweepResult, failures_path: Path):
    ids = [t.task_id for t in tasks]
    result.records = read_parts(out / "records", ids)
    result.summary = read_parts(out / "summary", ids)
    if result.failed:
        write_json(failures_path, {"failed": result.failed})
    elif failures_path.is_file():
        failures_path.unlink()
    return result
