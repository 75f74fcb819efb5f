"""Sweeps (pyscale.sweep): same table on local processes and on a dask.distributed
LocalCluster, resumption after an interruption, retries and reported failures, and the
validation of sweep configurations."""
import pandas as pd
import pytest

import pyscale
from pyscale.app.config import ConfigError, parse_sweep
from pyscale.app.sweep import Task, run_sweep, run_task, tasks_of

CONFIG = {
    "grid": {"a": [1.5, 2.0], "d": [40], "seed": [0, 1], "method": ["flow", "gd", "sgd"]},
    "flow": {"t": 50.0, "records": 30},
    "gd": {"lr": 1e-2, "steps": 2000, "records": 30},
    "sgd": {"lr": 1e-2, "steps": 2000, "records": 30},
}


def sorted_records(frame):
    return frame.sort_values(["task_id", "t"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def config():
    return parse_sweep(CONFIG)


@pytest.fixture(scope="module")
def local_result(config, tmp_path_factory):
    return run_sweep(config, tmp_path_factory.mktemp("local"), workers=2, progress=False)


def test_local_sweep_writes_a_tidy_table(config, local_result):
    tasks = tasks_of(config)
    assert len(tasks) == 12 and not local_result.failed
    records = local_result.records
    assert set(records.task_id) == {t.task_id for t in tasks}
    for column in ("a", "d", "seed", "method", "lr", "t", "s", "u", "s2", "u2", "loss",
                   "mse"):
        assert column in records.columns
    # each task's rows are exactly the trajectory a direct call gives
    task = next(t for t in tasks if t.run.method == "gd" and t.problem.seed == 1)
    direct = pyscale.simulate(task.problem.build(), "gd",
                              **task.run.engine_kwargs(task.problem.seed))
    rows = sorted_records(records[records.task_id == task.task_id])
    assert rows.u.tolist() == direct.u.tolist() and rows.t.tolist() == direct.t.tolist()
    summary = local_result.summary
    assert len(summary) == 12 and set(summary.status) == {"completed"}
    assert {"T1_measured", "T1_predicted", "T1_prime_measured", "T2_measured", "final_mse",
            "escape_rate_predicted", "diverged_at_step"} <= set(summary.columns)
    pd.testing.assert_frame_equal(sorted_records(pyscale.load(local_result.out)),
                                  sorted_records(records))


def test_dask_local_cluster_gives_the_same_table(config, local_result, tmp_path):
    result = run_sweep(config, tmp_path, dask="local", dask_processes=False, workers=2,
                       progress=False)
    assert len(result.computed) == 12 and not result.failed
    pd.testing.assert_frame_equal(sorted_records(result.records),
                                  sorted_records(local_result.records))


def test_interrupted_sweep_resumes_without_recomputing(config, local_result, tmp_path):
    finished = []

    def interrupt_after_four(task, status):
        finished.append(task.task_id)
        if len(finished) == 4:
            raise KeyboardInterrupt

    with pytest.raises(pyscale.Interrupted) as info:
        run_sweep(config, tmp_path, dask="local", dask_processes=False, workers=2,
                  progress=False, on_task_done=interrupt_after_four)
    partial = info.value.result
    assert partial.interrupted and sorted(partial.computed) == sorted(finished)
    stored = {p.stem: p.stat().st_mtime_ns for p in (tmp_path / "records").glob("*.parquet")}
    assert set(stored) == set(finished)

    result = run_sweep(config, tmp_path, dask="local", dask_processes=False, workers=2,
                       progress=False)
    assert sorted(result.reused) == sorted(finished)
    assert set(result.computed).isdisjoint(finished) and len(result.computed) == 8
    for task_id, mtime in stored.items():  # finished parts were not rewritten
        assert (tmp_path / "records" / f"{task_id}.parquet").stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(sorted_records(result.records),
                                  sorted_records(local_result.records))


BROKEN_SEED = 1


def fail_on_seed_one(task):
    if task.problem.seed == BROKEN_SEED:
        raise RuntimeError("worker lost")
    return run_task(task)


class FlakyOnce:
    """Fails the first attempt of every task (a marker file per attempt: works whether the
    backend runs it in this process or after pickling)."""

    def __init__(self, directory):
        self.directory = directory

    def __call__(self, task):
        attempt = len(list(self.directory.glob(f"{task.task_id}.*"))) + 1
        (self.directory / f"{task.task_id}.{attempt}").touch()
        if attempt == 1:
            raise OSError("transient")
        return run_task(task)


def test_failing_task_is_retried_then_reported_and_not_fatal(config, tmp_path):
    markers = tmp_path / "attempts"
    markers.mkdir()
    small = [t for t in tasks_of(config) if t.run.method == "flow"]
    result = run_sweep(small, tmp_path / "flaky", dask="local", dask_processes=False,
                       workers=2, retries=1, progress=False, runner=FlakyOnce(markers))
    assert not result.failed and len(result.computed) == len(small)
    assert len(list(markers.iterdir())) == 2 * len(small)  # each task: one failure, one retry

    result = run_sweep(small, tmp_path / "broken", dask="local", dask_processes=False,
                       workers=2, retries=2, progress=False, runner=fail_on_seed_one)
    bad = {t.task_id for t in small if t.problem.seed == BROKEN_SEED}
    assert set(result.failed) == bad and "worker lost" in next(iter(result.failed.values()))
    assert len(result.computed) == len(small) - len(bad)
    assert (tmp_path / "broken" / "failures.json").is_file()


def test_task_ids_are_stable_and_distinct(config):
    tasks = tasks_of(config)
    assert len({t.task_id for t in tasks}) == len(tasks)
    again = tasks_of(parse_sweep(CONFIG))
    assert [t.task_id for t in again] == [t.task_id for t in tasks]
    assert isinstance(tasks[0], Task)


@pytest.mark.parametrize("change, field", [
    ({"grid": {"a": [1.5, "two"], "d": [40]}}, "grid.a[1]"),
    ({"grid": {"a": [1.5], "d": [0]}}, "grid.d[0]"),
    ({"grid": {"a": [1.5], "d": [40], "method": ["flow", "adam"]}}, "grid.method[1]"),
    ({"grid": {"a": [1.5], "d": [40], "sede": [1]}}, "grid.sede"),
    ({"grid": {"d": [40]}}, "grid.a"),
    ({"gd": {"lr": -1.0, "steps": 10}}, "gd.lr"),
    ({"gd": {"lr": 1e-2}}, "gd.steps"),
    ({"flow": {"t": 50.0, "rtoll": 1e-9}}, "flow.rtoll"),
    ({"sweep": {"workers": 0}}, "sweep.workers"),
    ({"problem": {"target": "unit"}}, "problem.target"),
])
def test_bad_sweep_config_names_the_field(change, field):
    config = {k: dict(v) for k, v in CONFIG.items()}
    config.update(change)
    with pytest.raises(ConfigError) as info:
        parse_sweep(config)
    assert info.value.field == field and str(info.value).startswith(field)


def test_grid_over_engine_options_runs_each_combination():
    """[grid] may list engine options (lr, batch, sample_seed, ...) besides problem fields;
    each applies to the methods that have it (flow has no lr: it runs once per problem)."""
    config = parse_sweep({
        "grid": {"a": [2.0], "d": [30], "noise": [0.0, 0.05], "method": ["flow", "sgd"],
                 "lr": [1e-2, 2e-2], "batch": [1, 4], "sample_seed": [0, 1]},
        "flow": {"t": 5.0, "records": 10}, "sgd": {"steps": 200, "records": 10}})
    tasks = tasks_of(config)
    assert len(tasks) == 2 * (1 + 2 * 2 * 2)
    sgd = [t for t in tasks if t.run.method == "sgd"]
    combos = {(t.problem.noise, t.run.options["lr"], t.run.options["batch"],
               t.run.options["sample_seed"]) for t in sgd}
    assert combos == {(n, lr, b, s) for n in (0.0, 0.05) for lr in (1e-2, 2e-2)
                      for b in (1, 4) for s in (0, 1)}
    assert len({t.task_id for t in tasks}) == len(tasks)
    # each gridded run is exactly the direct call with those options
    task = next(t for t in sgd if t.run.options["batch"] == 4 and t.problem.noise == 0.05)
    records, _ = run_task(task)
    direct = pyscale.simulate(task.problem.build(), "sgd", lr=task.run.options["lr"],
                              steps=200, record=10, batch=4,
                              seed=task.run.options["sample_seed"])
    assert records.u.tolist() == direct.u.tolist()
    assert set(records.batch) == {4}


@pytest.mark.parametrize("grid, method_table, needle", [
    ({"lrr": [0.1]}, {"lr": 0.1, "steps": 9}, "grid.lrr: unknown field (did you mean 'lr'?)"),
    ({"bach": [2]}, {"lr": 0.1, "steps": 9}, "did you mean 'batch'?"),
    ({"lr": [0.1, -1.0]}, {"steps": 9}, "grid.lr[1]: must be a finite number > 0"),
    ({"lr": [0.1]}, {"lr": 0.2, "steps": 9}, "grid.lr: is also set in [sgd]"),
    ({"n_samples": [10]}, {"lr": 0.1, "steps": 9},
     "grid.n_samples: is not an option of any method in grid.method (sgd)"),
    ({"batch": [1, 1]}, {"lr": 0.1, "steps": 9}, "grid.batch: has repeated values"),
])
def test_grid_option_names_and_values_are_validated(grid, method_table, needle):
    config = {"grid": {"a": [2.0], "d": [30], "method": ["sgd"], **grid},
              "sgd": method_table}
    with pytest.raises(ConfigError) as info:
        parse_sweep(config)
    assert needle in str(info.value)
