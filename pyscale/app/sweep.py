"""Sweeps: a grid of problems × methods run on local processes or a Dask cluster, stored
as one tidy table task by task so that an interrupted sweep resumes where it stopped.

>>> from pyscale.app.config import parse_sweep                      # doctest: +SKIP
>>> config = parse_sweep({"grid": {"a": [1.5, 2.0], "d": [300], "seed": [0, 1]},
...                       "flow": {"t": 1e4}})
>>> result = run_sweep(config, "results/")                      # local processes
>>> result = run_sweep(config, "results/", dask="local")         # a dask LocalCluster
>>> result = run_sweep(config, "results/", dask="tcp://host:8786")  # an existing cluster
>>> result.records        # tidy: task_id, a, d, seed, method, ..., t, s, u, s2, u2, loss, mse
>>> result.summary        # per task: T1_measured, T1_predicted, T1_prime_measured, ...

On disk (``out``): ``index.json`` (the task list, and the SHA-256 and row count of each
finished task's parts), ``records/<task_id>.parquet`` and ``summary/<task_id>.parquet``
written by the coordinating process as each task finishes (workers need no shared file
system; each part atomically: temporary file, fsync, rename), ``failures.json`` for tasks
that failed after their retries. A task counts as done when both parts verify against the
index (a damaged part is recomputed); task ids hash the task's full parameters, so
changing the grid only adds tasks, and a different sweep into the same directory adds its
tasks to the index (nothing finished is hidden). Read it back with
:func:`pyscale.app.io.read_table` or ``pyscale.load(out)``.

Backends: :class:`concurrent.futures.ProcessPoolExecutor` (default; ``workers`` processes)
or ``dask.distributed`` (``dask="local"`` starts a LocalCluster, any other string is a
scheduler address, or pass a ``distributed.Client``). Tasks run single-threaded
(``threads=1``; results never depend on the thread count). A task that raises is retried
``retries`` times, then reported in ``SweepResult.failed``; the sweep goes on. A local
worker that dies is replaced with its pool and its task retried; local workers exit when
their coordinator dies (even by SIGKILL).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import DivergenceError, Interrupted
from ..results.trajectory import FIELDS
from .config import ProblemConfig, RunConfig, SweepConfig
from .io import (
    SWEEP_INDEX_FORMAT,
    BadFileError,
    _file_sha256,
    check_output_path,
    read_index,
    read_json,
    read_parts,
    verify_part,
    write_json,
    write_part,
)

__all__ = ["Task", "SweepResult", "run_sweep", "run_task", "tasks_of", "SWEEP_FORMAT"]

SWEEP_FORMAT = SWEEP_INDEX_FORMAT

#: Run-option columns of the tidy table: NA (NaN, or pandas' nullable <NA> for the integer
#: ones) where a method has no such option (lr, steps for the flow; batch outside SGD, ...).
OPTION_COLUMNS = ("lr", "steps", "batch", "sample_seed", "n_samples", "rtol")
#: The leading columns of both tables: a task's parameters (:meth:`Task.columns`).
TASK_COLUMNS = ("task_id", "a", "d", "seed", "target", "noise", "method", *OPTION_COLUMNS)
RECORD_COLUMNS = (*TASK_COLUMNS, *FIELDS)
SUMMARY_COLUMNS = (*TASK_COLUMNS, "T1_measured", "T1_predicted", "T1_prime_measured",
                   "T2_measured", "t_final", "final_mse", "final_abs_u",
                   "escape_rate_predicted", "diverged_at_step", "status", "wall_time")
#: Column dtypes of both tables: integers are nullable so that "does not apply" is <NA>.
COLUMN_DTYPES = {"lr": "float64", "rtol": "float64", "steps": "Int64", "batch": "Int64",
                 "sample_seed": "Int64", "n_samples": "Int64", "T1_measured": "float64",
                 "T1_prime_measured": "float64", "T2_measured": "float64",
                 "diverged_at_step": "Int64"}


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
        """The task's parameters as the leading columns of the tidy table; None (NA in the
        table) for the options the task's method does not take."""
        p, o = self.problem, self.run.engine_kwargs(self.problem.seed)
        cols = {"task_id": self.task_id, "a": p.a, "d": p.d, "seed": p.seed,
                "target": p.target, "noise": float(o.get("noise", p.noise)),
                "method": self.run.method}
        # engine_kwargs holds exactly the options this method's engine receives
        cols.update({name: o.get("seed" if name == "sample_seed" else name)
                     for name in OPTION_COLUMNS})
        return cols


def tasks_of(config: Union[SweepConfig, Sequence[Task]]) -> List[Task]:
    """The tasks of a sweep configuration (or a list of tasks, returned as is)."""
    if isinstance(config, SweepConfig):
        return [Task(p, r) for p, r in config.tasks()]
    tasks = list(config)
    if not all(isinstance(t, Task) for t in tasks):
        raise TypeError("expected a SweepConfig or a sequence of Task")
    return tasks


def _predicted(problem, delta: float):
    """(ρ, T1(δ) = log(δ/|C|)/ρ) from :func:`pyscale.predict` (model page: Escape); NaN
    where the theory does not apply (e.g. a <= 1)."""
    try:
        from ..theory import predict
        pred = predict(problem)
        return float(pred.escape_rate), float(pred.escape_time(delta))
    except Exception:  # the theory does not apply to every problem
        return float("nan"), float("nan")


def run_task(task: Task, threads: int = 1):
    """Run one task; returns (records, summary) DataFrames. Executed on the workers.

    A diverged run is a result, not a failure: its records up to divergence are kept and
    its status is ``"diverged"``.
    """
    import pandas as pd

    from ..engines import simulate
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
    rho, t1 = _predicted(problem, phases.delta)
    diverged = traj.meta.get("diverged_at_step") if status == "diverged" else None
    summary = pd.DataFrame([{**cols, "T1_measured": phases.T1, "T1_predicted": t1,
                             "T1_prime_measured": phases.T1_prime, "T2_measured": phases.T2,
                             "t_final": float(traj.t[-1]) if len(traj) else np.nan,
                             "final_mse": float(traj.mse[-1]) if len(traj) else np.nan,
                             "final_abs_u": float(abs(traj.u[-1])) if len(traj) else np.nan,
                             "escape_rate_predicted": rho, "diverged_at_step": diverged,
                             "status": status, "wall_time": wall}])
    return _typed(records), _typed(summary)


def _typed(table):
    """The table with :data:`COLUMN_DTYPES` applied (None becomes NaN or <NA>)."""
    return table.astype({k: v for k, v in COLUMN_DTYPES.items() if k in table.columns})


# ---------------------------------------------------------------------------- backends
_WATCHDOG_PERIOD = 0.25  # seconds between a worker's checks that its coordinator lives


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCHDOG_PERIOD)
        if os.getppid() != parent:  # re-parented: the coordinator died (even by SIGKILL)
            os._exit(1)


def _worker_init(parent: int) -> None:
    """Initializer of each local worker: die with the coordinator.

    A SIGKILLed coordinator runs no clean-up, so each worker watches for itself: a daemon
    thread polls ``os.getppid()`` and exits the process once it changes.
    """
    import threading
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="pyscale-parent-watchdog").start()


class _LocalBackend:
    """Worker processes on this machine (spawned: safe with the engines' threads).

    A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor`` and fails
    every task in flight; :meth:`restart` replaces the pool so that those tasks are retried.
    """
    name = "local"

    def __init__(self, workers: Optional[int]):
        import multiprocessing
        self.workers = workers or os.cpu_count() or 1
        self.context = multiprocessing.get_context("spawn")
        self.restarts = 0
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing
        # children that exist before the pool are not its workers (see close)
        self.other_children = {c.pid for c in multiprocessing.active_children()}
        return ProcessPoolExecutor(self.workers, mp_context=self.context,
                                   initializer=_worker_init, initargs=(os.getpid(),))

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait_first(self, futures):
        done, pending = futures_wait(futures, return_when=FIRST_COMPLETED)
        return done, pending

    def is_broken(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        """Replace a broken pool by a fresh one (the old one's workers are stopped)."""
        self.close(cancel=True)
        self.restarts += 1
        self.pool = self._new_pool()

    def close(self, cancel: bool = False):
        if not cancel:
            self.pool.shutdown(wait=True)
            return
        # Ctrl-C or a broken pool: stop the running tasks now instead of waiting for them
        # (their results would be discarded; finished tasks are already on disk). The
        # pool's workers are this process's children started since the pool was made;
        # active_children() lists only children not yet reaped, so no pid is reused.
        import multiprocessing
        for child in multiprocessing.active_children():
            if child.pid not in self.other_children:
                child.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


#: Seconds to wait for a remote dask scheduler before giving up with a clear message.
DASK_CONNECT_TIMEOUT = 5.0


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
            self.client = _connect(where)
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

    def is_broken(self, exc: BaseException) -> bool:
        return False  # dask reschedules the tasks of a lost worker itself

    def close(self, cancel: bool = False):
        if cancel:
            self.client.cancel([f for f in self.submitted if not f.done()])
        if self.own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _connect(address: str):
    """A Client of the scheduler at ``address``; ConnectionError within a few seconds when
    it cannot be reached (instead of dask's default 30 s and a traceback)."""
    from distributed import Client

    from .config import check_dask_address
    check_dask_address("dask", address)
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise ConnectionError(f"cannot reach the dask scheduler at {address} within "
                              f"{DASK_CONNECT_TIMEOUT:g} s ({type(err).__name__}); is it "
                              f"running? ('--dask local' starts a cluster here)") from None
    except ValueError as err:
        raise ValueError(f"dask: invalid scheduler address {address!r}: {err}") from None


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


class _SweepDirectory:
    """The output directory of sweeps: the index (tasks and verified parts), the parts, the
    failures, and a lock so that two coordinators never write into one directory at once.

    A directory accumulates: a sweep whose tasks differ from those already indexed adds its
    tasks to ``index.json``; finished tasks of earlier sweeps stay indexed and readable.
    """

    KNOWN = {"index.json", "records", "summary", "failures.json", ".lock"}

    def __init__(self, out: Path):
        self.out = out
        check_output_path(out, "out", kind="dir")
        if out.is_dir() and not (out / "index.json").exists():
            foreign = [p.name for p in out.iterdir()
                       if p.name not in self.KNOWN and not p.name.startswith(".")]
            if foreign:
                raise FileExistsError(f"out: {out} is not empty and is not a sweep directory "
                                      f"(no index.json; holds {', '.join(sorted(foreign)[:3])}"
                                      f"); choose an empty or new directory")
        out.mkdir(parents=True, exist_ok=True)
        self.damaged: List[str] = []  # what is_done found damaged (to be recomputed)
        self.saved_at = 0.0
        self._lock()
        try:
            self.index = (read_index(out) if (out / "index.json").exists() else
                          {"format": SWEEP_FORMAT, "tasks": [], "parts": {}})
        except BadFileError as err:
            self.lock_file.close()
            raise BadFileError(out / "index.json", str(err).split(": ", 1)[-1],
                               "it was not modified; restore it, or move it away to start "
                               "a new index (finished parts are verified and kept)") from None

    def _lock(self) -> None:
        import fcntl
        self.lock_file = open(self.out / ".lock", "a+")
        try:
            fcntl.flock(self.lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.lock_file.close()
            raise BlockingIOError(f"out: another sweep is writing into {self.out} right "
                                  f"now; wait for it or choose another directory") from None

    def close(self) -> None:
        try:  # entries of parts stored since the last index write (after any error too)
            self.save_index()
        except OSError:
            pass  # the parts are on disk; the next run verifies and adopts them
        finally:
            self.lock_file.close()  # releases the lock

    def add_tasks(self, tasks: List[Task]) -> None:
        from .._version import __version__
        known = {t["task_id"] for t in self.index["tasks"]}
        self.index["tasks"] += [{"task_id": t.task_id, **t.description()} for t in tasks
                                if t.task_id not in known]
        self.index["pyscale_version"] = __version__
        self.save_index()

    def save_index(self) -> None:
        write_json(self.out / "index.json", self.index)
        self.saved_at = time.monotonic()

    def is_done(self, task: Task) -> bool:
        """Whether both parts of ``task`` are stored and verify (checksum, rows, columns).

        A part that fails is removed from the index (and so recomputed); a readable part
        without an index entry (written just before a crash) is verified and adopted.
        """
        entries = self.index["parts"].get(task.task_id) or None
        for which, columns in (("records", RECORD_COLUMNS), ("summary", SUMMARY_COLUMNS)):
            path = self.out / which / f"{task.task_id}.parquet"
            entry = None if entries is None else entries.get(which)
            try:
                rows = verify_part(path, entry, columns)
            except (FileNotFoundError, BadFileError) as err:
                if entries is not None or path.exists():
                    self.damaged.append(f"{path.name} ({which}): {err}")
                self.index["parts"].pop(task.task_id, None)
                return False
            if rows == 0 or (which == "summary" and rows != 1):
                self.index["parts"].pop(task.task_id, None)
                return False
        if entries is None or None in entries.values():  # parts written before the index
            # was updated (a crash in between), or by an earlier layout: verified, adopted
            self.index["parts"][task.task_id] = {
                which: _entry_of(self.out / which / f"{task.task_id}.parquet")
                for which in ("records", "summary")}
        return True

    #: Seconds between index writes while tasks finish: rewriting a large index after
    #: every task would cost O(tasks²); a part whose entry was not yet written when the
    #: coordinator died is verified and adopted on resume (:meth:`is_done`).
    INDEX_EVERY = 2.0

    def store(self, task: Task, records, summary) -> None:
        """Write both parts atomically, then their checksums into the index."""
        entries = {"summary": write_part(self.out / "summary", task.task_id, summary),
                   "records": write_part(self.out / "records", task.task_id, records)}
        self.index["parts"][task.task_id] = entries
        if time.monotonic() - self.saved_at >= self.INDEX_EVERY:
            self.save_index()

    def write_failures(self, failed: Dict[str, str], computed: List[str]) -> None:
        path = self.out / "failures.json"
        previous = {}
        if path.is_file():
            try:
                previous = dict(read_json(path).get("failed", {}))
            except (BadFileError, AttributeError, TypeError, ValueError):
                previous = {}
        merged = {k: v for k, v in previous.items() if k not in computed}
        merged.update(failed)
        if merged:
            write_json(path, {"failed": merged})
        elif path.is_file():
            path.unlink()


def _entry_of(path: Path) -> dict:
    import pyarrow.parquet as pq
    meta = pq.read_metadata(path)
    return {"sha256": _file_sha256(path), "rows": int(meta.num_rows),
            "columns": list(meta.schema.names)}


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

    Stored parts are verified (checksum, rows, columns) before they count as done; a
    damaged one is recomputed. A local worker that dies takes its pool with it: the pool is
    replaced and the tasks that were in flight are retried (each such loss counts as one
    attempt of each of them). A second, different sweep into the same ``out`` adds its
    tasks to the index: nothing finished is ever hidden or overwritten.

    Ctrl-C (KeyboardInterrupt) cancels the outstanding tasks and raises
    :class:`~pyscale.Interrupted` whose ``result`` holds the :class:`SweepResult` so far;
    every finished task is already on disk, so running the same sweep again resumes.
    """
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
    workers = workers if workers is not None else (cfg.workers if cfg else None)
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers
                                or workers < 1):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    dask = dask if dask is not None else (cfg.dask if cfg else None)
    retries = retries if retries is not None else (cfg.retries if cfg else 2)
    if isinstance(retries, bool) or int(retries) != retries or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    directory = _SweepDirectory(Path(out))
    try:
        return _run_in(directory, tasks, workers, dask, dask_processes, retries, progress,
                       on_task_done, runner)
    finally:
        directory.close()


def _run_in(directory: "_SweepDirectory", tasks, workers, dask, dask_processes, retries,
            progress, on_task_done, runner) -> SweepResult:
    from ..engines.progress import task_bar
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
        bar.write(f"recomputing a damaged part: {message}")
    backend = None
    try:
        if todo:
            backend = (_LocalBackend(workers) if dask is None
                       else _DaskBackend(dask, workers, processes=dask_processes))
            _drive(backend, todo, runner, retries, directory, result, bar, on_task_done)
    except KeyboardInterrupt:
        result.interrupted = True
        if backend is not None:
            backend.close(cancel=True)
            backend = None
        _finish(directory, tasks, result)
        bar.close()
        err = Interrupted(f"sweep interrupted: {len(result.computed) + len(result.reused)} of "
                          f"{len(tasks)} tasks are stored in {out}; run it again to resume")
        err.result = result
        raise err from None
    finally:
        if backend is not None:
            backend.close()
        bar.close()
    return _finish(directory, tasks, result)


def _drive(backend, todo: List[Task], runner, retries: int, directory: "_SweepDirectory",
           result: SweepResult, bar, on_task_done) -> None:
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

    def failed(task, message):
        if attempts[task.task_id] <= retries:
            queue.append(task)
            return
        result.failed[task.task_id] = message
        bar.write(f"task {task.task_id} ({task.description()}) failed after "
                  f"{attempts[task.task_id]} attempts: {message}")
        if on_task_done is not None:
            on_task_done(task, "failed")

    def collect(fut, task) -> bool:
        """Store a finished task's result; False when it failed with a broken pool."""
        try:
            records, summary = fut.result()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a worker error: retry, then report
            failed(task, "".join(traceback.format_exception_only(type(exc), exc)).strip())
            return not backend.is_broken(exc)
        directory.store(task, records, summary)
        result.computed.append(task.task_id)
        result.failed.pop(task.task_id, None)
        bar.update(1)
        if on_task_done is not None:
            on_task_done(task, "done")
        return True

    fill()
    while in_flight:
        done, _ = backend.wait_first(set(in_flight))
        intact = [collect(fut, in_flight.pop(fut)) for fut in done]
        if not all(intact):  # a worker died: the other tasks in flight on that pool are lost
            lost = {fut: task for fut, task in in_flight.items()
                    if not (fut.done() and not fut.cancelled() and fut.exception() is None)}
            for fut, task in in_flight.items():
                if fut not in lost:
                    collect(fut, task)  # finished just before the pool broke: keep it
            for task in lost.values():
                failed(task, "the worker process running it died")
            in_flight.clear()
            bar.write(f"a worker process died; the {len(lost) + intact.count(False)} task(s) "
                      f"it took with it are retried on a fresh pool (within --retries)")
            backend.restart()
        fill()


def _finish(directory: "_SweepDirectory", tasks: List[Task], result: SweepResult):
    directory.save_index()
    ids = [t.task_id for t in tasks if t.task_id in directory.index["parts"]]
    out = directory.out
    result.records = read_parts(out / "records", ids)
    result.summary = read_parts(out / "summary", ids)
    directory.write_failures(result.failed, result.computed)
    return result
