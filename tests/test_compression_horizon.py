"""Horizon-aware compression (model page: Compression, Horizon-aware grouping): modes sized by
what runs up to t = T resolve, and the engines' refusal of runs that leave it.

References are independent of the grouping under test: the full (uncompressed) problem run by
the same engines, the uniform grouping, the tolerance rule checked index by index. The law
test compares two independent samples (KS, fixed seeds) and states its false-failure
probability under the null hypothesis that the laws are equal.
"""
import math
import warnings

import numpy as np
import pytest
import scipy.stats

import pyscale
from pyscale import Problem, simulate
from pyscale.engines import _run
from pyscale.model import compression as C

K_SMALL_START = 20.0 + 8.0 * math.sqrt(2.0)  # K for s* = 1 from L(0) = 3 s*²


def test_rate_bound_of_the_square():
    assert C.flow_rate_bound(1.0, 0.0, 0.0) == pytest.approx(K_SMALL_START, rel=1e-15)
    # Scales with s* (the flow's coefficients are linear in s*, s, u)...
    assert C.flow_rate_bound(3.0, 0.0, 0.0) == pytest.approx(3 * K_SMALL_START, rel=1e-14)
    # ... and bounds every state of lower loss: sample states on the sublevel set.
    rng = np.random.default_rng(0)
    s, u = rng.uniform(0, 3, 4000), rng.uniform(-2, 2, 4000)
    keep = (u * u <= s) & (3 * s * s + 3 - 4 * u * u - 2 * s <= 3)
    assert keep.sum() > 500
    assert C.rate_of(1.0, s[keep], u[keep]) <= K_SMALL_START
    # The bound is reached: s = 2 s*, u = √2 s* lies on the boundary (L = 3 s*²).
    assert C.rate_of(1.0, np.array([2.0]), np.array([math.sqrt(2.0)])) == pytest.approx(
        K_SMALL_START, rel=1e-15)


@pytest.mark.parametrize("d, a, delta, T", [(10**6, 2.0, 1e-3, 1e4), (10**9, 1.5, 1e-2, 1e8),
                                            (10**12, 3.0, 1e-3, 1e2), (5000, 2.0, 0.05, 10.0)])
def test_horizon_modes_follow_the_rule(d, a, delta, T):
    K = K_SMALL_START
    first, last = C.power_law_modes(d, a, delta, horizon=T, rate=K)
    assert first[0] == 1 and last[-1] == d
    np.testing.assert_array_equal(first[1:], last[:-1] + 1)
    H = C.power_law_normaliser(d, a)
    lam_star = min(1 / (K * T), math.sqrt(C.power_law_normaliser(d, 2 * a) / (H * H * d)))
    lam_first = first.astype(float) ** -a / H
    tol = delta / np.minimum(1.0, lam_first / lam_star)
    ratio = (last / first.astype(float)) ** a
    assert np.all(ratio <= (1 + tol) * (1 + 1e-12))
    # Maximal: the next index would break the mode's tolerance (but at d).
    grow = ((last[:-1] + 1) / first[:-1].astype(float)) ** a
    assert np.all(grow > (1 + tol[:-1]) * (1 - 1e-12))
    # Above λ_* it is the uniform grouping, mode for mode.
    uf, ul = C.power_law_modes(d, a, delta)
    above = lam_first >= lam_star
    n = int(above.sum())
    np.testing.assert_array_equal(first[:n], uf[:n])
    np.testing.assert_array_equal(last[:n - 1], ul[:n - 1])


def test_mode_count_stops_growing_with_d():
    counts = {d: Problem.power_law(d, 2.0, compress=1e-3, horizon=1e8).n_modes
              for d in (10**6, 10**9, 10**12)}
    uniform = {d: Problem.power_law(d, 2.0, compress=1e-3).n_modes for d in (10**6, 10**9)}
    assert uniform == {10**6: 13590, 10**9: 27411}
    assert counts[10**6] < uniform[10**6] * 0.7
    assert counts[10**9] <= counts[10**6] * 1.01 and counts[10**12] <= counts[10**6] * 1.01
    # A short horizon: fewer still (the mode chain's figure runs, t ≤ 10^4).
    assert Problem.power_law(10**9, 2.0, compress=1e-3, horizon=1e4).n_modes < 1100


def test_power_law_and_explicit_grouping_agree():
    """draw_power_law's index ranges are group()'s modes on the explicit eigenvalues."""
    d, a, delta, T, K = 5000, 2.0, 0.05, 30.0, K_SMALL_START
    explicit = Problem.power_law(d, a, seed=0)
    grouped = C.group(explicit.eigenvalues, explicit.w_star, explicit.w0, explicit.counts,
                      rtol=delta, representative="count", horizon=T, rate=K)
    first, last = C.power_law_modes(d, a, delta, horizon=T, rate=K)
    spaces = C.eigenspaces(grouped.eigenvalues, grouped.w_star, grouped.counts)
    assert grouped.n_modes == first.size < d / 10
    np.testing.assert_array_equal(spaces.count, last - first + 1)


FLOW = dict(rtol=1e-10, threads=1)


@pytest.fixture(scope="module")
def explicit_flow():
    problem = Problem.power_law(10_000, 2.0, seed=1)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 41)])
    return problem, times, simulate(problem, "flow", t=times, **FLOW)


def _errors(traj, ref):
    return (float(np.max(np.abs(traj.u - ref.u))), float(np.max(np.abs(traj.s - ref.s))),
            float(np.max(np.abs(traj.mse / ref.mse - 1.0))))


def test_flow_on_horizon_compression_matches_the_full_problem(explicit_flow):
    problem, times, full = explicit_flow
    for delta, guard in ((1e-2, 1e-6), (1e-3, 5e-7)):
        horizon = problem.compress(delta, horizon=times[-1])
        uniform = problem.compress(delta)
        assert horizon.n_modes < 0.5 * uniform.n_modes  # 409 vs 902, 1029 vs 4567
        err_h = _errors(simulate(horizon, "flow", t=times, **FLOW), full)
        err_u = _errors(simulate(uniform, "flow", t=times, **FLOW), full)
        # O(δ) both (measured u: 1.2e-7 / 4.7e-8 horizon-aware, 4.6e-8 / 4.8e-10 uniform;
        # the escape amplifies the relative error of u(0), where the horizon-aware modes
        # weigh the slow tail by one λ: see the model page). Guard with a 4-10x margin.
        assert max(err_h) < guard and max(err_u) < guard, (delta, err_h, err_u)


def test_runs_past_the_horizon_are_refused():
    p = Problem.power_law(10**6, 2.0, seed=0, compress=1e-2, horizon=100.0, noise=0.05)
    assert p.info["compressed"]["horizon"] == 100.0
    simulate(p, "flow", t=[0.0, 100.0])  # up to T is fine
    with pytest.raises(ValueError, match=r"runs up to t = 100 .*horizon >= 200"):
        simulate(p, "flow", t=[0.0, 200.0])
    with pytest.raises(ValueError, match="runs up to t = 100"):
        simulate(p, "gd", lr=0.1, steps=1001)
    with pytest.raises(ValueError, match="runs up to t = 100"):
        simulate(p, "sgd", lr=0.01, steps=10_001)
    with pytest.raises(ValueError, match="runs up to t = 100"):
        pyscale.simulate_many(p, 2, "sgd", lr=0.01, steps=10_001)
    # Resuming past T is refused as well.
    short = simulate(p, "flow", t=[0.0, 50.0])
    with pytest.raises(ValueError, match="runs up to t = 100"):
        simulate(p, "flow", t=[0.0, 150.0], resume=short)


def test_a_start_above_the_rate_bound_is_refused():
    p = Problem.power_law(10**5, 2.0, seed=0, compress=1e-2, horizon=100.0)
    far = p.with_w0(5.0 * np.asarray(p.w_star))  # loss 3·(25 − 1)² ≫ 3
    with pytest.raises(ValueError, match="above the .* sized for"):
        simulate(far, "flow", t=[0.0, 1.0])
    simulate(p.with_w0(np.asarray(p.w_star)), "flow", t=[0.0, 1.0])  # at w*: fine


def test_records_beyond_the_bound_warn():
    bound = (1.0, K_SMALL_START, pyscale.LinkPair("square"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run.check_rate(bound, np.array([0.1, 1.0, 2.0]), np.array([0.0, 1.0, 1.4]), "x")
        _run.check_rate(None, np.array([50.0]), np.array([50.0]), "x")
    with pytest.warns(RuntimeWarning, match="reached 40, above the bound K = 31.3"):
        _run.check_rate(bound, np.array([1.0, np.nan, 3.0]), np.array([1.0, 0.0, 1.0]), "x")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "x"])
def test_bad_horizons_are_refused(bad):
    with pytest.raises((ValueError, TypeError), match="horizon"):
        Problem.power_law(10**6, 2.0, compress=1e-2, horizon=bad)
    with pytest.raises((ValueError, TypeError), match="horizon"):
        Problem.power_law(1000, 2.0).compress(1e-2, horizon=bad)


def test_horizon_needs_a_compression():
    with pytest.raises(ValueError, match="pass compress=δ too"):
        Problem.power_law(1000, 2.0, horizon=10.0)


def test_norm_d_target_settles_its_rate():
    p = Problem.power_law(10**9, 1.0, seed=3, target="norm_d", compress=1e-2, horizon=1e4)
    info = p.info["compressed"]
    s0 = float(np.sum(p.eigenvalues * p.w0 ** 2))
    u0 = float(np.sum(p.eigenvalues * p.w0 * p.w_star))
    assert C.flow_rate_bound(p.s_star, s0, u0) <= info["rate"]


def test_chain_in_law_against_the_uniform_grouping():
    """Online SGD (mode chain) at d = 10^5, a = 2, to t = 20: horizon-aware (T = 20) and
    uniform δ = 10^-2 compressions, 64 members each (member k: problem seed k, SGD seed k).
    KS on |u| and s at 4 times; P(false failure) ≤ 8 · 0.001 = 0.8 %. (The d = 10^9,
    δ = 10^-3 comparison to t = 200 is in the docs: engines page, Spectral compression.)"""
    lr, steps = 0.005, 4000  # (at lr = 0.01 a member of 64 blows up in the escape)
    rec = np.array([0, 500, 1000, 2000, 4000])

    def sample(horizon):
        out = []
        for k in range(64):
            p = Problem.power_law(10**5, 2.0, seed=k, noise=0.05, compress=1e-2,
                                  horizon=horizon)
            tr = simulate(p, "sgd", lr=lr, steps=steps, record=rec, seed=k, threads=1)
            out.append(np.c_[np.abs(tr.u[1:]), tr.s[1:]])
        return np.array(out)  # (64, 4 times, 2)

    h, u = sample(steps * lr), sample(None)
    for j in range(4):
        for i in range(2):
            assert scipy.stats.ks_2samp(h[:, j, i], u[:, j, i]).pvalue > 1e-3, (j, i)


def test_bound_sizes_the_modes_for_a_larger_rate():
    """``bound=K`` sizes the modes with max(K, the flow's bound): more modes (the resolved
    eigenvalue 1/(K T) is lower), another identity, the K used in the info; a bound below
    the flow's changes nothing."""
    plain = Problem.power_law(10**9, 2.0, compress=1e-2, horizon=5e3)
    raised = Problem.power_law(10**9, 2.0, compress=1e-2, horizon=5e3, bound=100.0)
    low = Problem.power_law(10**9, 2.0, compress=1e-2, horizon=5e3, bound=1.0)
    assert plain.info["compressed"]["rate"] == pytest.approx(K_SMALL_START, rel=1e-15)
    assert raised.info["compressed"]["rate"] == 100.0
    assert raised.n_modes > plain.n_modes
    assert raised.identity() != plain.identity()
    assert low.identity() == plain.identity() and low.info == plain.info
    explicit = Problem.power_law(10**5, 2.0, seed=1)
    grouped = explicit.compress(1e-2, horizon=100.0)
    wider = explicit.compress(1e-2, horizon=100.0, bound=300.0)
    assert wider.info["compressed"]["rate"] == 300.0
    assert wider.n_modes > grouped.n_modes and wider.identity() != grouped.identity()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "x"])
def test_bad_bounds_are_refused(bad):
    with pytest.raises((ValueError, TypeError), match="bound"):
        Problem.power_law(10**6, 2.0, compress=1e-2, horizon=10.0, bound=bad)
    with pytest.raises((ValueError, TypeError), match="bound"):
        Problem.power_law(1000, 2.0).compress(1e-2, horizon=10.0, bound=bad)


def test_bound_needs_a_horizon():
    with pytest.raises(ValueError, match="pass horizon=T too"):
        Problem.power_law(10**6, 2.0, compress=1e-2, bound=50.0)
    with pytest.raises(ValueError, match="pass horizon=T too"):
        Problem.power_law(1000, 2.0).compress(1e-2, bound=50.0)
    with pytest.raises(ValueError, match="pass horizon=T too"):  # a network: never sized
        Problem.power_law(1000, 2.0, units=2, teacher_units=2).compress(1e-2, bound=50.0)


def test_a_raised_bound_survives_a_saved_file(tmp_path):
    from pyscale.app.io import load_problem, save_trajectory
    p = Problem.power_law(10**6, 2.0, compress=1e-2, horizon=10.0, bound=80.0, noise=0.05)
    tr = simulate(p, "sgd", lr=0.01, steps=1000, seed=1)
    save_trajectory(tr, tmp_path / "run.npz", problem=p)
    back = load_problem(tmp_path / "run.npz")
    assert back.identity() == p.identity()
    assert back.info["compressed"]["rate"] == 80.0
    assert _run.check_horizon(back, 10.0, np.asarray(back.w0))[1] == 80.0


def test_sgd_sized_with_a_large_enough_bound_does_not_warn():
    """Online SGD with label noise σ² = 1 at lr = 0.05 leaves the flow's K = 31.3 (its
    records reach |c0| + |c1| ≈ 50 here): it warns, with the value; the same run on modes
    sized with bound = 200 stays inside and does not."""
    rec = np.linspace(0, 400, 41).astype(int)

    def run(bound):
        p = Problem.power_law(10**5, 2.0, compress=1e-2, horizon=20.0, noise=1.0, bound=bound)
        return simulate(p, "sgd", lr=0.05, steps=400, seed=1, record=rec)

    with pytest.warns(RuntimeWarning, match=r"reached .* above the bound K = 31.3.*bound >="):
        run(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = run(200.0)
    assert C.rate_of(1.0, tr.s, tr.u) < 200.0
