"""The largest stable online-SGD step near w* (pyscale.theory.stability; model page: SGD
floor) against an explicitly built second-moment operator, the linearised chain and the
full SGD engine.

The reference: the one-step map T(S) = S − η(HS + SH) + η²K(S) of the linearised chain,
built as a matrix on the symmetric d × d matrices from the dense Wick formula (itself
checked against Monte Carlo in test_sgd_theory.py). T is self-adjoint there, so its
spectral radius crosses 1 at η* = 1/μ*, μ* the largest generalised eigenvalue of K against
L = (S ↦ HS + SH): the exact bound. Tolerances: the exact method within 1e-9 below η*
(never above), the certified closure within 0.5% below (never above); simulations with
fixed seeds, counts and means against the stated standard errors.
"""
import numpy as np
import pytest
import scipy.linalg
from scipy.sparse.linalg import eigsh

import pyscale
from pyscale.theory import stability
from pyscale.theory.recursion import wick_fourth

NOISE = 0.05


def _problem(d, a, seed=1, noise=NOISE):
    return pyscale.Problem.power_law(d, a, seed=seed, noise=noise)


_OPERATORS = {}


def _operators(p, noise=NOISE):
    """(HSH, W(S), HS + SH) as matrices on an orthonormal basis of symmetric matrices,
    and the basis; K = (1 − 1/B) HSH + (16/B) W for any batch B."""
    # keyed by the problem's arrays, not id(p): a freed problem's id is reused by the next
    key = (p.eigenvalues.tobytes(), p.w_star.tobytes(), noise)
    if key in _OPERATORS:
        return _OPERATORS[key]
    d, lam, ws = p.d, p.eigenvalues, p.w_star
    v = lam * ws
    H = 8.0 * (p.s_star * np.diag(lam) + 2.0 * np.outer(v, v))
    i, j = np.triu_indices(d)
    basis = np.zeros((i.size, d, d))
    scale = np.where(i == j, 1.0, 2 ** -0.5)
    basis[np.arange(i.size), i, j] = scale
    basis[np.arange(i.size), j, i] = scale
    flat = basis.reshape(i.size, -1)
    hsh = (H @ basis @ H).reshape(i.size, -1) @ flat.T
    wick = np.array([wick_fourth(lam, ws, E, noise) for E in basis]).reshape(i.size, -1)
    lyap = H @ basis + basis @ H
    out = (hsh, wick @ flat.T, lyap.reshape(i.size, -1) @ flat.T, basis)
    _OPERATORS[key] = out
    return out


def _exact(p, batch, noise=NOISE):
    """1/μ*, μ* the top eigenvalue of K against L: of C = R⁻¹ K R⁻ᵀ with L = R Rᵀ
    (Cholesky), by Lanczos on the explicit symmetric C (to 1e-12 relative)."""
    hsh, wick, lyap, _ = _operators(p, noise)
    k_mat = (1 - 1 / batch) * hsh + 16.0 / batch * wick
    r = np.linalg.cholesky(0.5 * (lyap + lyap.T))
    half = scipy.linalg.solve_triangular(r, k_mat, lower=True)
    c_mat = scipy.linalg.solve_triangular(r, half.T, lower=True)
    top = eigsh(0.5 * (c_mat + c_mat.T), k=1, which="LA", tol=1e-13,
                v0=np.ones(c_mat.shape[0]))[0]
    return 1.0 / float(top[0])


@pytest.mark.parametrize("a", [0.0, 1.5, 2.0, 3.0])
def test_exact_bound_against_the_explicit_operator(a):
    """d = 30: every batch exact to 1e-9 and never above; the certified closure with a
    4-direction head within 0.5% below, its bracket containing the exact bound."""
    p = _problem(30, a)
    for batch in (1, 2, 4):
        exact = _exact(p, batch)
        st = stability.stable_step(p, batch)
        assert st.method == "exact"
        assert 1.0 - 1e-9 <= st.lr / exact <= 1.0
        assert 1.0 - 1e-12 <= st.upper / exact <= 1.0 + 1e-8
        closure = stability.stable_step(p, batch, head=4)
        assert closure.method == ("exact" if a == 0.0 else "certified closure")
        assert 0.995 <= closure.lr / exact <= 1.0
        assert closure.upper >= exact * (1 - 1e-12)
        assert pyscale.theory.max_stable_lr(p, batch) == st.lr


@pytest.mark.parametrize("a", [1.5, 3.0])
def test_exact_bound_at_d_50(a):
    p = _problem(50, a)
    for batch in (1, 4):
        exact = _exact(p, batch)
        assert 1.0 - 1e-9 <= stability.max_stable_lr(p, batch) / exact <= 1.0
        closure = stability.stable_step(p, batch, head=8)
        assert 0.995 <= closure.lr / exact <= 1.0 <= closure.upper / exact * (1 + 1e-12)


def test_repeated_eigenvalues_and_their_compression():
    """4 eigenvalues × 6 coordinates (d = 24): the adapted basis has complement classes;
    the physical problem and its exact compression give the explicit operator's bound."""
    lam = np.repeat([0.4, 0.1, 0.03, 0.01], 6)
    lam = lam / lam.sum()
    rng = np.random.default_rng(3)
    g = rng.standard_normal(lam.size)
    p = pyscale.Problem(lam, g / np.sqrt(lam @ g ** 2), rng.standard_normal(lam.size),
                        noise=NOISE)
    exact = _exact(p, 2)
    for prob in (p, p.compress(1e-9)):
        st = stability.stable_step(prob, 2)
        assert st.method == "exact" and st.directions == 4
        assert 1.0 - 1e-9 <= st.lr / exact <= 1.0


@pytest.mark.parametrize("d,a,delta", [(10 ** 5, 1.5, 0.3), (2000, 1.5, 0.2)])
def test_certified_closure_on_a_compressed_power_law(d, a, delta):
    """49-59 modes: the closure with 16 of them in the head against the exact bound (all in
    the head): within 0.1% below, its bracket containing it."""
    p = pyscale.Problem.power_law(d, a, seed=2, noise=NOISE, compress=delta)
    closure = stability.stable_step(p, 1, head=16)
    exact = stability.stable_step(p, 1, head=p.n_coords)
    assert closure.method == "certified closure" and exact.method == "exact"
    assert closure.directions == exact.directions > 40
    assert 0.999 <= closure.lr / exact.lr <= 1.0 <= closure.upper / exact.lr
    assert closure.gap < 1e-3


def test_linearised_recursion_turns_at_the_bound():
    """Iterating the exact second-moment map (no label noise): from its Perron vector the
    trace contracts at 0.99 of the bound and grows at 1.01."""
    p = _problem(20, 2.0, noise=0.0)
    hsh, wick, lyap, basis = _operators(p, 0.0)
    lr = stability.max_stable_lr(p, 1, noise=0.0)
    for factor, grows in ((0.99, False), (1.01, True)):
        eta = factor * lr
        T = np.eye(lyap.shape[0]) - eta * lyap + eta ** 2 * (16.0 * wick)
        x = np.linalg.eigh(0.5 * (hsh + hsh.T))[1][:, -1] ** 2     # some S ⪰ 0 mixture
        for _ in range(3000):
            x = T @ x
        trace = np.einsum("n,nii->", x, basis)
        assert (trace > 1.0) == grows


def test_linearised_chain_below_the_bound_follows_the_recursion():
    """Monte Carlo of e ← e − η 8 q² (x·e) x (σ² = 0, d = 10, 40 000 paths, 100 steps) at
    0.9 of the bound, from the Perron covariance: E|e|² against the recursion's trace,
    within 4 standard errors. (Above the bound the second moment grows while typical
    paths still contract: the growth is carried by rare large excursions, which a sample
    of this size does not see — the blow-ups of the SGD engine near the bound.)"""
    p = _problem(10, 2.0, noise=0.0)
    hsh, wick, lyap, basis = _operators(p, 0.0)
    eta = 0.9 * stability.max_stable_lr(p, 1, noise=0.0)
    T = np.eye(lyap.shape[0]) - eta * lyap + eta ** 2 * (16.0 * wick)
    w, V = np.linalg.eigh(T)
    X = np.einsum("n,nab->ab", V[:, -1], basis)
    X = X if np.trace(X) > 0 else -X
    rng = np.random.default_rng(1)
    lam, ws = p.eigenvalues, p.w_star
    e = rng.standard_normal((40_000, 10)) @ np.linalg.cholesky(X + 1e-15 * np.eye(10)).T
    start = np.mean(np.sum(e * e, axis=1))
    for _ in range(100):
        x = np.sqrt(lam) * rng.standard_normal(e.shape)
        q = x @ ws
        e = e - eta * (8.0 * q * q * np.einsum("ij,ij->i", x, e))[:, None] * x
    sq = np.sum(e * e, axis=1) / start
    assert w[-1] < 1.0
    assert abs(sq.mean() - w[-1] ** 100) <= 4 * sq.std() / np.sqrt(sq.size)


def _diverged(p, lr, seeds, total):
    steps = int(total / lr)
    try:
        ens = pyscale.simulate_many(p, seeds=seeds, lr=lr, steps=steps, record=[0, steps],
                                    threads=1, streams="common")
    except pyscale.DivergenceError as err:
        ens = err.trajectory
    return sum(s == "diverged" for s in ens.meta["member_status"])


@pytest.mark.parametrize("a", [0.0, 2.0])
def test_sgd_from_w_star_across_the_bound(a):
    """Full engine from w* (d = 20, 64 seeds, t = 300): at 0.9 of the bound few runs blow up
    (measured 2-3 of 64), at 1.1 many (13-29 of 64)."""
    p = _problem(20, a)
    p = p.with_w0(p.w_star.copy())
    lr = stability.max_stable_lr(p, 1)
    below, above = _diverged(p, 0.9 * lr, 64, 300.0), _diverged(p, 1.1 * lr, 64, 300.0)
    assert below <= 5 and above >= 12


def test_floor_refuses_above_the_safe_bound():
    """a = 1.5, d = 50: between the safe bound and the diagonal closure's own threshold
    (5% higher) the floor is refused; just below it is finite."""
    p = _problem(50, 1.5)
    lr = stability.max_stable_lr(p, 1)
    assert not pyscale.theory.sgd_floor(p, 1.02 * lr).stable
    with pytest.warns(pyscale.RegimeWarning, match="closure accuracy"):
        fl = pyscale.theory.sgd_floor(p, 0.999 * lr)
    assert fl.stable and np.isfinite(fl.floor) and fl.max_stable_lr == lr


@pytest.mark.parametrize("kwargs,err", [({"batch": 0}, ValueError), ({"head": 0}, ValueError),
                                        ({"noise": -1.0}, ValueError),
                                        ({"head": 2.5}, ValueError)])
def test_bad_input(kwargs, err):
    with pytest.raises(err):
        stability.stable_step(_problem(10, 2.0), **kwargs)
    with pytest.raises(TypeError, match="pyscale.Problem"):
        stability.stable_step("problem")
