"""Online SGD on compressed problems: the mode chain (csrc/include/pyscale/steps/mode_chain.hpp,
pyscale/engines/chain.py), validated in distribution against the full engine (two-sample KS
tests and means within standard errors over fixed seed sets), plus its bitwise contracts
(threads, resume, ensembles) and the seed streams across dimensions."""
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pyscale import DivergenceError, Interrupted, Problem, simulate, simulate_many
from pyscale.engines.chain import modes_of
from pyscale.model.statistics import statistics

R = 200                  # seeds per engine
CHAIN_SEEDS = np.arange(10**6, 10**6 + R)  # disjoint from the full engine's 0 .. R-1
KS_P = 1e-3              # two-sample KS p-values must stay above this
MEAN_SE = 4.0            # means within this many standard errors of the difference


def _same_law(full, chain, k, extra_tol=0.0):
    """MSE and |u| at record k: KS p-value > KS_P and means within MEAN_SE standard errors
    (plus extra_tol, for a known O(δ) bias)."""
    for name in ("mse", "abs_u"):
        a = getattr(full, name)[:, k]
        b = getattr(chain, name)[:, k]
        p = stats.ks_2samp(a, b).pvalue
        se = math.hypot(a.std(ddof=1), b.std(ddof=1)) / math.sqrt(R)
        gap = abs(a.mean() - b.mean())
        assert p > KS_P, (name, k, p)
        assert gap < MEAN_SE * se + extra_tol, (name, k, gap, se)


def _ensembles(full_problem, chain_problem, steps, rec, lr=0.05, noise=0.05, members=R):
    opts = dict(lr=lr, steps=steps, record=rec, noise=noise, threads=1)
    full = simulate_many(full_problem, members, "sgd", **opts)
    chain = simulate_many(chain_problem, CHAIN_SEEDS[:members], "sgd", **opts)
    assert chain.meta["engine"] == "mode_chain" and full.meta["engine"] == "full"
    return full, chain


# ------------------------------------------------------------------ the mapping
def test_isotropic_power_law_is_one_mode():
    for d in (500, 10**9):
        p = Problem.power_law(d, 0.0, compress=1e-3)
        m = modes_of(p)
        assert p.n_modes == 1 and m.size == 1 and m.count[0] == d
        assert m.second[0] == 1 and p.w_star[1] == 0.0


def test_equal_eigenvalues_compress_exactly():
    rng = np.random.default_rng(4)
    lam = np.repeat(np.linspace(1.0, 0.05, 20), 50)
    lam /= lam.sum()
    g, h = rng.standard_normal((2, lam.size))
    full = Problem(lam, g / math.sqrt(lam @ g**2), h / np.linalg.norm(h))
    comp = full.compress(1e-9)
    m = modes_of(comp)
    assert comp.n_modes == 20 and m.size == 20 and np.all(m.count == 50)
    assert set(m.lam) == set(lam)  # each mode keeps its exact eigenvalue
    ref, got = statistics(full), statistics(comp)
    for key in ref:
        assert got[key] == pytest.approx(ref[key], rel=1e-12)


def test_layouts_the_chain_cannot_run_are_refused():
    lam = np.array([0.5, 0.5, 0.5, 0.25])
    bad = Problem(lam, np.ones(4), np.ones(4) / 2, d=8, counts=np.full(4, 2.0))
    with pytest.raises(ValueError, match="recompress"):
        modes_of(bad)
    # A rank-one mode (w(0) parallel to w*) of 5 coordinates stored in one coordinate.
    p = Problem(np.repeat([0.3, 0.1], 5), np.ones(10), np.r_[np.ones(5), np.arange(5.0)])
    with pytest.raises(ValueError, match="second stored coordinate"):
        simulate(p.compress(1e-6), "sgd", lr=0.01, steps=5)


# ------------------------------------------------------------------ exact in law
def test_isotropic_chain_matches_the_full_engine_through_the_escape():
    full = Problem.power_law(500, 0.0, seed=1, noise=0.05)
    rec = [1000, 2000, 3000, 4000]
    f, c = _ensembles(full, full.compress(1e-6), 4000, rec)
    assert np.median(f.mse[:, -1]) < 0.95  # the escape is under way at the last record
    for k in range(len(rec)):
        _same_law(f, c, k)


def test_isotropic_chain_matches_the_full_engine_at_the_floor():
    # Started near w* (with a component across it: two stored coordinates), both relax to
    # the SGD noise floor ~ lr sigma^2 (model page: SGD floor) within t ~ 1 / (16 lambda).
    full = Problem.power_law(500, 0.0, seed=2, noise=0.05)
    rng = np.random.default_rng(0)
    e = rng.standard_normal(500)
    start = full.with_w0(full.w_star + 0.05 * math.sqrt(500) * e / np.linalg.norm(e))
    f, c = _ensembles(start, start.compress(1e-6), 3000, [3000])
    floor = 0.05 * 0.05
    assert 0.5 * floor < np.mean(f.mse[:, 0]) < 3 * floor
    _same_law(f, c, 0)


def test_repeated_spectrum_chain_matches_the_full_engine():
    # 20 distinct eigenvalues, each 50 times: exact grouping, modes of n = 50.
    rng = np.random.default_rng(7)
    lam = np.repeat(np.arange(1, 21, dtype=float) ** -1.0, 50)
    lam /= lam.sum()
    g, h = rng.standard_normal((2, lam.size))
    full = Problem(lam, g / math.sqrt(lam @ g**2), h / np.linalg.norm(h), noise=0.05)
    comp = full.compress(1e-9)
    assert comp.n_modes == 20
    rec = [300, 600, 900, 1500]
    f, c = _ensembles(full, comp, 1500, rec)
    assert np.median(f.mse[:, -1]) < np.median(f.mse[:, 0])  # learning under way
    for k in range(len(rec)):
        _same_law(f, c, k)


def test_grouped_power_law_matches_the_full_problem_to_the_grouping_error():
    # a = 2, d = 10^4, δ = 10^-3: ~4.6e3 modes (2e3 of them the exact head). The grouping
    # moves each eigenvalue by a relative O(δ), hence the statistics by O(δ) relative:
    # allowed on top of 4 standard errors.
    delta = 1e-3
    full = Problem.power_law(10**4, 2.0, seed=3, noise=0.05)
    comp = full.compress(delta)
    assert comp.n_modes < full.d / 2
    # lr = 0.005: at 0.02 about 8% of the runs diverge (in both engines) near the escape.
    rec = [200, 400, 600]
    members = 64  # the chain costs ~25 ns per mode and step: 4.6e3 modes here
    f, c = _ensembles(full, comp, 600, rec, lr=0.005, members=members)
    assert np.mean(f.abs_u[:, -1]) > 0.5  # through the escape by the last record
    for k in range(len(rec)):
        for name in ("mse", "abs_u"):
            a, b = getattr(f, name)[:, k], getattr(c, name)[:, k]
            se = math.hypot(a.std(ddof=1), b.std(ddof=1)) / math.sqrt(members)
            assert abs(a.mean() - b.mean()) < MEAN_SE * se + 2 * delta * abs(a.mean())


def test_small_modes_one_two_and_three_coordinates():
    # n = 1 (alpha only), n = 2 (no chi-square), n = 3 (chi-square with one degree of
    # freedom: the boost of the gamma sampler) against the full engine.
    lam = np.repeat([0.4, 0.2, 0.1, 0.05], [1, 2, 3, 4])
    lam /= lam.sum()
    rng = np.random.default_rng(11)
    g, h = rng.standard_normal((2, lam.size))
    full = Problem(lam, g / math.sqrt(lam @ g**2), h / np.linalg.norm(h), noise=0.05)
    comp = full.compress(1e-9)
    assert list(modes_of(comp).count) == [1, 2, 3, 4]
    f, c = _ensembles(full, comp, 400, [100, 400], lr=0.01)
    for k in range(2):
        _same_law(f, c, k)


# ------------------------------------------------------------------ bitwise contracts
@pytest.fixture(scope="module")
def big():
    # ~2.7e4 modes: enough for the chain to use threads.
    return Problem.power_law(10**9, 2.0, seed=5, noise=0.05, compress=1e-3)


@pytest.mark.parametrize("batch", [1, 2])
def test_threads_do_not_change_the_bits(big, batch):
    opts = dict(lr=0.02, steps=60, record=[0, 30, 60], seed=9, batch=batch)
    one = simulate(big, "sgd", threads=1, **opts)
    two = simulate(big, "sgd", threads=2, **opts)
    assert two.meta["engine"] == "mode_chain"
    np.testing.assert_array_equal(one.w, two.w)
    np.testing.assert_array_equal(one.u, two.u)
    np.testing.assert_array_equal(one.meta["online_loss"], two.meta["online_loss"])
    # The records are the project's statistics of the returned state.
    ref = statistics(big, one.w)
    assert one.u[-1] == pytest.approx(ref["u"], rel=1e-12)
    assert one.mse[-1] == pytest.approx(ref["mse"], rel=1e-12)
    assert one.s[-1] == pytest.approx(ref["s"], rel=1e-12)


# First layout: modes of 1, 2, 3 and many coordinates, a chunk of single coordinates only
# (no chi-square) and counts that leave a tail of fewer than eight modes to the scalar loops
# (the update's, and the 8-lane sums p, q: 644 modes, chunks of 512 and 132). Second: runs
# of single coordinates before, inside and after the modes of several, starting and ending
# off the groups of eight (the vector paths skip the beta term there), and a last chunk
# with such runs and a tail. Third: a last chunk of single coordinates only, with a tail.
LAYOUTS = [np.r_[np.ones(600), [2, 3, 1, 2], np.arange(3, 40), [2, 1, 1]],
           np.r_[np.ones(3), [2, 5, 2], np.ones(13), np.arange(3, 30), [2], np.ones(45),
                 [7, 1, 3], np.ones(430), np.arange(3, 12), np.ones(21)],
           np.r_[np.arange(3, 40), np.ones(500)]]


@pytest.mark.parametrize("layout", [0, 1, 2])
@pytest.mark.parametrize("batch", [1, 2, 4])
def test_vector_and_scalar_paths_give_the_same_bits(batch, layout):
    counts = LAYOUTS[layout]
    lam = 1.0 / (1.0 + np.arange(counts.size)) ** 1.5
    lam /= lam @ counts
    rng = np.random.default_rng(5)
    g, h = rng.standard_normal((2, lam.size))
    full = Problem(np.repeat(lam, counts.astype(int)), np.repeat(g, counts.astype(int)),
                   np.repeat(h, counts.astype(int)) + rng.standard_normal(int(counts.sum())),
                   noise=0.05)
    comp = full.compress(1e-12)
    assert list(modes_of(comp).count) == list(counts)
    opts = dict(lr=0.01, steps=300, record=[0, 100, 300], seed=2, batch=batch, threads=1)
    vec = simulate(comp, "sgd", simd=True, **opts)
    ref = simulate(comp, "sgd", simd=False, **opts)
    assert vec.meta["engine"] == "mode_chain"
    np.testing.assert_array_equal(vec.w, ref.w)
    np.testing.assert_array_equal(vec.mse, ref.mse)
    np.testing.assert_array_equal(vec.meta["online_loss"], ref.meta["online_loss"])


@pytest.fixture(scope="module")
def small():
    lam = np.repeat([0.3, 0.2, 0.1, 0.05], [1, 20, 100, 400])
    lam /= lam.sum()
    rng = np.random.default_rng(2)
    g, h = rng.standard_normal((2, lam.size))
    return Problem(lam, g / math.sqrt(lam @ g**2), h / np.linalg.norm(h),
                   noise=0.05).compress(1e-9)


def test_interrupt_and_resume_continue_exactly(small):
    rec = np.arange(0, 3001, 200)
    opts = dict(lr=0.02, steps=3000, record=rec, seed=3, batch=2)
    whole = simulate(small, "sgd", **opts)
    with pytest.raises(Interrupted) as err:
        simulate(small, "sgd", progress=lambda t, k: k < 1100, progress_every=100, **opts)
    part = err.value.trajectory
    assert part.meta["last_step"] == 1100 and len(part) == 6
    done = simulate(small, "sgd", resume=part, **opts)
    np.testing.assert_array_equal(done.w, whole.w)
    np.testing.assert_array_equal(done.mse, whole.mse)
    np.testing.assert_array_equal(done.meta["online_loss"], whole.meta["online_loss"])
    with pytest.raises(ValueError, match="streams must be the interrupted run"):
        simulate(small, "sgd", resume=part, streams="common", **opts)


def test_a_run_saved_with_the_earlier_sum_order_is_refused(small):
    # Runs saved before the 8-lane sums carry no "sums" in their run options (nor in their
    # run identity): continuing one would match neither version's run.
    opts = dict(lr=0.02, steps=300, record=[0, 100, 300], seed=3)
    with pytest.raises(Interrupted) as err:
        simulate(small, "sgd", progress=lambda t, k: k < 100, progress_every=100, **opts)
    part = err.value.trajectory
    assert part.meta["run_options"]["sums"] == "8 lanes"
    del part.meta["run_options"]["sums"]
    with pytest.raises(ValueError, match="saved by an earlier pyscale.*rerun it from the start"):
        simulate(small, "sgd", resume=part, **opts)


def test_ensemble_members_are_the_single_runs(small):
    seeds = [4, 2**63 + 5]
    opts = dict(lr=0.02, steps=500, record=5, batch=3)
    ens = simulate_many(small, seeds, "sgd", threads=2, **opts)
    for i, s in enumerate(seeds):
        tr = simulate(small, "sgd", seed=s, **opts)
        np.testing.assert_array_equal(ens.w[i], tr.w)
        np.testing.assert_array_equal(ens.mse[i], tr.mse)
        np.testing.assert_array_equal(ens.train_loss[i][1:], tr.meta["online_loss"][1:])


def test_divergence_says_at_which_step(small):
    with pytest.raises(DivergenceError, match=r"online SGD diverged at step \d+") as err:
        simulate(small, "sgd", lr=20.0, steps=1000, seed=0)
    assert 1 <= err.value.step < 1000
    assert np.all(np.isfinite(err.value.trajectory.mse))
    with pytest.raises(DivergenceError, match="the ensemble diverged at step"):
        simulate_many(small, 2, "sgd", lr=20.0, steps=1000)


def test_ctrl_c_stops_the_chain_with_its_trajectory():
    p = Problem.power_law(1000, 0.0, seed=1, compress=1e-3)
    deadline = time.monotonic() + 30  # if SIGINT were lost: stop, and fail on the message
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(Interrupted, match="Ctrl-C") as err:
            simulate(p, "sgd", lr=0.01, steps=10**9, record=[0, 10**9], progress_every=1000,
                     progress=lambda t, k: time.monotonic() < deadline)
    finally:
        timer.cancel()
    part = err.value.trajectory
    assert 0 < part.meta["last_step"] < 10**9 and part.w is not None


def test_finite_sample_gd_stays_refused(small):
    with pytest.raises(ValueError, match="data reuse does not reduce to modes"):
        simulate(small, "erm", n_samples=10, lr=0.01, steps=5)


# ------------------------------------------------------------------ streams across d
# Runs saved from the code before independent streams existed (tests/data/
# reference_runs.npz, made by tests/data/make_reference_runs.py on saved explicit problems).
SAVED = np.load(Path(__file__).parent / "data" / "reference_runs.npz")


def _saved_problem(key):
    noise, d = SAVED[f"{key}/scalars"]
    return Problem(SAVED[f"{key}/eigenvalues"], SAVED[f"{key}/w_star"], SAVED[f"{key}/w0"],
                   noise=float(noise), d=int(d), counts=SAVED[f"{key}/counts"])


@pytest.mark.parametrize("name,method,opts", [
    ("sgd", "sgd", {"lr": 5e-3, "steps": 3000, "record": 30, "seed": 11}),
    ("erm", "erm", {"lr": 5e-3, "steps": 800, "record": 20, "seed": 4, "n_samples": 400}),
])
def test_common_streams_reproduce_the_earlier_bits(name, method, opts):
    p = _saved_problem("noisy")
    common = simulate(p, method, threads=1, streams="common", **opts)
    assert np.array_equal(common.u, SAVED[f"{name}/u"])
    assert np.array_equal(common.w, SAVED[f"{name}/w"])
    # The default, independent streams, gives another path (of the same law).
    assert not np.array_equal(simulate(p, method, threads=1, **opts).u, SAVED[f"{name}/u"])


@pytest.mark.parametrize("compress", [None, 1e-3])
def test_independent_streams_across_d(compress):
    # One seed set at d = 10^4 and 10^5 (problems of one seed share their head): with
    # common streams the SGD noise of the two is the same where the coordinates are, and
    # u after 100 steps is strongly correlated across d (for the full engine negatively:
    # the shared noise enters through a differently normalised w*); with independent
    # streams (the default) it is not.
    opts = dict(lr=0.005, steps=100, record=[100], noise=0.05, threads=1)

    def final_u(d, streams):
        p = Problem.power_law(d, 2.0, seed=4, noise=0.05, compress=compress)
        return simulate_many(p, 32, "sgd", streams=streams, **opts).u[:, 0]

    def corr(streams):
        return np.corrcoef(final_u(10**4, streams), final_u(10**5, streams))[0, 1]
    assert abs(corr("common")) > 0.6
    assert abs(corr("independent")) < 0.35  # 2 standard errors of a correlation at 32


def test_bad_streams_are_refused(small):
    with pytest.raises(ValueError, match="streams"):
        simulate(small, "sgd", lr=0.01, steps=5, streams="shared")
