"""No negative or meaningless numbers: a quantity the theory cannot give is refused with
the reason, quickly; a run that did not reach its horizon is never reported as a success
(and the command line exits non-zero); impossible sizes are a clean ValueError."""
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import pyscale


@pytest.mark.parametrize("case", ["d=2", "d=3", "w0=w*", "w0=-w*"])
def test_no_negative_escape_time(case):
    if case.startswith("d="):
        problem = pyscale.Problem.power_law(int(case[2:]), 2.0, seed=0)
    else:
        base = pyscale.Problem.power_law(100, 2.0, seed=0)
        problem = base.with_w0((1 if case == "w0=w*" else -1) * base.w_star)
    pred = pyscale.predict(problem)
    with pytest.raises(ValueError, match="already|escape"):
        pred.escape_time(0.05)
    summary = pred.summary()
    assert summary["T1"] is None or summary["T1"] >= 0


def test_escape_time_is_still_given_where_it_means_something():
    pred = pyscale.predict(pyscale.Problem.power_law(1000, 2.0, seed=0))
    assert pred.escape_time(0.05) > 0


def test_volterra_past_its_range_is_refused_at_once():
    pred = pyscale.predict(pyscale.Problem.power_law(100, 2.0, seed=0))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="overflow|beyond|past"):
        pred.u_volterra([0.0, 1e6])
    assert time.perf_counter() - start < 2.0
    u = pred.u_volterra([0.0, 1.0, 5.0])
    assert np.all(np.isfinite(u))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_states_give_no_prediction(bad):
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    pred = pyscale.predict(problem)
    w = problem.w_star.copy()
    w[3] = bad
    for call in (lambda: pred.tail_mse([0.0, 1.0], w),
                 lambda: pred.tail_profile([0.0, 1.0], w),
                 lambda: pred.t2_bound(0.05, w, 0.1),
                 lambda: pred.sgd_tail_mse([0.0, 1.0], w, lr=1e-3),
                 lambda: pyscale.statistics(problem, w)):
        with pytest.raises(ValueError, match="w|state|finite"):
            call()
    with pytest.raises(ValueError):
        pred.tail_mse([np.nan], problem.w_star)


def test_statistics_that_overflow_are_refused():
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    with pytest.raises(ValueError, match="overflow"):
        pyscale.statistics(problem, np.full(100, 1e200))
    with pytest.raises(ValueError, match="overflow"):
        pyscale.Problem(problem.eigenvalues, problem.w_star, np.full(100, 1e200))


FLOW_SHORT = {"h0 = 1e-15": {"h0": 1e-15}, "h0 = 1e-16": {"h0": 1e-16},
              "t = 1e-300": {"t": 1e-300}, "t = [0, 1e-300]": {"t": [0.0, 1e-300]},
              "max_steps = 3": {"max_steps": 3}}


@pytest.mark.parametrize("case", sorted(FLOW_SHORT))
def test_a_flow_run_that_ends_short_is_never_a_success(case):
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    options = {"t": 10.0, **FLOW_SHORT[case]}
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            traj = pyscale.simulate(problem, "flow", **options)
    except ValueError as err:  # refused up front, with the reason
        assert str(err)
        return
    assert traj.status != "completed" and not traj.success
    assert np.all(np.isfinite(traj.mse))


def test_a_huge_initial_state_is_refused_with_the_reason():
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    for scale in (1e20, 1e60):
        with pytest.raises(ValueError, match="w0|w\\(0\\)"):
            pyscale.simulate(problem.with_w0(problem.w0 * scale), "flow", t=10.0)


def test_the_cli_refuses_a_horizon_the_solver_cannot_reach():
    proc = subprocess.run([sys.executable, "-m", "pyscale", "simulate", "--d", "100", "--a",
                           "2", "--t", "1e-300", "--no-progress"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_cli_reports_a_step_limit_as_a_failure(tmp_path):
    """A run cut by its step budget: exit 1, one line, the partial run saved."""
    config = tmp_path / "run.json"
    config.write_text('{"problem": {"d": 100, "a": 2}, "run": {"method": "flow", "t": 1e6}}')
    out = tmp_path / "run.npz"
    proc = subprocess.run([sys.executable, "-m", "pyscale", "simulate", "--config",
                           str(config), "--max-steps", "5", "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "horizon" in proc.stderr
    assert pyscale.load(out).status == "step_limit"


@pytest.mark.parametrize("d", [2 ** 63, 2 ** 64, 10 ** 30])
def test_impossible_dimensions_are_a_clean_value_error(d):
    for compress in (None, 1e-3):
        with pytest.raises(ValueError, match="d must be"):
            pyscale.Problem.power_law(d, 2.0, compress=compress)
