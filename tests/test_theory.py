"""The predictions (model page: Phases; issue 3), each held against an independent reference:
SciPy's root finder and NumPy's eigensolver for the escape law, math.fsum for the spectral
sums, the exact flow for the stopping times, the Volterra solution and Phase III."""
import math

import numpy as np
import pytest
from scipy.optimize import brentq

import pyscale
from pyscale import Problem, predict
from pyscale.analysis.compare import crossing_time
from pyscale.theory import plateau_excess_bound, spectral_proxy, t2_power_law, tail_asymptotics


# ---------------------------------------------------------------------------- helpers
def numpy_dispersion(problem):
    """f(p) = 8 Σ (w*_i)^2 λ_i^2 / (p − 4 s* λ_i) − 1, written plainly (model page: Phases)."""
    lam, w_star = problem.eigenvalues, problem.w_star
    c = (lam * w_star) ** 2
    mu = 4.0 * problem.s_star * lam

    def f(p):
        return 8.0 * np.sum(c / (p - mu)) - 1.0
    top = mu[w_star != 0].max()
    return f, top, top + 8.0 * c.sum()


def linearised_generator(problem):
    """M = diag(4 s* λ) + 8 v v^T, v = λ ⊙ w*: with Θ = s* t the Volterra equation is
    ẇ = M w, u = v·w (model page: Gradient flow); its top eigenvalue is ρ and its top mode's weight
    is C."""
    lam, w_star = problem.eigenvalues, problem.w_star
    v = lam * w_star
    return np.diag(4.0 * problem.s_star * lam) + 8.0 * np.outer(v, v), v


def random_spectrum_problem(d, seed):
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.1, 1.0, d) ** 3
    lam /= lam.sum()
    return Problem(lam, rng.standard_normal(d), rng.standard_normal(d) / np.sqrt(d))


PROBLEMS = {
    "power a=2": lambda: Problem.power_law(3000, 2.0, seed=1),
    "power a=1.5": lambda: Problem.power_law(3000, 1.5, seed=2),
    "power a=0.5": lambda: Problem.power_law(3000, 0.5, seed=3),
    "power a=4": lambda: Problem.power_law(3000, 4.0, seed=4),
    "random spectrum": lambda: random_spectrum_problem(800, 5),
    "compressed d=1e7": lambda: Problem.power_law(10_000_000, 2.0, seed=6, compress=1e-2),
}


# ---------------------------------------------------------------------------- Phase I
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_escape_rate_matches_an_independent_root_finder(name):
    problem = PROBLEMS[name]()
    pred = predict(problem)
    f, lo, hi = numpy_dispersion(problem)
    # brentq on the plain NumPy sum; xtol/rtol far below the 1e-12 asserted.
    rho_ref = brentq(f, lo * (1 + 1e-15) + 1e-300, hi, xtol=1e-300, rtol=1e-15, maxiter=500)
    assert pred.escape_rate > lo
    assert abs(pred.escape_rate - rho_ref) <= 1e-12 * rho_ref
    # D(ρ) = 0 as evaluated by the package's own dispersion function, to rounding.
    assert abs(pred.dispersion(pred.escape_rate)[0]) < 1e-12


def test_escape_law_is_the_top_mode_of_the_linearised_flow():
    """ρ = top eigenvalue of M and C = (v·q)(q·w0) for its unit eigenvector q (NumPy eigh),
    independently of the secular-equation formulas."""
    problem = Problem.power_law(300, 2.0, seed=7)
    pred = predict(problem)
    m, v = linearised_generator(problem)
    evals, evecs = np.linalg.eigh(m)
    q = evecs[:, -1]
    assert abs(pred.escape_rate - evals[-1]) <= 1e-12 * evals[-1]
    c_ref = (v @ q) * (q @ problem.w0)
    # eigh's eigenvector is accurate to ~ε/gap; the gap to the next mode is O(1) here.
    assert abs(pred.escape_prefactor - c_ref) <= 1e-9 * abs(c_ref)


def test_isotropic_escape_rate_is_12_c_s_star():
    d = 500
    rng = np.random.default_rng(0)
    problem = Problem(np.full(d, 1.0 / d), rng.standard_normal(d), rng.standard_normal(d))
    pred = predict(problem)
    assert abs(pred.escape_rate - 12.0 * problem.s_star / d) <= 1e-13 * pred.escape_rate


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
@pytest.mark.parametrize("d", [1000, 4000])
def test_predicted_escape_time_within_15_percent(a, d):
    problem = Problem.power_law(d, a, seed=0)
    pred = predict(problem)
    t1_pred = pred.escape_time(0.05)
    traj = pyscale.simulate(problem, "flow", t=np.linspace(0.0, 3.0 * t1_pred, 1501),
                            threads=1)
    t1_sim = crossing_time(traj.t, np.abs(traj.u) / problem.s_star, 0.05)
    assert t1_sim is not None
    assert abs(t1_pred - t1_sim) <= 0.15 * t1_sim, (t1_pred, t1_sim)


def test_sign_at_escape_is_the_sign_of_C_even_against_u0():
    """Seeds whose u(0) and C have opposite signs (and a non-degenerate |C| >= 0.1/√d):
    u escapes with the sign of C."""
    d = 1000
    found = []
    for seed in range(400):
        problem = Problem.power_law(d, 2.0, seed=seed)
        pred = predict(problem)
        u0 = pyscale.statistics(problem)["u"]
        c = pred.escape_prefactor
        if np.sign(u0) != np.sign(c) and abs(c) >= 0.1 / np.sqrt(d):
            found.append((problem, pred))
        if len(found) == 2:
            break
    assert len(found) == 2
    for problem, pred in found:
        traj = pyscale.simulate(problem, "flow",
                                t=np.linspace(0.0, 4.0 * pred.escape_time(0.05), 2001))
        t1 = traj.phases(delta=0.05).T1
        assert t1 is not None
        u_t1 = traj.u[np.searchsorted(traj.t, t1)]
        assert np.sign(u_t1) == np.sign(pred.escape_prefactor) != np.sign(traj.u[0])


def test_volterra_solver_matches_the_matrix_exponential():
    """With Θ = s* t the Volterra equation is linear: u(t) = v^T e^{Mt} w0 (eigh)."""
    problem = Problem.power_law(200, 2.0, seed=8)
    pred = predict(problem)
    m, v = linearised_generator(problem)
    evals, evecs = np.linalg.eigh(m)
    t = np.linspace(0.0, 3.0, 31)
    u_ref = ((v @ evecs) * np.exp(np.outer(t, evals))) @ (evecs.T @ problem.w0)
    scale = np.maximum.accumulate(np.abs(u_ref))  # u may cross zero before escaping
    err = np.max(np.abs(pred.u_volterra(t) - u_ref) / scale)
    # default step 0.005/ρ: ~3e-6 relative per unit of ρ t (documented), second order
    assert err < 3e-6 * pred.escape_rate * t[-1]
    default_step = 0.005 / max(pred.escape_rate, 4 * problem.s_star * problem.lambda_max)
    fine = np.max(np.abs(pred.u_volterra(t, max_step=default_step / 8) - u_ref) / scale)
    assert fine < err / 30  # an 8x smaller step: second order (1/64)
    # the exponential law is the top mode: relative gap to it decays with t
    law = pred.u_escape(t)
    assert abs(law[-1] - u_ref[-1]) / abs(u_ref[-1]) < 1e-3


@pytest.mark.parametrize("a", [2.0, 3.0])
def test_volterra_against_the_simulated_u(a):
    """Phase I: the Volterra solution with Θ = s* t tracks the simulated u up to T1 (its
    only error is Θ − s* t = −3 ∫ s, with s ≪ s*/3: within 10% of max|u| up to T1 and 1%
    up to T1/2); driven by the simulated s (the exact equation) it tracks u through
    Phase IIa to T1' (error from the record grid only)."""
    problem = Problem.power_law(2000, a, seed=0)
    pred = predict(problem)
    t1_pred = pred.escape_time(0.05)
    traj = pyscale.simulate(problem, "flow", t=np.linspace(0.0, 6.0 * t1_pred, 3001),
                            threads=1)
    ph = traj.phases(delta=0.05, s0=0.1)
    early = traj.t <= ph.T1
    scale = np.maximum.accumulate(np.abs(traj.u[early]))  # u may cross zero first
    rel = np.abs(pred.u_volterra(traj.t[early]) - traj.u[early]) / scale
    assert rel.max() < 0.1
    assert rel[traj.t[early] <= ph.T1 / 2].max() < 0.01
    upto = traj.t <= ph.T1_prime
    exact = pred.u_volterra(traj.t[upto], s_path=(traj.t, traj.s))
    assert np.max(np.abs(exact - traj.u[upto])) < 1e-3 * np.max(np.abs(traj.u[upto]))


# ---------------------------------------------------------------------------- Phase IIb
def numpy_cutoff(problem, w, eps):
    """λ_ε and S≥(λ_ε) of Corollary 1 by sorting and cumulative sums (independent)."""
    lam, w_star = problem.eigenvalues, problem.w_star
    if np.dot(lam * w_star, w) < 0:
        w = -w
    threshold = min(eps / 4, eps ** 2 / (16 * np.dot(lam * w, w)))
    best = None
    for lam_k in np.unique(lam)[::-1]:  # decreasing
        tail = np.sum((lam * w_star ** 2)[lam < lam_k])
        if tail <= threshold:
            best = lam_k
            break
    align = np.sum((lam * w_star * w)[lam >= best])
    return best, align


def test_t2_bound_cutoff_matches_a_direct_computation():
    problem = Problem.power_law(600, 2.0, seed=9)
    pred = predict(problem)
    traj = pyscale.simulate(problem, "flow", t=[0.0, 5.0])
    for eps in (0.05, 0.2):
        bound = pred.t2_bound(eps, traj.w, s0=0.1, t1_prime=5.0)
        lam_ref, align_ref = numpy_cutoff(problem, traj.w, eps)
        assert bound.lambda_eps == lam_ref
        assert abs(bound.head_alignment - align_ref) <= 1e-12 * abs(align_ref)
        expected = 5.0 + math.log(4 * align_ref / eps) / (4 * 0.1 * lam_ref)
        assert abs(bound.T2 - expected) <= 1e-12 * expected
    # The trajectory form: its final state and time are used.
    assert pred.t2_bound(0.05, traj, s0=0.1).T2 == pytest.approx(
        pred.t2_bound(0.05, traj.w, s0=0.1, t1_prime=5.0).T2, rel=1e-15)


@pytest.mark.parametrize("a", [1.5, 2.0])
def test_t2_bound_holds_on_the_flow(a):
    problem = Problem.power_law(2000, a, seed=0)
    pred = predict(problem)
    traj = pyscale.simulate(problem, "flow", t=np.concatenate([[0.0],
                                                              np.geomspace(1e-2, 1e6, 800)]))
    ph = traj.phases(delta=0.05, eps=0.05, s0=0.1)
    state = pyscale.simulate(problem, "flow", t=[0.0, ph.T1_prime], rtol=1e-10)
    bound = pred.t2_bound(0.05, state, s0=0.1)
    first = traj.t[np.flatnonzero(1 - np.abs(traj.u) / problem.s_star <= 0.05)[0]]
    assert first <= bound.T2
    # Proposition 4 (constant 1): MSE(T2) − σ*² below its bound.
    mse_t2 = traj.mse[np.searchsorted(traj.t, ph.T2)]
    assert mse_t2 - pred.sigma_star2 <= pred.plateau_bound(0.05)


@pytest.mark.parametrize("a", [2.0, 3.0])
def test_t2_bound_follows_its_power_law_form(a):
    """Corollary 1 on a real state vs the continuum ε^{-2a/(a−1)} log(1/ε) formula with
    (w*_i)^2 → σ*^2: within a factor 2 for ε ∈ [0.02, 0.2] (d^{-(a−1)/2} ≤ 0.007; the
    residual spread is the randomness of the few (w*_i)^2 near the cutoff)."""
    problem = Problem.power_law(20_000, a, seed=0)
    pred = predict(problem)
    traj = pyscale.simulate(problem, "flow", t=np.concatenate([[0.0],
                                                              np.geomspace(1e-2, 10, 200)]),
                            threads=1)
    t1p = traj.phases(delta=0.05, eps=0.05, s0=0.1).T1_prime
    state = pyscale.simulate(problem, "flow", t=[0.0, t1p], threads=1)
    for eps in (0.02, 0.05, 0.1, 0.2):
        bound = pred.t2_bound(eps, state, s0=0.1)
        assert 0.5 <= bound.duration / bound.asymptotic <= 2.0, (eps, bound)
    # the exponent: duration × ε^{2a/(a−1)} / log(4/ε) is constant in the continuum
    eps = np.array([1e-3, 1e-2, 1e-1])
    free = t2_power_law(eps, a, 0.1) * eps ** (2 * a / (a - 1)) / np.log(4 / eps)
    np.testing.assert_allclose(free, free[0], rtol=1e-3 if a == 3.0 else 2e-2)


# ---------------------------------------------------------------------------- Phase III
def test_spectral_proxy_equals_its_definition():
    lam = pyscale.power_law_eigenvalues(100_000, 2.0)
    rng = np.random.default_rng(1)
    other = rng.uniform(1e-9, 1e-2, 50_000)
    for eig in (lam, other):
        taus = np.geomspace(1e-4, 1e9, 40)
        got = spectral_proxy(eig, taus)
        ref = np.array([math.fsum(np.exp(-16.0 * eig * tau)) / eig.size for tau in taus])
        keep = ref > 1e-290  # the kernel flushes terms below e^{-708} to 0
        np.testing.assert_allclose(got[keep], ref[keep], rtol=1e-12, atol=0)
    # counts: a stored eigenvalue standing for k physical ones
    k = rng.integers(1, 6, 1000)
    base = rng.uniform(1e-6, 1e-2, 1000)
    np.testing.assert_allclose(spectral_proxy(base, taus, counts=k),
                               spectral_proxy(np.repeat(base, k), taus), rtol=1e-13)


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_mesoscopic_asymptotic_within_5_percent(a):
    """1 − S_d(τ) against Γ(1 − 1/a) x_d / d where 1 ≪ x_d ≪ d (here 30 ≤ x_d ≤ 10^3,
    d = 10^6): the corrections are ~ 1/(2Γ x_d) and (x_d/d)^{a−1}/((a−1)Γ)."""
    d = 1_000_000
    lam = pyscale.power_law_eigenvalues(d, a)
    asym0 = tail_asymptotics(d, a, 1.0)
    x_d = np.geomspace(30.0, 1000.0, 12)
    taus = x_d ** a / asym0.beta_d
    asym = tail_asymptotics(d, a, taus)
    np.testing.assert_allclose(asym.x_d, x_d, rtol=1e-12)
    assert np.all(asym.regime == "mesoscopic")
    exact = spectral_proxy(lam, taus)
    np.testing.assert_allclose(1.0 - exact, asym.learned / d, rtol=0.05)
    np.testing.assert_array_equal(asym.value, asym.mesoscopic)


def test_early_and_late_regimes():
    d, a = 20_000, 2.0
    lam = pyscale.power_law_eigenvalues(d, a)
    beta = tail_asymptotics(d, a, 1.0).beta_d
    early = tail_asymptotics(d, a, np.array([1e-3, 1e-2]) / beta)
    assert np.all(early.regime == "early")
    exact = spectral_proxy(lam, early.tau)
    # 1 − S = 16 τ/d (1 − O(β τ)): second order in β τ <= 1e-2
    np.testing.assert_allclose(1 - exact, 16 * early.tau / d, rtol=2e-2)
    late = tail_asymptotics(d, a, np.array([1.0, 3.0, 30.0]) * float(d) ** a / beta)
    assert np.all(late.regime == "late")
    assert np.all(spectral_proxy(lam, late.tau) <= late.late)  # an upper bound


def test_power_law_asymptotics_need_a_above_one():
    for a in (1.0, 0.5):
        with pytest.raises(ValueError, match="a > 1"):
            tail_asymptotics(1000, a, [1.0])
        with pytest.raises(ValueError, match="a > 1"):
            t2_power_law(0.05, a, 0.1)
        with pytest.raises(ValueError, match="a > 1"):
            plateau_excess_bound(0.05, a, 1000)
        problem = Problem.power_law(500, a, seed=0)
        pred = predict(problem)  # the exact sums hold for any spectrum
        assert pred.escape_rate > 4 * problem.s_star * problem.lambda_max
        with pytest.raises(ValueError, match="a > 1"):
            pred.tail_asymptotics([1.0])
        with pytest.raises(ValueError, match="a > 1"):
            _ = pred.tail_exponent
        traj = pyscale.simulate(problem, "flow", t=10.0)  # simulations stay allowed
        assert np.all(np.isfinite(traj.u))
    with pytest.raises(ValueError, match="pass a="):
        predict(random_spectrum_problem(50, 0)).plateau_bound(0.05)


@pytest.mark.parametrize("a", [1.5, 2.0])
def test_tail_mse_from_the_state_at_T2_within_eps(a):
    """MSE(T2 + τ) ≈ MSE(T2) Ŝ_d(τ) from the simulated state at T2 (ε = 0.05): relative
    error <= ε wherever the simulated MSE is above 1e-8 MSE(T2) (below it the
    O(ε^2 τ^2 s*^(2)/d) term and the solver's own tolerance dominate)."""
    eps = 0.05
    problem = Problem.power_law(2000, a, seed=0)
    pred = predict(problem)
    traj = pyscale.simulate(problem, "flow", t=np.concatenate([[0.0],
                                                              np.geomspace(1e-2, 1e6, 600)]))
    t2 = traj.phases(delta=0.05, eps=eps).T2
    state = pyscale.simulate(problem, "flow", t=[0.0, t2], rtol=1e-10)
    mse_t2 = pred.tail_mse(0.0, state.w)
    assert mse_t2 == pytest.approx(state.mse[-1], rel=1e-12)
    after = traj.t > t2
    tau = traj.t[after] - t2
    predicted = pred.tail_mse(tau, state.w)
    measured = traj.mse[after]
    keep = measured >= 1e-8 * mse_t2
    assert keep.sum() > 100
    rel = np.abs(predicted - measured)[keep] / measured[keep]
    assert rel.max() <= eps, rel.max()
    # Ŝ_d is a probability-weighted average of decaying exponentials
    profile = pred.tail_profile(tau, state.w)
    np.testing.assert_allclose(profile * mse_t2, predicted, rtol=1e-12)
    assert np.all(np.diff(profile) <= 0) and profile[0] <= 1


def test_exact_sums_hold_on_a_compressed_problem():
    """Modes of exactly equal eigenvalues: ρ, C, T(λ)/S≥ and Ŝ_d agree with the explicit
    problem to rounding; the uniform proxy uses counts."""
    rng = np.random.default_rng(3)
    lam = np.repeat(np.array([0.4, 0.1, 0.03, 0.01, 0.003]), 300)
    lam /= lam.sum()
    full = Problem(lam, rng.standard_normal(lam.size),
                   rng.standard_normal(lam.size) / np.sqrt(lam.size))
    small = full.compress(1e-12)
    assert small.n_coords < 20 and small.d == full.d
    pf, ps = predict(full), predict(small)
    assert ps.escape_rate == pytest.approx(pf.escape_rate, rel=1e-13)
    assert ps.escape_prefactor == pytest.approx(pf.escape_prefactor, rel=1e-11)
    taus = np.geomspace(1e-1, 1e4, 9)
    np.testing.assert_allclose(ps.spectral_proxy(taus), pf.spectral_proxy(taus), rtol=1e-13)
    np.testing.assert_allclose(ps.tail_mse(taus, small.w0), pf.tail_mse(taus, full.w0),
                               rtol=1e-12)
    bf = pf.t2_bound(0.1, full.w0 + full.w_star, s0=0.1)
    bs = ps.t2_bound(0.1, small.w0 + small.w_star, s0=0.1)
    assert bs.lambda_eps == bf.lambda_eps
    assert bs.head_alignment == pytest.approx(bf.head_alignment, rel=1e-12)


# ---------------------------------------------------------------------------- isotropic
def test_isotropic_ode_matches_the_flow_on_an_isotropic_problem():
    d = 400
    rng = np.random.default_rng(11)
    h = rng.standard_normal(d)
    problem = Problem(np.full(d, 1.0 / d), rng.standard_normal(d), h / np.linalg.norm(h))
    pred = predict(problem)
    t = np.concatenate([[0.0], np.geomspace(1e-1, 1e4, 60)])
    traj = pyscale.simulate(problem, "flow", t=t, rtol=1e-11)
    iso = pred.isotropic(t)
    np.testing.assert_allclose(iso["s"], traj.s, atol=1e-7, rtol=1e-7)
    np.testing.assert_allclose(iso["u"], traj.u, atol=1e-7, rtol=1e-7)
    np.testing.assert_allclose(iso["mse"], traj.mse, atol=1e-7, rtol=1e-6)
