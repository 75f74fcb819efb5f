"""Every engine on link pairs other than the square, against independent references
(tests/link_reference.py): the flow against SciPy's DOP853 on the full ODE, GD against its
explicit NumPy iteration, online SGD against a NumPy SGD in law (KS tests over seeds), the
mode chain against the full engine in law, compression's exactness; and what a link changes
in the records, errors and refusals."""
import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

import link_reference as ref

import pyscale

FLOW_TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 2e3, 16)])


@pytest.fixture(scope="module")
def problem500():
    return pyscale.Problem.power_law(500, 2.0, seed=5)


@pytest.mark.parametrize("pair", ["relu", "erf", "tanh", "square,abs"])
def test_flow_matches_dop853_on_the_full_ode(problem500, pair):
    """The flow for ReLU, erf, tanh and square/|z| at d = 500 against solve_ivp (DOP853,
    rtol 1e-11) on dw/dt = c0 Q w + c1 Q w*: max relative error in s and u <= 1e-6 (measured:
    3e-9 to 8e-8, tanh's quadrature the largest)."""
    problem = pyscale.Problem(problem500.eigenvalues, problem500.w_star, problem500.w0,
                              link=pair)
    traj = pyscale.simulate(problem, "flow", t=FLOW_TIMES)
    w = ref.flow_solution(problem, pair, FLOW_TIMES)
    lam, w_star = problem.eigenvalues, problem.w_star
    s = np.einsum("ij,j,ij->i", w, lam, w)
    u = w @ (lam * w_star)
    assert np.all(u > 0)  # u keeps its sign here: its relative error is defined throughout
    err_s = np.max(np.abs(traj.s - s) / s)
    err_u = np.max(np.abs(traj.u - u) / u)
    assert err_s <= 1e-6 and err_u <= 1e-6, (pair, err_s, err_u)
    assert abs(u[-1]) > 10 * abs(u[0])  # the runs learn: the comparison is not at rest


@pytest.mark.parametrize("pair", ["relu", "erf", "square,abs"])
def test_gd_is_its_explicit_iteration(problem500, pair):
    """GD w <- w + lr Q (c0 w + c1 w*) against the NumPy iteration with the reference
    coefficients: the same numbers up to rounding (relative 1e-10 over 300 steps)."""
    problem = pyscale.Problem(problem500.eigenvalues, problem500.w_star, problem500.w0,
                              link=pair)
    lr, steps = 0.2, 300
    record = np.arange(0, steps + 1, 30)
    traj = pyscale.simulate(problem, "gd", lr=lr, steps=steps, record=record)
    w = ref.gd_iteration(problem, pair, lr, steps)[record]
    s = np.einsum("ij,j,ij->i", w, problem.eigenvalues, w)
    u = w @ (problem.eigenvalues * problem.w_star)
    np.testing.assert_allclose(traj.s, s, rtol=1e-10)
    np.testing.assert_allclose(traj.u, u, rtol=1e-10, atol=1e-12 * np.max(np.abs(u)))
    np.testing.assert_allclose(traj.w, w[-1], rtol=1e-9, atol=1e-12)


def _ks(a, b):
    return ks_2samp(a, b).pvalue


@pytest.mark.parametrize("link", ["relu", "abs"])
def test_online_sgd_in_law(link):
    """Online SGD for ReLU and |z| (sigma = tau) against an independent NumPy SGD: 400 seeds
    each, KS tests of s and u at 3 record steps, every p-value above 1e-3."""
    problem = pyscale.Problem.power_law(12, 1.0, seed=2, noise=0.01, link=link)
    lr, batch, steps, members = 0.05, 2, 240, 400
    record = [0, 80, 160, 240]
    ens = pyscale.simulate_many(problem, members, "sgd", lr=lr, steps=steps, record=record,
                                batch=batch)
    s, u = ref.sgd_many(problem, link, link, lr, batch, steps, record, members, 0.01, seed=11)
    for j in (1, 2, 3):
        p_s, p_u = _ks(ens.s[:, j], s[j]), _ks(ens.u[:, j], u[j])
        assert min(p_s, p_u) > 1e-3, (link, record[j], p_s, p_u)
    moved = np.mean(ens.u[:, -1]) - ens.u[0, 0]
    assert abs(moved) > 10 * np.std(ens.u[:, -1]) / math.sqrt(members)  # the law has moved


def test_mode_chain_matches_the_full_engine_in_law():
    """On a problem with repeated eigenvalues (3 modes of 8, 6 and 4 coordinates), compressed
    exactly, the mode chain (relu student, |z| teacher) against online SGD on the full
    problem: 400 seeds each, KS of s and u at 3 record steps, p > 1e-3."""
    rng = np.random.default_rng(4)
    lam = np.repeat([0.5, 0.2, 0.05], [8, 6, 4])
    full = pyscale.Problem(lam, rng.standard_normal(lam.size), 0.3 * rng.standard_normal(
        lam.size), noise=0.01, link=("relu", "abs"))
    chain = full.compress(1e-12)
    assert chain.n_modes == 3 and chain.n_coords == 6
    options = dict(lr=0.05, steps=300, record=[0, 100, 200, 300], batch=2)
    a = pyscale.simulate_many(full, 400, "sgd", **options)
    b = pyscale.simulate_many(chain, np.arange(1000, 1400), "sgd", **options)
    assert b.meta["engine"] == "mode_chain" and a.meta["engine"] == "full"
    for j in (1, 2, 3):
        p_s, p_u = _ks(a.s[:, j], b.s[:, j]), _ks(a.u[:, j], b.u[:, j])
        assert min(p_s, p_u) > 1e-3, (options["record"][j], p_s, p_u)
