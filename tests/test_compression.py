"""Spectral compression (model page: Gradient flow, Compression): modes stored as ≤ 2 virtual
coordinates.

References are independent of the code under test: full (uncompressed) problems run by the
same engines, direct sums of Gaussians, np.sum / scipy.special.zeta for H_{d,a}.
Statistical tests use fixed seeds; each states its false-failure probability under the
null hypothesis that the two laws are equal.
"""
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats

import pyscale
from pyscale import Problem, simulate
from pyscale.analysis.compression_error import compression_error
from pyscale.model import compression as C

# The explicit-vs-compressed comparisons: d = 10^4 keeps the full flow to t = 10^6 at ~2.5 s
# (d = 10^5 at δ = 1e-3 was checked by hand: 9001 modes, |Δu| = 2.8e-10, |Δs| = 5.7e-10,
# relative MSE 3.3e-10 against a 61 s full run; see the report).
D, A, SEED = 10_000, 2.0, 1
TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, 61)])
FLOW = dict(t=TIMES, rtol=1e-9, threads=1)


@pytest.fixture(scope="module")
def explicit():
    return Problem.power_law(D, A, seed=SEED)


@pytest.fixture(scope="module")
def full_flow(explicit):
    return simulate(explicit, "flow", **FLOW)


def _errors(traj, ref):
    return (float(np.max(np.abs(traj.u - ref.u))), float(np.max(np.abs(traj.s - ref.s))),
            float(np.max(np.abs(traj.mse / ref.mse - 1.0))))


# ------------------------------------------------------------------ accuracy of the flow
def test_compressed_explicit_problem_matches_full_flow(explicit, full_flow):
    compressed = explicit.compress(1e-2)
    assert compressed.is_compressed
    assert compressed.n_modes < D / 10  # 902 modes for 10^4 coordinates
    assert compressed.n_coords <= 2 * compressed.n_modes
    traj = simulate(compressed, "flow", **FLOW)
    assert traj.status == "completed" and traj.meta["d"] == D
    du, ds, dmse = _errors(traj, full_flow)
    # The requirement (u, s within 1e-3, MSE within 1 %) ...
    assert du < 1e-3 and ds < 1e-3 and dmse < 1e-2
    # ... and what the O(δ) analysis gives with the w*²-weighted eigenvalue (measured
    # 3.9e-8, 6.3e-8, 8.5e-7): a regression guard with a 25x margin.
    assert du < 1e-6 and ds < 2e-6 and dmse < 2e-5


def test_error_shrinks_with_delta(explicit, full_flow):
    errors = []
    for delta in (0.08, 0.02, 0.005):
        errors.append(_errors(simulate(explicit.compress(delta), "flow", **FLOW), full_flow))
    errors = np.array(errors)  # rows: δ; columns: u, s, mse
    assert np.all(np.diff(errors, axis=0) < 0), errors
    # 16x smaller δ: at least 10x smaller error (measured ~100-1000x: the first-order term
    # of the w*²-weighted mean cancels, see compress()).
    assert np.all(errors[-1] < errors[0] / 10), errors


def test_compression_error_estimates_the_actual_error(explicit, full_flow):
    delta = 0.02
    est = compression_error(explicit, method="flow", rtol=delta, t=TIMES,
                              solver_rtol=FLOW["rtol"], threads=1)
    actual = _errors(simulate(explicit.compress(delta), "flow", **FLOW), full_flow)
    assert est["n_modes"][0] == explicit.compress(delta).n_modes
    assert est["n_modes"][0] < est["n_modes"][1] < D
    # δ vs δ/2 estimates the error at δ within a factor 4 (measured ratios 0.9 and 0.8).
    for key, true in (("u", actual[0]), ("mse", actual[2])):
        assert true / 4 < est[key] < 4 * true, (key, est[key], true)


def test_compression_error_on_power_law_parameters():
    """At d = 10^9 the estimate comes from one realisation drawn at δ/2 and regrouped at δ
    (count-weighted, as the sampler). It must shrink fast with δ: measured for seed 3,
    |Δu| = 3.7e-3 at δ = 0.08 (grouping then reaches i ≈ 25, where the head still carries
    u(0), the escape's driver) against 7.9e-7 at δ = 0.02. The MSE hardly moves before
    t = 10^4 at this d (relative differences ~1e-10, the solver's level)."""
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 21)])
    coarse = compression_error({"d": 10**9, "a": 2.0, "seed": 3}, rtol=0.08, t=times,
                                 threads=1)
    finer = compression_error({"d": 10**9, "a": 2.0, "seed": 3}, rtol=0.02, t=times,
                                threads=1)
    assert coarse["n_modes"][0] < finer["n_modes"][0] < 10**4
    for key in ("u", "s"):
        assert 0 < finer[key] < coarse[key] / 100, (key, finer[key], coarse[key])
    assert finer["u"] < 1e-5 and finer["s"] < 1e-5
    assert coarse["mse"] < 1e-6 and finer["mse"] < 1e-6
    traj_coarse, traj_fine = finer["trajectories"]
    assert traj_coarse.meta["d"] == traj_fine.meta["d"] == 10**9


def test_exact_when_groups_have_equal_eigenvalues():
    """Three eigenvalue levels of 300 coordinates each: compression loses nothing, so GD
    (no step-size control) agrees to rounding and the flow to its tolerance."""
    rng = np.random.default_rng(5)
    lam = np.repeat([0.5, 0.1, 0.002], 300)
    lam = lam / lam.sum()
    g, h = rng.standard_normal(lam.size), rng.standard_normal(lam.size)
    full = Problem(lam, g / np.sqrt(lam @ (g * g)), h / np.linalg.norm(h))
    compressed = full.compress(1e-6)
    assert compressed.n_modes == 3 and compressed.n_coords == 6
    assert compressed.counts.sum() == full.d
    gd_full = simulate(full, "gd", lr=0.05, steps=4000, threads=1)
    gd_comp = simulate(compressed, "gd", lr=0.05, steps=4000, threads=1)
    for key in ("u", "s", "s2", "u2", "loss"):
        np.testing.assert_allclose(getattr(gd_comp, key), getattr(gd_full, key),
                                   rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gd_comp.mse, gd_full.mse, rtol=1e-10)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 41)])
    fl_full = simulate(full, "flow", t=times, rtol=1e-10, threads=1)
    fl_comp = simulate(compressed, "flow", t=times, rtol=1e-10, threads=1)
    np.testing.assert_allclose(fl_comp.u, fl_full.u, rtol=0, atol=1e-7)
    np.testing.assert_allclose(fl_comp.s, fl_full.s, rtol=0, atol=1e-7)
    np.testing.assert_allclose(fl_comp.mse, fl_full.mse, rtol=1e-7)


def test_gd_runs_on_compressed_power_law():
    full = Problem.power_law(D, A, seed=2)
    compressed = full.compress(1e-2)
    kw = dict(lr=0.05, steps=20_000, record=50, threads=1)
    ref, traj = simulate(full, "gd", **kw), simulate(compressed, "gd", **kw)
    np.testing.assert_array_equal(ref.t, traj.t)
    du, ds, dmse = _errors(traj, ref)
    assert du < 1e-5 and ds < 1e-5 and dmse < 1e-4


# ------------------------------------------------------------------ what compress() keeps
def test_compress_keeps_head_and_gram_sums(explicit):
    delta = 1e-2
    compressed = explicit.compress(delta)
    lam = explicit.eigenvalues
    # Head: λ_i/λ_{i+1} = (1 + 1/i)^a > 1 + δ  ⇔  exact single coordinates.
    n_head = int(np.sum(lam[:-1] / lam[1:] > 1 + delta))
    np.testing.assert_array_equal(compressed.eigenvalues[:n_head], lam[:n_head])
    np.testing.assert_array_equal(compressed.w_star[:n_head], explicit.w_star[:n_head])
    np.testing.assert_array_equal(compressed.counts[:n_head], 1.0)
    # Inner products within modes are exact, hence ||w0||², <w0, w*>, ||w*||² and the MSE.
    for x, y in (("w0", "w0"), ("w0", "w_star"), ("w_star", "w_star")):
        assert math.isclose(getattr(compressed, x) @ getattr(compressed, y),
                            getattr(explicit, x) @ getattr(explicit, y), rel_tol=1e-12)
    assert math.isclose(pyscale.statistics(compressed)["mse"],
                        pyscale.statistics(explicit)["mse"], rel_tol=1e-12)
    assert compressed.counts.sum() == D and compressed.d == D
    # The default w*²-weighted eigenvalue keeps s* = Σ λ_i w*_i² exactly.
    assert math.isclose(compressed.s_star, explicit.s_star, rel_tol=1e-13)
    assert compressed.info["compressed"]["n_modes"] == compressed.n_modes
    assert explicit.n_modes == D and not explicit.is_compressed


def test_compress_groups_within_tolerance():
    rng = np.random.default_rng(0)
    lam = np.exp(rng.uniform(-12, 0, 3000))
    p = Problem(lam, rng.standard_normal(3000), rng.standard_normal(3000))
    for delta in (1e-3, 0.1, 0.5):
        c = p.compress(delta, representative="count")
        # Count-weighted means preserve tr Q.
        assert math.isclose(c.counts @ c.eigenvalues, lam.sum(), rel_tol=1e-12)
        # Recover the groups: each mode's eigenvalue and the member range around it.
        levels = np.unique(c.eigenvalues)[::-1]
        srt = np.sort(lam)[::-1]
        edges = np.concatenate([[0], np.cumsum([c.counts[c.eigenvalues == v].sum()
                                                for v in levels]).astype(int)])
        for k in range(levels.size):
            members = srt[edges[k]:edges[k + 1]]
            assert members[0] <= (1 + delta) * members[-1] * (1 + 1e-15)
            assert members[-1] <= levels[k] <= members[0]
        assert c.n_modes == levels.size


def test_compress_is_order_independent_and_recompressible(explicit):
    perm = np.random.default_rng(1).permutation(D)
    shuffled = Problem(explicit.eigenvalues[perm], explicit.w_star[perm], explicit.w0[perm])
    a, b = explicit.compress(0.01), shuffled.compress(0.01)
    assert a.n_modes == b.n_modes
    for key, value in pyscale.statistics(a).items():
        assert math.isclose(value, pyscale.statistics(b)[key], rel_tol=1e-10,
                            abs_tol=1e-15), key
    # Recompressing a compressed problem keeps every Gram sum and the true dimension.
    again = a.compress(0.1)
    assert again.n_modes < a.n_modes and again.d == D and again.counts.sum() == D
    assert math.isclose(again.w0 @ again.w_star, explicit.w0 @ explicit.w_star,
                        rel_tol=1e-10)
    assert math.isclose(pyscale.statistics(again)["mse"], pyscale.statistics(explicit)["mse"],
                        rel_tol=1e-12)


def test_compress_degenerate_modes():
    """w(0) = 0, w(0) ∥ w* and w* = 0 within a mode need one stored coordinate."""
    lam = np.repeat([0.4, 0.3, 0.2, 0.1], 5)
    w_star = np.concatenate([np.ones(5), np.arange(5.0), np.zeros(5), np.ones(5)])
    w0 = np.concatenate([np.zeros(5), 2 * np.arange(5.0), np.ones(5), np.zeros(5)])
    p = Problem(lam, w_star, w0)
    c = p.compress(1e-3)
    assert c.n_modes == 4 and c.n_coords == 4
    np.testing.assert_allclose(c.w0, [0.0, 2 * math.sqrt(30.0), math.sqrt(5.0), 0.0])
    np.testing.assert_allclose(c.w_star, [math.sqrt(5.0), math.sqrt(30.0), 0.0,
                                          math.sqrt(5.0)])
    np.testing.assert_array_equal(c.counts, 5.0)
    ref, traj = (simulate(q, "gd", lr=1e-3, steps=300, threads=1) for q in (p, c))
    np.testing.assert_allclose(traj.u, ref.u, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(traj.mse, ref.mse, rtol=1e-12)


# ------------------------------------------------------------------ power-law sampler
def test_normaliser_against_independent_sums():
    for a in (0.0, 0.5, 1.0, 2.0, 4.0):
        for d in (1, 255, 256, 257, 1000, 100_000):
            direct = np.sum((np.arange(1, d + 1, dtype=np.float64) ** -a)[::-1])
            assert math.isclose(C.power_law_normaliser(d, a), direct, rel_tol=2e-15), (a, d)
    d = 10**9
    for a in (1.5, 2.0, 4.0):
        zeta = scipy.special.zeta(a, 1) - scipy.special.zeta(a, d + 1)
        assert math.isclose(C.power_law_normaliser(d, a), zeta, rel_tol=2e-15), a
    # a ≤ 1: the classical asymptotic expansions (error O(d^-4) and O(d^-3.5) here).
    harmonic = math.log(d) + np.euler_gamma + 1 / (2 * d) - 1 / (12 * d**2)
    assert math.isclose(C.power_law_normaliser(d, 1.0), harmonic, rel_tol=2e-15)
    half = 2 * math.sqrt(d) + scipy.special.zeta(0.5) + 1 / (2 * math.sqrt(d))
    assert math.isclose(C.power_law_normaliser(d, 0.5), half, rel_tol=2e-15)


def test_power_law_modes_structure():
    for d, a, delta in ((5000, 2.0, 0.05), (10**9, 1.5, 1e-3), (10**12, 4.0, 1e-2),
                        (7, 0.0, 0.1), (10**6, 0.3, 0.5)):
        first, last = C.power_law_modes(d, a, delta)
        assert first[0] == 1 and last[-1] == d
        np.testing.assert_array_equal(first[1:], last[:-1] + 1)
        assert np.all((last / first) ** a <= (1 + delta) * (1 + 1e-12))
        # Maximal groups: adding the next index would break the tolerance.
        assert np.all(((last[:-1] + 1) / first[:-1]) ** a > (1 + delta) * (1 - 1e-12))
        assert first.size < 2e5
    # Same grouping as compress() on the explicit eigenvalues.
    explicit = Problem.power_law(5000, 2.0, seed=0).compress(0.05, representative="count")
    sampled = Problem.power_law(5000, 2.0, seed=0, compress=0.05)
    np.testing.assert_array_equal(explicit.counts, sampled.counts)
    np.testing.assert_allclose(explicit.eigenvalues, sampled.eigenvalues, rtol=1e-13)


@pytest.mark.parametrize("target", ["unit_q", "norm_d"])
def test_compressed_power_law_normalisations(target):
    d = 10**12  # no length-d vector: this is ~4e4 modes
    p = Problem.power_law(d, 2.0, seed=4, target=target, compress=1e-3, noise=0.1)
    assert p.d == d and p.counts.sum() == d and p.n_coords < 2 * p.n_modes + 1
    assert p.n_modes < 10**5 and p.noise == 0.1
    assert math.isclose(p.counts @ p.eigenvalues, 1.0, rel_tol=1e-13)  # tr Q = 1
    assert math.isclose(p.w0 @ p.w0, 1.0, rel_tol=1e-13)  # w(0) on the unit sphere
    if target == "unit_q":
        assert math.isclose(p.s_star, 1.0, rel_tol=1e-13)
    else:
        assert math.isclose(p.star_norm2, d, rel_tol=1e-13)
    assert p.info["a"] == 2.0 and p.info["compressed"]["rtol"] == 1e-3
    # Head modes are single coordinates with exact eigenvalues i^-a / H.
    head = C.power_law_normaliser(d, 2.0)
    np.testing.assert_allclose(p.eigenvalues[:100], np.arange(1, 101.0) ** -2 / head,
                               rtol=1e-15)
    np.testing.assert_array_equal(p.counts[:100], 1.0)
    # Reproducible from the seed.
    q = Problem.power_law(d, 2.0, seed=4, target=target, compress=1e-3, noise=0.1)
    np.testing.assert_array_equal(p.w0, q.w0)


def test_bartlett_sampler_matches_direct_gram_sums():
    """Gram sums of n = 3 Gaussian pairs: Bartlett draws vs direct draws, two-sample KS
    on S_gg, S_gh, S_hh and on det G (which depends on their joint law); α = 1e-3 each:
    false failure ≤ 4e-3 under the null (which holds exactly here)."""
    n_draws = 4000
    rng = np.random.default_rng(11)
    g1, h1, h2 = C.sample_mode_grams(np.full(n_draws, 3), rng)
    bartlett = [g1 * g1, g1 * h1, h1 * h1 + h2 * h2]
    x = np.random.default_rng(12).standard_normal((n_draws, 3, 2))
    direct = [(x[..., 0] ** 2).sum(1), (x[..., 0] * x[..., 1]).sum(1),
              (x[..., 1] ** 2).sum(1)]
    for sums in (bartlett, direct):
        sums.append(sums[0] * sums[2] - sums[1] ** 2)
    for b, r in zip(bartlett, direct):
        assert scipy.stats.ks_2samp(b, r).pvalue > 1e-3
    # Size-one modes are plain Gaussians (signed, not |g|).
    g1, h1, h2 = C.sample_mode_grams(np.ones(n_draws, dtype=np.int64), rng)
    assert np.all(h2 == 0) and (g1 < 0).any()
    assert scipy.stats.kstest(g1, "norm").pvalue > 1e-3


def _u0_s0(problems):
    stats = [pyscale.statistics(p) for p in problems]
    return np.array([s["u"] for s in stats]), np.array([s["s"] for s in stats])


def test_initial_overlaps_distributed_as_full_draws():
    """u(0) (which drives the escape) and s(0) over seeds: compressed power-law draws vs
    (i) full draws and (ii) full draws compressed with the same grouping (the same law
    exactly). Two-sample KS at α = 1e-3 and z-tests of mean and variance at |z| < 3.9
    (two-sided 1e-4): false failure ≤ 4·1e-3 + 8·1e-4 ≈ 5e-3 under the null; fixed seeds.
    Against full draws the null holds up to the grouping's change of the law, O(δ²) in
    the spectrum's moments (Σ n λ̄² vs Σ λ_i²), far below what 1500 draws resolve."""
    d, a, delta, n = 5000, 2.0, 0.05, 1500
    sampled = _u0_s0(Problem.power_law(d, a, seed=k, compress=delta) for k in range(n))
    full = _u0_s0(Problem.power_law(d, a, seed=10_000 + k) for k in range(n))
    regrouped = _u0_s0(Problem.power_law(d, a, seed=20_000 + k).compress(
        delta, representative="count") for k in range(n))
    assert Problem.power_law(d, a, seed=0, compress=delta).n_modes < d / 20
    for ref in (full, regrouped):
        for x, y in zip(sampled, ref):
            assert scipy.stats.ks_2samp(x, y).pvalue > 1e-3
            z_mean = (x.mean() - y.mean()) / math.sqrt(x.var() / n + y.var() / n)
            # Var of a sample variance ≈ (μ4 − σ⁴)/n.
            se_var = math.sqrt(sum((np.mean((v - v.mean()) ** 4) - v.var() ** 2) / n
                                   for v in (x, y)))
            z_var = (x.var() - y.var()) / se_var
            assert abs(z_mean) < 3.9 and abs(z_var) < 3.9, (z_mean, z_var)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("rtol", [0.0, -1e-3, float("nan"), float("inf"), "abc", None])
def test_bad_rtol_is_rejected(explicit, rtol):
    with pytest.raises((ValueError, TypeError), match="rtol"):
        explicit.compress(rtol)
    with pytest.raises((ValueError, TypeError), match="compress"):
        Problem.power_law(1000, 2.0, compress=rtol if rtol is not None else 0.0)
    with pytest.raises((ValueError, TypeError), match="rtol"):
        C.power_law_modes(1000, 2.0, rtol if rtol is not None else -1.0)


def test_other_bad_input(explicit):
    with pytest.raises(ValueError, match="representative"):
        explicit.compress(0.01, representative="median")
    with pytest.raises(ValueError, match="target"):
        Problem.power_law(1000, 2.0, target="unit", compress=0.01)
    with pytest.raises(ValueError, match="d must be"):
        Problem.power_law(0, 2.0, compress=0.01)
    with pytest.raises(ValueError, match="a must be"):
        Problem.power_law(1000, -1.0, compress=0.01)
    with pytest.raises(ValueError, match="modes"):
        C.power_law_modes(10**15, 2.0, 1e-9)  # would need ~10^10 modes
    with pytest.raises(ValueError, match="first <= last"):
        C.mode_power_sums([5], [4], 2.0)
    with pytest.raises(ValueError, match="method"):
        compression_error(explicit, method="sgd", rtol=0.01, t=1.0)
    with pytest.raises(ValueError, match="explicit problem"):
        compression_error(explicit.compress(0.01), rtol=0.01, t=1.0)
    with pytest.raises(ValueError, match="power-law parameters"):
        compression_error({"d": 100}, rtol=0.01, t=1.0)
    with pytest.raises(TypeError):
        compression_error([1, 2], rtol=0.01, t=1.0)
    with pytest.raises(ValueError, match="rtol"):
        explicit.compress(10)  # δ >= 1 would merge eigenvalues a factor 2 apart
