"""The quadratic network's small-start escape (networks page: Escape of the quadratic network):
the law against the dense linearised operator and the independent reference
(tests/reference_networks.py), against the single-index law at p = k = 1 (bit for bit), and
against the network flow; predict's refusals; compare per unit."""
import warnings

import numpy as np
import pytest
import reference_networks as R

import pyscale
from pyscale.theory import NetworkPrediction, RegimeWarning, escape_law, predict
from pyscale.theory.network_escape import linear_escape


def _reference(problem):
    return R.Network(np.asarray(problem.eigenvalues), np.asarray(problem.w_star),
                     np.asarray(problem.w0), np.asarray(problem.readout),
                     np.asarray(problem.teacher_readout))


def _operator(problem):
    """𝓛 = 4 s̄* Q + 8 Q W* D_a* W*ᵀ Q, dense."""
    lam = problem.eigenvalues
    qws = lam[:, None] * problem.w_star
    sbar = float(np.dot(problem.teacher_readout, np.diag(problem.S_star)))
    return 4 * sbar * np.diag(lam) + 8 * qws @ np.diag(problem.teacher_readout) @ qws.T


@pytest.mark.parametrize("a", [1.5, 3.0])
def test_rate_direction_and_prefactor_against_the_dense_operator(a):
    """ρ_j = a_j × the top eigenvalue of 𝓛 (1e-12), the direction its eigenvector, and
    C_j the limit of U_j(t) e^{−ρ_j t} of the exact linear solution (1e-9); the reference's
    Laplace-residue form agrees (1e-9)."""
    prob = pyscale.Problem.power_law(200, a, units=3, teacher_units=2, seed=22,
                                     readout=[1.5, 0.5, 1.0], teacher_readout=[0.6, 0.4])
    esc = predict(prob).escape
    ev, evec = np.linalg.eigh(_operator(prob))
    np.testing.assert_allclose(esc.rate, prob.readout * ev[-1], rtol=1e-12)
    np.testing.assert_allclose(abs(esc.direction @ evec[:, -1]), 1.0, rtol=1e-12)
    qws = prob.eigenvalues[:, None] * prob.w_star
    for j, aj in enumerate(prob.readout):
        t = 40.0 / (aj * (ev[-1] - ev[-2]))           # the next mode down by e^-40
        wt = evec @ (np.exp(aj * (ev - ev[-1]) * t) * (evec.T @ prob.w0[:, j]))
        np.testing.assert_allclose(qws.T @ wt, esc.prefactor[j], rtol=1e-9)
    ref = R.quadratic_escape(_reference(prob))
    np.testing.assert_allclose(esc.rate, ref["rate"], rtol=1e-12)
    np.testing.assert_allclose(esc.prefactor, ref["prefactor"], rtol=1e-9)


def test_one_unit_each_side_is_the_single_index_law_bit_for_bit():
    """p = k = 1 with readouts 1: ρ and C are the single-index escape law's, to the bit; T1
    (threshold δ on |U|/S*, as the phases measure it) is the single-index δ s* crossing."""
    single = pyscale.Problem.power_law(500, 2.0, seed=3)
    net = pyscale.Problem(single.eigenvalues, single.w_star[:, None], single.w0[:, None],
                          readout=[1.0], teacher_readout=[1.0])
    law, esc = escape_law(single), predict(net).escape
    assert esc.rate[0] == law.rate and esc.base_rate == law.rate
    assert esc.prefactor[0, 0] == law.prefactor and esc.gap == law.gap
    assert esc.time_to(0.05)[0] == pytest.approx(law.time_to(0.05 * single.s_star), rel=1e-15)


def test_equal_readouts_share_one_rate_and_direction():
    """Readouts 1/p: every unit grows at ρ̃/p along one direction; C_j is the projection of
    w_j(0) on it times W*ᵀQv (the symmetric start)."""
    prob = pyscale.Problem.power_law(300, 2.0, units=4, teacher_units=3, seed=5)
    esc = predict(prob).escape
    np.testing.assert_array_equal(esc.rate, np.full(4, esc.base_rate / 4))
    v = esc.direction
    u_dir = (prob.eigenvalues * v) @ prob.w_star
    np.testing.assert_allclose(esc.prefactor, np.outer(prob.w0.T @ v, u_dir), rtol=1e-10)


def test_compressed_network_has_the_full_networks_law():
    """Modes of equal eigenvalues compress exactly, so the law on the virtual coordinates is
    the full problem's (ρ to 1e-12, C to 1e-9)."""
    lam = np.repeat(np.array([0.4, 0.2, 0.1, 0.05]), 50)
    lam = lam / lam.sum()
    rng = np.random.default_rng(4)
    prob = pyscale.Problem(lam, rng.standard_normal((200, 2)) / 3,
                           rng.standard_normal((200, 3)) / 14)
    comp = prob.compress(1e-12)
    assert comp.n_coords < prob.n_coords
    full, small = predict(prob).escape, predict(comp).escape
    np.testing.assert_allclose(small.rate, full.rate, rtol=1e-12)
    np.testing.assert_allclose(small.prefactor, full.prefactor, rtol=1e-9)


def _flow_escape(a: float, d: int, seed: int, delta: float):
    prob = pyscale.Problem.power_law(d, a, units=3, teacher_units=2, seed=seed)
    pred = predict(prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegimeWarning)
        t1 = pred.escape_time(delta)
    times = np.linspace(0.0, 1.3 * t1.max(), 800)
    return prob, pred, pyscale.simulate(prob, "flow", t=times, rtol=1e-10)


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_first_unit_escapes_when_predicted(a):
    """The flow (p = 3, k = 2, d = 1000, δ = 0.1): the first unit's T1 within 3 % and its
    growth rate within 2 % (networks page: Escape of the quadratic network, measured); its
    regime holds."""
    prob, pred, traj = _flow_escape(a, 1000, seed=1, delta=0.1)
    res = pyscale.compare(traj, pred, delta=0.1)
    first = int(np.argmin(pred.escape.time_to(0.1)))
    row = res[f"T1[{first}]"]
    assert row["regime"] == "holds"
    assert abs(row["rel_error"]) < 0.03
    assert abs(res[f"escape_rate[{first}]"]["rel_error"]) < 0.02


def test_later_units_are_flagged_outside_the_window():
    """Units that reach δ after the first are slowed by it: the law underestimates their T1
    and says so (the window fails for the last unit, and its measured T1 is later)."""
    prob, pred, traj = _flow_escape(2.0, 1000, seed=1, delta=0.1)
    res = pyscale.compare(traj, pred, delta=0.1)
    last = int(np.argmax(pred.escape.time_to(0.1)))
    row = res[f"T1[{last}]"]
    assert row["regime"].startswith("outside its window")
    assert row["measured"] > row["predicted"]
    table = res.table()
    assert list(table["quantity"][:2]) == ["T1[0]", "escape_rate[0]"]
    assert repr(res).startswith("NetworkComparison(") and "T1(delta) of unit 2" in repr(res)


def test_linear_escape_is_the_dense_linear_solution():
    """The regime's whole linearised dynamics: S at T1_j and the crossing of δ equal the
    dense exact solution e^{a_j 𝓛 t} w_j(0) (1e-7; d = 200)."""
    prob = pyscale.Problem.power_law(200, 2.0, units=2, teacher_units=2, seed=9)
    esc = predict(prob).escape
    t1 = esc.time_to(0.1)
    crossing, s_at = linear_escape(prob, esc, 0.1, 2.0 * t1.max(), points=4000)
    ev, evec = np.linalg.eigh(_operator(prob))

    def state(t):
        return np.stack([evec @ (np.exp(aj * ev * t) * (evec.T @ prob.w0[:, j]))
                         for j, aj in enumerate(prob.readout)], axis=1)

    for j in range(2):
        w = state(t1[j])
        np.testing.assert_allclose(s_at[j], w.T @ (prob.eigenvalues[:, None] * w), rtol=1e-7)
        u = (prob.eigenvalues * state(crossing[j])[:, j]) @ prob.w_star
        assert np.max(np.abs(u) / np.diag(prob.S_star)) == pytest.approx(0.1, rel=1e-5)


@pytest.mark.parametrize("link, words", [
    ("erf", "information exponent 1"), ("relu", "information exponent 1"), ("abs", "kinked"),
    ("square,abs", "quadratic network")])
def test_predict_refuses_networks_without_theory_in_one_sentence(link, words):
    prob = pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=0, link=link)
    with pytest.raises(ValueError, match="no theory is derived") as err:
        predict(prob)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_predict_refuses_nonpositive_readouts():
    prob = pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=1, seed=0,
                                     readout=[0.5, -0.5])
    with pytest.raises(ValueError, match="positive readouts"):
        predict(prob)


def test_prediction_states_what_is_not_derived_and_refuses_other_laws():
    pred = predict(pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=0))
    assert isinstance(pred, NetworkPrediction)
    summary = pred.summary(0.1)
    assert len(summary["units"]) == 2 and summary["not_derived"]
    assert all(u["T1"] > 0 for u in summary["units"])
    assert pred.regime("tail_mse").refused
    with pytest.raises(ValueError, match="unit must be"):
        pred.regime("escape_time", unit=2)


def test_escape_time_refuses_a_start_past_the_threshold():
    pred = predict(pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=0))
    with pytest.raises(ValueError, match="not yet escaped|positive escape time"):
        pred.escape_time(1e-6)


def test_compare_checks_the_run_belongs_to_the_prediction():
    prob = pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=0)
    other = pyscale.Problem.power_law(100, 2.0, units=2, teacher_units=2, seed=1)
    traj = pyscale.simulate(other, "flow", t=np.linspace(0.0, 5.0, 20))
    with pytest.raises(ValueError, match="another problem"):
        pyscale.compare(traj, predict(prob))
    with pytest.raises(TypeError, match="NetworkPrediction"):
        pyscale.compare(traj, predict(pyscale.Problem.power_law(100, 2.0, seed=0)))
