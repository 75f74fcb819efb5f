"""The Gamma / chi-square sampler of the mode chain (csrc/include/pyscale/random/gamma.hpp):
exact in law against scipy.stats from k = 1 to k = 10^12 degrees of freedom, an accurate
acceptance test at huge shapes (against 60-digit decimal arithmetic), and draws that are
pure functions of (seed, sample, j)."""
import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from scipy import stats

from pyscale import _core

T = _core.testing
N = 200_000  # draws per law: standard errors ~ 1/sqrt(N) = 2.2e-3


def _chi2(k, n=N, seed=11, sample=0):
    return 2.0 * T.gamma_draws(seed, 0.5 * k, sample, 0, n)


def _raw_moments_ok(z, exact, tol_se=5.0):
    """Sample means of z, z^2, z^3, z^4 within tol_se standard errors (each estimated from
    the sample itself, std(z^j)/sqrt(n)) of their exact values."""
    for j, ref in enumerate(exact, start=1):
        zj = z ** j
        se = zj.std(ddof=1) / math.sqrt(z.size)
        assert abs(zj.mean() - ref) < tol_se * se, (j, zj.mean(), ref, se)


@pytest.mark.parametrize("k", [1, 3, 10, 10**3, 10**9])
def test_chi_square_moments_and_ks(k):
    x = _chi2(k)
    z = (x - k) / math.sqrt(2.0 * k)
    # Standardised chi-square: mean 0, variance 1, skewness sqrt(8/k), kurtosis 3 + 12/k.
    _raw_moments_ok(z, (0.0, 1.0, math.sqrt(8.0 / k), 3.0 + 12.0 / k))
    assert stats.kstest(x, stats.chi2(k).cdf).pvalue > 1e-3
    assert np.all(x > 0)


def test_chi_square_at_a_trillion_degrees_of_freedom():
    k = 10**12
    x = _chi2(k, n=100_000, seed=5)
    z = (x - k) / math.sqrt(2.0 * k)
    _raw_moments_ok(z, (0.0, 1.0, math.sqrt(8.0 / k), 3.0 + 12.0 / k))
    assert stats.kstest(z, "norm").pvalue > 1e-3  # chi2(10^12) is N(0, 1) to ~3e-6 here


@pytest.mark.parametrize("shape", [0.1, 0.5, 0.9, 1.0, 2.5])
def test_gamma_small_shapes_ks(shape):
    # Shapes below one go through the boost Gamma(a) = Gamma(a + 1) U^(1/a).
    x = T.gamma_draws(3, shape, 7, 0, 100_000)
    assert stats.kstest(x, stats.gamma(shape).cdf).pvalue > 1e-3
    se = math.sqrt(shape / x.size)
    assert abs(x.mean() - shape) < 5 * se


@pytest.mark.parametrize("shape", [1.0, 50.0, 5e8, 5e11])
def test_acceptance_bound_has_no_cancellation(shape):
    # x^2/2 + d (1 - v + log v), v = (1 + c x)^3, against 60-digit arithmetic at the
    # double d = a - 1/3 and c = 1/sqrt(9 d) the sampler uses. The textbook form
    # d - d v + d log v loses ~1e-5 absolute at shape 5e11; the sampler's form is accurate
    # to ~1e-12 relative everywhere.
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    with localcontext() as ctx:
        ctx.prec = 60
        for x in (-3.0, -1.0, -0.3, 0.2, 1.0, 2.5, 4.0):
            if 1.0 + c * x <= 0.0:  # v <= 0: rejected before the bound is formed
                continue
            v = (1 + Decimal(c) * Decimal(x)) ** 3
            exact = float(Decimal(x) ** 2 / 2 + Decimal(d) * (1 - v + v.ln()))
            got = T.gamma_log_bound(shape, x)
            assert abs(got - exact) <= 1e-12 * max(1.0, abs(exact)), (shape, x, got, exact)
            if shape == 5e11:  # the textbook form in doubles is visibly off there
                vv = (1.0 + c * x) ** 3
                naive = 0.5 * x * x + d - d * vv + d * math.log(vv)
                assert abs(naive - exact) > 1e-7


def test_draws_are_pure_functions_of_their_counter():
    bulk = T.gamma_draws(9, 1.7, 123, 0, 3000)
    # One by one, the scalar paths (Philox and the squeeze), and any sub-range: the same
    # bits, at a boosted, a small and a huge shape too.
    for shape in (0.5, 1.7, 40.0, 5e8):
        ref = T.gamma_draws(9, shape, 123, 0, 3000)
        np.testing.assert_array_equal(T.gamma_draws(9, shape, 123, 0, 3000, bulk=False), ref)
        np.testing.assert_array_equal(T.gamma_draws(9, shape, 123, 0, 3000, simd=False), ref)
    np.testing.assert_array_equal(T.gamma_draws(9, 1.7, 123, 777, 1999), bulk[777:1999])
    # Other samples, seeds, shapes: other draws.
    assert not np.array_equal(T.gamma_draws(9, 1.7, 124, 0, 3000), bulk)
    assert not np.array_equal(T.gamma_draws(10, 1.7, 123, 0, 3000), bulk)
    # Consecutive samples are independent (correlation within 5 standard errors of 0).
    r = np.corrcoef(bulk, T.gamma_draws(9, 1.7, 124, 0, 3000))[0, 1]
    assert abs(r) < 5 / math.sqrt(3000)


def test_bad_shape_is_refused():
    for shape in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="shape"):
            T.gamma_draws(0, shape, 0, 0, 10)
