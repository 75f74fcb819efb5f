"""Problem: constructors, normalisations (SPEC §1) and the validation of bad input."""
import numpy as np
import pytest

import pyscale
from pyscale import Problem


def test_power_law_spectrum_and_normalisations():
    d, a = 500, 2.0
    p = Problem.power_law(d, a, seed=1)
    i = np.arange(1, d + 1)
    np.testing.assert_allclose(p.eigenvalues, i ** -a / np.sum(i ** -a), rtol=1e-14)
    assert p.eigenvalues.sum() == pytest.approx(1.0, rel=1e-14)
    assert p.s_star == pytest.approx(1.0, rel=1e-13)             # unit_q: s* = 1
    assert np.linalg.norm(p.w0) == pytest.approx(1.0, rel=1e-14)  # sphere
    q = Problem.power_law(d, a, seed=1, target="norm_d")
    assert q.star_norm2 == pytest.approx(d, rel=1e-13)
    assert p.d == d and not p.is_compressed


def test_same_seed_same_problem_different_seed_different():
    a = Problem.power_law(100, 1.5, seed=7)
    b = Problem.power_law(100, 1.5, seed=7)
    c = Problem.power_law(100, 1.5, seed=8)
    np.testing.assert_array_equal(a.w_star, b.w_star)
    np.testing.assert_array_equal(a.w0, b.w0)
    assert not np.array_equal(a.w0, c.w0)


def test_isotropic_power_law_is_identity_over_d():
    p = Problem.power_law(10, 0.0, seed=0)
    np.testing.assert_allclose(p.eigenvalues, 0.1, rtol=1e-15)


def test_from_covariance_rotates_into_the_eigenbasis():
    rng = np.random.default_rng(0)
    d = 30
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.sort(rng.uniform(0.1, 2.0, d))[::-1]
    cov = basis @ np.diag(lam) @ basis.T
    w_star, w0 = rng.standard_normal(d), rng.standard_normal(d)
    p = Problem.from_covariance(cov, w_star, w0)
    np.testing.assert_allclose(p.eigenvalues, lam, rtol=1e-12)
    # Invariants of the rotation: s*, s(0), u(0) and the MSE are basis-free.
    assert p.s_star == pytest.approx(w_star @ cov @ w_star, rel=1e-12)
    st = pyscale.statistics(p)
    assert st["s"] == pytest.approx(w0 @ cov @ w0, rel=1e-12)
    assert st["u"] == pytest.approx(w0 @ cov @ w_star, rel=1e-12)
    mse = min(np.sum((w0 - w_star) ** 2), np.sum((w0 + w_star) ** 2)) / d
    assert st["mse"] == pytest.approx(mse, rel=1e-12)


def test_stats_match_the_definitions():
    p = Problem.power_law(50, 2.0, seed=4, noise=0.3)
    w = np.random.default_rng(2).standard_normal(50)
    lam, ws = p.eigenvalues, p.w_star
    st = pyscale.statistics(p, w)
    s, u = w @ (lam * w), w @ (lam * ws)
    assert st["s"] == pytest.approx(s, rel=1e-13)
    assert st["u"] == pytest.approx(u, rel=1e-13)
    assert st["s2"] == pytest.approx(w @ (lam ** 2 * w), rel=1e-13)
    assert st["u2"] == pytest.approx(w @ (lam ** 2 * ws), rel=1e-13)
    loss = 3 * s * s + 3 * p.s_star ** 2 - 4 * u * u - 2 * p.s_star * s + 0.3
    assert st["loss"] == pytest.approx(loss, rel=1e-13)
    # The MSE is sign-invariant.
    assert pyscale.statistics(p, -w)["mse"] == pytest.approx(st["mse"], rel=1e-15)


def test_population_loss_matches_monte_carlo():
    p = Problem.power_law(20, 1.0, seed=0)
    w = p.w0 * 3
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400_000, 20)) * np.sqrt(p.eigenvalues)
    mc = np.mean(((x @ w) ** 2 - (x @ p.w_star) ** 2) ** 2)
    # Monte Carlo with 4e5 samples: 1% is > 5 standard errors here.
    assert pyscale.statistics(p, w)["loss"] == pytest.approx(mc, rel=1e-2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(eigenvalues=[1.0, 2.0], w_star=[1.0], w0=[0.0, 1.0]), "length"),
    (dict(eigenvalues=[1.0, np.nan], w_star=[1.0, 1.0], w0=[0.0, 1.0]), "non-finite"),
    (dict(eigenvalues=[1.0, np.inf], w_star=[1.0, 1.0], w0=[0.0, 1.0]), "non-finite"),
    (dict(eigenvalues=[1.0, 0.0], w_star=[1.0, 1.0], w0=[0.0, 1.0]), "> 0"),
    (dict(eigenvalues=[1.0, -1.0], w_star=[1.0, 1.0], w0=[0.0, 1.0]), "> 0"),
    (dict(eigenvalues=[1.0, 1.0], w_star=[1.0, np.nan], w0=[0.0, 1.0]), "w_star"),
    (dict(eigenvalues=[1.0, 1.0], w_star=[1.0, 1.0], w0=[np.inf, 1.0]), "w0"),
    (dict(eigenvalues=[1.0, 1.0], w_star=[0.0, 0.0], w0=[0.0, 1.0]), "zero Q-norm"),
    (dict(eigenvalues=[], w_star=[], w0=[]), "d must be >= 1"),
    (dict(eigenvalues=[[1.0]], w_star=[1.0], w0=[1.0]), "1-D"),
    (dict(eigenvalues=[1.0], w_star=[1.0], w0=[1.0], noise=-1.0), "noise"),
    (dict(eigenvalues=[1.0, 0.5], w_star=[1.0, 1.0], w0=[1.0, 0.0], d=10, counts=[1.0, 2.0]),
     "counts sum"),
])
def test_bad_problems_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Problem(**kwargs)


@pytest.mark.parametrize("d, a, message", [
    (0, 2.0, "d must be"), (-5, 2.0, "d must be"), (2.5, 2.0, "integer"),
    (10, -1.0, "a must be"), (10, np.nan, "a must be"),
])
def test_bad_power_laws_are_rejected(d, a, message):
    with pytest.raises(ValueError, match=message):
        Problem.power_law(d, a)


def test_bad_covariances_are_rejected():
    with pytest.raises(ValueError, match="square"):
        Problem.from_covariance(np.ones((2, 3)), [1, 1], [1, 1])
    with pytest.raises(ValueError, match="symmetric"):
        Problem.from_covariance([[1.0, 0.5], [0.0, 1.0]], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="positive definite"):
        Problem.from_covariance([[1.0, 0.0], [0.0, -1.0]], [1, 1], [1, 1])


def test_problem_arrays_are_read_only():
    p = Problem.power_law(10, 2.0)
    with pytest.raises(ValueError):
        p.w0[0] = 1.0
