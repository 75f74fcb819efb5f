"""Stochastic engines (pyscale/stochastic.py, csrc/include/pyscale/{sgd,erm}.hpp): online SGD,
finite-sample GD and ensembles over seeds, against population GD (model page: Gradient flow) and
against direct NumPy evaluations of the update formulas."""
import numpy as np
import pytest

import pyscale
from pyscale import DivergenceError, Interrupted, Problem, simulate, simulate_many
from pyscale.engines.erm import erm_dataset, erm_memory_bytes


@pytest.fixture(scope="module")
def small():
    return Problem.power_law(d=40, a=1.5, seed=3)


def _clean_loss(tr, s_star=1.0):
    return 3 * tr.s ** 2 + 3 * s_star ** 2 - 4 * tr.u ** 2 - 2 * s_star * tr.s


# ------------------------------------------------------------------ the update formulas
@pytest.mark.parametrize("batch", [1, 3])
def test_sgd_steps_follow_the_formula_on_the_erm_samples(small, batch):
    # The ERM data set with seed s is the sample sequence of SGD with seed s, so the first
    # two SGD steps can be recomputed in NumPy from it:
    #   w <- w - (lr/B) sum_b 4 ((x_b.w)^2 - y_b)(x_b.w) x_b.
    lr, noise = 0.05, 0.3
    X, y = erm_dataset(small, 2 * batch, seed=9, noise=noise)
    w = small.w0.copy()
    for k in range(2):
        xb, yb = X[k * batch:(k + 1) * batch], y[k * batch:(k + 1) * batch]
        p = xb @ w
        w = w - (lr / batch) * (4 * (p * p - yb) * p) @ xb
    tr = simulate(small, "sgd", lr=lr, steps=2, batch=batch, seed=9, noise=noise, record=[0, 1, 2])
    np.testing.assert_allclose(tr.w, w, rtol=1e-12, atol=1e-14)
    # Records hold the population statistics of the state (model page: Statistics and loss) at t =
    # step * lr.
    ref = pyscale.statistics(small, tr.w)
    np.testing.assert_allclose(tr.t, [0, lr, 2 * lr])
    assert tr.mse[-1] == pytest.approx(ref["mse"], rel=1e-12)
    assert tr.u[-1] == pytest.approx(ref["u"], rel=1e-12)
    # Label noise: y - (x.w*)^2 has the requested variance (and noise= is the variance).
    X, y = erm_dataset(small, 20_000, seed=1, noise=noise)
    xi = y - (X @ small.w_star) ** 2
    assert abs(xi.mean()) < 5 * np.sqrt(noise / xi.size)
    assert xi.var() == pytest.approx(noise, rel=5 * np.sqrt(2 / xi.size))


def test_erm_step_follows_the_formula(small):
    lr, n = 0.02, 300
    X, y = erm_dataset(small, n, seed=4, noise=0.1)
    w = small.w0.copy()
    train = []
    for _ in range(3):
        p = X @ w
        train.append(np.mean((p * p - y) ** 2))
        w = w - lr * (4 / n) * ((p * p - y) * p) @ X
    train.append(np.mean(((X @ w) ** 2 - y) ** 2))
    tr = simulate(small, "erm", n_samples=n, lr=lr, steps=3, seed=4, noise=0.1,
                  record=[0, 1, 2, 3], threads=1)
    np.testing.assert_allclose(tr.w, w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tr.meta["train_loss"], train, rtol=1e-12)
    assert tr.meta["memory_bytes"] == erm_memory_bytes(small, n) > 8 * n * small.d


# ------------------------------------------------------------------ agreement with GD
def test_sgd_mean_over_seeds_follows_population_gd(small):
    # E[per-sample gradient] = grad L (model page: Gradient flow): at small lr the ensemble mean
    # tracks GD at the same lr. Measured: mse within 1.7 %, mean |u| within 0.006 (32 seeds, lr =
    # 3e-3).
    lr, steps = 0.003, 10_000
    rec = np.linspace(0, steps, 7).astype(int)
    gd = simulate(small, "gd", lr=lr, steps=steps, record=rec)
    ens = simulate_many(small, seeds=32, lr=lr, steps=steps, record=rec, threads=2)
    np.testing.assert_allclose(ens.t, gd.t)
    np.testing.assert_allclose(ens.mean_mse, gd.mse, rtol=0.05)
    np.testing.assert_allclose(ens.mean_abs_u, np.abs(gd.u), atol=0.05)
    assert abs(gd.u[-1]) > 0.95  # the comparison spans escape and convergence


def test_batch_reduces_the_spread_like_one_over_sqrt_batch(small):
    # u = w^T Q w* is linear in w, so after a few steps its spread over seeds is the
    # gradient noise's, whose variance is 1/B of a single sample's: std ratio sqrt(B).
    # (256 seeds: the ratio of two standard deviations is known to ~15 %.)
    k, seeds = 5, list(range(256))
    sd = {}
    for batch in (1, 4, 16):
        ens = simulate_many(small, seeds=seeds, lr=0.01, steps=k, record=[0, k], batch=batch)
        sd[batch] = ens.std("u")[1]
    assert sd[1] / sd[4] == pytest.approx(2.0, rel=0.25)
    assert sd[1] / sd[16] == pytest.approx(4.0, rel=0.25)


def test_erm_with_many_samples_approaches_population_gd(small):
    lr, steps = 0.02, 1500
    rec = np.linspace(0, steps, 6).astype(int)
    gd = simulate(small, "gd", lr=lr, steps=steps, record=rec)
    # streams="common": the seed's data sets the figures below were measured on.
    big = simulate(small, "erm", n_samples=250 * small.d, lr=lr, steps=steps, record=rec,
                   seed=1, threads=1, streams="common")
    # Measured: |u| within 1e-3, mse within 3.3 % (n/d = 250).
    np.testing.assert_allclose(np.abs(big.u), np.abs(gd.u), atol=0.01)
    np.testing.assert_allclose(big.mse, gd.mse, rtol=0.1)
    np.testing.assert_allclose(big.meta["train_loss"][1:], big.loss[1:], rtol=0.1)
    # Few samples (n < d): data reuse overfits — the training loss goes far below the
    # population loss, which stays far from GD's.
    few = simulate(small, "erm", n_samples=small.d // 2, lr=lr, steps=steps, record=rec,
                   seed=1, threads=1, streams="common")
    assert few.meta["train_loss"][-1] < 0.05 * few.loss[-1]  # measured: 0.018
    assert few.loss[-1] > 10 * gd.loss[-1]


def test_label_noise_raises_the_loss_floor_by_its_variance(small):
    sigma2 = 0.05  # the paper's N(0, 0.05)
    rec = np.linspace(0, 1500, 6).astype(int)
    runs = {s2: simulate(small, "erm", n_samples=10_000, lr=0.02, steps=1500, record=rec,
                         seed=1, noise=s2, threads=1) for s2 in (0.0, sigma2)}
    for s2, tr in runs.items():
        # The recorded population loss is the clean loss (Wick) plus sigma^2 (model page: Statistics
        # and loss).
        np.testing.assert_allclose(tr.loss - _clean_loss(tr), s2, atol=1e-12)
        assert tr.meta["noise"] == s2
    # The training loss at the end: ~0 without noise, ~sigma^2 with it (its mean over
    # 10^4 samples has sd sigma^2 sqrt(2/n) = 1.4 %; fitting d = 40 parameters removes
    # ~d/n of it; the unconverged clean part is < 0.03).
    floor = runs[sigma2].meta["train_loss"][-1] - runs[0.0].meta["train_loss"][-1]
    assert floor == pytest.approx(sigma2, rel=0.1)
    # Online SGD: the running per-sample loss estimates the population loss, floor included.
    rec = np.linspace(0, 100_000, 21).astype(int)
    sgd = {s2: simulate(small, "sgd", lr=0.002, steps=100_000, record=rec, seed=5, noise=s2)
           for s2 in (0.0, sigma2)}
    online = {s2: tr.meta["online_loss"][-10:].mean() for s2, tr in sgd.items()}
    assert online[sigma2] - online[0.0] == pytest.approx(sigma2, rel=0.1)
    assert online[sigma2] == pytest.approx(sgd[sigma2].loss[-10:].mean(), rel=0.1)


def test_noise_defaults_to_the_problems(small):
    noisy = small.with_w0(small.w0)
    noisy = Problem(small.eigenvalues, small.w_star, small.w0, noise=0.2)
    tr = simulate(noisy, "sgd", lr=0.01, steps=10, seed=1)
    assert tr.meta["noise"] == 0.2
    assert tr.loss[0] == pytest.approx(pyscale.statistics(noisy)["loss"])
    tr0 = simulate(noisy, "sgd", lr=0.01, steps=10, seed=1, noise=0.0)
    assert tr0.meta["noise"] == 0.0
    assert tr0.loss[0] == pytest.approx(pyscale.statistics(noisy)["loss"] - 0.2)


# ------------------------------------------------------------------ reproducibility
def test_same_seed_same_trajectory_whatever_the_threads():
    # d = 70000 spans 18 blocks of the core, so threads=2 really splits the passes.
    big = Problem.power_law(d=70_000, a=1.5, seed=1)
    runs = [simulate(big, "sgd", lr=1e-3, steps=12, seed=42, batch=2, record=[0, 5, 12],
                     threads=t) for t in (1, 2)]
    assert runs[1].meta["threads"] == (2 if pyscale._core.HAS_OPENMP else 1)
    np.testing.assert_array_equal(runs[0].w, runs[1].w)
    np.testing.assert_array_equal(runs[0].mse, runs[1].mse)
    other = simulate(big, "sgd", lr=1e-3, steps=12, seed=43, batch=2, record=[0, 5, 12])
    assert not np.array_equal(other.w, runs[0].w)
    data = [erm_dataset(big, 3, seed=7, threads=t) for t in (1, 2)]
    np.testing.assert_array_equal(data[0][0], data[1][0])


def test_erm_is_independent_of_the_threads(small):
    # n_samples * d = 80000: the core splits the two products over the threads.
    runs = [simulate(small, "erm", n_samples=2000, lr=0.01, steps=30, seed=2, threads=t)
            for t in (1, 2)]
    np.testing.assert_array_equal(runs[0].w, runs[1].w)
    np.testing.assert_array_equal(runs[0].meta["train_loss"], runs[1].meta["train_loss"])


def test_storage_and_simd_choices_do_not_change_the_numbers(small):
    ref = simulate(small, "sgd", lr=0.01, steps=300, batch=3, seed=8, noise=0.1)
    for samples in ("store", "regenerate"):
        for simd in (True, False):
            tr = simulate(small, "sgd", lr=0.01, steps=300, batch=3, seed=8, noise=0.1,
                          samples=samples, simd=simd)
            np.testing.assert_array_equal(tr.w, ref.w)
            np.testing.assert_array_equal(tr.meta["online_loss"], ref.meta["online_loss"])


def test_different_seeds_differ(small):
    a = simulate(small, "sgd", lr=0.01, steps=200, seed=0)
    b = simulate(small, "sgd", lr=0.01, steps=200, seed=1)
    assert not np.array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.w, simulate(small, "sgd", lr=0.01, steps=200, seed=0).w)


@pytest.mark.parametrize("method,extra", [("sgd", {"batch": 2}),
                                          ("erm", {"n_samples": 200, "threads": 1})])
def test_interrupt_and_resume_continue_exactly(small, method, extra):
    rec = np.arange(0, 301, 20)
    full = simulate(small, method, lr=0.01, steps=300, record=rec, seed=3, **extra)
    stop_at = 128

    def progress(t, steps):
        return steps < stop_at
    with pytest.raises(Interrupted) as err:
        simulate(small, method, lr=0.01, steps=300, record=rec, seed=3, progress=progress,
                 progress_every=64, **extra)
    part = err.value.trajectory
    assert part.meta["last_step"] == stop_at and len(part) == 7
    done = simulate(small, method, lr=0.01, steps=300, record=rec, seed=3, resume=part, **extra)
    np.testing.assert_array_equal(done.w, full.w)
    np.testing.assert_array_equal(done.mse, full.mse)
    key = "online_loss" if method == "sgd" else "train_loss"
    np.testing.assert_array_equal(done.meta[key], full.meta[key])
    with pytest.raises(ValueError, match="seed must be the interrupted run's"):
        simulate(small, method, lr=0.01, steps=300, seed=4, resume=part, **extra)


# ------------------------------------------------------------------ ensembles
def test_method_name_in_the_seeds_slot_says_how_to_call(small):
    # simulate(problem, "sgd") is the habit; simulate_many's second argument is seeds
    with pytest.raises(TypeError, match=r"simulate_many\(problem, 8, 'sgd'\)"):
        simulate_many(small, "sgd", lr=0.01, steps=10)


def test_ensemble_members_are_the_single_runs(small):
    seeds = [5, 17, 2 ** 63 + 1]
    ens = simulate_many(small, seeds=seeds, lr=0.01, steps=400, record=5, batch=2, noise=0.05,
                        threads=2)
    ens1 = simulate_many(small, seeds=seeds, lr=0.01, steps=400, record=5, batch=2,
                         noise=0.05, threads=1)
    np.testing.assert_array_equal(ens.mse, ens1.mse)
    for i, s in enumerate(seeds):
        tr = simulate(small, "sgd", lr=0.01, steps=400, record=5, batch=2, noise=0.05, seed=s)
        np.testing.assert_array_equal(ens.w[i], tr.w)
        np.testing.assert_array_equal(ens.mse[i], tr.mse)
        np.testing.assert_array_equal(ens.train_loss[i][1:], tr.meta["online_loss"][1:])
        member = ens.trajectory(i)
        np.testing.assert_array_equal(member.u, tr.u)
        assert member.meta["seed"] == s
    assert ens.s.shape == (3, ens.t.size) and ens.w.shape == (3, small.d)
    assert ens.band_mse.shape == (3, ens.t.size)  # default quantiles 0.1, 0.5, 0.9
    np.testing.assert_allclose(ens.mean_abs_u, np.abs(ens.u).mean(axis=0))
    np.testing.assert_allclose(ens.band("abs_u", [0.5])[0], np.median(np.abs(ens.u), axis=0))
    assert np.all(ens.band_mse[0] <= ens.band_mse[2])


def test_ensemble_progress_is_the_mean_member_progress(small):
    seen = []
    simulate_many(small, seeds=4, lr=0.01, steps=2000, progress=lambda t, k: seen.append(k),
                  progress_every=100, threads=2)
    assert seen == sorted(seen) and seen[-1] == 2000 and len(seen) == 4 * 2000 // 100


def test_ensemble_stops_when_progress_says_so(small):
    calls = []

    def progress(t, steps):
        calls.append(steps)
        return False
    with pytest.raises(Interrupted) as err:
        simulate_many(small, seeds=4, lr=0.01, steps=10_000, progress=progress,
                      progress_every=100, threads=2)
    ens = err.value.trajectory
    assert isinstance(ens, pyscale.Ensemble) and len(calls) >= 1
    assert all(s == "interrupted" for s in ens.meta["member_status"])
    assert max(ens.meta["last_step"]) < 10_000


def test_erm_ensemble(small):
    ens = simulate_many(small, seeds=2, method="erm", n_samples=100, lr=0.01, steps=50,
                        record=[0, 25, 50], threads=1)
    tr = simulate(small, "erm", n_samples=100, lr=0.01, steps=50, record=[0, 25, 50], seed=1,
                  threads=1)
    np.testing.assert_array_equal(ens.mse[1], tr.mse)
    np.testing.assert_array_equal(ens.train_loss[1], tr.meta["train_loss"])


# ------------------------------------------------------------------ divergence and bad input
def test_divergence_says_at_which_step(small):
    with pytest.raises(DivergenceError, match=r"online SGD diverged at step \d+") as err:
        simulate(small, "sgd", lr=5.0, steps=1000, seed=0)
    assert 1 <= err.value.step < 1000
    assert err.value.trajectory.meta["diverged_at_step"] == err.value.step
    assert np.all(np.isfinite(err.value.trajectory.mse))
    with pytest.raises(DivergenceError, match=r"diverged at step"):
        simulate(small, "erm", n_samples=50, lr=5.0, steps=1000, seed=0, threads=1)
    with pytest.raises(DivergenceError, match="in 2 of 2 members") as err:
        simulate_many(small, seeds=2, lr=5.0, steps=1000)
    assert isinstance(err.value.trajectory, pyscale.Ensemble)


def _compressed(small):
    # Two stored coordinates standing for four physical ones (counts): a compressed problem.
    return Problem(small.eigenvalues[:2], small.w_star[:2], small.w0[:2], d=4,
                   counts=np.array([2.0, 2.0]))


@pytest.mark.parametrize("kwargs,match", [
    ({"batch": 0}, "batch"), ({"batch": 1.5}, "batch"), ({"lr": 0.0}, "lr"),
    ({"lr": -1e-3}, "lr"), ({"lr": np.nan}, "lr"), ({"steps": -1}, "steps"),
    ({"seed": -1}, "seed"), ({"seed": 2 ** 64}, "seed"), ({"noise": -0.1}, "noise"),
    ({"samples": "cache"}, "samples"), ({"record": [0, 5, 3]}, "record"),
])
def test_sgd_rejects_bad_input(small, kwargs, match):
    args = dict(lr=0.01, steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate(small, "sgd", **args)


@pytest.mark.parametrize("kwargs,match", [
    ({"n_samples": 0}, "n_samples"), ({"n_samples": None}, "n_samples"),
    ({"n_samples": 2.5}, "n_samples"), ({"lr": 0.0}, "lr"), ({"lr": -1.0}, "lr"),
])
def test_erm_rejects_bad_input(small, kwargs, match):
    args = dict(n_samples=10, lr=0.01, steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate(small, "erm", **args)


def test_compressed_problems_run_sgd_on_modes_and_refuse_erm(small):
    # Online SGD runs on the mode chain (tests/test_chain.py); finite-sample GD reuses its
    # samples, which does not reduce to modes.
    comp = _compressed(small)
    assert comp.is_compressed
    with pytest.raises(ValueError, match="data reuse does not reduce to modes"):
        simulate(comp, "erm", lr=0.01, steps=10, n_samples=10)
    # These two stored coordinates each stand for two physical ones with no room for the
    # iterate's component across w*: refused with the reason.
    with pytest.raises(ValueError, match="second stored coordinate"):
        simulate(comp, "sgd", lr=0.01, steps=10)
    with pytest.raises(ValueError, match="second stored coordinate"):
        simulate_many(comp, seeds=2, lr=0.01, steps=10)


def test_erm_refuses_what_will_not_fit(small):
    need = erm_memory_bytes(small, 1000)
    with pytest.raises(MemoryError, match=str(need)):
        simulate(small, "erm", n_samples=1000, lr=0.01, steps=1, max_memory=need - 1)
    # Far beyond any machine: refused from the available memory, before allocating.
    huge = 10 ** 15
    with pytest.raises(MemoryError, match=str(erm_memory_bytes(small, huge))):
        simulate(small, "erm", n_samples=huge, lr=0.01, steps=1)


def test_simulate_many_rejects_bad_input(small):
    with pytest.raises(ValueError, match="distinct"):
        simulate_many(small, seeds=[1, 1], lr=0.01, steps=5)
    with pytest.raises(ValueError, match="seeds"):
        simulate_many(small, seeds=0, lr=0.01, steps=5)
    with pytest.raises(ValueError, match="method"):
        simulate_many(small, seeds=2, method="gd", lr=0.01, steps=5)
    with pytest.raises(TypeError, match="seeds="):
        simulate_many(small, seeds=2, lr=0.01, steps=5, seed=3)
    with pytest.raises(ValueError, match="quantiles"):
        simulate_many(small, seeds=2, lr=0.01, steps=5, quantiles=(0.5, 2.0))
