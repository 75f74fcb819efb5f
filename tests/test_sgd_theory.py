"""The SGD floor, its stable step and the SGD Phase III law against independent dense
references and against the full online-SGD engine (model page: SGD floor).

Tolerances: O(d) formulas against their dense NumPy transcription to 1e-10 relative
(rounding); the closure against the exact fixed point of the linearised chain to 3%
(its stated accuracy below the bound); simulations to 10% and to a few standard errors
over seeds (all seeds fixed: the test is deterministic).
"""
import numpy as np
import pytest

import pyscale
from pyscale.analysis.compare_sgd import compare_ensemble, escape_times
from pyscale.theory import sgd

NOISE = 0.05


def _problem(d, a, seed=1):
    return pyscale.Problem.power_law(d, a, seed=seed, noise=NOISE)


# ---------------------------------------------------------------------------- dense references
def _dense_parts(p):
    lam, ws = p.eigenvalues, p.w_star
    v = lam * ws
    H = 8.0 * (p.s_star * np.diag(lam) + 2.0 * np.outer(v, v))
    return lam, ws, H


def _dense_k(p, S, batch):
    lam, ws, H = _dense_parts(p)
    return ((1 - 1 / batch) * H @ S @ H
            + 16.0 / batch * sgd.wick_fourth(lam, ws, S, NOISE))


def _dense_exact_floor(p, lr, batch):
    """tr S / d at the fixed point of S = Lyap⁻¹((lr/B) 2σ² H + lr K(S)), Lyapunov solved in
    H's eigenbasis, iterated to 1e-13 (contracting below the bound)."""
    lam, ws, H = _dense_parts(p)
    om, U = np.linalg.eigh(H)
    den = om[:, None] + om[None, :]

    def lyap_inv(R):
        return U @ ((U.T @ R @ U) / den) @ U.T

    F = lr / batch * 2 * NOISE * H
    S = lyap_inv(F)
    for _ in range(2000):
        new = lyap_inv(F + lr * _dense_k(p, S, batch))
        if np.max(np.abs(new - S)) < 1e-13 * np.max(np.abs(new)):
            return np.trace(new) / p.d
        S = new
    raise AssertionError("dense fixed point did not converge")


def test_wick_formula_matches_monte_carlo():
    p = _problem(5, 1.5, seed=4)
    rng = np.random.default_rng(0)
    G = rng.standard_normal((5, 5))
    S = G @ G.T / 5
    n = 400_000
    x = rng.standard_normal((n, 5)) * np.sqrt(p.eigenvalues)
    q = x @ p.w_star
    weight = (4 * q ** 4 + NOISE) * np.einsum("ni,ij,nj->n", x, S, x)
    samples = weight[:, None, None] * x[:, :, None] * x[:, None, :]
    mc = samples.mean(axis=0)
    se = samples.std(axis=0) / np.sqrt(n)
    exact = sgd.wick_fourth(p.eigenvalues, p.w_star, S, NOISE)
    assert np.all(np.abs(exact - mc) <= 5 * se + 1e-12)


@pytest.mark.parametrize("a,batch", [(0.0, 1), (1.5, 4), (2.0, 1)])
def test_linear_coefficient_is_dense_trace(a, batch):
    p = _problem(20, a)
    _, _, H = _dense_parts(p)
    dense = np.trace(np.linalg.solve(H, _dense_k(p, np.eye(20), batch))) / (2 * 20)
    assert sgd.linear_coefficient(p, batch, NOISE) == pytest.approx(dense, rel=1e-10)


def _adapted_basis(p):
    """Orthonormal eigenvectors of Q adapted to w* (the closure's basis): per eigenspace,
    ŵ = W*/‖W*‖ first, then a basis of its complement (QR of [ŵ, I]). Distinct
    eigenvalues: the coordinate basis (up to signs)."""
    U = np.zeros((p.d, p.d))
    for lam in dict.fromkeys(p.eigenvalues):               # eigenspaces, first appearance
        idx = np.flatnonzero(p.eigenvalues == lam)
        block = np.column_stack([p.w_star[idx], np.eye(idx.size)])
        U[np.ix_(idx, idx)] = np.linalg.qr(block)[0][:, :idx.size]
    return U


@pytest.mark.parametrize("a,lr,batch", [(0.0, 0.02, 1), (1.5, 0.01, 1), (2.0, 0.02, 4)])
def test_closure_is_the_diagonal_projection(a, lr, batch):
    """The O(d) fixed point equals the dense recursion projected on matrices diagonal in the
    basis adapted to w* (for a = 0, one eigenspace: ŵ and its complement; for distinct
    eigenvalues the coordinates), each class expanded to its directions."""
    p = _problem(20, a)
    _, _, H = _dense_parts(p)
    U = _adapted_basis(p)
    h2 = 2 * np.diag(U.T @ H @ U)
    F = lr / batch * 2 * NOISE * h2 / 2
    D = F / h2
    for _ in range(3000):
        D = (F + lr * np.diag(U.T @ _dense_k(p, U @ np.diag(D) @ U.T, batch) @ U)) / h2
    c = sgd._closure(p, batch, NOISE)
    fast = sgd._fixed_point(c, lr, batch, NOISE)
    np.testing.assert_allclose(np.repeat(fast, c.weight.astype(int)), D, rtol=1e-10)


@pytest.mark.parametrize("a,lr,batch", [(0.0, 0.005, 1), (0.0, 0.02, 1), (1.5, 0.005, 1),
                                        (1.5, 0.02, 4), (2.0, 0.005, 1), (2.0, 0.01, 1),
                                        (2.0, 0.02, 4)])
def test_floor_against_exact_linearised_chain(a, lr, batch):
    p = _problem(40, a)
    exact = _dense_exact_floor(p, lr, batch)
    assert sgd.sgd_floor(p, lr, batch).floor == pytest.approx(exact, rel=0.03)


def test_linear_coefficient_is_the_slope_at_zero():
    p = _problem(30, 2.0)
    lr = 1e-4
    slope = (_dense_exact_floor(p, lr, 1) / (lr * NOISE) - 1) / lr
    assert slope == pytest.approx(sgd.linear_coefficient(p), rel=0.01)


def _exact_bound(p, batch):
    """Largest lr with spectral radius < 1 of the exact one-step map
    T(S) = (I − ηH) S (I − ηH) + η² (K(S) − H S H) as a d² × d² matrix (bisection). T is a
    positive map, so ρ(T) < 1 exactly when X = (1 − T)⁻¹ I (= Σ Tⁿ I) is positive
    semi-definite: for ρ(T) > 1 the dual Perron vector Y ⪰ 0 gives ⟨Y, X⟩ < 0."""
    d = p.d
    _, _, H = _dense_parts(p)
    basis = np.eye(d * d).reshape(d * d, d, d)
    k_mat = np.array([(_dense_k(p, E, batch) - H @ E @ H).ravel() for E in basis]).T
    eye = np.eye(d)
    lo, hi = 0.0, 2.0 * sgd.max_stable_lr(p, batch)
    for _ in range(30):
        lr = 0.5 * (lo + hi)
        M = eye - lr * H
        T = np.kron(M, M) + lr * lr * k_mat          # row-major vec(M S M) = (M ⊗ M) vec S
        X = np.linalg.solve(np.eye(d * d) - T, eye.ravel()).reshape(d, d)
        if np.linalg.eigvalsh(0.5 * (X + X.T))[0] >= 0.0:
            lo = lr
        else:
            hi = lr
    return lo


@pytest.mark.parametrize("a,batch", [(0.0, 1), (1.5, 4), (2.0, 1)])
def test_stable_lr_against_exact_linearised_chain(a, batch):
    """The safe bound is the exact one here (at most 64 directions): within 1e-8 below the
    bisection on the d² × d² map (30 halvings), never above."""
    p = _problem(12, a)
    ratio = sgd.max_stable_lr(p, batch) / _exact_bound(p, batch)
    assert 1.0 - 1e-8 <= ratio <= 1.0 + 2.0 ** -28


# ---------------------------------------------------------------------------- simulation
_CACHE = {}


def _measured_floor(a, lr, batch, d=50, seeds=12):
    """Mean MSE over a late window of an ensemble started at w* + N(0, (lr σ²/B) I) (the
    first-order floor, independent of the closure), and its standard error over seeds."""
    key = (a, lr, batch, d)
    if key in _CACHE:
        return _CACHE[key]
    p = _problem(d, a)
    rng = np.random.default_rng(7)
    start = p.w_star + np.sqrt(lr * NOISE / batch) * rng.standard_normal(d)
    t_relax = 1.0 / (16.0 * p.eigenvalues.min())         # slowest direction's time
    burn, total = 1.0 * t_relax, max(3.0 * t_relax, 400.0)
    steps = int(round(total / lr))
    rec = np.linspace(0, steps, 201).astype(np.int64)
    ens = pyscale.simulate_many(p.with_w0(start), seeds=seeds, method="sgd",
                                streams="common", lr=lr,
                                steps=steps, batch=batch, threads=1, record=rec)
    late = ens.t >= burn
    per_seed = ens.mse[:, late].mean(axis=1)
    out = (p, per_seed.mean(), per_seed.std(ddof=1) / np.sqrt(seeds))
    _CACHE[key] = out
    return out


FLOOR_CASES = [(a, lr, b) for a in (0.0, 1.5, 2.0) for lr in (0.005, 0.02) for b in (1, 4)
               if not (a == 2.0 and lr == 0.02 and b == 1)]


@pytest.mark.parametrize("a,lr,batch", FLOOR_CASES)
def test_floor_against_simulation(a, lr, batch):
    p, measured, se = _measured_floor(a, lr, batch)
    fl = sgd.sgd_floor(p, lr, batch)
    assert fl.stable
    assert abs(fl.floor - measured) <= 0.10 * measured
    assert abs(fl.floor - measured) <= 4 * se + 0.03 * measured


def test_paper_step_is_at_the_bound_for_a2_at_batch_1():
    """a = 2, lr = 0.02, B = 1 (left out of the floor table) sits 3% above the exact
    largest stable step (0.01936; the old diagonal closure's threshold, 0.02002, was 0.1%
    above it) and the engine diverges there."""
    p = _problem(50, 2.0)
    fl = sgd.sgd_floor(p, 0.02, 1)
    assert 0.95 <= 0.02 / fl.max_stable_lr <= 1.05
    start = p.with_w0(p.w_star.copy())
    with pytest.raises(pyscale.DivergenceError):
        pyscale.simulate_many(start, seeds=8, method="sgd", streams="common", lr=0.02, steps=15_000,
                              threads=1, record=[0, 15_000])


@pytest.mark.parametrize("a", [0.0, 1.5])
def test_first_order_misses_where_the_correction_closes_the_gap(a):
    p, measured, _ = _measured_floor(a, 0.02, 1)
    fl = sgd.sgd_floor(p, 0.02, 1)
    miss_first = abs(fl.first_order - measured) / measured
    miss_floor = abs(fl.floor - measured) / measured
    assert miss_first > 0.2          # lr σ² alone is 25% (a = 0) to 45% (a = 1.5) low
    assert miss_floor < 0.1 and miss_floor < miss_first / 2


def _phase3_ensemble(a, lr, d=50, seeds=32, total=150.0, excess=20.0):
    p = _problem(d, a, seed=2)
    fl = sgd.sgd_floor(p, lr)
    rng = np.random.default_rng(5)
    e0 = rng.standard_normal(d)
    e0 *= np.sqrt(excess * fl.floor * d / (e0 @ e0))      # MSE(0) = excess · floor
    p = p.with_w0(p.w_star + e0)
    steps = int(round(total / lr))
    rec = np.unique(np.concatenate([[0], np.geomspace(1, steps, 60).astype(np.int64)]))
    ens = pyscale.simulate_many(p, seeds=seeds, method="sgd", streams="common", lr=lr, steps=steps,
                                threads=1, record=rec)
    return p, ens


@pytest.mark.parametrize("a,lr", [(1.5, 0.01), (0.0, 0.02)])
def test_phase3_law_against_ensemble_mean(a, lr):
    p, ens = _phase3_ensemble(a, lr)
    res = compare_ensemble(ens, pyscale.predict(p))
    z = res.curves["phase3"]["z"][1:]                   # record 0 is the common start
    law, mean = res.curves["phase3"]["law"], res.curves["phase3"]["mean"]
    assert np.max(np.abs(z)) <= 4.0
    assert np.max(np.abs(law - mean) / mean) <= 0.15     # single records: noisy
    assert np.median(np.abs(law - mean) / mean) <= 0.05
    if a == 0.0:
        # the closed form misses the noise the decaying error injects: visibly off
        closed = compare_ensemble(ens, pyscale.predict(p), coupled=False)
        assert np.max(np.abs(closed.curves["phase3"]["z"][1:])) > 6.0


@pytest.mark.parametrize("a,batch", [(0.0, 1), (0.0, 4), (1.5, 1), (1.5, 4), (2.0, 1)])
def test_stable_lr_bound_against_divergence(a, batch):
    p = _problem(50, a, seed=3)
    p = p.with_w0(p.w_star.copy())
    bound = sgd.max_stable_lr(p, batch)
    below = 0.8 * bound
    steps = int(300 / below)
    ens = pyscale.simulate_many(p, seeds=8, method="sgd",
                                streams="common", lr=below, steps=steps, batch=batch,
                                threads=1, record=[0, steps])
    assert np.all(np.isfinite(ens.mse))
    above = 1.5 * bound
    with pytest.raises(pyscale.DivergenceError):
        pyscale.simulate_many(p, seeds=8, method="sgd",
                              streams="common", lr=above, steps=int(300 / above),
                              batch=batch, threads=1, record=[0, int(300 / above)])


# ---------------------------------------------------------------------------- plumbing
def test_escape_rows_match_a_plain_loop():
    p = _problem(50, 1.5, seed=6)
    ens = pyscale.simulate_many(p, seeds=6, method="sgd",
                                streams="common", lr=0.005, steps=1200, threads=1,
                                record=10)
    res = compare_ensemble(ens, p, delta=0.3)
    expected = []
    for i in range(len(ens)):
        hit = [t for t, u in zip(ens.t, ens.u[i]) if abs(u) >= 0.3 * p.s_star]
        expected.append(hit[0] if hit else np.nan)
    np.testing.assert_array_equal(escape_times(ens, 0.3), np.array(expected))
    row = res.row("escape time T1, mean")
    assert row.predicted == pytest.approx(pyscale.predict(p).escape_time(0.3))
    assert row.measured == pytest.approx(np.nanmean(expected))
    assert res.row("Phase III law").measured is None          # not near w*: skipped
    frame = res.to_pandas()
    from pyscale.results.tidy import COMPARISON_COLUMNS
    assert list(frame.columns) == list(COMPARISON_COLUMNS)
    assert "floor" in set(res.table().quantity) and "floor" in str(res)
    assert "regime" in res.table().columns and "regime" in str(res)
    # delta = 0.3 is past the escape law's window (s(T1) > 0.12 s*): the row says so
    assert row.regime.startswith("outside its window: below the saddle")


def test_prediction_methods_delegate():
    p = _problem(30, 1.5)
    pred = pyscale.predict(p)
    assert pred.sgd_floor(0.01).floor == sgd.sgd_floor(p, 0.01).floor
    tau = np.array([0.0, 1.0, 10.0])
    w = p.w_star + 0.01
    np.testing.assert_array_equal(pred.sgd_tail_mse(tau, w, 0.01),
                                  sgd.sgd_tail_mse(p, tau, w, 0.01))
    assert pred.sgd_tail_mse(0.0, w, 0.01) == pytest.approx(0.01 ** 2)  # MSE(T2)


def test_tail_law_reduces_to_phase3_at_small_lr():
    """lr → 0: the rates are the linearised ones, 16 (s* λ_i + 2 v_i²), v = Q w* (16 s* λ_i
    in the tail), and with σ² = 0 the closed form is the frozen Phase III prediction."""
    p = _problem(40, 2.0)
    lam = p.eigenvalues
    rates = sgd.sgd_relaxation_rates(p, 1e-8, noise=0.0)
    np.testing.assert_allclose(rates, 16 * (p.s_star * lam + 2 * (lam * p.w_star) ** 2),
                               rtol=1e-5)
    w = p.w_star + 1e-3 * np.r_[np.zeros(20), np.ones(20)]    # error in the tail only
    tau = np.geomspace(1.0, 30.0, 7)                     # 32 v_i² τ ≪ 1 in the tail
    law = sgd.sgd_tail_mse(p, tau, w, 1e-8, noise=0.0, coupled=False)
    np.testing.assert_allclose(law, pyscale.theory.tail_mse(p, tau, w), rtol=1e-2)


@pytest.mark.parametrize("kwargs,err", [({"lr": 0.0}, ValueError), ({"lr": -1}, ValueError),
                                        ({"lr": float("nan")}, ValueError),
                                        ({"lr": "x"}, TypeError),
                                        ({"lr": 0.01, "batch": 0}, ValueError),
                                        ({"lr": 0.01, "batch": 1.5}, ValueError),
                                        ({"lr": 0.01, "batch": "x"}, ValueError),
                                        ({"lr": 0.01, "batch": None}, ValueError),
                                        ({"lr": 0.01, "noise": -0.1}, ValueError)])
def test_bad_input(kwargs, err):
    with pytest.raises(err):
        sgd.sgd_floor(_problem(10, 1.5), **kwargs)


def test_refuses_unstable():
    p = _problem(20, 2.0)
    with pytest.raises(ValueError, match="largest stable step"):
        sgd.sgd_tail_mse(p, 1.0, p.w_star, 10 * sgd.max_stable_lr(p))
    with pytest.raises(TypeError):
        compare_ensemble(p, p)


def test_compare_routes_an_ensemble_to_the_sgd_comparison():
    problem = pyscale.Problem.power_law(30, 0.0, seed=1, noise=0.05)
    ens = pyscale.simulate_many(problem, seeds=4, lr=0.01, steps=3000, record=20, threads=1)
    result = pyscale.compare(ens, pyscale.predict(problem))
    from pyscale.analysis.compare_sgd import SgdComparison
    assert isinstance(result, SgdComparison)
    assert "floor" in set(result.table().quantity)
