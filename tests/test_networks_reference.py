"""The two-layer network references (tests/reference_networks.py) against each other, against
numerical differentiation and against Monte Carlo: they are validated here so that the networks
engines can be held against them (networks page).

Tolerances: closed-form kernels against 60-node Gauss–Hermite 1e-12; kernel derivatives against
complex-step differentiation 1e-12; the kernel form of A, B against the Stein/quadrature form
1e-12; gradients against complex-step 1e-12 relative and central differences 1e-7; Monte Carlo
within 5 standard errors; flows written two independent ways agree within 1e-8 relative in the
loss; the compressed flow with repeated eigenvalues within 1e-8; the chain and the full SGD agree
in law (KS p > 1e-3 on each statistic; the same test rejects a chain without its complement noise
at p < 1e-6).
"""
from dataclasses import replace

import numpy as np
import pytest
import reference_networks as R
from scipy.stats import ks_2samp

LINKS = ["square", "erf"]


def _random_state(net, scale, seed):
    rng = np.random.default_rng(seed)
    return scale * net.w0 * np.sqrt(net.d) / 3 + 0.3 * rng.standard_normal(net.w0.shape)


@pytest.fixture(scope="module")
def small():
    return R.power_law_eigenvalues(30, 2.0)


@pytest.mark.parametrize("link", LINKS)
def test_kernels_against_quadrature_and_monte_carlo(link):
    rng = np.random.default_rng(0)
    v1, v2 = rng.uniform(0.2, 2.0, 20), rng.uniform(0.2, 2.0, 20)
    c = rng.uniform(-0.95, 0.95, 20) * np.sqrt(v1 * v2)
    f = R.link_functions(link)[0]
    quad = R.gauss_hermite_pair(f, f, v1, v2, c, nodes=60)
    np.testing.assert_allclose(R.kernel(link, v1, v2, c), quad, rtol=1e-12, atol=1e-13)
    n = 400_000
    z = rng.standard_normal((2, n))
    for i in range(3):
        z1 = np.sqrt(v1[i]) * z[0]
        z2 = c[i] / np.sqrt(v1[i]) * z[0] + np.sqrt(v2[i] - c[i] ** 2 / v1[i]) * z[1]
        prod = f(z1) * f(z2)
        assert abs(prod.mean() - R.kernel(link, v1[i], v2[i], c[i])) < 5 * prod.std() / np.sqrt(n)


@pytest.mark.parametrize("link", LINKS)
def test_kernel_derivatives_against_complex_step(link):
    h = 1e-30
    for v1, v2, c in [(0.7, 1.3, 0.4), (0.2, 0.5, -0.25), (1.9, 1.9, 1.0)]:
        first = np.array(R.kernel(link, v1, v2, c, order=1))
        steps = [(v1 + 1j * h, v2, c), (v1, v2 + 1j * h, c), (v1, v2, c + 1j * h)]
        num1 = [np.imag(R.kernel(link, *s)) / h for s in steps]
        np.testing.assert_allclose(first, num1, rtol=1e-12, atol=1e-14)
        hess = np.array([np.imag(R.kernel(link, *s, order=1)) / h for s in steps])
        upper = [hess[0, 0], hess[0, 1], hess[0, 2], hess[1, 1], hess[1, 2], hess[2, 2]]
        np.testing.assert_allclose(R.kernel(link, v1, v2, c, order=2), upper, rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize("link", LINKS)
def test_kernel_form_of_the_coefficients_equals_the_stein_quadrature(link, small):
    net = R.draw_network(small, 3, 2, seed=1, student=link)
    for seed in range(3):
        S, U, Sstar = R.overlaps(small, _random_state(net, 1.0, seed), net.w_star)
        A, B = R.coefficients(net, S, U, Sstar)
        Aq, Bq = R.quadrature_coefficients(net, S, U, Sstar)
        np.testing.assert_allclose(A, Aq, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(B, Bq, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(A, A.T, rtol=0, atol=1e-15)
        assert abs(R.loss(net, S, U, Sstar) - R.quadrature_loss(net, S, U, Sstar)) < 1e-12


@pytest.mark.parametrize("link", LINKS)
def test_coefficients_are_minus_the_gradient(link, small):
    """−∂L/∂W from the overlaps' loss by central differences equals Q (W A + W* Bᵀ)."""
    net = R.draw_network(small, 3, 2, seed=2, student=link)
    w = _random_state(net, 1.0, 4)

    def loss_of(x):
        return R.loss(net, *R.overlaps(small, x, net.w_star))

    num = np.zeros_like(w)
    eps = 1e-6
    for idx in np.ndindex(*w.shape):
        e = np.zeros_like(w)
        e[idx] = eps
        num[idx] = -(loss_of(w + e) - loss_of(w - e)) / (2 * eps)
    rhs = R.flow_rhs(net, w)
    assert np.max(np.abs(num - rhs)) < 1e-7 * np.max(np.abs(rhs))


def test_quadratic_network_by_hand(small):
    """The matrix form (no overlaps) against complex-step differentiation, the overlaps'
    closed form, the kernel form and the quadratic coefficients."""
    net = R.draw_network(small, 3, 2, seed=3, teacher_readout=[0.7, 0.3], noise=0.1)
    w = _random_state(net, 1.0, 5)
    grad = R.quadratic_gradient_matrix(net, w)
    cs = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        e = np.zeros(w.shape, dtype=complex)
        e[idx] = 1e-30j
        cs[idx] = -np.imag(R.quadratic_loss_matrix(net, w + e)) / 1e-30
    np.testing.assert_allclose(grad, cs, rtol=1e-12, atol=1e-14 * np.abs(grad).max())
    S, U, Sstar = R.overlaps(small, w, net.w_star)
    lm = float(np.real(R.quadratic_loss_matrix(net, w)))
    assert abs(R.quadratic_loss(net, S, U, Sstar) / lm - 1) < 1e-13
    assert abs(R.loss(net, S, U, Sstar) / lm - 1) < 1e-13
    np.testing.assert_allclose(R.flow_rhs(net, w), grad, rtol=0, atol=1e-13 * np.abs(grad).max())
    for got, want in zip(R.quadratic_coefficients(net, S, U, Sstar),
                         R.coefficients(net, S, U, Sstar)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("link", LINKS)
def test_loss_and_gradient_against_monte_carlo(link, small):
    net = R.draw_network(small, 2, 2, seed=6, student=link, noise=0.05)
    w = _random_state(net, 1.0, 7)
    rng = np.random.default_rng(8)
    n = 200_000
    x = rng.standard_normal((n, net.d)) * np.sqrt(small)
    s0, s1, _ = R.link_functions(link)
    y = s0(x @ net.w_star) @ net.a_star + np.sqrt(net.noise) * rng.standard_normal(n)
    h = x @ w
    res = s0(h) @ net.a - y
    sq = res ** 2
    S, U, Sstar = R.overlaps(small, w, net.w_star)
    assert abs(sq.mean() - R.loss(net, S, U, Sstar)) < 5 * sq.std() / np.sqrt(n)
    per = -2 * res[:, None, None] * x[:, :, None] * (net.a * s1(h))[:, None, :]
    z = (per.mean(axis=0) - R.flow_rhs(net, w)) / (per.std(axis=0) / np.sqrt(n))
    assert np.max(np.abs(z)) < 5.0


def test_quadratic_flow_two_ways():
    """The quadratic network p = 3, k = 2, d = 300 from the matrix-form gradient and from the
    kernel-form coefficients, each by DOP853 (rtol 1e-11): loss within 1e-8 relative."""
    lam = R.power_law_eigenvalues(300, 2.0)
    net = R.draw_network(lam, 3, 2, seed=9)
    times = np.concatenate([[0.0], np.geomspace(0.1, 300, 12)])
    by_hand = R.records(net, R.solve_flow(net, times, rhs=R.quadratic_gradient_matrix))
    kern = R.records(net, R.solve_flow(net, times))
    np.testing.assert_allclose(kern["loss"], by_hand["loss"], rtol=1e-8)
    assert by_hand["loss"][-1] < 0.1 * by_hand["loss"][0]  # it learned something


def test_erf_committee_flow_from_quadrature():
    """The erf committee from the Stein/quadrature coefficients (no closed form) and from the
    closed-form kernel, each by DOP853: loss and cosines within 1e-8."""
    lam = R.power_law_eigenvalues(40, 1.5)
    net = R.draw_network(lam, 2, 2, seed=10, student="erf")
    times = np.array([0.0, 1.0, 5.0, 20.0, 60.0])

    def quad_rhs(n, w):
        return R.flow_rhs(n, w, coef=lambda *args: R.quadrature_coefficients(*args, nodes=32))

    ref = R.records(net, R.solve_flow(net, times, rhs=quad_rhs, rtol=1e-10),
                    loss_fn=R.quadrature_loss)
    kern = R.records(net, R.solve_flow(net, times, rtol=1e-10))
    np.testing.assert_allclose(kern["loss"], ref["loss"], rtol=1e-8)
    np.testing.assert_allclose(kern["cos"], ref["cos"], rtol=0, atol=1e-8)


@pytest.mark.parametrize("link", LINKS)
def test_jacobian_and_the_woodbury_stage_solve(link):
    lam = R.power_law_eigenvalues(25, 2.0)
    net = R.draw_network(lam, 3, 2, seed=11, student=link)
    w = _random_state(net, 1.0, 12)
    rng = np.random.default_rng(13)
    v = rng.standard_normal(w.shape)
    eps = 1e-6
    fd = (R.flow_rhs(net, w + eps * v) - R.flow_rhs(net, w - eps * v)) / (2 * eps)
    jv = R.jacobian_apply(net, w, v)
    assert np.max(np.abs(fd - jv)) < 1e-7 * np.max(np.abs(jv))
    n = w.size
    dense = np.column_stack([R.jacobian_apply(net, w, e.reshape(w.shape)).ravel()
                             for e in np.eye(n)])
    rhs = rng.standard_normal(w.shape)
    for hg in (0.05, 3.7, 400.0):
        want = np.linalg.solve(np.eye(n) - hg * dense, rhs.ravel()).reshape(w.shape)
        got = R.stage_solve(net, w, hg, rhs)
        assert np.max(np.abs(got - want)) < 1e-10 * np.max(np.abs(want))


def test_rodas4_with_the_woodbury_solve_matches_dop853():
    lam = R.power_law_eigenvalues(100, 2.0)
    net = R.draw_network(lam, 2, 2, seed=14)
    times = np.array([1.0, 10.0, 100.0, 1000.0])
    ref = R.records(net, R.solve_flow(net, times))
    got, counts = R.rodas4(net, times, rtol=1e-9)
    rec = R.records(net, got)
    np.testing.assert_allclose(rec["loss"], ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(rec["U"], ref["U"], rtol=0, atol=1e-7)
    assert counts["steps"] < 2000


def _repeated_spectrum():
    lam = np.repeat([0.4, 0.2, 0.1, 0.05, 0.02], [3, 10, 12, 20, 15]).astype(float)
    return lam / lam.sum()


@pytest.mark.parametrize("link", LINKS)
def test_compressed_flow_is_exact_for_equal_eigenvalues(link):
    net = R.draw_network(_repeated_spectrum(), 3, 2, seed=15, student=link)
    times = np.array([0.0, 1.0, 10.0, 100.0, 1000.0])
    by_hand = R.quadratic_gradient_matrix if link == "square" else None
    full = R.records(net, R.solve_flow(net, times, rhs=by_hand))
    comp = R.compress(net, 1e-9)
    assert comp.lam.size == 5 and list(comp.rows()) == [3, 5, 5, 5, 5]
    S, U = R.gram_flow(comp, times)
    virt = R.virtual_network(comp)
    assert virt.d == 23
    vrec = R.records(virt, R.solve_flow(virt, times))
    for got_s, got_u in [(S, U), (vrec["S"], vrec["U"])]:
        np.testing.assert_allclose(got_s, full["S"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(got_u, full["U"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(vrec["loss"], full["loss"], rtol=1e-8)


def test_compressed_flow_error_is_order_delta_on_a_power_law():
    """Grouping eigenvalues within a relative δ (mode eigenvalue: the members' mean) errs by
    O(δ): measured max |ΔU| ≈ 1e-4–1e-3 at δ = 0.08 and ≈ 1e-6 at δ = 0.02 (d = 1000)."""
    lam = R.power_law_eigenvalues(1000, 2.0)
    net = R.draw_network(lam, 2, 2, seed=16)
    times = np.array([0.0, 10.0, 100.0, 1000.0])
    full = R.records(net, R.solve_flow(net, times, rtol=1e-10))
    errs = []
    for delta in (0.08, 0.02):
        comp = R.compress(net, delta)
        S, U = R.gram_flow(comp, times, rtol=1e-10)
        errs.append(max(np.max(np.abs(U - full["U"])), np.max(np.abs(S - full["S"]))))
        assert errs[-1] < 0.02 * delta
    assert comp.lam.size < 300
    assert errs[1] < errs[0] / 4


def test_bartlett_draws_the_mode_gram_in_law():
    rng = np.random.default_rng(17)
    n, dim, m = 9, 4, 4000
    x = R.bartlett_factor(np.full(m, n), dim, rng)
    g_bart = np.einsum("mia,mib->mab", x, x)
    z = rng.standard_normal((m, n, dim))
    g_direct = np.einsum("mia,mib->mab", z, z)
    for a, b in [(0, 0), (3, 3), (0, 1), (1, 3), (2, 2)]:
        assert ks_2samp(g_bart[:, a, b], g_direct[:, a, b]).pvalue > 1e-3
    # the compressed draw has the law of the explicit one: S(0), U(0) over seeds
    lam = _repeated_spectrum()
    starts, sizes = R.group_modes(lam, 1e-9)
    comp = [R.virtual_network(R.draw_compressed(lam[starts], sizes, 2, 2, seed=s))
            for s in range(1500)]
    full = [R.draw_network(lam, 2, 2, seed=10_000 + s) for s in range(1500)]
    for stat in (lambda o: o[0][0, 1], lambda o: o[1][1, 0], lambda o: o[2][0, 1]):
        a = [stat(R.overlaps(n_.lam, n_.w0, n_.w_star)) for n_ in comp]
        b = [stat(R.overlaps(n_.lam, n_.w0, n_.w_star)) for n_ in full]
        assert ks_2samp(a, b).pvalue > 1e-3


def test_complement_factor_is_a_wishart_root():
    rng = np.random.default_rng(18)
    p, m = 3, 4000
    nu = np.array([7.0, 2.0])
    xi = R.complement_factor(nu, p, (m,), rng)          # (m, 2, p, p)
    w = np.einsum("rmab,rmac->rmbc", xi, xi)
    for j, n in enumerate(nu):
        z = rng.standard_normal((m, int(n), p))
        direct = np.einsum("rab,rac->rbc", z, z)
        for a, b in [(0, 0), (2, 2), (0, 1), (1, 2)]:
            assert ks_2samp(w[:, j, a, b], direct[:, a, b]).pvalue > 1e-3


def test_one_sgd_step_is_the_gradient_on_average():
    lam = R.power_law_eigenvalues(12, 1.0)
    net = R.draw_network(lam, 2, 2, seed=19, student="erf", noise=0.05)
    lr, seeds = 0.1, 200_000
    S, U = R.numpy_sgd(net, lr, 1, [1], seeds=seeds, seed=20)
    S0, U0, _ = R.overlaps(lam, net.w0, net.w_star)
    drift = R.flow_rhs(net, net.w0)
    # one step: E[ΔU] = lr · W*ᵀQ ẇ exactly (U is linear in W)
    want = lr * (drift.T @ (lam[:, None] * net.w_star))
    du = U[:, 0] - U0
    z = (du.mean(axis=0) - want) / (du.std(axis=0) / np.sqrt(seeds))
    assert np.max(np.abs(z)) < 5.0


def _chain_problem(link, p):
    # mode sizes 6, 15, 30 with p + k = 5 frame rows: complement dimensions 1 (< p), 10, 25
    lam = np.repeat([0.4, 0.2, 0.1], [6, 15, 30]).astype(float)
    return R.draw_network(lam / lam.sum(), p, 2, seed=21, student=link, noise=0.01)


def _statistics(run, t):
    S, U = run[0][:, t], run[1][:, t]
    return [np.einsum("rjj->r", S), S[:, 0, 0], S[:, 0, 1], U[:, 0, 0], U[:, 1, 1]]


@pytest.mark.parametrize("link, p, lr, steps", [("erf", 3, 0.2, 300), ("square", 2, 0.02, 400)])
def test_chain_matches_numpy_sgd_in_law(link, p, lr, steps):
    net = _chain_problem(link, p)
    comp = R.compress(net, 1e-9)
    rec = [steps // 4, steps]
    full = R.numpy_sgd(net, lr, steps, rec, seeds=400, seed=1)
    chain = R.chain_sgd(comp, lr, steps, rec, seeds=400, seed=2)
    for t in range(len(rec)):
        for a, b in zip(_statistics(full, t), _statistics(chain, t)):
            assert ks_2samp(a, b).pvalue > 1e-3


def test_the_chain_test_sees_a_missing_complement_noise():
    """The same comparison rejects the chain whose modes are cut to their frame rows (no
    Wishart term): the complement noise is an O(lr) effect that the KS test resolves."""
    net = _chain_problem("erf", 2)
    comp = R.compress(net, 1e-9)
    full = R.numpy_sgd(net, 0.5, 200, [50], seeds=400, seed=1)
    short = R.chain_sgd(replace(comp, sizes=comp.rows()), 0.5, 200, [50], seeds=400, seed=3)
    assert ks_2samp(_statistics(full, 0)[0], _statistics(short, 0)[0]).pvalue < 1e-6


def test_quadratic_escape_rate_and_prefactor():
    """ρ is the top eigenvalue of the linearised operator a_j (4 s̄* Q + 8 QW* D_a* W*ᵀQ), and
    the linearised solution's u_j(t) e^{−ρt} tends to the prefactor C_j."""
    lam = R.power_law_eigenvalues(200, 2.0)
    net = R.draw_network(lam, 3, 2, seed=22, teacher_readout=[0.6, 0.4])
    esc = R.quadratic_escape(net)
    sbar = net.a_star @ np.einsum("i,il->l", lam, net.w_star ** 2)
    qws = lam[:, None] * net.w_star
    op = 4 * sbar * np.diag(lam) + 8 * qws @ np.diag(net.a_star) @ qws.T
    ev, evec = np.linalg.eigh(op)
    np.testing.assert_allclose(esc["rate"], net.a * ev[-1], rtol=1e-12)
    for j, aj in enumerate(net.a):
        t = 40.0 / (aj * (ev[-1] - ev[-2]))           # the next mode down by e^-40
        wt = evec @ (np.exp(aj * (ev - ev[-1]) * t) * (evec.T @ net.w0[:, j]))
        np.testing.assert_allclose(qws.T @ wt, esc["prefactor"][j], rtol=1e-9)


def test_quadratic_escape_time_of_the_first_unit():
    """The first unit to escape (|U_jl| ≥ δ) does so at the predicted T1 (d = 10^4: within 5%);
    the prediction is for units that escape while the others are still small."""
    lam = R.power_law_eigenvalues(10_000, 3.0)
    net = R.draw_network(lam, 3, 2, seed=7)
    esc = R.quadratic_escape(net, delta=0.1)
    first = int(np.argmin(esc["T1"]))
    times = np.linspace(0.0, 1.2 * esc["T1"][first], 600)
    ws = R.solve_flow(net, times, rhs=lambda n, w: R.flow_rhs(n, w, R.quadratic_coefficients),
                      rtol=1e-9, atol=1e-12)
    u = np.abs(np.einsum("i,tij,il->tjl", lam, ws, net.w_star)).max(axis=2)
    hit = times[np.argmax(u[:, first] >= 0.1)]
    assert abs(hit / esc["T1"][first] - 1) < 0.05
