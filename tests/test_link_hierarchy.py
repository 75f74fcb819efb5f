"""The moment hierarchy for link pairs (model page: Moment hierarchy for other links): the
same closure with the pair's (c0, c1) at (s, u), held against the exact flow."""
from __future__ import annotations

import math

import numpy as np
import pytest

import pyscale
from pyscale.engines.hierarchy import exact_moments

LINKS = ["square,abs", "relu", "erf", "tanh", "abs", ("square", "relu"), "user"]


def _link(name):
    """A user link (numba cfuncs, called by address inside the kernel) or a named pair."""
    if name == "user":
        return pyscale.Link.user(lambda z: math.tanh(z), lambda z: 1.0 - math.tanh(z) ** 2,
                                 analytic_width=math.pi / 2, name="tanh_user")
    return name


@pytest.mark.parametrize("link", LINKS)
def test_exact_quadrature_reproduces_the_flow(link):
    """Order K = d: the Gauss closure is exact (the K-node quadrature is the spectrum)."""
    problem = pyscale.Problem.power_law(12, 2.0, seed=1, link=_link(link))
    t = np.array([0.0, 1.0, 5.0, 20.0, 60.0])
    h = pyscale.hierarchy(problem, order=12, t=t, rtol=1e-12, error_estimate=False)
    assert h.meta["exact_quadrature"] and h.status == "completed"
    s, u, _ = exact_moments(problem, t, orders=3)
    np.testing.assert_allclose(h.s[:, :3], s, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h.u[:, :3], u, rtol=0, atol=1e-10)
    assert h.meta["link"] == problem.link.identity


@pytest.mark.parametrize("link", ["square,abs", "relu"])
def test_truncated_gauss_closure_converges_to_the_flow(link):
    problem = pyscale.Problem.power_law(2000, 2.0, seed=0, link=link)
    t = np.array([0.0, 2.0, 10.0, 50.0, 200.0])
    s, u, _ = exact_moments(problem, t, orders=2)
    errors = []
    for order in (8, 24):
        h = pyscale.hierarchy(problem, order=order, t=t, rtol=1e-12, error_estimate=False)
        errors.append(max(np.abs(h.s[:, :2] - s).max(), np.abs(h.u[:, :2] - u).max()))
    assert errors[1] < 1e-6 and errors[1] <= errors[0]


def test_the_square_keeps_its_closed_forms():
    """The square goes through its own right-hand side, not the pair's: same as a pair whose
    coefficients are the square's written as a polynomial link (to rounding, not bitwise)."""
    square = pyscale.Problem.power_law(300, 2.0, seed=0)
    poly = pyscale.Problem.power_law(300, 2.0, seed=0, link=pyscale.Link.polynomial([0, 0, 1]))
    t = np.geomspace(1e-2, 100, 20)
    a = pyscale.hierarchy(square, order=16, t=t, error_estimate=False)
    b = pyscale.hierarchy(poly, order=16, t=t, error_estimate=False)
    assert a.meta["link"] == "square" and b.meta["link"] != "square"
    np.testing.assert_allclose(a.s, b.s, rtol=1e-7, atol=1e-12)
