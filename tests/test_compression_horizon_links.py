"""Horizon-aware compression for link pairs other than the square (model page: Compression,
Horizon-aware grouping): the bound K on |c0| + |c1| over the loss's sublevel set, computed on
a grid, against the square's closed form (the same loss written as a polynomial link) and
against what flows actually reach; then the compressed flow against the full problem.

References are independent of the bound under test: the square's closed-form K, the
coefficients measured along full (uncompressed) flows, the uniform grouping.
"""
import numpy as np
import pytest

from pyscale import Problem, simulate
from pyscale.model import compression as C
from pyscale.model.links import Link, LinkPair

FLOW = dict(rtol=1e-10, threads=1)


def _start(problem):
    lam, w0 = problem.eigenvalues, np.asarray(problem.w0)
    return float(np.dot(lam * w0, w0)), float(np.dot(lam * w0, problem.w_star))


@pytest.mark.parametrize("s0, u0", [(0.0, 0.0), (1e-4, 0.0), (0.5, 0.3)])
def test_grid_bound_meets_the_square_closed_form(s0, u0):
    """z² written as a polynomial link runs the grid; the closed form is the supremum
    (reached on the boundary), so the grid's K lies between it and its 1 % margin."""
    polynomial = LinkPair(Link.polynomial([0, 0, 1]))
    assert not polynomial.is_square
    exact = C.flow_rate_bound(1.0, s0, u0)
    grid = C.flow_rate_bound(1.0, s0, u0, polynomial)
    assert exact <= grid <= 1.015 * exact, (grid / exact)


@pytest.mark.parametrize("link", ["relu", "erf", "abs", "square,abs", "relu,square"])
def test_bound_covers_the_full_flow(link):
    problem = Problem.power_law(2000, 2.0, seed=3, link=link)
    K = C.flow_rate_bound(problem.s_star, *_start(problem), problem.link)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 200)])
    traj = simulate(problem, "flow", t=times, **FLOW)
    seen = C.rate_of(problem.s_star, traj.s, traj.u, problem.link)
    assert 0 < seen <= K, (seen, K)


@pytest.mark.parametrize("link", ["relu", "erf", "abs"])
def test_flow_on_horizon_compression_matches_the_full_problem(link):
    problem = Problem.power_law(10_000, 2.0, seed=1, link=link)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 31)])
    full = simulate(problem, "flow", t=times, **FLOW)
    errors = {}
    for delta in (1e-2, 1e-3):
        grouped = problem.compress(delta, horizon=times[-1])
        assert grouped.n_modes < 0.5 * problem.compress(delta).n_modes
        traj = simulate(grouped, "flow", t=times, **FLOW)
        errors[delta] = max(np.max(np.abs(traj.u - full.u)), np.max(np.abs(traj.s - full.s)))
    # O(δ): measured 1.1e-6 / 4.5e-8 (relu), 1.0e-6 / 1.0e-7 (erf), 1.3e-8 / 1.3e-9 (abs);
    # guarded with a 4x margin, and shrinking with δ.
    assert errors[1e-2] < 5e-6 and errors[1e-3] < 5e-7, errors
    assert errors[1e-3] < errors[1e-2], errors


def test_power_law_draw_with_a_horizon_for_a_link():
    horizon = Problem.power_law(10**9, 2.0, compress=1e-2, horizon=1e4, link="erf")
    uniform = Problem.power_law(10**9, 2.0, compress=1e-2, link="erf")
    assert horizon.n_modes < 0.5 * uniform.n_modes
    info = horizon.info["compressed"]
    assert info["horizon"] == 1e4 and info["rate"] >= C.flow_rate_bound(
        horizon.s_star, *_start(horizon), horizon.link)
    simulate(horizon, "flow", t=[0.0, 1e4])
    with pytest.raises(ValueError, match="runs up to t = 10000"):
        simulate(horizon, "flow", t=[0.0, 2e4])


def test_quadrature_pairs_refuse_a_horizon():
    with pytest.raises(ValueError, match="quadrature"):
        Problem.power_law(10**6, 2.0, compress=1e-3, horizon=1e4, link="tanh")
    assert not C.horizon_supported(LinkPair("tanh"))
    assert C.horizon_supported(LinkPair("relu")) and C.horizon_supported(LinkPair("square"))


def test_a_kinked_student_whose_set_reaches_zero_is_refused():
    """|z| from far away: the loss at w = 0 is below the start's, so the sublevel set reaches
    s → 0, where c0 of a kinked student has no bound."""
    pair = LinkPair("abs")
    assert pair.loss(1e-9, 0.0) < pair.loss(25.0, 0.0)
    with pytest.raises(ValueError, match="s -> 0"):
        C.flow_rate_bound(1.0, 25.0, 0.0, pair)
