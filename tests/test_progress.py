"""progress=True: simulate / simulate_many draw a tqdm bar that reaches 100 % when the run
completes, and the numbers are those of a run without a bar (bit for bit)."""
import numpy as np
import pytest

import pyscale
from pyscale.engines.progress import EngineBar, make_progress, run_horizon


@pytest.fixture(scope="module")
def problem():
    return pyscale.Problem.power_law(40, 1.5, seed=2)


@pytest.mark.parametrize("method, options", [
    ("flow", {"t": 50.0}),
    ("gd", {"lr": 0.05, "steps": 3000, "record": 20}),
    ("sgd", {"lr": 0.01, "steps": 3000, "record": 20, "seed": 5}),
    ("erm", {"n_samples": 100, "lr": 0.01, "steps": 500, "record": 20}),
])
def test_simulate_progress_true_shows_a_full_bar(problem, capsys, method, options):
    plain = pyscale.simulate(problem, method, threads=1, **options)
    capsys.readouterr()
    barred = pyscale.simulate(problem, method, threads=1, progress=True, progress_every=64,
                              **options)
    err = capsys.readouterr().err
    assert method in err and "100%" in err
    np.testing.assert_array_equal(barred.u, plain.u)
    np.testing.assert_array_equal(barred.mse, plain.mse)


@pytest.mark.parametrize("method, options", [
    ("sgd", {"lr": 0.01, "steps": 2000, "record": 10}),
    ("erm", {"n_samples": 80, "lr": 0.01, "steps": 400, "record": 10}),
])
def test_simulate_many_progress_true(problem, capsys, method, options):
    plain = pyscale.simulate_many(problem, 3, method, threads=1, **options)
    capsys.readouterr()
    barred = pyscale.simulate_many(problem, 3, method, threads=1, progress=True,
                                   progress_every=32, **options)
    assert "100%" in capsys.readouterr().err
    np.testing.assert_array_equal(barred.u, plain.u)


def test_a_diverging_run_with_a_bar_still_raises(problem, capsys):
    with pytest.raises(pyscale.DivergenceError):
        pyscale.simulate(problem, "gd", lr=1e3, steps=100, progress=True)
    assert "100%" not in capsys.readouterr().err  # closed, not filled


@pytest.mark.parametrize("bad", ["yes", 1, 0.5])
def test_bad_progress_values_are_refused(problem, bad):
    with pytest.raises(TypeError, match="progress must be True, False, None or a callable"):
        pyscale.simulate(problem, "gd", lr=0.05, steps=10, progress=bad)
    with pytest.raises(TypeError, match="progress must be True, False, None or a callable"):
        make_progress(bad, "gd", 1.0)


def test_make_progress_passes_callables_and_none_through():
    seen = []

    def hook(t, steps):
        seen.append(t)
    assert make_progress(hook, "gd", 1.0)[0] is hook
    assert make_progress(None, "gd", 1.0)[0] is None
    assert make_progress(False, "gd", 1.0)[0] is None
    assert run_horizon("flow", {"t": [0.0, 2.0, 7.5]}) == 7.5
    assert run_horizon("flow", {"t": 30}) == 30.0
    assert run_horizon("gd", {"lr": 0.01, "steps": 500}) == 5.0
    assert run_horizon("gd", {"lr": None, "steps": 500}) is None
    assert run_horizon("flow", {}) is None


def test_engine_bar_spreads_members_and_scales():
    bar = EngineBar("erm", 10.0, enabled=False, members=4)
    for member in range(4):
        for t in np.linspace(0.0, 10.0, 11):
            bar(float(t), 0)
        # after member k the bar stands at (k + 1) / 4 of its length
        assert bar._done == (member + 1) * EngineBar.RESOLUTION // 4
    bar.close()
    flow = EngineBar("flow", 1e4, enabled=False)
    flow(1e2, 0)  # log scale: log(101) / log(10001) = 0.5011
    assert flow._done == int(EngineBar.RESOLUTION * np.log1p(1e2) / np.log1p(1e4))
    flow.close(completed=True)
    assert flow._done == EngineBar.RESOLUTION
