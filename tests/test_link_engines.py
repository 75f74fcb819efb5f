"""Every engine on link pairs other than the square, against independent references
(tests/link_reference.py): the flow against SciPy's DOP853 on the full ODE, GD against its
explicit NumPy iteration, online SGD against a NumPy SGD in law (KS tests over seeds), the
mode chain against the full engine in law, compression's exactness; and what a link changes
in the records, errors and refusals."""
import math

import link_reference as ref
import numpy as np
import pytest
from scipy.stats import ks_2samp

import pyscale
from pyscale.model.link_support import SQUARE_ONLY

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


# ---------------------------------------------------------------------------- compression
def _repeated(link, seed=4):
    rng = np.random.default_rng(seed)
    lam = np.repeat([0.5, 0.2, 0.05], [8, 6, 4])
    return pyscale.Problem(lam, rng.standard_normal(lam.size),
                           0.3 * rng.standard_normal(lam.size), link=link)


@pytest.mark.parametrize("pair", ["relu", "erf", ("square", "abs"), "tanh"])
def test_compression_is_exact_for_links(pair):
    """A problem with repeated eigenvalues, compressed (6 stored coordinates for 18): GD on
    both gives the same s, u to rounding (1e-13 relative; the flow's adaptive steps differ,
    so it agrees to its tolerance)."""
    full = _repeated(pair)
    small = full.compress(1e-12)
    assert small.n_coords == 6 and small.link == full.link
    a = pyscale.simulate(full, "gd", lr=0.05, steps=300, record=6)
    b = pyscale.simulate(small, "gd", lr=0.05, steps=300, record=6)
    np.testing.assert_allclose(a.s, b.s, rtol=1e-13)
    np.testing.assert_allclose(a.u, b.u, rtol=1e-13)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 100.0, 9)])
    a = pyscale.simulate(full, "flow", t=times)
    b = pyscale.simulate(small, "flow", t=times)
    np.testing.assert_allclose(a.s, b.s, rtol=1e-8)
    np.testing.assert_allclose(a.u, b.u, rtol=1e-8)


def test_compressed_flow_is_bit_equal_to_its_full_problem_in_mode_form():
    """Where the full problem (equal eigenvalues per group) holds its vectors on the
    coordinates the compressed one stores, zeros elsewhere, the flow's sums meet the same
    numbers in the same order: the two runs are equal bit for bit (relu pair)."""
    small = _repeated("relu").compress(1e-12)
    lam = np.repeat([0.5, 0.2, 0.05], [8, 6, 4])
    w_star, w0 = np.zeros(lam.size), np.zeros(lam.size)
    for k, first in enumerate((0, 8, 14)):
        w_star[first] = small.w_star[2 * k]
        w0[first:first + 2] = small.w0[2 * k:2 * k + 2]
    full = pyscale.Problem(lam, w_star, w0, link="relu")
    again = full.compress(1e-12)
    assert np.array_equal(again.w_star, small.w_star) and np.array_equal(again.w0, small.w0)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 100.0, 9)])
    a = pyscale.simulate(full, "flow", t=times, threads=1)
    b = pyscale.simulate(again, "flow", t=times, threads=1)
    for name in a.columns:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


# ---------------------------------------------------------------------------- ERM
def test_erm_is_full_batch_gd_on_its_data_set():
    """ERM for the relu student of an erf teacher against NumPy full-batch GD on the same
    data set (erm_dataset): w <- w - lr (2/N) sum_j (sigma(p_j) - y_j) sigma'(p_j) x_j."""
    from pyscale.engines.erm import erm_dataset

    problem = pyscale.Problem.power_law(30, 1.0, seed=1, noise=0.01, link=("relu", "erf"))
    n, lr, steps = 200, 0.05, 100
    traj = pyscale.simulate(problem, "erm", n_samples=n, lr=lr, steps=steps, record=[steps],
                            seed=3, threads=1)
    X, y = erm_dataset(problem, n, seed=3)
    sig, sig_prime = ref.LINKS["relu"]
    w = problem.w0.copy()
    for _ in range(steps):
        p = X @ w
        w = w - lr * (2.0 / n) * (((sig(p) - y) * sig_prime(p)) @ X)
    np.testing.assert_allclose(traj.w, w, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(traj.meta["train_loss"][-1], np.mean((sig(X @ w) - y) ** 2),
                               rtol=1e-10)


# ---------------------------------------------------------------------------- records
def test_records_per_pair():
    """Excess risk and cosine for every pair; the MSE sign-invariant for an even sigma = tau,
    plain for a sigma = tau that is not even, and absent when sigma != tau."""
    base = pyscale.Problem.power_law(40, 1.5, seed=2, noise=0.02)
    lam, w_star = base.eigenvalues, base.w_star
    for link, kind in (("abs", "sign_invariant"), ("erf", "plain"),
                       ("relu,erf", "undefined")):
        problem = pyscale.Problem(lam, w_star, base.w0, noise=0.02, link=link)
        traj = pyscale.simulate(problem, "gd", lr=0.1, steps=50, record=[0, 50])
        assert traj.meta["mse_kind"] == kind and traj.meta["link"] == link
        w = traj.w
        s, u = float(w @ (lam * w)), float(w @ (lam * w_star))
        assert traj.s[-1] == pytest.approx(s, rel=1e-13)
        assert traj.excess_risk[-1] == pytest.approx(
            problem.link.loss(s, u, problem.s_star), rel=1e-12)
        assert traj.cosine[-1] == pytest.approx(u / math.sqrt(s * problem.s_star), rel=1e-12)
        minus, plus = np.sum((w - w_star) ** 2), np.sum((w + w_star) ** 2)
        if kind == "undefined":
            assert "mse" not in traj.columns and "mse" not in traj.to_pandas().columns
            with pytest.raises(AttributeError, match="has no recovery MSE: its student is "
                                                     "not its teacher"):
                _ = traj.mse
            with pytest.raises(ValueError, match="events on 'mse': link pair"):
                pyscale.simulate(problem, "flow", t=1.0, events=[("mse", 0.1)])
        else:
            expected = min(minus, plus) if kind == "sign_invariant" else minus
            assert traj.mse[-1] == pytest.approx(expected / problem.d, rel=1e-12)
        assert f"link={link}" in repr(traj)


def test_ensemble_of_a_pair_without_mse():
    problem = pyscale.Problem.power_law(20, 1.0, seed=0, link="square,abs")
    ens = pyscale.simulate_many(problem, 3, "sgd", lr=0.01, steps=50, record=5)
    assert "mse" not in ens.columns and "mse" not in ens.to_pandas().columns
    with pytest.raises(AttributeError, match="no recovery MSE"):
        _ = ens.mean_mse
    member = ens.trajectory(1)
    assert "mse" not in member.columns
    np.testing.assert_array_equal(member.cosine, ens.cosine[1])
    assert "final excess risk" in repr(ens) and "final mse" not in repr(ens)


# ---------------------------------------------------------------------------- dense output
def test_dense_loss_of_a_non_polynomial_pair_is_evaluated_not_interpolated():
    problem = pyscale.Problem.power_law(60, 2.0, seed=1, noise=0.1, link="relu")
    traj = pyscale.simulate(problem, "flow", t=np.geomspace(1e-2, 50.0, 6),
                            events=[("excess_risk", 0.2), ("cosine", 0.5, 1, True)])
    with pytest.raises(ValueError, match="'relu' is not a polynomial in time along a step"):
        traj.dense.polynomial("loss")
    t = np.linspace(0.01, traj.t[-1], 7)
    fields = traj.dense.at(t)
    expected = [problem.link.loss(s, u, problem.s_star) + 0.1
                for s, u in zip(fields["s"], fields["u"])]
    np.testing.assert_allclose(fields["loss"], expected, rtol=1e-13)
    cos_hit, risk_hit = traj.events[1], traj.events[0]
    assert len(cos_hit) == 1 and cos_hit.records["cosine"][0] == pytest.approx(0.5, abs=1e-12)
    assert traj.meta["stopped_by_event"] and traj.t[-1] == cos_hit.times[0]
    for rec in [risk_hit.records]:
        np.testing.assert_allclose(rec["excess_risk"], 0.2, atol=1e-12)


def test_dense_loss_of_a_polynomial_pair_is_its_polynomial():
    problem = pyscale.Problem.power_law(60, 2.0, seed=1, noise=0.1,
                                        link=(pyscale.Link.hermite([0, 1, 0, 0.3]),
                                              pyscale.Link.polynomial([0.1, 1, 0.5])))
    traj = pyscale.simulate(problem, "flow", t=np.geomspace(1e-2, 20.0, 6))
    coef = traj.dense.polynomial("loss")
    theta = np.array([0.0, 0.3, 0.8, 1.0])
    for k in (0, len(traj.dense) // 2, len(traj.dense) - 1):
        values = traj.dense.fields(np.full(theta.size, k), theta)["loss"]
        np.testing.assert_allclose(np.polynomial.polynomial.polyval(theta, coef[k]), values,
                                   rtol=1e-11)


# ---------------------------------------------------------------------------- edges
def test_reaching_s_zero_with_a_kinked_student_keeps_the_trajectory():
    """|z| student of an odd teacher: l = s + const, so GD at lr lambda = 1/2 sends w to 0 in
    one step; the run stops with DomainError holding the records before and the state."""
    problem = pyscale.Problem(np.full(4, 0.5), np.ones(4), np.full(4, 0.3), link=("abs", "erf"))
    with pytest.raises(pyscale.DomainError, match=r"stopped at t = 1: s = wᵀQw reached 0, "
                                                  r"where the loss of link pair 'abs,erf'") as err:
        pyscale.simulate(problem, "gd", lr=1.0, steps=5, record=[0, 1, 2])
    assert err.value.t == 1.0
    traj = err.value.trajectory
    assert list(traj.t) == [0.0] and traj.meta["status"] == "out_of_domain"
    assert np.array_equal(traj.w, np.zeros(4))
    with pytest.raises(ValueError, match="kinked student 'relu' has no gradient at w = 0"):
        pyscale.Problem(np.ones(3), np.ones(3), np.zeros(3), link="relu")


def test_problem_link_forms_and_persistence():
    lam, w_star, w0 = np.array([0.5, 0.3, 0.2]), np.ones(3), np.array([0.1, -0.2, 0.3])
    forms = ["square,abs", ("square", "abs"), pyscale.LinkPair("square", "abs"),
             (pyscale.Link("square"), pyscale.Link("abs"))]
    pairs = [pyscale.Problem(lam, w_star, w0, link=f).link for f in forms]
    assert all(p == pairs[0] for p in pairs) and pairs[0].identity == "square,abs"
    assert pyscale.Problem(lam, w_star, w0).link.is_square
    assert pyscale.Problem(lam, w_star, w0, link=pyscale.Link("relu")).link.identity == "relu"
    problem = pyscale.Problem.power_law(30, 2.0, seed=1, link="erf")
    assert problem.with_w0(problem.w0 * 2).link == problem.link
    assert problem.compress(1e-3).link == problem.link
    assert pyscale.Problem.power_law(10 ** 6, 2.0, compress=1e-2, link="erf").link == \
        problem.link
    assert pyscale.Problem.from_covariance(np.diag(lam), w_star, w0, link="relu").link == \
        pyscale.LinkPair("relu")
    assert "link=erf" in repr(problem) and "erf" in problem._repr_html_()
    with pytest.raises(ValueError, match="unknown link 'rleu'"):
        pyscale.Problem(lam, w_star, w0, link="rleu")
    with pytest.raises(TypeError, match="a link is a name, a Link or a"):
        pyscale.Problem(lam, w_star, w0, link=3)


def test_square_only_parts_refuse_another_pair_in_one_sentence():
    problem = pyscale.Problem.power_law(40, 2.0, seed=0, link="relu")
    calls = {"compare": lambda: pyscale.compare(
                 pyscale.simulate_many(problem, 2, "sgd", lr=0.01, steps=20, record=5),
                 problem)}
    assert set(calls) == set(SQUARE_ONLY)
    for part, call in calls.items():
        with pytest.raises(ValueError, match=r"derived for phase retrieval \(link 'square'\) "
                                             r"only, not yet for link pair 'relu'") as err:
            call()
        assert str(err.value).count(". ") == 0 and SQUARE_ONLY[part] in str(err.value)


def test_user_link_runs_in_the_core_and_a_dead_one_is_refused():
    """A user link (numba cfuncs, called by address in the C++ loops) reproduces tanh's flow
    to its quadrature's accuracy; a Link whose compiled functions are gone is refused."""
    tanh_user = pyscale.Link.user(lambda z: math.tanh(z), lambda z: 1.0 - math.tanh(z) ** 2,
                                  analytic_width=math.pi / 2, name="tanh_user")
    base = pyscale.Problem.power_law(80, 2.0, seed=2)
    a = pyscale.simulate(pyscale.Problem(base.eigenvalues, base.w_star, base.w0,
                                         link=tanh_user), "flow", t=[0.0, 1.0, 10.0])
    b = pyscale.simulate(pyscale.Problem(base.eigenvalues, base.w_star, base.w0,
                                         link="tanh"), "flow", t=[0.0, 1.0, 10.0])
    np.testing.assert_allclose(a.u, b.u, rtol=1e-7)
    sgd = pyscale.simulate(pyscale.Problem(base.eigenvalues, base.w_star, base.w0,
                                           link=tanh_user), "sgd", lr=0.01, steps=20,
                           record=[20])
    assert np.isfinite(sgd.u).all()
    dead = pyscale.Link(tanh_user)
    object.__setattr__(dead, "_cfuncs", ())
    with pytest.raises(ValueError, match="has lost its compiled functions"):
        dead.core()
