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

Backends (:mod:`.backends`): local worker processes (default; ``workers`` of them) or
``dask.distributed`` (``dask="local"`` starts a LocalCluster, any other string is a
scheduler address, or pass a ``distributed.Client``). Tasks run single-threaded
(``threads=1``; results never depend on the thread count). A task that raises is retried
``retries`` times, then reported in ``SweepResult.failed``; the sweep goes on. A local
worker that dies is replaced and the task it was running — only that one — rerun; local
workers exit when their coordinator dies (even by SIGKILL). A script starts its sweep
under ``if __name__ == "__main__":`` (the workers import it); one that does not is
refused at once.

Modules: :mod:`.tasks` (what a task is and computes), :mod:`.backends` (where tasks
run), :mod:`.store` (the directory on disk), :mod:`.driver` (:func:`run_sweep`).
"""
from .backends import DASK_CONNECT_TIMEOUT, GUARD
from .driver import DEATH_RETRIES, SweepResult, run_sweep
from .tasks import (
                    COLUMN_DTYPES,
                    RECORD_COLUMNS,
                    SUMMARY_COLUMNS,
                    TASK_COLUMNS,
                    Task,
                    run_task,
                    tasks_of,
)

__all__ = ["Task", "SweepResult", "run_sweep", "run_task", "tasks_of", "TASK_COLUMNS",
           "RECORD_COLUMNS", "SUMMARY_COLUMNS", "COLUMN_DTYPES", "DEATH_RETRIES",
           "DASK_CONNECT_TIMEOUT", "GUARD"]
