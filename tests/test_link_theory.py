"""The theory for link pairs other than the square (model page: Escape for other links):
the escape law against an independent root of its dispersion relation and against the flow,
the refusals, Phase III's constant and the phases' levels against their closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

import pyscale
from pyscale.model.link_levels import phase_levels
from pyscale.theory import LinkPrediction, RegimeError


def _amplitude_start(s_star: float) -> tuple:
    """Square student, |z| teacher: ℓ = 3s² − 2√(2s*/π)(s + u²/s*) + s*, so
    c0⁰ = 4√(2 s*/π) and κ = 4√(2/(π s*)) (model page: Escape for other links)."""
    return 4.0 * math.sqrt(2.0 * s_star / math.pi), 4.0 * math.sqrt(2.0 / (math.pi * s_star))


@pytest.mark.parametrize("d, a, seed", [(1000, 2.0, 0), (10 ** 4, 1.5, 3), (300, 4.0, 1)])
def test_escape_rate_of_amplitude_measurements_is_the_root_of_its_dispersion(d, a, seed):
    problem = pyscale.Problem.power_law(d, a, seed=seed, link=("square", "abs"))
    pred = pyscale.predict(problem)
    assert isinstance(pred, LinkPrediction)
    c0, kappa = _amplitude_start(problem.s_star)
    assert pred.start == pytest.approx((c0, kappa), rel=1e-13)
    lam, ws = problem.eigenvalues, problem.w_star
    weights = (lam * ws) ** 2

    def disp(p):  # an independent NumPy evaluation, plain float sums
        return 1.0 - kappa * float(np.sum(weights / (p - c0 * lam)))

    top = c0 * lam[ws != 0].max()
    lo = top * (1 + 1e-14)  # D → −∞ at the top pole, D → 1 at infinity
    hi = top + kappa * weights.sum() + 1.0
    assert disp(lo) < 0 < disp(hi)
    root = brentq(disp, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)
    assert abs(pred.escape_rate - root) <= 1e-9 * root
    assert abs(pred.dispersion(pred.escape_rate)[0]) < 1e-9
    a_hat = float(np.sum(lam * problem.w0 * ws / (root - c0 * lam)))
    d_prime = kappa * float(np.sum(weights / (root - c0 * lam) ** 2))
    assert pred.escape_prefactor == pytest.approx(a_hat / d_prime, rel=1e-9)


def test_escape_time_of_amplitude_measurements_matches_the_flow_per_seed():
    """T1 per seed within 5 % of the flow's (exact along its dense output) at d = 10^4."""
    errors = []
    for seed in range(5):
        problem = pyscale.Problem.power_law(10 ** 4, 2.0, seed=seed, link="square,abs")
        pred = pyscale.predict(problem)
        t1 = pred.escape_time(0.05)
        assert pred.regime("escape_time", delta=0.05).holds
        traj = pyscale.simulate(problem, "flow", t=np.linspace(0.0, 2.0 * t1, 9))
        measured = traj.phases(delta=0.05).T1
        errors.append(t1 / measured - 1.0)
    print("T1 relative errors:", errors)
    assert max(abs(e) for e in errors) < 0.05, errors


@pytest.mark.parametrize("link, words", [
    ("relu", "there is no escape plateau"),
    ("erf", "there is no escape plateau"),
    ("abs", "kinked student's start is not linear"),
    (pyscale.Link.hermite([0, 0, 0, 1]), "the escape is polynomial"),
])
def test_predict_says_where_the_escape_law_does_not_apply(link, words):
    problem = pyscale.Problem.power_law(500, 2.0, seed=0, link=link)
    pred = pyscale.predict(problem)
    summary = pred.summary()
    assert summary["T1"] is None and summary["escape_rate"] is None
    assert words in summary["T1_regime"]
    for law in (lambda: pred.escape_time(0.05), lambda: pred.escape_rate,
                lambda: pred.escape_prefactor, lambda: pred.u_escape([1.0])):
        with pytest.raises(RegimeError, match=words) as err:
            law()
        assert str(err.value).count(". ") == 0  # one sentence
    assert "T1(0.05)=none" in repr(pred)


def test_relu_predict_has_no_escape_plateau():
    pred = pyscale.predict(pyscale.Problem.power_law(1000, 2.0, seed=0, link="relu"))
    assert pred.pair.information_exponent == 1
    assert pred.description.endswith("there is no escape plateau")


def test_laws_of_the_square_refuse_another_pair():
    pred = pyscale.predict(pyscale.Problem.power_law(200, 2.0, seed=0, link="square,abs"))
    for law in ("tail_mse", "t2_bound", "sgd_floor"):
        regime = pred.regime(law)
        assert regime.refused
        assert "phase retrieval (link 'square') only" in regime.reason
    with pytest.raises(RegimeError, match="student is the teacher"):
        pred.phase3_constant  # noqa: B018


@pytest.mark.parametrize("link, c0_star", [("relu", -1.0), ("abs", -2.0), ("square", -8.0),
                                           ("erf", None)])
def test_phase3_constant_is_minus_two_l_s_at_w_star(link, c0_star):
    """ReLU: c0 = −1 + √(s s* − u²)/(π s); |z|: −2 + (4/π)√(s s* − u²)/s (both −c1 at w*)."""
    pair = pyscale.LinkPair(link)
    got = pair.classify(1.0).c0_star
    c0, c1 = pair.flow_coefficients(1.0, 1.0, 1.0)
    assert c0 == pytest.approx(-c1, abs=1e-12) and got == pytest.approx(c0, abs=1e-12)
    if c0_star is not None:
        assert got == pytest.approx(c0_star, abs=1e-12)
    if link != "square":
        pred = pyscale.predict(pyscale.Problem.power_law(100, 2.0, seed=0, link=link))
        assert pred.phase3_constant == got
        assert pred.tail_time_scale == pytest.approx(abs(got) / 8.0)


@pytest.mark.parametrize("s_star", [1.0, 2.5])
def test_phase_levels_against_closed_forms(s_star):
    amp = phase_levels(pyscale.LinkPair("square", "abs"), s_star)
    root = math.sqrt(2.0 * s_star / math.pi)
    assert amp.saddle_s == pytest.approx(root / 3.0, rel=1e-11)
    assert amp.target_s == pytest.approx(2.0 * root / 3.0, rel=1e-11)
    assert amp.target_u == pytest.approx(math.sqrt(amp.target_s * s_star), rel=1e-11)
    ab = phase_levels(pyscale.LinkPair("abs"), s_star)  # c0(s, 0) = −2 + (4/π)√(s*/s)
    assert ab.saddle_s == pytest.approx(4.0 * s_star / math.pi ** 2, rel=1e-11)
    assert ab.target_s == ab.target_u == s_star
    relu = phase_levels(pyscale.LinkPair("relu"), s_star)  # c0(s, 0) = −1 + √(s*/s)/π
    assert relu.saddle_s == pytest.approx(s_star / math.pi ** 2, rel=1e-11)
    assert phase_levels(pyscale.LinkPair("erf"), s_star).saddle_s is None  # c0(s, 0) < 0
    sq = phase_levels(pyscale.LinkPair("square"), s_star)
    assert (sq.saddle_s, sq.target_s, sq.target_u) == (s_star / 3.0, s_star, s_star)


def test_phases_of_a_link_flow_use_the_pairs_levels():
    problem = pyscale.Problem.power_law(2000, 2.0, seed=0, link="square,abs")
    traj = pyscale.simulate(problem, "flow", t=np.geomspace(1e-3, 3e3, 400))
    ph = traj.phases()
    lv = phase_levels(problem.link)
    assert ph.T1 is not None and ph.T1_prime is not None and ph.T2 is not None
    after = traj.t > ph.T1_prime * (1 + 1e-9)
    assert np.all(traj.s[after] >= lv.saddle_s + 0.1 - 1e-9)
    k = np.searchsorted(traj.t, ph.T2)
    assert abs(traj.s[k] / lv.target_s - 1) <= 0.05 + 1e-9
    grid = pyscale.results.phases.grid_stopping_times(traj, ph.delta, ph.eps, ph.s0)
    # the record grid's times are the first records at or after the exact ones
    assert all(g >= e * (1 - 1e-9) for g, e in zip(grid, (ph.T1, ph.T1_prime, ph.T2)))
    erf = pyscale.simulate(pyscale.Problem.power_law(200, 2.0, seed=0, link="erf"), "flow",
                           t=np.geomspace(1e-2, 1e2, 50))
    assert erf.phases().T1_prime is None  # no saddle on the equator


def test_compare_follows_the_same_rules():
    problem = pyscale.Problem.power_law(2000, 2.0, seed=0, link="square,abs")
    traj = pyscale.simulate(problem, "flow", t=np.geomspace(1e-3, 50, 300))
    res = pyscale.compare(traj, problem)
    table = res.table().set_index("quantity")
    pred = pyscale.predict(problem)
    assert table.loc["T1", "predicted"] == pred.escape_time(0.05)
    assert table.loc["T1", "measured"] == traj.phases().T1
    assert abs(table.loc["T1", "rel_error"]) < 0.05
    # the rate fitted on log|u| over [T1 − 2/ρ, T1] (11 % here: s has grown by T1, so c0 and
    # with it the local rate have drifted) — a measured row, not a tolerance of the law
    assert abs(table.loc["escape_rate", "rel_error"]) < 0.2
    for row in ("T2", "plateau", "phase3", "tail_exponent", "phase2b_exponent"):
        assert np.isnan(table.loc[row, "predicted"])
        assert "phase retrieval (link 'square') only" in table.loc[row, "regime"]
    relu = pyscale.Problem.power_law(500, 2.0, seed=0, link="relu")
    table = pyscale.compare(pyscale.simulate(relu, "flow", t=np.geomspace(1e-3, 50, 50)),
                            relu).table().set_index("quantity")
    assert np.isnan(table.loc["T1", "predicted"]) and not np.isnan(table.loc["T1", "measured"])
    assert "no escape plateau" in table.loc["T1", "regime"]
    with pytest.raises(ValueError, match="has no plot"):
        pyscale.compare(pyscale.simulate(relu, "flow", t=[1.0, 2.0, 3.0]), relu, plot="x.png")


@pytest.mark.parametrize("link", ["relu", "abs", "erf", "tanh", "hermite(0,0,0,1)", "square"])
def test_phase3_constant_is_the_tail_rate_of_the_flow(link):
    """Near w*, a tail direction the teacher does not touch (w*_i = 0: the flow's rank-two
    coupling leaves it alone at first order) relaxes at exactly c0* λ_i: measured on the
    flow (rtol 1e-12) from w* + 10⁻⁴ e_i to 1e-6 relative (measured ≤ 6.4e-7, kinked links)."""
    lam = np.array([1.0, 0.5, 1e-3])
    w_star = np.array([0.8, 0.6, 0.0]) / math.sqrt(0.8 ** 2 + 0.5 * 0.6 ** 2)
    w0 = w_star.copy()
    w0[2] = 1e-4
    pair = pyscale.Link.hermite([0, 0, 0, 1]) if link.startswith("hermite") else link
    problem = pyscale.Problem(lam, w_star, w0, link=pair)
    c0_star = problem.link.classify(problem.s_star).c0_star
    horizon = 3.0 / (abs(c0_star) * lam[2])
    traj = pyscale.simulate(problem, "flow", t=np.array([0.0, horizon]), rtol=1e-12)
    assert traj.t[-1] == horizon
    rate = math.log(abs(traj.w[2]) / 1e-4) / horizon
    assert rate == pytest.approx(c0_star * lam[2], rel=1e-6)


def test_escape_window_flags_a_start_where_the_exponential_mode_is_not_yet_u():
    """Both sides of the window: at d = 10^4 every condition holds and T1 is within 2 % of
    the flow's; at d = 500 the whole linear dynamics crosses 18 % after C e^(ρt) does and
    the law is 21 % early — it warns (RegimeWarning), naming the condition."""
    inside = pyscale.predict(pyscale.Problem.power_law(10 ** 4, 2.0, seed=0, link="square,abs"))
    assert inside.regime("escape_time").holds
    problem = pyscale.Problem.power_law(500, 2.0, seed=0, link="square,abs")
    outside = pyscale.predict(problem)
    regime = outside.regime("escape_time")
    assert not regime.holds and not regime.refused
    assert [c.name for c in regime.failed] == ["exponential mode dominant"]
    with pytest.warns(pyscale.RegimeWarning, match="exponential mode dominant"):
        t1 = outside.escape_time(0.05)
    measured = pyscale.simulate(problem, "flow", t=np.linspace(0, 2 * t1, 9)).phases().T1
    assert t1 / measured - 1 < -0.15
