"""Problem: constructors, normalisations (model page: Data model), refusal of bad input."""
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



def _explicit(n=5):
    lam = 1.0 / np.arange(1, n + 1)
    return lam, np.ones(n), np.full(n, 0.1)


@pytest.mark.parametrize("name", ["eigenvalues", "w_star", "w0", "counts"])
def test_complex_arrays_are_refused_not_truncated(name):
    lam, w_star, w0 = _explicit()
    arrays = {"eigenvalues": lam, "w_star": w_star, "w0": w0, "counts": np.ones(5)}
    arrays[name] = arrays[name] + 1e-3j
    with pytest.raises(TypeError, match=f"{name} must be real, got a complex array"):
        Problem(**arrays)


def test_non_numeric_arrays_name_the_parameter():
    lam, w_star, w0 = _explicit()
    with pytest.raises(TypeError, match="w0 must be a 1-D array of real numbers"):
        Problem(lam, w_star, np.array(["a", "b", "c", "d", "e"]))


@pytest.mark.parametrize("d", [2, 100, 10**6])
def test_underflowing_power_law_says_why_and_the_largest_exponent(d):
    limit = 1022 / np.log2(d)  # d^-a >= 2^-1022, the smallest normal float64
    with pytest.raises(ValueError, match="underflows float64") as info:
        Problem.power_law(d, limit * 1.001)
    assert f"at this d use a <= {limit:.4g}" in str(info.value)
    if d <= 100:  # just below the limit every eigenvalue is still positive
        assert np.all(Problem.power_law(d, limit * 0.999).eigenvalues > 0)
    with pytest.raises(ValueError, match="underflows float64"):  # compressed: same limit
        Problem.power_law(max(d, 10**4), 1e6, compress=1e-2)


def test_power_law_1e6_no_longer_blames_null_directions():
    with pytest.raises(ValueError) as info:
        Problem.power_law(100, a=1e6)
    assert "underflows" in str(info.value) and "null directions" not in str(info.value)


@pytest.mark.parametrize("compress, message", [
    (1.0, "must be < 1.*use 1e-4 ... 1e-1"), (10.0, "must be < 1.*use 1e-4 ... 1e-1"),
    (0.0, r"must be a finite number in \(0, 1\)"), (-1e-3, r"in \(0, 1\)"),
    (float("nan"), r"in \(0, 1\)"), (float("inf"), r"in \(0, 1\)")])
def test_compression_tolerance_outside_zero_one_is_refused(compress, message):
    with pytest.raises(ValueError, match="grouping tolerance δ|rtol") as info:
        Problem.power_law(10**6, 2.0, compress=compress)
    assert __import__("re").search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"d": 100, "a": float("nan")}, ValueError, "a must be a finite number >= 0"),
    ({"d": 100, "a": float("inf")}, ValueError, "a must be a finite number >= 0"),
    ({"d": 100, "a": -1.0}, ValueError, "a must be a finite number >= 0"),
    ({"d": 100, "a": 1 + 2j}, TypeError, "a must be a real number"),
    ({"d": 100, "a": "2"}, TypeError, "a must be a real number"),
    ({"d": 100, "a": 2.0, "noise": float("nan")}, ValueError, "noise must be a finite"),
    ({"d": 100, "a": 2.0, "noise": -0.1}, ValueError, "noise must be a finite number >= 0"),
    ({"d": 100, "a": 2.0, "noise": float("inf")}, ValueError, "noise must be a finite"),
    ({"d": 100, "a": 2.0, "seed": -1}, ValueError, "seed must be an integer in"),
    ({"d": 100, "a": 2.0, "seed": 1.5}, ValueError, "seed must be an integer in"),
    ({"d": float("nan"), "a": 2.0}, ValueError, "d must be an integer in \\[1, 2\\*\\*53\\]"),
    ({"d": -5, "a": 2.0}, ValueError, "d must be an integer in \\[1, 2\\*\\*53\\]"),
    ({"d": 10**6, "a": 2.0, "compress": 1e-2, "noise": -1.0}, ValueError,
     "noise must be a finite number >= 0"),
    ({"d": 10**6, "a": 2.0, "compress": 1e-2, "seed": -2}, ValueError, "seed must be"),
])
def test_non_finite_and_negative_parameters_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        Problem.power_law(**kwargs)


def test_memory_is_checked_before_allocating():
    from pyscale._validate import available_memory
    free = available_memory()
    assert free is not None and free > 0
    d = int(free // 8) + 1  # one float64 vector of this length alone exceeds the memory
    with pytest.raises(MemoryError, match=r"needs \d+ bytes .* available; pass compress=1e-3"):
        Problem.power_law(d, 2.0)
    # the compressed problem of the same size needs memory for its modes only
    assert Problem.power_law(d, 2.0, compress=1e-2).n_coords < 10**5


def test_complex_covariance_is_refused():
    cov = np.eye(3) + 1e-3j * np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 0]])
    with pytest.raises(TypeError, match="covariance must be a real matrix"):
        Problem.from_covariance(cov, np.ones(3), np.ones(3))
