"""Tidy exports (pandas / xarray) and the compact reprs of Problem, Trajectory, Ensemble and
Comparison: every exported value equals the object's own array bit for bit, the quantile
bands equal a plain NumPy computation, and stopped members show as NaN."""
import sys

import numpy as np
import pandas as pd
import pytest

import pyscale
from pyscale.results.columns import DERIVED
from pyscale.results.tidy import PARAMETER_COLUMNS
from pyscale.results.trajectory import FIELDS

COLUMNS = FIELDS + DERIVED  # the square's columns: every recorded one, then the derived
ENSEMBLE_FIELDS = COLUMNS[1:] + ("train_loss",)


@pytest.fixture(scope="module")
def problem():
    return pyscale.Problem.power_law(50, 1.0, seed=0)


@pytest.fixture(scope="module")
def ensemble(problem):
    return pyscale.simulate_many(problem, [3, 1, 7], "sgd", lr=0.01, steps=400, record=30,
                                 threads=1)


@pytest.fixture(scope="module")
def stopped(problem):
    """An SGD ensemble at lr = 0.05 where seeds 0 and 1 diverge and 2-5 complete (with the
    seeds' common streams, on which this was measured)."""
    with pytest.raises(pyscale.DivergenceError) as err:
        pyscale.simulate_many(problem, 6, "sgd", lr=0.05, steps=2000, record=20, threads=1,
                              streams="common")
    ens = err.value.trajectory
    assert ens.meta["member_status"] == ["diverged"] * 2 + ["completed"] * 4
    return ens


def test_trajectory_to_pandas_round_trip(problem):
    traj = pyscale.simulate(problem, "gd", lr=0.05, steps=300, record=40, threads=1)
    df = traj.to_pandas()
    assert list(df.columns) == list(COLUMNS) + list(PARAMETER_COLUMNS) and len(df) == len(traj)
    for name in COLUMNS:
        np.testing.assert_array_equal(df[name].to_numpy(), getattr(traj, name))
        assert df[name].dtype == np.float64
    assert df.attrs["method"] == "gd" and df.attrs["lr"] == 0.05
    assert df.attrs["status"] == traj.status and df.attrs["problem"]["a"] == 1.0


@pytest.mark.parametrize("method, extra, options", [
    ("sgd", "online_loss", {"lr": 0.01, "steps": 300, "record": 25, "seed": 4}),
    ("erm", "train_loss", {"n_samples": 200, "lr": 0.01, "steps": 300, "record": 25}),
])
def test_trajectory_to_pandas_keeps_per_record_extras(problem, method, extra, options):
    traj = pyscale.simulate(problem, method, threads=1, **options)
    df = traj.to_pandas()
    assert list(df.columns) == list(COLUMNS) + [extra] + list(PARAMETER_COLUMNS)
    np.testing.assert_array_equal(df[extra].to_numpy(), traj.meta[extra])
    assert extra not in df.attrs and df.attrs["seed"] == options.get("seed", 0)


def test_ensemble_to_xarray_dims_coords_values(ensemble):
    ds = ensemble.to_xarray()
    assert dict(ds.sizes) == {"sample_seed": 3, "t": ensemble.t.size, "quantile": 3,
                              "coord": 50}
    np.testing.assert_array_equal(ds["sample_seed"].to_numpy(), [3, 1, 7])
    np.testing.assert_array_equal(ds["t"].to_numpy(), ensemble.t)
    np.testing.assert_array_equal(ds["quantile"].to_numpy(), ensemble.quantiles)
    for name in ENSEMBLE_FIELDS:
        assert ds[name].dims == ("sample_seed", "t")
        np.testing.assert_array_equal(ds[name].to_numpy(), getattr(ensemble, name))
    np.testing.assert_array_equal(ds["w_final"].to_numpy(), ensemble.w)
    # The member runs are the single runs with that seed (bit-identical): select by label.
    single = pyscale.simulate(pyscale.Problem.power_law(50, 1.0, seed=0), "sgd", lr=0.01,
                              steps=400, record=30, seed=7, threads=1)
    np.testing.assert_array_equal(ds["u"].sel(sample_seed=7).to_numpy(), single.u)
    assert ds.attrs["method"] == "sgd" and "member_status" not in ds.attrs
    assert list(ds["status"].to_numpy()) == ["completed"] * 3
    assert np.isnan(ds["diverged_at_step"].to_numpy()).all()


def test_ensemble_bands_match_numpy_quantiles(ensemble):
    ds = ensemble.to_xarray()
    for name, values in (("abs_u", np.abs(ensemble.u)), ("mse", ensemble.mse)):
        band = ds[f"{name}_band"]
        assert band.dims == ("quantile", "t")
        # Independent reference: NumPy's linear-interpolation quantile, column by column.
        ref = np.array([[np.quantile(values[:, j], q) for j in range(values.shape[1])]
                        for q in ensemble.quantiles])
        np.testing.assert_allclose(band.to_numpy(), ref, rtol=1e-15, atol=0)
    # xarray's own reductions agree with the Ensemble's (mean over seeds, 1e-15 relative).
    np.testing.assert_allclose(ds["mse"].mean("sample_seed").to_numpy(), ensemble.mean_mse,
                               rtol=1e-15)


def test_ensemble_exports_show_nan_where_members_stopped(stopped):
    ds = stopped.to_xarray()
    steps = np.round(stopped.t / stopped.meta["lr"]).astype(np.int64)
    diverged_at = ds["diverged_at_step"].to_numpy()
    np.testing.assert_array_equal(diverged_at[:2], stopped.meta["diverged_at_step"][:2])
    assert np.isnan(diverged_at[2:]).all()
    for i in range(len(stopped)):
        alive = steps < diverged_at[i] if i < 2 else np.ones(steps.size, bool)
        for name in COLUMNS[1:]:
            values = ds[name].isel(sample_seed=i).to_numpy()
            assert np.isfinite(values[alive]).all() and np.isnan(values[~alive]).all()
    assert list(ds["status"].to_numpy()) == stopped.meta["member_status"]
    np.testing.assert_array_equal(ds["last_step"].to_numpy(), stopped.meta["last_step"])
    df = stopped.to_pandas()
    assert len(df) == len(stopped) * stopped.t.size
    n_dead = int(np.isnan(stopped.s).sum())
    assert n_dead > 0 and int(df["s"].isna().sum()) == n_dead
    assert len(stopped.to_pandas(dropna=True)) == len(df) - n_dead


def test_ensemble_to_pandas_long_format_round_trip(ensemble):
    df = ensemble.to_pandas()
    params = [c for c in PARAMETER_COLUMNS if c != "sample_seed"]
    assert list(df.columns) == ["sample_seed", "t", *ENSEMBLE_FIELDS, *params]
    assert len(df) == 3 * ensemble.t.size
    np.testing.assert_array_equal(df["sample_seed"].unique(), [3, 1, 7])
    assert (df["seed"] == 0).all() and (df["a"] == 1.0).all()  # the problem's seed
    for name in ENSEMBLE_FIELDS:
        wide = df.pivot(index="sample_seed", columns="t", values=name).loc[[3, 1, 7]]
        np.testing.assert_array_equal(wide.columns.to_numpy(), ensemble.t)
        np.testing.assert_array_equal(wide.to_numpy(), getattr(ensemble, name))
    assert df.attrs["member_status"] == ["completed"] * 3


def test_to_xarray_without_xarray_names_the_extra(ensemble, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)  # makes `import xarray` fail
    with pytest.raises(ImportError, match=r'pip install "pyscale\[xarray\]"'):
        ensemble.to_xarray()


@pytest.fixture(scope="module")
def comparison():
    problem = pyscale.Problem.power_law(60, 2.0, seed=1)
    traj = pyscale.simulate(problem, "flow", t=np.concatenate([[0.0],
                                                               np.geomspace(1e-3, 1e5, 600)]))
    return pyscale.compare(traj, problem)


def test_comparison_to_pandas(comparison):
    df = comparison.to_pandas()
    assert list(df.columns) == ["quantity", "description", "measured", "predicted",
                                "predicted_over_measured", "rel_error", "window_lo",
                                "window_hi", "note", "regime"]
    keys = [key for key, _ in comparison.ROWS if comparison.get(key)]
    assert list(df["quantity"]) == keys and "T1" in keys and "escape_rate" in keys
    for row in df.itertuples():
        item = comparison[row.quantity]
        assert row.measured == item["measured"] and row.predicted == item["predicted"]
        assert row.regime == (item.get("regime") or "")
        assert row.predicted_over_measured == pytest.approx(item["predicted"] / item["measured"],
                                                            rel=1e-15)
        window = item.get("window")
        if window is None:
            assert np.isnan(row.window_lo) and np.isnan(row.window_hi)
        else:
            assert (row.window_lo, row.window_hi) == tuple(window)
    assert df.attrs["d"] == 60 and df.attrs["method"] == "flow"
    assert df.attrs["times"]["T1"] == comparison["times"]["T1"]
    pd.testing.assert_series_equal(df["measured"], comparison.table()["measured"].astype(float))


def test_reprs_are_compact_tables(problem, ensemble, comparison):
    text = repr(problem)
    assert text.startswith("Problem(d=50, a=1, n_coords=50, s*=1, noise σ²=0")
    html = problem._repr_html_()
    assert html.count("<tr>") == 9 and "<th style='text-align:left'>s*</th>" in html
    assert "link=square" in text
    traj = ensemble.trajectory(0)
    text = repr(traj)
    assert f"records={len(traj)}" in text and f"final mse={traj.mse[-1]:.4g}" in text
    assert "status=completed" in text and "<td style='text-align:left'>sgd</td>" in \
        traj._repr_html_()
    text = repr(ensemble)
    assert "members=3" in text and "status=3 completed" in text
    assert f"mean {ensemble.mean_mse[-1]:.4g}, q[0.1, 0.5, 0.9]" in text
    text = repr(comparison)
    assert len(text) < 2000 and text.startswith("Comparison(d=60, a=2, method=flow")
    assert f"{comparison['T1']['measured']:.4g}" in text  # the T1 row of the table
    html = comparison._repr_html_()
    assert html.count("<table>") == 2 and "predicted / measured" in html
    assert len(pyscale.Problem.power_law(10, 2.0)._repr_html_()) < 2000


def test_repr_of_empty_and_stopped_objects(stopped):
    text = repr(stopped)
    assert "2 diverged, 4 completed" in text
    assert "final mse=mean nan" not in text  # completed members keep the last record finite
    member = stopped.trajectory(0)
    assert member.status == "diverged" and "status=diverged" in repr(member)
    empty = pyscale.Trajectory(*(np.empty(0),) * 7, w=None, meta={"method": "gd"})
    assert repr(empty) == "Trajectory(method=gd, records=0, status=completed, link=square)"


# ---------------------------------------------------------------------------- sweep tables
# seed 2: |u(0)| < 0.05, so the escape law applies (T1_predicted is a number)
SWEEP = {"grid": {"a": [2.0], "d": [30], "seed": [2], "method": ["flow", "gd", "sgd", "erm"]},
         "flow": {"t": 10.0, "records": 15}, "gd": {"lr": 1e-2, "steps": 500, "records": 15},
         "sgd": {"lr": 1e-2, "steps": 500, "records": 15, "batch": 2},
         "erm": {"lr": 1e-2, "steps": 300, "records": 15, "n_samples": 60}}
#: option -> the methods it applies to (elsewhere the table holds NA, never -1)
APPLIES = {"lr": {"gd", "sgd", "erm"}, "steps": {"gd", "sgd", "erm"}, "batch": {"sgd"},
           "sample_seed": {"sgd", "erm"}, "n_samples": {"erm"}, "rtol": {"flow"}}


@pytest.fixture(scope="module")
def sweep_tables(tmp_path_factory):
    from pyscale.app.config import parse_sweep
    from pyscale.app.io import read_parts, write_part
    from pyscale.app.sweep import run_task, tasks_of
    out = tmp_path_factory.mktemp("sweep")
    for task in tasks_of(parse_sweep(SWEEP)):
        records, summary = run_task(task)
        write_part(out / "records", task.task_id, records)
        write_part(out / "summary", task.task_id, summary)
    return read_parts(out / "records"), read_parts(out / "summary")  # through parquet


def test_sweep_tables_hold_na_where_an_option_does_not_apply(sweep_tables):
    records, summary = sweep_tables
    for table in (records, summary):
        for column, methods in APPLIES.items():
            applies = table["method"].isin(methods)
            assert table.loc[applies, column].notna().all(), column
            assert table.loc[~applies, column].isna().all(), column
            assert not (table[column] == -1).any()
        for column in ("steps", "batch", "n_samples"):
            assert str(table[column].dtype) == "Int64", column
        assert str(table["sample_seed"].dtype) == "UInt64"  # seeds span [0, 2**64)
    sgd = summary[summary.method == "sgd"].iloc[0]
    assert sgd.batch == 2 and sgd.lr == 1e-2 and sgd.sample_seed == 2
    assert summary[summary.method == "erm"].iloc[0].n_samples == 60
    assert summary[summary.method == "flow"].iloc[0].rtol == 1e-9


def test_sweep_summary_names_measured_and_predicted(sweep_tables):
    _, summary = sweep_tables
    for column in ("T1_measured", "T1_predicted", "T1_prime_measured", "T2_measured",
                   "escape_rate_predicted", "diverged_at_step"):
        assert column in summary.columns
    assert not {"T1", "T1_prime", "T2", "escape_rate"} & set(summary.columns)
    assert summary["diverged_at_step"].isna().all()  # every run completed
    prediction = pyscale.predict(pyscale.Problem.power_law(30, 2.0, seed=2))
    np.testing.assert_allclose(summary["escape_rate_predicted"], prediction.escape_rate,
                               rtol=1e-15)
    assert not prediction.regime("escape_time", delta=0.05).refused  # |u(0)| < 0.05
    np.testing.assert_allclose(summary["T1_predicted"], prediction.escape_time(0.05),
                               rtol=1e-15)
    from pyscale.app.config import parse_sweep
    from pyscale.app.sweep import run_task, tasks_of
    # seed 0 starts past |u| = 0.05: the escape law refuses, and the table holds NaN for it
    past = pyscale.predict(pyscale.Problem.power_law(30, 2.0, seed=0))
    assert past.regime("escape_time", delta=0.05).refused
    config = parse_sweep({"grid": dict(SWEEP["grid"], seed=[0], method=["flow"]),
                          "flow": SWEEP["flow"]})
    assert run_task(tasks_of(config)[0])[1]["T1_predicted"].isna().all()
    task = next(t for t in tasks_of(parse_sweep(SWEEP)) if t.run.method == "flow")
    direct = pyscale.simulate(task.problem.build(), "flow", **task.run.engine_kwargs(2))
    flow = summary[summary.method == "flow"].iloc[0]
    phases = direct.phases()
    assert flow.T1_measured == phases.T1 and flow.T1_prime_measured == phases.T1_prime > 0
    assert phases.T2 is None and np.isnan(flow.T2_measured)  # not reached by t = 10: NaN


def test_sweep_summary_of_a_diverged_run_gives_the_step():
    from pyscale.app.config import parse_sweep
    from pyscale.app.sweep import run_task, tasks_of
    config = parse_sweep({"grid": {"a": [2.0], "d": [30], "seed": [0], "method": ["gd"]},
                          "gd": {"lr": 1e3, "steps": 50, "records": 10}})
    _, summary = run_task(tasks_of(config)[0])
    row = summary.iloc[0]
    assert row.status == "diverged" and str(summary["diverged_at_step"].dtype) == "Int64"
    with pytest.raises(pyscale.DivergenceError) as err:
        pyscale.simulate(pyscale.Problem.power_law(30, 2.0, seed=0), "gd", lr=1e3, steps=50)
    assert row.diverged_at_step == err.value.step
