"""The tasks of a sweep: one (problem, engine run) pair each, identified by a hash of its
full parameters, and what a worker computes for it — the tidy records and summary rows
(one schema: the task's id, the run's parameters of :data:`pyscale.results.tidy.
PARAMETER_COLUMNS`, then the records or the summary)."""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from ...errors import DivergenceError
from ...model.link_support import supports
from ...results.columns import has_mse
from ...results.phases import DEFAULTS
from ...results.tidy import PARAMETER_COLUMNS, PARAMETER_TYPES
from ...results.trajectory import FIELDS
from ..config import ProblemConfig, RunConfig, SweepConfig

__all__ = ["Task", "tasks_of", "run_task", "check_distinct", "TASK_COLUMNS", "RECORD_COLUMNS",
           "SUMMARY_COLUMNS", "COLUMN_DTYPES"]

#: The leading columns of both tables: a task's id and parameters (:meth:`Task.columns`).
TASK_COLUMNS = ("task_id", *PARAMETER_COLUMNS)
RECORD_COLUMNS = (*TASK_COLUMNS, *FIELDS)
SUMMARY_COLUMNS = (*TASK_COLUMNS, "T1_measured", "T1_predicted", "T1_prime_measured",
                   "T2_measured", "t_final", "final_mse", "final_abs_u",
                   "escape_rate_predicted", "diverged_at_step", "status", "wall_time")
#: Column dtypes of both tables: integers are nullable so that "does not apply" is <NA>.
COLUMN_DTYPES = {**PARAMETER_TYPES, "T1_measured": "float64",
                 "T1_prime_measured": "float64", "T2_measured": "float64",
                 "diverged_at_step": "Int64"}
#: Options of a method, as (column, engine keyword).
_OPTION_COLUMNS = (("lr", "lr"), ("steps", "steps"), ("batch", "batch"),
                   ("sample_seed", "seed"), ("n_samples", "n_samples"), ("rtol", "rtol"))


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
        """The task's parameters as the leading columns of the tidy tables (the values the
        run uses: the label noise an engine option overrides, the options its method
        takes, None — NA in the table — for the others); the identities are filled in
        from the run (None until it ran)."""
        p, o = self.problem, self.run.engine_kwargs(self.problem.seed)
        cols: Dict[str, Any] = {"task_id": self.task_id, "method": self.run.method,
                                "d": p.d, "link": p.link, "a": p.a, "seed": p.seed,
                                "target": p.target,
                                "noise": float(o.get("noise", p.noise)),
                                "problem_id": None, "run_id": None}
        # engine_kwargs holds exactly the options this method's engine receives
        cols.update({column: o.get(key) for column, key in _OPTION_COLUMNS})
        return {name: cols[name] for name in TASK_COLUMNS}


def tasks_of(config: Union[SweepConfig, Sequence[Task]]) -> List[Task]:
    """The tasks of a sweep configuration (or a list of tasks, returned as is)."""
    if isinstance(config, SweepConfig):
        return [Task(p, r) for p, r in config.tasks()]
    tasks = list(config)
    if not all(isinstance(t, Task) for t in tasks):
        raise TypeError("expected a SweepConfig or a sequence of Task")
    return tasks


def check_distinct(tasks: Sequence[Task]) -> None:
    """Refuse a task list with one task twice, or two tasks that run the same thing
    (their rows would be indistinguishable duplicates): e.g. two problem noises that an
    engine option overrides with one value."""
    seen: Dict[str, Task] = {}
    runs: Dict[str, Task] = {}
    for task in tasks:
        if task.task_id in seen:
            raise ValueError("the sweep lists the same task twice")
        seen[task.task_id] = task
        cols = {k: v for k, v in task.columns().items()
                if k not in ("task_id", "problem_id", "run_id")}
        key = json.dumps(cols, sort_keys=True, default=str)
        if key in runs:
            raise ValueError(f"tasks {runs[key].task_id} and {task.task_id} run the same "
                             f"thing ({cols}): their rows would be duplicates; set each "
                             f"parameter once (a grid axis and an engine option must not "
                             f"both set it)")
        runs[key] = task


def _predicted(problem, delta: float):
    """(ρ, T1(δ) = log(δ/|C|)/ρ) from :func:`pyscale.predict` (model page: Escape); NaN
    where the theory gives none (e.g. no escape phase to time)."""
    try:
        from ...theory import predict
        pred = predict(problem)
    except (ValueError, RuntimeError):  # the theory does not apply to every problem
        return float("nan"), float("nan")
    from ...theory import RegimeWarning
    with warnings.catch_warnings():  # a summary row, not a report: no law's window warning
        warnings.simplefilter("ignore", RegimeWarning)
        try:  # a link pair without a linear small start has no escape law: no rate either
            rho = float(pred.escape_rate)
        except ValueError:
            return float("nan"), float("nan")
        try:
            return rho, float(pred.escape_time(delta))
        except ValueError:
            return rho, float("nan")


def _column(traj, name: str) -> np.ndarray:
    """A recorded column of the run; NaN for the mse of a link pair that has none (one
    schema for every task of a sweep)."""
    if name == "mse" and not has_mse(traj.meta):
        return np.full(len(traj), np.nan)
    return np.asarray(getattr(traj, name))


def _phases(traj) -> dict:
    """The run's stopping times (T1, T1', T2, delta) by name; none for a link pair whose
    phases are not defined yet (their columns are NaN)."""
    if not supports("phases", meta=traj.meta):
        return {}
    phases = traj.phases()
    return {"T1": phases.T1, "T1_prime": phases.T1_prime, "T2": phases.T2,
            "delta": phases.delta}


def run_task(task: Task, threads: int = 1):
    """Run one task; returns (records, summary) DataFrames. Executed on the workers.

    A diverged run is a result, not a failure: its records up to divergence are kept and
    its status is ``"diverged"``.
    """
    import pandas as pd

    from ...engines import simulate
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
    cols.update(problem_id=traj.meta.get("problem_id"), run_id=traj.meta.get("run_id"))
    records = pd.DataFrame({**{k: [v] * len(traj) for k, v in cols.items()},
                            **{name: _column(traj, name) for name in FIELDS}})
    phases = _phases(traj)
    rho, t1 = _predicted(problem, phases.get("delta", DEFAULTS.delta))
    diverged = traj.meta.get("diverged_at_step") if status == "diverged" else None
    last = len(traj) > 0
    summary = pd.DataFrame([{**cols, "T1_measured": phases.get("T1", np.nan),
                             "T1_predicted": t1,
                             "T1_prime_measured": phases.get("T1_prime", np.nan),
                             "T2_measured": phases.get("T2", np.nan),
                             "t_final": float(traj.t[-1]) if last else np.nan,
                             "final_mse": float(_column(traj, "mse")[-1]) if last else np.nan,
                             "final_abs_u": float(abs(traj.u[-1])) if last else np.nan,
                             "escape_rate_predicted": rho, "diverged_at_step": diverged,
                             "status": status, "wall_time": wall}])
    return _typed(records), _typed(summary)


def _typed(table):
    """The table with :data:`COLUMN_DTYPES` applied (None becomes NaN or <NA>)."""
    return table.astype({k: v for k, v in COLUMN_DTYPES.items() if k in table.columns})
