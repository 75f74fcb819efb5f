"""The flow's global error to t = 10^12 against an independent reference: SciPy's Radau
(implicit, order 5, rtol 1e-12, the analytic Jacobian; tests/reference_flow.py, which also
says why it integrates z = w − σ w* late in the run and how its atol is set).

DOP853 cannot be the reference this far: the flow is stiff near the minimum (largest rate
about 8 s* λ_1), so its mean step stays O(1 / λ_1) while the solution barely moves
(measured here at d = 100, a = 2, rtol 1e-12: 8,291 steps from t = 10^3 to 10^4, a mean
step of 1.09 = 5.3 / (8 s* λ_1), i.e. ~10^12 steps to t = 10^12). It checks Radau
where it is feasible (t ≤ 10^3), and Radau agrees with the flow's RODAS4 at rtol 1e-12 to 10^12.

"rtol-scale" (d = 100, a = 2, 41 records, measured 1e-6 / 1e-9): the largest error in s and
u over the records is within 10 rtol for both schemes (measured: RODAS4 1.7 / 3.6 rtol,
exponential 0.05 / 1.0); the relative MSE error (records whose MSE is above 10^-8 of its
start) within 2 rtol for the exponential scheme (measured 0.003 / 0.04 rtol); RODAS4's is
120–160 rtol (its error control is relative to |w_i|, not to |w_i ∓ w*_i|), held within
1000 rtol. Radau against RODAS4 at rtol 1e-12: 3.3e-12 in s, 5e-11 in the relative MSE.
"""
import numpy as np
import pytest
from reference_flow import dop853_late_steps, flow_reference, numpy_stats, radau_reference

import pyscale

TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 1e12, 40)])


@pytest.fixture(scope="module")
def radau():
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    s, u, mse, info = radau_reference(problem, TIMES)
    assert info["t_switch"] is not None and mse[-1] < 1e-8 * mse[0]  # reached Phase III
    return problem, s, u, mse


@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
@pytest.mark.parametrize("scheme, tol_mse", [("exponential", 2.0), ("rodas4", 1000.0)])
def test_long_horizon_global_error_against_radau(radau, rtol, scheme, tol_mse):
    problem, s, u, mse = radau
    traj = pyscale.simulate(problem, "flow", t=TIMES, rtol=rtol, scheme=scheme)
    assert traj.meta["scheme"] == scheme
    assert np.max(np.abs(traj.s - s)) < 10 * rtol
    assert np.max(np.abs(traj.u - u)) < 10 * rtol
    resolved = mse > 1e-8 * mse[0]
    assert np.max(np.abs(traj.mse[resolved] / mse[resolved] - 1)) < tol_mse * rtol


def test_radau_agrees_with_tight_rodas4_to_1e12(radau):
    problem, s, u, mse = radau
    ref = pyscale.simulate(problem, "flow", t=TIMES, rtol=1e-12, scheme="rodas4")
    assert np.max(np.abs(ref.s - s)) < 1e-10 and np.max(np.abs(ref.u - u)) < 1e-10
    resolved = mse > 1e-8 * mse[0]
    assert np.max(np.abs(ref.mse[resolved] / mse[resolved] - 1)) < 3e-9


def test_radau_reference_against_dop853_where_feasible():
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 20)])
    s, u, mse, info = radau_reference(problem, times)
    assert info["t_switch"] is not None  # both halves of the reference are checked
    ref_s, ref_u, ref_mse = numpy_stats(problem, flow_reference(problem, times, rtol=1e-12,
                                                                atol=1e-16))
    assert np.max(np.abs(s - ref_s)) < 1e-10 and np.max(np.abs(u - ref_u)) < 1e-10
    assert np.max(np.abs(mse / ref_mse - 1)) < 1e-8


def test_dop853_is_stability_limited_late_in_the_run():
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    steps = dop853_late_steps(problem, 1e3, 1e4)
    stiff_rate = 8.0 * problem.s_star * problem.eigenvalues[0]
    # The mean step is a few times 1 / stiff_rate (DOP853's stability region reaches ~6),
    # whatever the tolerance would allow: ~10^11 steps to t = 10^12.
    assert 9e3 / steps < 10.0 / stiff_rate
