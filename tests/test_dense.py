"""The flow's dense output: records read off it, exact stopping times, events.

References: SciPy's solve_ivp (DOP853, rtol 1e-12, atol 1e-14) with its own event location
on the same ODE, and the integrator's values from before records were read off the dense
output (tests/data/flow_before_dense_output.npz: the problems' arrays and that version's
results with threads=1).
Tolerances: stopping times and events within 1e-6 relative of SciPy; the same T1 to 1e-9
for horizons 1e3 and 1e10; interpolated records within 10 rtol (s, u) and rtol (MSE)
relative of SciPy's dense solution at rtol = 1e-9.
"""
from pathlib import Path

import numpy as np
import pytest
from reference_flow import flow_rhs
from scipy.integrate import solve_ivp

import pyscale
from pyscale import Problem
from pyscale.app.io import load_trajectory, save_trajectory
from pyscale.errors import Interrupted
from pyscale.results.phases import DEFAULTS

DATA = Path(__file__).parent / "data" / "flow_before_dense_output.npz"


@pytest.fixture(scope="module")
def problem():
    return Problem.power_law(300, 2.0, seed=0)


def _su(problem, w):
    lam, ws = problem.eigenvalues, problem.w_star
    return (lam * w) @ w, (lam * w) @ ws


@pytest.fixture(scope="module")
def reference(problem):
    """SciPy's solution to t = 600 with events on the phase thresholds (DEFAULTS)."""
    level = problem.s_star * (1.0 / 3.0 + DEFAULTS.s0)
    band = (1.0 - DEFAULTS.eps) * problem.s_star
    funcs = [lambda t, w: abs(_su(problem, w)[1]) - DEFAULTS.delta * problem.s_star,
             lambda t, w: _su(problem, w)[0] - level,
             lambda t, w: abs(_su(problem, w)[1]) - band,
             lambda t, w: _su(problem, w)[0] - band,
             lambda t, w: _su(problem, w)[0] - 0.5]
    sol = solve_ivp(flow_rhs(problem), (0.0, 600.0), problem.w0, method="DOP853", rtol=1e-12,
                    atol=1e-14, events=funcs, dense_output=True)
    assert sol.success
    return sol


def _ref_t2(problem, sol):
    """First t with |u|, s in [1 - eps, 1] s*: among the band-edge events, the first after
    which both hold (checked on SciPy's dense solution)."""
    band = (1.0 - DEFAULTS.eps) * problem.s_star
    for t in np.sort(np.concatenate([sol.t_events[2], sol.t_events[3]])):
        s, u = _su(problem, sol.sol(t * (1 + 1e-9)))
        if band <= abs(u) <= problem.s_star and band <= s <= problem.s_star:
            return t
    return None


def test_stopping_times_match_scipy_events(problem, reference):
    traj = pyscale.simulate(problem, "flow", t=600.0)  # default records: 200 log-spaced
    ph = traj.phases()
    assert (ph.delta, ph.eps, ph.s0) == (DEFAULTS.delta, DEFAULTS.eps, DEFAULTS.s0)
    assert ph.T1 == pytest.approx(reference.t_events[0][0], rel=1e-6)
    # T1': s stays above the level after the last upward crossing
    assert ph.T1_prime == pytest.approx(reference.t_events[1][-1], rel=1e-6)
    assert ph.T2 == pytest.approx(_ref_t2(problem, reference), rel=1e-6)
    # the record grid alone would be off by far more than that
    grid = np.flatnonzero(np.abs(traj.u) >= DEFAULTS.delta)[0]
    assert abs(traj.t[grid] - ph.T1) > 1e-4 * ph.T1


def test_stopping_times_do_not_depend_on_the_horizon(problem):
    # RODAS4's steps do not depend on the records (scheme="auto" would pick by the horizon,
    # and the exponential scheme ends a step that holds more than 16 records at the 16th)
    short = pyscale.simulate(problem, "flow", t=1e3, scheme="rodas4").phases(0.1, 0.01, 0.0)
    long = pyscale.simulate(problem, "flow", t=1e10, scheme="rodas4").phases(0.1, 0.01, 0.0)
    assert long.T1 == pytest.approx(short.T1, rel=1e-9)
    assert long.T1_prime == pytest.approx(short.T1_prime, rel=1e-9)
    assert short.T2 is None and long.T2 is not None  # eps = 0.01 is reached after t = 1e3


def test_phases_for_any_thresholds_without_rerun(problem, reference):
    traj = pyscale.simulate(problem, "flow", t=600.0)
    # s crosses 0.5 once (upwards): T1' with s0 = 0.5 - 1/3 is that crossing
    ph = traj.phases(s0=0.5 - 1.0 / 3.0)
    assert ph.T1_prime == pytest.approx(reference.t_events[4][-1], rel=1e-6)
    gd = pyscale.simulate(problem, "gd", lr=1e-2, steps=200)
    first = gd.t[np.flatnonzero(np.abs(gd.u) >= DEFAULTS.delta)[0]]
    assert gd.dense is None and gd.phases().T1 == first  # record-grid fallback


def test_interpolated_records_match_scipy(problem, reference):
    times = np.concatenate([[0.0], np.geomspace(1e-2, 600.0, 400)])
    traj = pyscale.simulate(problem, "flow", t=times, rtol=1e-9)
    w = reference.sol(times).T
    s, u = (problem.eigenvalues * w * w).sum(1), w @ (problem.eigenvalues * problem.w_star)
    mse = np.minimum(((w - problem.w_star) ** 2).sum(1), ((w + problem.w_star) ** 2).sum(1))
    np.testing.assert_allclose(traj.s, s, rtol=1e-8)
    np.testing.assert_allclose(traj.u[1:], u[1:], rtol=1e-8)
    np.testing.assert_allclose(traj.mse, mse / problem.d, rtol=1e-9)
    # records cost no steps: the same steps as a run with two records
    two = pyscale.simulate(problem, "flow", t=[0.0, 600.0], rtol=1e-9)
    assert traj.meta["steps"] == two.meta["steps"]
    np.testing.assert_array_equal(traj.w, two.w)


def test_terminal_event_with_direction(problem, reference):
    up = ("s", 0.5, +1, True)
    traj = pyscale.simulate(problem, "flow", t=600.0, events=[up])
    t_ref = reference.t_events[4][0]
    (hits,) = traj.events
    assert len(hits) == 1 and hits.times[0] == pytest.approx(t_ref, rel=1e-6)
    assert traj.meta["stopped_by_event"] and traj.t[-1] == hits.times[0]
    assert traj.t[-2] < traj.t[-1] and np.all(traj.t[:-1] < t_ref)
    s_end, _ = _su(problem, traj.w)  # the state left is the dense state at the event
    assert s_end == pytest.approx(0.5, rel=1e-8)
    assert traj.s[-1] == pytest.approx(0.5, rel=1e-12)
    # the same crossing downwards never happens: the run completes
    down = pyscale.simulate(problem, "flow", t=600.0, events=[("s", 0.5, -1, True)])
    assert len(down.events[0]) == 0 and not down.meta["stopped_by_event"]
    assert down.t[-1] == 600.0


def test_callable_events_agree_with_specs(problem, reference):
    def escaped(r):
        return np.abs(r.u) - DEFAULTS.delta

    w = reference.sol(np.array([300.0, 600.0])).T
    mse = np.minimum(((w - problem.w_star) ** 2).sum(1), ((w + problem.w_star) ** 2).sum(1))
    level = mse.mean() / problem.d  # crossed downwards once in (300, 600): MSE decreases

    def mse_low(r):
        return r.mse - level

    mse_low.direction = -1
    traj = pyscale.simulate(problem, "flow", t=600.0,
                            events=[escaped, ("abs_u", DEFAULTS.delta), mse_low])
    by_callable, by_spec, low = traj.events
    np.testing.assert_allclose(by_callable.times, by_spec.times, rtol=1e-12)
    assert by_spec.times[0] == pytest.approx(reference.t_events[0][0], rel=1e-6)
    assert len(low) == 1 and 300.0 < low.times[0] < 600.0
    assert low.records["mse"][0] == pytest.approx(level, rel=1e-12)
    w_event = reference.sol(low.times[0])
    mse_ref = min(((w_event - problem.w_star) ** 2).sum(), ((w_event + problem.w_star) ** 2).sum())
    assert mse_ref / problem.d == pytest.approx(level, rel=1e-9)


@pytest.mark.parametrize("bad, match", [([("speed", 1.0)], "event field"),
                                        ([("u", np.nan)], "finite"),
                                        ([("u", 0.1, 2)], "direction"),
                                        ([42], "callable")])
def test_bad_events_are_rejected(problem, bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        pyscale.simulate(problem, "flow", t=1.0, events=bad)


def test_interrupted_dense_run_resumes_bitwise(problem):
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 300)])
    full = pyscale.simulate(problem, "flow", t=times)
    with pytest.raises(Interrupted) as info:
        pyscale.simulate(problem, "flow", t=times, progress=lambda t, k: t < 50.0,
                         progress_every=1)
    resumed = pyscale.simulate(problem, "flow", t=times, resume=info.value.trajectory)
    for name in ("t", "s", "u", "s2", "u2", "mse"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name))
    np.testing.assert_array_equal(resumed.w, full.w)
    np.testing.assert_array_equal(resumed.dense.rows, full.dense.rows)
    assert resumed.phases() == full.phases()


def _stored_problem(ref, prefix):
    return Problem(ref[f"{prefix}_eigenvalues"], ref[f"{prefix}_w_star"], ref[f"{prefix}_w0"])


def test_step_mode_and_horizon_runs_reproduce_the_previous_integrator():
    ref = np.load(DATA)
    problem = _stored_problem(ref, "step")
    # The reference's own record times (0 and geomspace(1e-2, 1e5, 60) where it was made):
    # NumPy's geomspace can differ in the last bit between CPUs, and a record time one ulp
    # off moves the steps that land on it.
    times = ref["step_records"][0]
    step = pyscale.simulate(problem, "flow", t=times, threads=1, record_mode="step")
    got = np.array([step.t, step.s, step.u, step.s2, step.u2, step.loss, step.mse])
    np.testing.assert_array_equal(got, ref["step_records"])
    np.testing.assert_array_equal(step.w, ref["step_w"])
    for k, (scheme, horizon) in enumerate([("rodas4", 1e6), ("ros4", 1e3)]):
        p = _stored_problem(ref, f"horizon{k}")
        for mode in ("interpolate", "step"):
            tr = pyscale.simulate(p, "flow", t=[0.0, horizon], scheme=scheme, threads=1,
                                  record_mode=mode)
            counters = [tr.meta["steps"], tr.meta["rejected"], tr.meta["resume"]["h_next"]]
            np.testing.assert_array_equal(counters, ref[f"horizon{k}_counters"])
            np.testing.assert_array_equal(tr.w, ref[f"horizon{k}_w"])


def test_ros4_hermite_records(problem, reference):
    times = np.concatenate([[0.0], np.geomspace(1e-2, 600.0, 100)])
    traj = pyscale.simulate(problem, "flow", t=times, scheme="ros4")
    w = reference.sol(times).T
    np.testing.assert_allclose(traj.s, (problem.eigenvalues * w * w).sum(1), rtol=3e-7)
    assert traj.phases().T1 == pytest.approx(reference.t_events[0][0], rel=1e-6)


def test_record_mode_is_validated(problem):
    with pytest.raises(ValueError, match="record_mode"):
        pyscale.simulate(problem, "flow", t=1.0, record_mode="dense")


def test_hierarchy_uses_the_flow_controller_constants():
    from pyscale import _core
    from pyscale._kernels import hierarchy as kernel
    for name, value in _core.flow.FLOW_CONTROLLER.items():
        assert getattr(kernel, name) == value, name


def test_dense_output_survives_save_load_and_checkpoints(problem, tmp_path):
    traj = pyscale.simulate(problem, "flow", t=600.0)
    back = load_trajectory(save_trajectory(traj, tmp_path / "flow.npz"))
    np.testing.assert_array_equal(back.dense.rows, traj.dense.rows)
    assert back.phases() == traj.phases()
    # a resumed run whose first part lost its dense output falls back to the record grid
    no_dense = load_trajectory(save_trajectory(traj, tmp_path / "again.npz"))
    no_dense.dense = None
    more = pyscale.simulate(problem, "flow", t=np.array([0.0, 600.0, 700.0]), resume=no_dense)
    assert more.dense is None


def test_terminal_event_state_with_ros4(problem, reference):
    traj = pyscale.simulate(problem, "flow", t=600.0, scheme="ros4",
                            events=[("s", 0.5, +1, True)])
    assert traj.t[-1] == pytest.approx(reference.t_events[4][0], rel=1e-6)
    s_end, _ = _su(problem, traj.w)  # Hermite dense state at the event
    assert s_end == pytest.approx(0.5, rel=1e-6)
