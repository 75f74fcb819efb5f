"""The truncated hierarchy (model page: Moment hierarchy; pyscale.hierarchy) against the exact flow.

References: SciPy's DOP853 on ẇ = −∇L(w) (conftest.flow_reference, rtol 1e-11: its moments are
good to ~1e-10 here) for t <= 8, and the C++ flow engine at rtol 1e-12, resumed from record to
record (pyscale.engines.hierarchy.exact_moments) for the long horizons; a NumPy Lanczos with full
reorthogonalisation for the quadrature.
"""
import numpy as np
import pytest
from conftest import flow_reference

import pyscale
from pyscale._kernels import hierarchy as kern
from pyscale.engines.hierarchy import convergence_study, exact_moments, hierarchy, realizable_rows

# Reference accuracy (SciPy at rtol 1e-11, flow engine at 1e-12) plus the hierarchy's own
# integration error at rtol 1e-10: differences below this are noise, not closure error.
NOISE_FLOOR = 1e-9


def moments_of(problem, w_rows, orders=3):
    lam, ws = problem.eigenvalues, problem.w_star
    s = np.stack([np.einsum("ij,j,ij->i", w_rows, lam ** k, w_rows) for k in range(1, orders + 1)],
                 axis=1)
    u = np.stack([w_rows @ (lam ** k * ws) for k in range(1, orders + 1)], axis=1)
    return s, u


def max_error(run, s_ref, u_ref):
    k = s_ref.shape[1]
    return np.maximum(np.abs(run.s[:, :k] - s_ref), np.abs(run.u[:, :k] - u_ref)).max(axis=1)


@pytest.fixture(scope="module")
def problem_a2():
    return pyscale.Problem.power_law(1000, 2.0, seed=0)


# ------------------------------------------------------------------ accuracy of the default
@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_gauss_closure_K48_matches_scipy_flow_to_t8(a):
    """(model page: Moment hierarchy), default closure, K = 48: orders 1–3 within 1e-6 (absolute, s*
    = 1) for t <= 8; measured ~1e-11, so 1e-6 leaves five decades for other seeds and platforms."""
    problem = pyscale.Problem.power_law(1000, a, seed=0)
    times = np.linspace(0.0, 8.0, 17)
    s_ref, u_ref = moments_of(problem, flow_reference(problem, times))
    run = hierarchy(problem, order=48, t=times)
    assert run.s.shape == run.u.shape == (times.size, 48)
    assert run.closure == "gauss" and run.status == "completed" and not run.diverged
    assert max_error(run, s_ref, u_ref).max() < 1e-6
    # the a-posteriori estimate agrees that the whole window is valid
    assert run.valid_until == times[-1]
    assert run.realizable_until == times[-1]


def test_error_non_increasing_in_K(problem_a2):
    """Gauss closure, a = 2, d = 1000, t <= 1000 (past T2 ~ 550): the error of orders 1–3 falls
    with K = 16, 32, 48 (measured 4e-3, 2e-8, 2e-10), and the fall is resolved above the noise."""
    times = np.concatenate([[0.0], np.geomspace(0.1, 1000.0, 30)])
    s_ref, u_ref, _ = exact_moments(problem_a2, times, orders=3)
    errs = []
    for order in (16, 32, 48):
        run = hierarchy(problem_a2, order=order, t=times, error_estimate=False)
        errs.append(max_error(run, s_ref, u_ref).max())
    assert errs[0] > 100 * max(errs[1], NOISE_FLOOR)
    assert errs[1] <= errs[0]
    assert errs[2] <= errs[1] + NOISE_FLOOR
    # at every record, not just in the max
    per_t = [max_error(hierarchy(problem_a2, order=k, t=times, error_estimate=False),
                       s_ref, u_ref) for k in (16, 32)]
    assert np.all(per_t[1] <= per_t[0] + NOISE_FLOOR)


def test_compressed_problem_matches_its_flow():
    """A compressed problem (repeated eigenvalues, counts) runs unchanged: orders 1–3 within
    1e-8 of the flow on the same stored coordinates up to t = 20."""
    problem = pyscale.Problem.power_law(10**6, 2.0, seed=2, compress=0.05)
    times = np.linspace(0.0, 20.0, 11)
    s_ref, u_ref, _ = exact_moments(problem, times, orders=3)
    run = hierarchy(problem, order=32, t=times, error_estimate=False)
    assert max_error(run, s_ref, u_ref).max() < 1e-8


def test_fewer_eigenvalues_than_K_is_exact():
    """d = 12 < K = 20: the Gauss rule is the spectral measure itself, the hierarchy closes
    exactly (Cayley–Hamilton) and follows the flow to t = 200 within 1e-9."""
    problem = pyscale.Problem.power_law(12, 1.5, seed=4)
    times = np.concatenate([[0.0], np.geomspace(0.1, 200.0, 12)])
    s_ref, u_ref = moments_of(problem, flow_reference(problem, times), orders=3)
    run = hierarchy(problem, order=20, t=times, error_estimate=False)
    assert run.meta["n_nodes"] == 12 and run.meta["exact_quadrature"]
    np.testing.assert_allclose(np.sort(run.meta["nodes"]), np.sort(problem.eigenvalues),
                               rtol=1e-12)
    assert max_error(run, s_ref, u_ref).max() < 1e-9


# ------------------------------------------------------------------ the literal truncation
def test_zero_closure_blowup_is_flagged(problem_a2):
    """(model page: Moment hierarchy) literal truncation at a = 2: finite-time blow-up (measured t ~
    6 for K = 10, ~10 for K = 32), reported — flag, warning, NaN rows only after it, never inf."""
    times = np.linspace(0.0, 30.0, 61)
    for order in (10, 32):
        with pytest.warns(RuntimeWarning, match="blew up"):
            run = hierarchy(problem_a2, order=order, t=times, closure="zero")
        assert run.diverged and run.status == "diverged"
        assert 1.0 < run.t_diverged < 30.0
        assert not np.isinf(run.s).any() and not np.isinf(run.u).any()
        after = run.t > run.t_diverged
        assert np.isnan(run.s[after]).all()
        assert np.isfinite(run.s[run.t <= run.t_diverged - 1e-9]).all()
        assert run.valid_until is not None and run.valid_until < run.t_diverged
    with pytest.raises(pyscale.DivergenceError) as info:
        hierarchy(problem_a2, order=10, t=times, closure="zero", on_divergence="raise")
    assert info.value.trajectory.diverged


def test_zero_closure_is_accurate_before_blowup(problem_a2):
    """Before the blow-up the literal truncation is right (same exact hierarchy): K = 32 to
    t = 4 within 1e-6 of the flow (measured: first error > 1e-6 at t ~ 7.6)."""
    times = np.linspace(0.0, 4.0, 9)
    s_ref, u_ref = moments_of(problem_a2, flow_reference(problem_a2, times))
    run = hierarchy(problem_a2, order=32, t=times, closure="zero", error_estimate=False)
    assert not run.diverged
    assert max_error(run, s_ref, u_ref).max() < 1e-6


# ------------------------------------------------------------------ quadrature
def _lanczos_reference(x, weight, kmax):
    """Plain Lanczos with full reorthogonalisation (NumPy), the textbook independent check."""
    q = np.sqrt(weight)
    beta0 = np.linalg.norm(q)
    basis = np.zeros((x.size, kmax))
    basis[:, 0] = q / beta0
    a = np.zeros(kmax)
    b = np.zeros(kmax)
    for n in range(kmax):
        v = x * basis[:, n]
        a[n] = basis[:, n] @ v
        for _ in range(2):
            v -= basis[:, :n + 1] @ (basis[:, :n + 1].T @ v)
        if n + 1 < kmax:
            b[n + 1] = np.linalg.norm(v)
            basis[:, n + 1] = v / b[n + 1]
    return a, b, beta0, basis


def test_givens_quadrature_matches_lanczos():
    """Gragg–Harrod rotations == Lanczos (model page: Moment hierarchy): Jacobi matrix, modified
    moments and node masses to 1e-12 relative; node masses reproduce moments 1..K exactly."""
    problem = pyscale.Problem.power_law(300, 2.0, seed=5)
    lam = problem.eigenvalues
    lam_max = lam.max()
    x = lam / lam_max
    order = 24
    values = np.stack([lam * problem.w0 ** 2, lam * problem.w0 * problem.w_star,
                       lam ** 2 * problem.w_star ** 2], axis=1)
    a, b, proj, m = kern.jacobi_and_projections(x, x.copy(), np.ascontiguousarray(values),
                                                order)
    a_ref, b_ref, beta0, basis = _lanczos_reference(x, x, order)
    assert m == order
    np.testing.assert_allclose(a, a_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b[1:order], b_ref[1:], rtol=1e-11)
    assert b[0] == pytest.approx(beta0, rel=1e-13)
    # modified moments: Σ_i f_i p_n(x_i), p_n(x_i) = basis[i, n] / sqrt(weight_i)
    proj_ref = basis.T @ (values / np.sqrt(x)[:, None])
    np.testing.assert_allclose(proj, proj_ref, rtol=1e-10, atol=1e-14 * np.abs(proj_ref).max())
    nodes, masses = kern.gauss_nodes(a, b, proj, m)
    for k in range(order):  # Σ_j x_j^k S_j = Σ_i x_i^k λ_i w0_i², k = 0..K-1
        direct = np.sum(x ** k * values[:, 0])
        assert np.sum(nodes ** k * masses[:, 0]) == pytest.approx(direct, rel=1e-10)


def test_scaling_keeps_high_orders_where_lambda_power_underflows():
    """λ_max = 1e-7·(power law): λ_max^K underflows at K = 48, the scaled moments do not;
    they equal Σ_i (λ_i/λ_max)^k w0_i² at t = 0 to 1e-12 relative at every order."""
    base = pyscale.Problem.power_law(200, 2.0, seed=6)
    lam = base.eigenvalues * 1e-7
    problem = pyscale.Problem(lam, base.w_star / np.sqrt(1e-7), base.w0)
    run = hierarchy(problem, order=48, t=[0.0, 1.0], error_estimate=False)
    x = lam / lam.max()
    direct = np.array([np.sum(x ** k * problem.w0 ** 2) for k in range(1, 49)])
    np.testing.assert_allclose(run.s_scaled[0], direct, rtol=1e-12)
    assert run.s[0, -1] == 0.0  # the unscaled moment underflows, as it must in float64
    assert np.all(run.s_scaled[1] > 0)
    np.testing.assert_allclose(run.s[:, :10], run.s_scaled[:, :10] * lam.max() ** np.arange(1, 11),
                               rtol=1e-14)


def test_gauss_closure_stays_realizable_long(problem_a2):
    """The Gauss closure is the flow of a K-mode problem: bounded to t = 1e5 with s → s*
    (model page: Gradient flow, Phases) even at K = 16, whose error reaches 1e-3 at t ~ 300; orders
    1–3 stay realizable (positive measure, Cauchy–Schwarz) well past T1' ~ 1.5 (measured: to t ~
    700, where near convergence u² = s s* is tight and a 1e-3 error breaks it)."""
    times = np.concatenate([[0.0], np.geomspace(0.01, 1e5, 40)])
    run = hierarchy(problem_a2, order=16, t=times, error_estimate=False)
    assert run.status == "completed" and np.isfinite(run.s).all()
    assert run.meta["realizable_leading_until"] >= 300.0
    # the exact flow keeps 0 <= s <= s* + sqrt(L(0)/3) ~ 2.7 and u² <= s s*; measured here
    # max s = 1.07, and s(1e5) = 1.06 against the exact 1.00 (K = 16 is past its horizon)
    assert np.all(run.s[:, 0] > 0) and run.s[:, 0].max() < 1.2
    assert np.abs(run.u[:, 0]).max() < 1.2


def test_realizable_rows_detects_violations():
    m = np.array([[1.0, 0.5, 0.3], [1.0, -0.1, 0.3], [1.0, 1.2, 1.0], [1.0, 0.1, 0.3]])
    n = np.zeros_like(m)
    star = np.ones(3)
    assert realizable_rows(m, n, star).tolist() == [True, False, False, False]
    n_bad = n.copy()
    n_bad[0, 0] = 1.5  # |u|² > s s*
    assert not realizable_rows(m[:1], n_bad[:1], star)[0]


# ------------------------------------------------------------------ study and API
def test_convergence_study_horizons_grow_with_K():
    problem = pyscale.Problem.power_law(300, 2.0, seed=7)
    times = np.concatenate([[0.0], np.geomspace(0.1, 300.0, 25)])
    study = convergence_study(problem, orders=(8, 16), t=times, tols=(1e-6,))
    h8 = study.horizon[("gauss", 8, 1e-6)]
    h16 = study.horizon[("gauss", 16, 1e-6)]
    assert h8 is not None and h16 is not None and h16 >= h8
    assert study.runs[("zero", 8)].diverged
    assert study.phases.T1 is not None and study.phases.T1_prime is not None
    table = study.table()
    assert "| gauss | 16 |" in table and "T1 =" in table


@pytest.mark.parametrize("order", [0, -3, 2.5, True, "8"])
def test_bad_order(problem_a2, order):
    with pytest.raises((ValueError, TypeError), match="order"):
        hierarchy(problem_a2, order=order, t=[0.0, 1.0])


@pytest.mark.parametrize("t", [None, [], [1.0, 0.5], [0.0, -1.0], [0.0, np.nan], [[0.0, 1.0]],
                              -5.0, np.inf])
def test_bad_times(problem_a2, t):
    with pytest.raises(ValueError):
        hierarchy(problem_a2, order=4, t=t)


def test_bad_options(problem_a2):
    with pytest.raises(ValueError, match="closure"):
        hierarchy(problem_a2, order=4, t=[1.0], closure="lanczos")
    with pytest.raises(ValueError, match="rtol"):
        hierarchy(problem_a2, order=4, t=[1.0], rtol=0.0)
    with pytest.raises(ValueError, match="on_divergence"):
        hierarchy(problem_a2, order=4, t=[1.0], on_divergence="explode")
    with pytest.raises(TypeError):
        hierarchy("not a problem", order=4, t=[1.0])


def test_moment_accessor_and_horizon_input(problem_a2):
    run = hierarchy(problem_a2, order=5, t=2.0, error_estimate=False)
    assert run.t[0] == 0.0 and run.t[-1] == 2.0
    assert np.array_equal(run.moment(2, "u"), run.u[:, 1])
    with pytest.raises(ValueError):
        run.moment(6)
    assert run.s[0, 0] == pytest.approx(pyscale.statistics(problem_a2)["s"], rel=1e-13)
    assert run.u[0, 1] == pytest.approx(pyscale.statistics(problem_a2)["u2"], rel=1e-12)


def test_dop853_tableau_satisfies_its_order_conditions():
    """The constants of pyscale/_kernels/dop853.py: consistent (c = A·1), and the quadrature
    conditions Σ b_i c_i^k = 1/(k+1) of order 8 hold to rounding."""
    from pyscale._kernels import dop853 as co
    np.testing.assert_allclose(co.A.sum(axis=1), co.C, atol=1e-15)
    for k in range(8):
        assert abs(co.B @ co.C ** k - 1.0 / (k + 1)) < 1e-15
    # The error weights annihilate constants (an error estimate of a consistent method).
    assert abs(co.E5[:12].sum()) < 1e-14 and abs(co.E3[:12].sum()) < 1e-14
