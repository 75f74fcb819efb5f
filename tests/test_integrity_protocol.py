"""One result protocol for every result type: tidy tables that keep the run's parameters,
xarray, phases, comparisons as DataFrames with one measured T2 and a ratio whose direction
is stated, a dense output callable like SciPy's ``sol(t)`` that refuses what it does not
hold, the status of a terminal event, and ensembles that keep diverged members."""
import numpy as np
import pandas as pd
import pytest

import pyscale

P = pyscale.Problem.power_law(100, 2.0, seed=0)


@pytest.fixture(scope="module")
def flow():
    return pyscale.simulate(P, "flow", t=1e3)


@pytest.fixture(scope="module")
def ensemble():
    return pyscale.simulate_many(P, 4, "sgd", lr=1e-3, steps=4000)


@pytest.mark.parametrize("method,options,expected", [
    ("flow", {"t": 10.0, "rtol": 1e-8}, {"method": "flow", "rtol": 1e-8}),
    ("gd", {"lr": 1e-2, "steps": 100}, {"method": "gd", "lr": 1e-2, "steps": 100}),
    ("sgd", {"lr": 1e-3, "steps": 100, "seed": 4, "batch": 2},
     {"method": "sgd", "lr": 1e-3, "steps": 100, "sample_seed": 4, "batch": 2}),
    ("erm", {"lr": 1e-2, "steps": 100, "n_samples": 50, "seed": 3},
     {"method": "erm", "n_samples": 50, "sample_seed": 3})])
def test_to_pandas_keeps_the_runs_parameters_as_columns(method, options, expected):
    traj = pyscale.simulate(P, method, **options)
    df = traj.to_pandas()
    base = {"d": 100, "a": 2.0, "seed": 0, "noise": 0.0, "problem_id": P.identity()}
    for key, value in {**base, **expected}.items():
        assert key in df.columns, key
        assert (df[key] == value).all(), (key, df[key].iloc[0], value)
    # two runs concatenated stay apart
    other = pyscale.simulate(pyscale.Problem.power_law(100, 3.0, seed=0), method, **options)
    both = pd.concat([df, other.to_pandas()], ignore_index=True)
    assert set(both.a) == {2.0, 3.0} and len(both) == len(traj) + len(other)


def test_every_result_type_exports_to_pandas_and_xarray(flow, ensemble):
    for result in (flow, ensemble):
        assert isinstance(result.to_pandas(), pd.DataFrame)
        ds = result.to_xarray()
        assert "mse" in ds and "t" in ds.coords
    ds = flow.to_xarray()
    np.testing.assert_array_equal(ds["u"].values, flow.u)
    assert ds.attrs["method"] == "flow"
    assert "a" in ensemble.to_pandas().columns


def test_ensembles_have_phases(ensemble):
    phases = ensemble.phases()
    assert len(phases) == len(ensemble)
    for i, ph in enumerate(phases):
        assert ph == ensemble.trajectory(i).phases()


def test_one_measured_t2(flow):
    comparison = pyscale.compare(flow, pyscale.predict(P))
    assert comparison["T2"]["measured"] == flow.phases().T2
    table = comparison.table()
    row = table[table.quantity == "T2"].iloc[0]
    assert row.measured == flow.phases().T2


def test_the_ratio_states_its_direction(flow, ensemble):
    for table in (pyscale.compare(flow, pyscale.predict(P)).table(),
                  pyscale.compare(ensemble, pyscale.predict(P)).table()):
        assert isinstance(table, pd.DataFrame)
        assert "ratio" not in table.columns
        assert "predicted_over_measured" in table.columns
        ok = table.measured.notna() & table.predicted.notna() & (table.measured != 0)
        np.testing.assert_allclose(table.predicted_over_measured[ok],
                                   table.predicted[ok] / table.measured[ok])


def test_comparisons_share_one_table_schema(flow, ensemble):
    a = pyscale.compare(flow, pyscale.predict(P)).table()
    b = pyscale.compare(ensemble, pyscale.predict(P)).table()
    assert list(a.columns) == list(b.columns)
    assert "T1" in set(a.quantity)
    pd.testing.assert_frame_equal(pyscale.compare(flow, pyscale.predict(P)).to_pandas(), a)
    assert isinstance(str(pyscale.compare(ensemble, pyscale.predict(P))), str)


def test_dense_output_is_callable_like_solve_ivp(flow):
    dense = flow.dense
    values = dense(flow.t[50])
    assert values.shape == (2,) and dense.STATE == ("s", "u")
    np.testing.assert_allclose(values, [flow.s[50], flow.u[50]], rtol=1e-12)
    grid = dense(flow.t[10:20])
    assert grid.shape == (2, 10)
    np.testing.assert_allclose(grid, np.stack([flow.s[10:20], flow.u[10:20]]), rtol=1e-12)
    # every field, where the run kept them all (a run with events keeps every step's)
    full = pyscale.simulate(P, "flow", t=1e3, events=[("abs_u", 2.0)])
    at = full.dense.at(full.t[10:20])
    for name in full.dense.FIELDS:
        np.testing.assert_allclose(at[name], getattr(full, name)[10:20], rtol=1e-9)


def test_dense_at_refuses_fields_it_does_not_hold(flow):
    between = 0.5 * (flow.t[100] + flow.t[101])
    with pytest.raises(ValueError, match="s2|u2|mse"):
        flow.dense.at([between])
    held = flow.dense.at([between], fields=("s", "u", "loss"))
    assert np.all(np.isfinite(held["s"])) and set(held) >= {"s", "u", "loss"}
    with pytest.raises(ValueError, match="outside"):
        flow.dense([-1.0])
    with pytest.raises(ValueError, match="outside|beyond"):
        flow.dense.at([2 * flow.t[-1]], fields=("s",))


def test_a_terminal_event_sets_the_status():
    traj = pyscale.simulate(P, "flow", t=1e3, events=[("abs_u", 0.5, 0, True)])
    assert traj.status == "event" and traj.success
    assert traj.t[-1] < 1e3
    plain = pyscale.simulate(P, "flow", t=10.0)
    assert plain.status == "completed" and plain.success


def test_an_ensemble_can_keep_its_diverged_members():
    # seeds 0 and 1 diverge, 2-5 complete (measured with the common streams)
    problem = pyscale.Problem.power_law(50, 1.0, seed=0)
    options = {"lr": 0.05, "steps": 2000, "record": 20, "streams": "common"}
    with pytest.raises(pyscale.DivergenceError):
        pyscale.simulate_many(problem, 6, "sgd", **options)
    with pytest.warns(RuntimeWarning, match="2 of 6 members diverged"):
        ens = pyscale.simulate_many(problem, 6, "sgd", on_divergence="keep", **options)
    status = ens.meta["member_status"]
    assert "diverged" in status and "completed" in status
    for i, s in enumerate(status):
        step = ens.meta["diverged_at_step"][i]
        if s == "diverged":
            assert step > 0 and np.isnan(ens.mse[i, -1])
        else:
            assert step == -1 and np.isfinite(ens.mse[i]).all()
    alone = pyscale.simulate(problem, "sgd", seed=int(ens.seeds[status.index("completed")]),
                             **options)
    np.testing.assert_array_equal(alone.u, ens.u[status.index("completed")])
    with pytest.warns(RuntimeWarning, match="diverged"):
        erm = pyscale.simulate_many(problem, 4, "erm", lr=3.0, steps=200, n_samples=40,
                                    on_divergence="keep")
    assert len(erm) == 4 and set(erm.meta["member_status"]) == {"diverged"}
    with pytest.raises(ValueError, match="on_divergence"):
        pyscale.simulate_many(problem, 4, "sgd", lr=1e-3, steps=10, on_divergence="drop")
