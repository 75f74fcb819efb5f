"""Two-layer networks through the user API (networks page), checked against the independent
NumPy/SciPy references in reference_networks.py: the flow against solve_ivp (DOP853) on the
full ODE, GD against a NumPy loop, p = k = 1 against the single-index engines, online SGD
and the mode chain in law (KS over >= 300 seeds), compression's exactness, ERM, records
and exports, and the refusals."""
from __future__ import annotations

import numpy as np
import pytest
import reference_networks as R
from scipy.stats import ks_2samp

import pyscale
from pyscale.errors import DivergenceError
from pyscale.results.network import NetworkEnsemble, NetworkTrajectory


def _problem(net: R.Network, **kw) -> pyscale.Problem:
    link = net.student if net.student == net.teacher else (net.student, net.teacher)
    return pyscale.Problem(net.lam, net.w_star, net.w0, link=link, readout=net.a,
                           teacher_readout=net.a_star, noise=net.noise, **kw)


def _quadratic_rhs(net, w):
    return R.flow_rhs(net, w, R.quadratic_coefficients)


# ------------------------------------------------------------------------------ the flow

def test_quadratic_flow_against_solve_ivp():
    """p = 3, k = 2, d = 300: loss to 1e-6 relative (measured ~3e-11 at rtol 1e-10 and
    ~1e-9 at the default 1e-9), S and U to 1e-7 absolute."""
    lam = R.power_law_eigenvalues(300, 2.0)
    net = R.draw_network(lam, 3, 2, seed=4)
    times = np.array([0.0, 0.5, 2.0, 10.0, 50.0, 200.0])
    ref = R.records(net, R.solve_flow(net, times, rhs=_quadratic_rhs), R.quadratic_loss)
    tr = pyscale.simulate(_problem(net), "flow", t=times)
    assert isinstance(tr, NetworkTrajectory) and tr.status == "completed"
    np.testing.assert_allclose(tr.loss, ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(tr.S, ref["S"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(tr.U, ref["U"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(tr.cos, ref["cos"], rtol=0, atol=1e-6)


def test_erf_committee_against_the_quadrature_ode():
    """Saad–Solla's soft committee (erf, p = 3, k = 2): the flow against DOP853 on the ODE
    whose coefficients are 60-node Gauss–Hermite integrals (no closed form): 1e-7."""
    lam = R.power_law_eigenvalues(80, 1.5)
    net = R.draw_network(lam, 3, 2, seed=5, student="erf")
    times = np.array([0.0, 1.0, 10.0, 100.0])

    def rhs(n, w):
        return R.flow_rhs(n, w, R.quadrature_coefficients)
    ref = R.records(net, R.solve_flow(net, times, rhs=rhs, rtol=1e-10), R.quadrature_loss)
    tr = pyscale.simulate(_problem(net), "flow", t=times, rtol=1e-10)
    np.testing.assert_allclose(tr.loss, ref["loss"], rtol=1e-7)
    np.testing.assert_allclose(tr.U, ref["U"], rtol=0, atol=1e-7)


@pytest.mark.parametrize("student,teacher,p,k", [("erf", "square", 2, 3), ("square", "erf", 3, 1)])
def test_misspecified_width_against_solve_ivp(student, teacher, p, k):
    """A misspecified width (p ≠ k) and σ ≠ τ: the quadrature ODE, loss to 1e-6."""
    lam = R.power_law_eigenvalues(60, 2.0)
    net = R.draw_network(lam, p, k, seed=6, student=student, teacher=teacher)
    times = np.array([0.0, 1.0, 20.0])

    def rhs(n, w):
        return R.flow_rhs(n, w, R.quadrature_coefficients)
    ref = R.records(net, R.solve_flow(net, times, rhs=rhs, rtol=1e-10), R.quadrature_loss)
    tr = pyscale.simulate(_problem(net), "flow", t=times, rtol=1e-10)
    np.testing.assert_allclose(tr.loss, ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(tr.U, ref["U"], rtol=0, atol=1e-6)


def test_relu_network_loss_and_gradient_against_monte_carlo():
    """A ReLU network (p = 2, k = 3): the engine's loss and its gradient (one GD step / lr)
    against a NumPy Monte Carlo of E[(f − y)²] and E[−x gᵀ], 4·10⁵ samples, within 5
    standard errors."""
    rng = np.random.default_rng(0)
    d, n = 8, 400_000
    lam = R.power_law_eigenvalues(d, 1.0)
    w_star, w0 = rng.standard_normal((d, 3)), rng.standard_normal((d, 2))
    prob = pyscale.Problem(lam, w_star, w0, link="relu", readout=[0.7, -0.4])
    lr = 1e-3
    tr = pyscale.simulate(prob, "gd", lr=lr, steps=1, record=[0, 1])
    x = rng.standard_normal((n, d)) * np.sqrt(lam)
    h, hs = x @ w0, x @ w_star
    resid = np.maximum(h, 0) @ prob.readout - np.maximum(hs, 0) @ prob.teacher_readout
    sq = resid ** 2
    assert abs(tr.loss[0] - sq.mean()) < 5 * sq.std() / np.sqrt(n)
    per = -2.0 * x[:, :, None] * (resid[:, None] * prob.readout * (h > 0))[:, None, :]
    step = (tr.w - w0) / lr
    assert np.all(np.abs(step - per.mean(0)) < 5 * per.std(0) / np.sqrt(n) + 1e-12)


def test_flow_resumes_where_it_stopped():
    p = pyscale.Problem.power_law(200, 2.0, units=2, teacher_units=2, seed=1)
    whole = pyscale.simulate(p, "flow", t=[0.0, 1.0, 5.0, 20.0])
    calls = []

    def stop(t, steps):
        calls.append(t)
        return t < 2.0
    with pytest.raises(pyscale.Interrupted) as err:
        pyscale.simulate(p, "flow", t=[0.0, 1.0, 5.0, 20.0], progress=stop, progress_every=1)
    rest = pyscale.simulate(p, "flow", t=[0.0, 1.0, 5.0, 20.0], resume=err.value.trajectory)
    assert rest.meta["resumed"] and np.array_equal(rest.t, whole.t)
    np.testing.assert_allclose(rest.U, whole.U, rtol=0, atol=1e-8)


def test_a_resume_must_be_of_the_same_network_and_options():
    """A network run carries its problem's identity, which covers the readouts: a resume on
    a network that differs only in them, or with other options, is refused."""
    p = pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=1)
    other = pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=1,
                                      readout=[0.75, 0.25])
    assert p.identity() != other.identity()
    part = pyscale.simulate(p, "gd", lr=0.01, steps=50)
    assert part.meta["problem_id"] == p.identity() and part.meta["run_id"]
    with pytest.raises(ValueError, match="another problem"):
        pyscale.simulate(other, "gd", lr=0.01, steps=100, resume=part)
    with pytest.raises(ValueError, match="lr must be"):
        pyscale.simulate(p, "gd", lr=0.02, steps=100, resume=part)
    whole = pyscale.simulate(p, "gd", lr=0.01, steps=100)
    rest = pyscale.simulate(p, "gd", lr=0.01, steps=100, resume=part)
    assert np.array_equal(rest.w, whole.w)
    flow = pyscale.simulate(p, "flow", t=[0.0, 1.0])
    with pytest.raises(ValueError, match="rtol must be"):
        pyscale.simulate(p, "flow", t=[0.0, 2.0], rtol=1e-7, resume=flow)


# ------------------------------------------------------------------------------ p = k = 1

def _one_unit(single: pyscale.Problem, **kw) -> pyscale.Problem:
    return pyscale.Problem(single.eigenvalues, single.w_star[:, None], single.w0[:, None],
                           noise=single.noise, d=single.d, counts=single.counts,
                           link=single.link, **kw)


def _same_run(net, single) -> None:
    """A network record equal to a single-index one, bit for bit."""
    assert net.meta["single_index_engine"] and net.S.shape[-2:] == (1, 1)
    for a, b in ((net.t, single.t), (net.loss, single.loss), (net.S[..., 0, 0], single.s),
                 (net.U[..., 0, 0], single.u)):
        assert np.array_equal(a, b)
    assert (net.w is None) == (single.w is None)
    assert net.w is None or np.array_equal(net.w[..., 0], single.w)


_ONE_UNIT_RUNS = (("flow", dict(t=100.0)),
                  ("flow", dict(t=[0.0, 1.0, 10.0, 50.0], record_mode="step", scheme="ros4")),
                  ("gd", dict(lr=0.05, steps=100, record=5)),
                  ("sgd", dict(lr=0.01, steps=500, record=5, seed=2, batch=2)))


@pytest.mark.parametrize("link", ["square", "erf", "relu"])
def test_one_unit_is_the_single_index_problem(link):
    """p = k = 1 with readouts 1 is the single-index model: every engine's records and
    final state equal the single-index engine's bit for bit (networks page: What is
    exact) — the flow (dense-output and step records), GD, online SGD, ERM, the SGD
    ensemble, and on the compressed problem the flow, GD, the mode chain and its
    ensemble."""
    single = pyscale.Problem.power_law(400, 2.0, seed=3, link=link, noise=0.01)
    one = _one_unit(single, readout=[1.0], teacher_readout=[1.0])
    runs = _ONE_UNIT_RUNS + (("erm", dict(n_samples=80, lr=0.01, steps=60, record=5,
                                          seed=2)),)
    for method, opts in runs:
        _same_run(pyscale.simulate(one, method, **opts),
                  pyscale.simulate(single, method, **opts))
    ens = dict(lr=0.01, steps=200, record=4, batch=2)
    _same_run(pyscale.simulate_many(one, 3, "sgd", **ens),
              pyscale.simulate_many(single, 3, "sgd", **ens))
    small, one_small = single.compress(0.05), one.compress(0.05)
    assert one_small.is_network and one_small.n_coords == small.n_coords < 400
    for method, opts in _ONE_UNIT_RUNS:
        net = pyscale.simulate(one_small, method, **opts)
        _same_run(net, pyscale.simulate(small, method, **opts))
    assert net.meta["engine"] == "mode_chain"
    _same_run(pyscale.simulate_many(one_small, 3, "sgd", **ens),
              pyscale.simulate_many(small, 3, "sgd", **ens))


def test_one_unit_draws_and_resumes_as_the_single_index_problem():
    """Problem.power_law(units=1, teacher_units=1) draws the single-index problem (full and
    compressed) bit for bit; an interrupted one-unit run resumes to the uninterrupted one
    exactly; its ``single_index`` is the single-index trajectory (dense output included)."""
    for compress in (None, 1e-3):
        a = pyscale.Problem.power_law(10 ** 4, 1.5, seed=4, compress=compress)
        b = pyscale.Problem.power_law(10 ** 4, 1.5, seed=4, compress=compress, units=1,
                                      teacher_units=1)
        for name in ("eigenvalues", "counts"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
        assert np.array_equal(a.w_star, b.w_star[:, 0]) and np.array_equal(a.w0, b.w0[:, 0])
    whole = pyscale.simulate(b, "sgd", lr=0.01, steps=400, record=8, seed=1)
    with pytest.raises(pyscale.Interrupted) as err:
        pyscale.simulate(b, "sgd", lr=0.01, steps=400, record=8, seed=1,
                         progress=lambda t, k: k < 150, progress_every=50)
    part = err.value.trajectory
    assert isinstance(part, NetworkTrajectory) and len(part) < len(whole)
    rest = pyscale.simulate(b, "sgd", lr=0.01, steps=400, record=8, seed=1, resume=part)
    _same_run(rest, whole.single_index)
    flow = pyscale.simulate(b, "flow", t=10.0)
    assert flow.single_index.dense is not None
    np.testing.assert_allclose(flow.single_index.dense(flow.t[1:])[0], flow.S[1:, 0, 0],
                               rtol=1e-12)


def test_one_unit_with_other_readouts_is_a_rescaled_single_index_run():
    """Readouts a, a* > 0 on the square link run on the network engine and are right: with
    w' = √a w, w*' = √a* w* the model is the single-index one and GD with step lr is
    single-index GD with step a·lr, so a S = s' and √(a a*) U = u' (to rounding, 1e-12)."""
    single = pyscale.Problem.power_law(300, 2.0, seed=5)
    a, a_star = 2.0, 0.5
    one = _one_unit(single, readout=[a], teacher_readout=[a_star])
    scaled = pyscale.Problem(single.eigenvalues, np.sqrt(a_star) * single.w_star,
                             np.sqrt(a) * single.w0)
    net = pyscale.simulate(one, "gd", lr=0.05, steps=200, record=5)
    ref = pyscale.simulate(scaled, "gd", lr=a * 0.05, steps=200, record=5)
    assert "single_index_engine" not in net.meta and net.single_index is None
    np.testing.assert_allclose(a * net.S[:, 0, 0], ref.s, rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(a * a_star) * net.U[:, 0, 0], ref.u, rtol=1e-12)
    np.testing.assert_allclose(net.loss, ref.loss, rtol=1e-12)


# ------------------------------------------------------------------------------ GD, ERM

def test_gd_against_a_numpy_loop():
    lam = R.power_law_eigenvalues(150, 2.0)
    net = R.draw_network(lam, 3, 2, seed=7, student="erf")
    tr = pyscale.simulate(_problem(net), "gd", lr=0.5, steps=100, record=[0, 50, 100])
    w = net.w0.copy()
    for _ in range(100):
        w = w + 0.5 * R.flow_rhs(net, w)
    np.testing.assert_allclose(tr.w, w, rtol=0, atol=1e-13)
    ref = R.records(net, w[None], R.loss)
    np.testing.assert_allclose(tr.loss[-1], ref["loss"][0], rtol=1e-12)
    assert np.array_equal(tr.t, [0.0, 25.0, 50.0])


def test_erm_data_are_online_sgd_samples():
    """ERM on one sample for one step is the first online-SGD step with batch 1 (the data
    set with seed s is SGD's first N samples); its training loss at large N is the
    population loss within 5 standard errors of the per-sample loss."""
    p = pyscale.Problem.power_law(100, 2.0, units=3, teacher_units=2, seed=2, link="erf")
    e = pyscale.simulate(p, "erm", n_samples=1, lr=0.1, steps=1, record=[0, 1], seed=9)
    s = pyscale.simulate(p, "sgd", lr=0.1, steps=1, record=[0, 1], seed=9)
    np.testing.assert_allclose(e.w, s.w, rtol=0, atol=1e-15)
    n = 4000
    big = pyscale.simulate(p, "erm", n_samples=n, lr=0.1, steps=1, record=[0, 1], seed=3)
    gap = abs(big.meta["train_loss"][0] - big.loss[0])
    assert gap < 5 * np.sqrt(2.0 / n) * big.loss[0] * 3  # per-sample loss sd ≲ 3 L


# ------------------------------------------------------------------------------ SGD in law

def _ks_all(a: np.ndarray, b: np.ndarray, floor: float = 1e-3) -> None:
    for idx in np.ndindex(a.shape[1:]):
        assert ks_2samp(a[(slice(None),) + idx], b[(slice(None),) + idx]).pvalue > floor, idx


def test_online_sgd_against_numpy_sgd_in_law():
    """p = 3 erf committee, d = 40, 320 seeds each: every entry of S and U at two record
    times passes a two-sample KS test against the NumPy SGD (p > 1e-3 per entry); the
    means agree within 5 standard errors."""
    lam = R.power_law_eigenvalues(40, 1.5)
    net = R.draw_network(lam, 3, 2, seed=8, student="erf")
    seeds, lr, steps = 320, 0.2, 300
    S_ref, U_ref = R.numpy_sgd(net, lr, steps, [150, 300], seeds, batch=2, seed=11)
    ens = pyscale.simulate_many(_problem(net), seeds, "sgd", lr=lr, steps=steps,
                                record=[150, 300], batch=2)
    assert isinstance(ens, NetworkEnsemble) and ens.U.shape == (seeds, 2, 3, 2)
    for t in range(2):
        _ks_all(ens.U[:, t], U_ref[:, t])
        _ks_all(ens.S[:, t], S_ref[:, t])
        se = np.sqrt((ens.U[:, t].var(0) + U_ref[:, t].var(0)) / seeds)
        assert np.all(np.abs(ens.U[:, t].mean(0) - U_ref[:, t].mean(0)) < 5 * se + 1e-12)


def test_sgd_ensemble_members_are_the_single_runs():
    p = pyscale.Problem.power_law(60, 2.0, units=2, teacher_units=3, seed=1, link="erf")
    ens = pyscale.simulate_many(p, [4, 9], "sgd", lr=0.1, steps=100, record=4, threads=2)
    one = pyscale.simulate(p, "sgd", lr=0.1, steps=100, record=4, seed=9)
    assert np.array_equal(ens.U[1], one.U) and np.array_equal(ens.w[1], one.w)
    assert np.array_equal(ens.trajectory(1).S, one.S)


def test_mode_chain_against_full_sgd_in_law():
    """A network whose 60 coordinates share 4 eigenvalues: the compressed problem's mode
    chain (p = 2, k = 2, square) against full online SGD, 320 seeds each, KS per entry of
    S and U at two times (p > 1e-3)."""
    lam = np.repeat([0.4, 0.3, 0.2, 0.1], 15) / 15
    net = R.draw_network(lam, 2, 2, seed=3)
    full = _problem(net)
    comp = full.compress(1e-12)
    assert comp.is_compressed and comp.n_coords == 16
    seeds, opts = 320, dict(lr=0.05, steps=400, record=[200, 400], batch=1)
    a = pyscale.simulate_many(full, seeds, "sgd", **opts)
    b = pyscale.simulate_many(comp, np.arange(seeds) + 10_000, "sgd", **opts)
    assert b.meta["engine"] == "mode_chain" and b.w is None
    for t in range(2):
        _ks_all(a.U[:, t], b.U[:, t])
        _ks_all(a.S[:, t], b.S[:, t])


# ------------------------------------------------------------------------------ compression

@pytest.mark.parametrize("link", ["square", "erf"])
def test_compression_is_exact_for_equal_eigenvalues(link):
    lam = np.repeat([0.5, 0.3, 0.2], 40) / 40
    net = R.draw_network(lam, 3, 2, seed=2, student=link)
    full = _problem(net)
    comp = full.compress(1e-12)
    assert comp.n_coords == 15 and comp.d == 120
    np.testing.assert_allclose(comp.S_star, full.S_star, rtol=1e-13)
    t = [0.0, 1.0, 10.0, 100.0]
    a, b = (pyscale.simulate(q, "flow", t=t, rtol=1e-10) for q in (full, comp))
    np.testing.assert_allclose(b.U, a.U, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-8)
    g1, g2 = (pyscale.simulate(q, "gd", lr=0.3, steps=50, record=3) for q in (full, comp))
    np.testing.assert_allclose(g2.S, g1.S, rtol=0, atol=1e-13)


@pytest.mark.parametrize("link", ["square", "erf"])
def test_compression_error_is_order_delta(link):
    """The grouping's O(δ) for the quadratic network and the erf committee (p = 3, k = 2,
    d = 1500 power law, a = 2) against the full flow: at δ = 0.08 and 0.02 the largest error
    in S and U stays below δ / 20 and falls at least as fast as δ (measured: by 20-40x for
    the 4x smaller δ, about δ²; at d = 10^6 see the networks page, Compression)."""
    full = pyscale.Problem.power_law(1500, 2.0, units=3, teacher_units=2, seed=1, link=link)
    t = [0.0, 1.0, 10.0, 100.0]
    ref = pyscale.simulate(full, "flow", t=t)
    errs = []
    for delta in (0.08, 0.02):
        c = pyscale.simulate(full.compress(delta), "flow", t=t)
        errs.append(max(np.abs(c.U - ref.U).max(), np.abs(c.S - ref.S).max()))
    assert errs[0] < 0.08 / 20 and errs[1] < errs[0] * (0.02 / 0.08)


def test_compressed_power_law_draw_in_law():
    """Problem.power_law(compress=δ) draws each mode's Gram matrix (Bartlett): S* and
    the initial U against the full draw's over 300 seeds (KS, p > 1e-3)."""
    def stats(compress):
        out = []
        for s in range(300):
            q = pyscale.Problem.power_law(400, 2.0, units=2, teacher_units=2, seed=s,
                                          compress=compress)
            u = R.overlaps(q.eigenvalues, q.w0, q.w_star)[1]
            out.append([q.S_star[0, 1], u[0, 0], u[1, 1]])
        return np.array(out)
    _ks_all(stats(None), stats(1e-9))


def test_compressed_network_at_a_billion_coordinates():
    p = pyscale.Problem.power_law(10 ** 9, 2.0, units=4, teacher_units=4, seed=1,
                                  compress=0.05, link="erf")
    assert p.d == 10 ** 9 and p.n_coords <= 8 * p.n_modes < 10_000
    tr = pyscale.simulate(p, "flow", t=[0.0, 1.0, 10.0])
    assert tr.status == "completed" and tr.loss[-1] < tr.loss[0]


# ------------------------------------------------------------------------------ records

def test_records_and_exports():
    p = pyscale.Problem.power_law(100, 2.0, units=3, teacher_units=2, seed=1, noise=0.01)
    tr = pyscale.simulate(p, "flow", t=[0.0, 1.0, 10.0])
    np.testing.assert_allclose(tr.excess_risk, tr.loss - 0.01)
    sjj = np.einsum("tjj->tj", tr.S)
    np.testing.assert_allclose(tr.cos, tr.U / np.sqrt(sjj[:, :, None] * np.diag(p.S_star)))
    np.testing.assert_allclose(np.einsum("tjj->tj", tr.student_cos), 1.0)
    half = np.sqrt(p.readout)
    comp = np.linalg.eigvalsh(half[:, None] * tr.S * half[None, :])[:, ::-1]
    np.testing.assert_allclose(tr.components, comp)
    df = tr.to_pandas()
    assert len(df) == 3 * 3 * 2 and set(df["unit"]) == {0, 1, 2}
    assert set(df["teacher_unit"]) == {0, 1}
    row = df[(df.t == 10.0) & (df.unit == 2) & (df.teacher_unit == 1)]
    assert float(row["U"].iloc[0]) == tr.U[-1, 2, 1]
    xr = pytest.importorskip("xarray")
    ds = tr.to_xarray()
    assert isinstance(ds, xr.Dataset) and ds["U"].dims == ("t", "unit", "teacher_unit")
    assert "units=3" in repr(tr) or "units=3" in repr(p)


def test_quadratic_network_learns_the_teacher_components():
    """σ = τ = z², p = k = 2: the components of W D_a Wᵀ approach the teacher's."""
    p = pyscale.Problem.power_law(50, 2.0, units=2, teacher_units=2, seed=3)
    tr = pyscale.simulate(p, "flow", t=[0.0, 1e5])
    np.testing.assert_allclose(tr.components[-1], tr.teacher_components, rtol=1e-3)


# ------------------------------------------------------------------------------ refusals

def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and "pyscale._core" not in text
    return text


def test_refusals_are_one_clear_sentence():
    lam = R.power_law_eigenvalues(30, 2.0)
    ws, w0 = np.ones((30, 2)), np.ones((30, 3))
    with pytest.raises(ValueError) as e:
        pyscale.Problem(lam, ws[:20], w0)
    assert "length 20" in _one_line(e)
    with pytest.raises(ValueError) as e:
        pyscale.Problem(lam, ws, w0, readout=[1.0, 1.0])
    assert "readout" in _one_line(e)
    with pytest.raises(ValueError) as e:
        pyscale.Problem(lam, ws, w0, readout=[1.0, 0.0, 1.0])
    assert "zero entry" in _one_line(e)
    with pytest.raises(ValueError) as e:
        pyscale.Problem(lam, ws, np.ones((30, 33)))
    assert "at most 32" in _one_line(e)
    bad = ws.copy()
    bad[:, 1] = 0.0
    with pytest.raises(ValueError) as e:
        pyscale.Problem(lam, bad, w0)
    assert "teacher unit 1" in _one_line(e)
    zero = w0.copy()
    zero[:, 0] = 0.0
    with pytest.raises(ValueError) as e:
        pyscale.Problem(lam, ws, zero, link="relu")
    assert "student unit 0" in _one_line(e)
    p = pyscale.Problem(lam, ws, w0)
    with pytest.raises(ValueError) as e:
        pyscale.simulate_many(p, 4, "erm", n_samples=10, lr=0.1, steps=2)
    assert "network" in _one_line(e)
    with pytest.raises(TypeError) as e:
        pyscale.simulate(p, "flow", t=1.0, batch=3)
    assert "batch" in _one_line(e)
    with pytest.raises(ValueError) as e:
        pyscale.Problem.power_law(100, 2.0, units=40)
    assert "units" in _one_line(e)


def test_divergence_carries_the_network_trajectory():
    p = pyscale.Problem.power_law(50, 1.0, units=2, teacher_units=2, seed=1)
    with pytest.raises(DivergenceError) as err:
        pyscale.simulate(p, "gd", lr=50.0, steps=500, record=500)
    assert isinstance(err.value.trajectory, NetworkTrajectory)
    assert "lower lr" in _one_line(err)


@pytest.mark.parametrize("part, call", [
    ("escape law", lambda p: pyscale.theory.escape_law(p)),
    ("SGD theory", lambda p: pyscale.theory.stable_step(p, 1)),
    ("SGD theory", lambda p: pyscale.theory.max_stable_lr(p)),
    ("SGD theory", lambda p: pyscale.theory.sgd_floor(p, 0.01, 1)),
    ("divergence_probability", lambda p: pyscale.divergence_probability(p, [0.01], seeds=4)),
    ("moment hierarchy", lambda p: pyscale.hierarchy(p, 4, t=[0.0, 1.0])),
    ("statistics", lambda p: pyscale.statistics(p)),
])
def test_single_index_theory_refuses_a_network_by_name(part, call):
    """The laws and engines derived for p = k = 1 refuse a network in one sentence that names
    the part and the network's widths, before computing anything."""
    p = pyscale.Problem.power_law(40, 2.0, units=3, teacher_units=2, seed=1)
    with pytest.raises(ValueError) as e:
        call(p)
    message = _one_line(e)
    assert part in message and "p = 3 student, k = 2 teacher units" in message
