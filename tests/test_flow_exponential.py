"""The flow's exponential scheme (scheme="exponential") against independent references.

References: SciPy's solve_ivp (DOP853, rtol 1e-11, atol 1e-13) on the flow's ODE, and for the
long horizon (t = 10^12, where DOP853 is stability-limited to O(1) steps: ~10^12 of them,
tests/test_flow_radau.py) the flow's RODAS4 at rtol 1e-12 here (d = 1000); the independent
long-horizon reference, SciPy's Radau, is tests/test_flow_radau.py's. Tolerances: at
rtol = 1e-9, s and u within 1e-7 absolute and the MSE within
1e-6 relative at every record time (the RODAS4 tests' bounds are 1e-6); at rtol = 1e-6, s
and u within 1e-5 and the MSE within 1e-3 relative; events and stopping times within 1e-6
relative of SciPy's own event location.
"""
import numpy as np
import pytest
from conftest import flow_reference, numpy_stats
from reference_flow import flow_rhs
from scipy.integrate import solve_ivp

import pyscale
from pyscale.errors import Interrupted


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_exponential_flow_matches_dop853(a):
    problem = pyscale.Problem.power_law(300, a, seed=11)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 40)])
    ref_s, ref_u, ref_mse = numpy_stats(problem, flow_reference(problem, times))
    traj = pyscale.simulate(problem, "flow", t=times, rtol=1e-9, scheme="exponential")
    assert traj.meta["scheme"] == "exponential"
    assert traj.meta["exponential_steps"] > 0
    np.testing.assert_array_equal(traj.t, times)
    assert np.max(np.abs(traj.u - ref_u)) < 1e-7
    assert np.max(np.abs(traj.s - ref_s)) < 1e-7
    assert np.max(np.abs(traj.mse / ref_mse - 1)) < 1e-6
    # The run went through all three phases (and so through c0 = 0, on RODAS4 steps).
    ph = traj.phases()
    assert ph.T1 is not None and ph.T2 is not None


@pytest.mark.parametrize("rtol, tol_su, tol_mse", [(1e-6, 1e-5, 1e-3), (1e-9, 1e-7, 1e-6)])
def test_long_horizon_against_tight_rodas4_in_far_fewer_passes(rtol, tol_su, tol_mse):
    problem = pyscale.Problem.power_law(1000, 2.0, seed=0)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e12, 200)])
    ref = pyscale.simulate(problem, "flow", t=times, rtol=1e-12, scheme="rodas4")
    rodas = pyscale.simulate(problem, "flow", t=times, rtol=rtol, scheme="rodas4")
    traj = pyscale.simulate(problem, "flow", t=times, rtol=rtol, scheme="exponential")
    assert np.max(np.abs(traj.s - ref.s)) < tol_su
    assert np.max(np.abs(traj.u - ref.u)) < tol_su
    resolved = ref.mse > 1e-8 * ref.mse[0]
    assert np.max(np.abs(traj.mse[resolved] / ref.mse[resolved] - 1)) < tol_mse
    # The step is limited by how fast c1/c0 changes, not by the largest rate: in Phase III
    # it keeps growing, so the pass count is a fraction of RODAS4's (measured: 11,376 vs
    # 636 at rtol 1e-9, 1,702 vs 233 at 1e-6).
    assert traj.meta["passes"] < rodas.meta["passes"] / 4


def test_exponential_records_between_steps_match_step_landing():
    problem = pyscale.Problem.power_law(300, 2.0, seed=3)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, 120)])
    dense = pyscale.simulate(problem, "flow", t=times, rtol=1e-10, scheme="exponential")
    landed = pyscale.simulate(problem, "flow", t=times, rtol=1e-10, scheme="exponential",
                              record_mode="step")
    np.testing.assert_allclose(dense.s, landed.s, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dense.u, landed.u, rtol=1e-7, atol=1e-9)


def test_exponential_terminal_event():
    problem = pyscale.Problem.power_law(300, 2.0, seed=0)
    lam = problem.eigenvalues

    def crossing(_, w):
        return (lam * w) @ w - 0.5
    crossing.terminal, crossing.direction = True, 1.0
    ref = solve_ivp(flow_rhs(problem), (0.0, 600.0), problem.w0, method="DOP853",
                    rtol=1e-12, atol=1e-14, events=[crossing])
    traj = pyscale.simulate(problem, "flow", t=600.0, scheme="exponential",
                            events=[("s", 0.5, +1, True)])
    assert traj.t[-1] == pytest.approx(ref.t_events[0][0], rel=1e-6)
    assert float((lam * traj.w) @ traj.w) == pytest.approx(0.5, rel=1e-6)


def test_interrupted_exponential_flow_resumes():
    problem = pyscale.Problem.power_law(300, 2.0, seed=1)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e8, 60)])
    full = pyscale.simulate(problem, "flow", t=times, scheme="exponential")
    with pytest.raises(Interrupted) as info:
        pyscale.simulate(problem, "flow", t=times, scheme="exponential", progress_every=1,
                         progress=lambda t, steps: t < 1e3)
    partial = info.value.trajectory
    assert 0 < len(partial) < len(times)
    resumed = pyscale.simulate(problem, "flow", t=times, scheme="exponential", resume=partial)
    assert resumed.meta["exponential_steps"] > partial.meta["exponential_steps"]
    np.testing.assert_allclose(resumed.s, full.s, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(resumed.mse, full.mse, rtol=1e-6)


def test_unknown_scheme_is_one_line():
    problem = pyscale.Problem.power_law(50, 2.0, seed=0)
    with pytest.raises(ValueError, match="scheme") as info:
        pyscale.simulate(problem, "flow", t=1.0, scheme="expo")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("link", ["relu", ("square", "abs")])
def test_exponential_flow_of_other_links_against_tight_rodas4(link):
    """Any link pair's flow is ẇ_i = λ_i (c0 w_i + c1 w*_i): the same scheme applies."""
    problem = pyscale.Problem.power_law(300, 2.0, seed=0, link=link)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, 60)])
    ref = pyscale.simulate(problem, "flow", t=times, rtol=1e-12, scheme="rodas4")
    traj = pyscale.simulate(problem, "flow", t=times, rtol=1e-9, scheme="exponential")
    assert traj.meta["exponential_steps"] > 0
    assert np.max(np.abs(traj.s - ref.s)) < 1e-7
    assert np.max(np.abs(traj.u - ref.u)) < 1e-7


def test_auto_scheme_chooses_by_horizon_and_rtol():
    """scheme="auto" (the default) runs the exponential scheme for a last record time
    >= 1e6 at rtol <= 1e-8 and RODAS4 otherwise; meta names the scheme used, and the run's
    bits are that scheme's."""
    problem = pyscale.Problem.power_law(200, 2.0, seed=0)
    long_times = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, 40)])
    auto = pyscale.simulate(problem, "flow", t=long_times, rtol=1e-8)
    assert auto.meta["scheme"] == "exponential" and auto.meta["exponential_steps"] > 0
    expo = pyscale.simulate(problem, "flow", t=long_times, rtol=1e-8, scheme="exponential")
    np.testing.assert_array_equal(auto.s, expo.s)
    for times, rtol in ((long_times[:-1], 1e-8), (long_times, 1e-7)):
        traj = pyscale.simulate(problem, "flow", t=times, rtol=rtol)
        assert traj.meta["scheme"] == "rodas4" and traj.meta["exponential_steps"] == 0
        rodas = pyscale.simulate(problem, "flow", t=times, rtol=rtol, scheme="rodas4")
        np.testing.assert_array_equal(traj.s, rodas.s)


def test_auto_resumes_with_the_scheme_of_the_run_it_continues():
    """A run to t < 1e6 (RODAS4 under auto) resumed to t = 1e8 stays RODAS4: a resume
    continues the same computation (to the tolerance of one RODAS4 run to the end: the
    head's last record is a step end that the whole run does not have)."""
    problem = pyscale.Problem.power_law(200, 2.0, seed=0)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e8, 41)])
    head = pyscale.simulate(problem, "flow", t=times[times <= 1e3], rtol=1e-9)
    assert head.meta["scheme"] == "rodas4"
    rest = pyscale.simulate(problem, "flow", t=times, rtol=1e-9, resume=head)
    assert rest.meta["scheme"] == "rodas4" and rest.meta["exponential_steps"] == 0
    whole = pyscale.simulate(problem, "flow", t=times, rtol=1e-9, scheme="rodas4")
    np.testing.assert_allclose(rest.s, whole.s, rtol=1e-7)
    with pytest.raises(ValueError, match="scheme must be the interrupted run's 'rodas4'"):
        pyscale.simulate(problem, "flow", t=times, rtol=1e-9, scheme="exponential",
                         resume=head)


def test_auto_scheme_is_the_cores_rule():
    """The front door resolves auto by the core's own rule (choose_flow_scheme), the one a
    C++ caller of FlowOptions{} gets."""
    flow = pyscale._core.flow
    assert flow.FlowOptions().scheme == flow.FlowScheme.auto
    exp, rodas = flow.FlowScheme.exponential, flow.FlowScheme.rodas4
    assert flow.choose_flow_scheme(flow.FlowScheme.auto, 1e-8, 1e6) == exp
    assert flow.choose_flow_scheme(flow.FlowScheme.auto, 1.01e-8, 1e12) == rodas
    assert flow.choose_flow_scheme(flow.FlowScheme.auto, 1e-12, 0.99e6) == rodas
    for scheme in (exp, rodas, flow.FlowScheme.ros4):
        assert flow.choose_flow_scheme(scheme, 1e-9, 1e12) == scheme


def test_reference_runs_keep_rodas4_by_the_rule():
    """The saved reference runs (tests/data/make_reference_runs.py) end at t <= 1e5, inside
    auto's RODAS4 range: their bits are RODAS4's by the rule itself."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).parent / "data" / "make_reference_runs.py"
    spec = importlib.util.spec_from_file_location("make_reference_runs", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    flow = pyscale._core.flow
    for _, method, opts in ref.RUNS.values():
        if method == "flow" and "scheme" not in opts:
            chosen = flow.choose_flow_scheme(flow.FlowScheme.auto, opts.get("rtol", 1e-9),
                                             float(np.max(opts["t"])))
            assert chosen == flow.FlowScheme.rodas4
