"""Properties of the exact engines (issue 2): monotone loss, fixed points, divergence,
interruption and exact resume, thread-count independence, bad options."""
import numpy as np
import pytest

import pyscale
from pyscale import DivergenceError, Interrupted, Problem


@pytest.mark.parametrize("scheme", ["rodas4", "exponential"])
def test_loss_is_non_increasing_along_the_flow(small_problem, scheme):
    traj = pyscale.simulate(small_problem, "flow", t=1e6, scheme=scheme)
    steps = np.diff(traj.loss)
    # Rounding of L = 3s^2 + 3s*^2 - 4u^2 - 2s*s is ~1e-15 of its terms.
    assert np.all(steps <= 1e-13), steps.max()
    assert traj.loss[-1] < 1e-3 * traj.loss[0]
    if scheme == "rodas4":  # six right-hand sides per attempted step
        assert traj.meta["steps"] > 0 and traj.meta["rhs_evals"] == 6 * (
            traj.meta["steps"] + traj.meta["rejected"])


def test_loss_is_non_increasing_along_gd(small_problem):
    traj = pyscale.simulate(small_problem, "gd", lr=1e-2, steps=20000, record=200)
    assert np.all(np.diff(traj.loss) <= 1e-13)


def critical_points():
    lam = np.array([0.5, 0.3, 0.2])
    w_star = np.array([1.0, 0.0, 0.0])
    s_star = 0.5
    saddle = np.array([0.0, np.sqrt(s_star / 3 / 0.3), 0.0])  # u = 0, s = s*/3
    return lam, w_star, {"w*": w_star, "-w*": -w_star, "zero": np.zeros(3), "saddle": saddle}


@pytest.mark.parametrize("name", ["w*", "-w*", "zero", "saddle"])
def test_critical_points_are_fixed_points(name):
    lam, w_star, points = critical_points()
    w0 = points[name]
    problem = Problem(lam, w_star, w0)
    flow = pyscale.simulate(problem, "flow", t=[0.0, 1.0, 100.0])
    gd = pyscale.simulate(problem, "gd", lr=0.1, steps=1000, record=[0, 1000])
    np.testing.assert_allclose(flow.w, w0, atol=1e-14)
    np.testing.assert_allclose(gd.w, w0, atol=1e-14)


def test_flow_reaches_the_target_up_to_sign():
    problem = Problem.power_law(50, 1.0, seed=9)
    traj = pyscale.simulate(problem, "flow", t=1e8)
    assert traj.mse[-1] < 1e-10
    assert abs(abs(traj.u[-1]) - problem.s_star) < 1e-9


def test_diverging_gd_stops_and_says_where(small_problem):
    with pytest.raises(DivergenceError, match=r"diverged at step \d+") as info:
        pyscale.simulate(small_problem, "gd", lr=20.0, steps=10_000, record=np.arange(0, 10_001))
    err = info.value
    assert 0 < err.step < 10_000
    traj = err.trajectory
    assert len(traj) == err.step  # records 0 .. step-1 kept, all finite
    assert np.all(np.isfinite(traj.loss))


def test_gd_at_a_stable_lr_does_not_diverge(small_problem):
    traj = pyscale.simulate(small_problem, "gd", lr=0.05, steps=5000)
    assert traj.status == "completed" and np.isfinite(traj.loss[-1])


def test_interrupted_flow_resumes_exactly(small_problem):
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 60)])
    full = pyscale.simulate(small_problem, "flow", t=times)
    calls = []

    def stop_after_a_while(t, steps):
        calls.append(t)
        return t < 50.0

    with pytest.raises(Interrupted) as info:
        pyscale.simulate(small_problem, "flow", t=times, progress=stop_after_a_while,
                         progress_every=1)
    partial = info.value.trajectory
    assert 0 < len(partial) < len(times)
    resumed = pyscale.simulate(small_problem, "flow", t=times, resume=partial)
    # Stopping mid-step sequence changes nothing: the integrator state is (t, w, h).
    np.testing.assert_array_equal(resumed.t, full.t)
    np.testing.assert_allclose(resumed.u, full.u, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(resumed.mse, full.mse, rtol=1e-12)


def test_flow_in_chunks_equals_one_run_bitwise(small_problem):
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 40)])
    # With records read off the dense output a chunk's horizon is a step boundary that the
    # single run does not have; landing on every record keeps the step sequences equal.
    full = pyscale.simulate(small_problem, "flow", t=times, record_mode="step")
    first = pyscale.simulate(small_problem, "flow", t=times[:20], record_mode="step")
    rest = pyscale.simulate(small_problem, "flow", t=times, resume=first, record_mode="step")
    np.testing.assert_array_equal(rest.u, full.u)
    np.testing.assert_array_equal(rest.mse, full.mse)
    np.testing.assert_array_equal(rest.w, full.w)


def test_interrupted_gd_resumes_exactly(small_problem):
    full = pyscale.simulate(small_problem, "gd", lr=1e-2, steps=50_000, record=100)
    with pytest.raises(Interrupted) as info:
        pyscale.simulate(small_problem, "gd", lr=1e-2, steps=50_000, record=100,
                         progress=lambda t, k: k < 20_000, progress_every=1000)
    resumed = pyscale.simulate(small_problem, "gd", lr=1e-2, steps=50_000, record=100,
                               resume=info.value.trajectory)
    np.testing.assert_array_equal(resumed.t, full.t)
    np.testing.assert_array_equal(resumed.u, full.u)
    np.testing.assert_array_equal(resumed.w, full.w)


def test_results_do_not_depend_on_the_thread_count():
    problem = Problem.power_law(200_000, 2.0, seed=1)  # above the parallel threshold
    times = [0.0, 1.0, 10.0, 30.0]
    one = pyscale.simulate(problem, "flow", t=times, rtol=1e-6, threads=1)
    two = pyscale.simulate(problem, "flow", t=times, rtol=1e-6, threads=2)
    assert two.meta["threads"] == (2 if pyscale._core.HAS_OPENMP else 1)
    np.testing.assert_array_equal(one.u, two.u)
    np.testing.assert_array_equal(one.w, two.w)
    g1 = pyscale.simulate(problem, "gd", lr=0.01, steps=300, threads=1)
    g2 = pyscale.simulate(problem, "gd", lr=0.01, steps=300, threads=2)
    np.testing.assert_array_equal(g1.mse, g2.mse)
    np.testing.assert_array_equal(g1.w, g2.w)


@pytest.mark.parametrize("method, options, message", [
    ("flow", {}, "needs t="),
    ("flow", {"t": [0.0, 2.0, 1.0]}, "strictly increasing"),
    ("flow", {"t": [0.0, np.inf]}, "finite"),
    ("flow", {"t": 10.0, "rtol": 0.0}, "rtol"),
    ("flow", {"t": 10.0, "scheme": "euler"}, "scheme"),
    ("gd", {"lr": 0.1}, "lr= and steps= are required"),
    ("gd", {"lr": -0.1, "steps": 10}, "lr must be a finite number > 0"),
    ("gd", {"lr": 0.1, "steps": 10, "record": [0, 11]}, "record: step indices"),
    ("gd", {"lr": 0.1, "steps": 2.5}, "steps must be"),
    ("warp", {}, "method must be one of"),
])
def test_bad_options_are_rejected(small_problem, method, options, message):
    with pytest.raises(ValueError, match=message):
        pyscale.simulate(small_problem, method, **options)


def test_simulate_needs_a_problem():
    with pytest.raises(TypeError, match="pyscale.Problem"):
        pyscale.simulate(np.ones(3), "flow", t=1.0)


def test_workspace_that_cannot_be_allocated_says_how_much():
    with pytest.raises(MemoryError, match=r"needs .* GiB"):
        pyscale._core.testing.flow_workspace_check(1 << 50)
