"""The divergence probability of online SGD against lr (pyscale.analysis.divergence): counts
against simulate_many by hand, the binomial standard errors and Wilson intervals, the
near-minimum start (exact in law on compressed problems), and the transient's blow-ups."""
import math

import numpy as np
import pytest

import pyscale
from pyscale.analysis.divergence import _wilson, divergence_probability, minimum_start

NOISE = 0.05


def _problem(d=30, a=2.0):
    return pyscale.Problem.power_law(d, a, seed=1, noise=NOISE)


def test_counts_are_those_of_the_ensembles():
    p = _problem()
    lr = 1.05 * pyscale.theory.max_stable_lr(p)
    scan = divergence_probability(p, [lr], seeds=16, t=200.0, checkpoints=(20.0, 200.0),
                                  threads=1, start_seed=3)
    assert [r.start for r in scan.rows] == ["transient", "minimum"]
    steps = int(math.ceil(200.0 / lr))
    for row, start in zip(scan.rows, (p.w0, minimum_start(p, lr, seed=3))):
        try:
            ens = pyscale.simulate_many(p.with_w0(start), seeds=16, lr=lr, steps=steps,
                                        record=[0, steps], threads=2)
        except pyscale.DivergenceError as err:
            ens = err.trajectory
        at = np.array([s * lr if s >= 0 else np.inf for s in ens.meta["diverged_at_step"]])
        assert row.diverged == (int(np.sum(at <= 20.0)), int(np.sum(at <= 200.0)))
        assert row.engine == "full" and row.members == 16
        assert row.fraction == pytest.approx(1.05)
        for k, prob, se, lo, hi in zip(row.diverged, row.probability, row.se, row.low, row.high):
            assert prob == k / 16 and se == pytest.approx(math.sqrt(prob * (1 - prob) / 16))
            assert lo <= prob <= hi
    transient, minimum = scan.rows
    # measured 6 vs 0 of 16 by t = 20, 13 vs 5 by t = 200: the transient blows up first
    assert transient.diverged[0] >= minimum.diverged[0] + 4
    frame = scan.to_pandas()
    assert len(frame) == 4 and set(frame["t"]) == {20.0, 200.0}
    assert "P(t <= 20)" in scan.table()


def test_wilson_interval():
    lo, hi = _wilson(0, 16)
    assert lo == 0.0 and 0.15 < hi < 0.25          # the rule of three: ~3/16
    lo, hi = _wilson(8, 16)
    assert lo == pytest.approx(1 - hi) and lo < 0.5 < hi


def test_minimum_start_is_the_first_order_floor():
    """E‖w − w*‖²/d = lr σ²/B, on a physical problem and, exact in law, on a compressed one
    (the complement of each mode drawn as a χ²)."""
    lr, batch = 0.01, 2
    alpha = lr * NOISE / batch
    physical = pyscale.Problem.power_law(4000, 2.0, seed=0, noise=NOISE)
    w = minimum_start(physical, lr, batch, seed=1)
    assert pyscale.statistics(physical, w)["mse"] == pytest.approx(alpha, rel=0.05)
    compressed = pyscale.Problem.power_law(10 ** 6, 2.0, seed=0, noise=NOISE, compress=0.05)
    w = minimum_start(compressed, lr, batch, seed=1)
    assert pyscale.statistics(compressed, w)["mse"] == pytest.approx(alpha, rel=0.01)
    scan = divergence_probability(compressed, [0.5 * pyscale.theory.max_stable_lr(compressed)],
                                  seeds=4, t=2.0, start="minimum", threads=1)
    assert scan.rows[0].engine == "mode_chain" and scan.rows[0].diverged == (0,)


@pytest.mark.parametrize("kwargs,err,match", [
    ({"lrs": []}, ValueError, "lrs must not be empty"),
    ({"lrs": [0.0]}, ValueError, "lrs"),
    ({"lrs": [0.01], "start": "origin"}, ValueError, "start must be one of"),
    ({"lrs": [0.01], "t": 0.0}, ValueError, "t must be"),
    ({"lrs": [0.01], "t": 10.0, "checkpoints": (20.0,)}, ValueError, "checkpoints"),
])
def test_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        divergence_probability(_problem(), **kwargs)
    with pytest.raises(TypeError, match="pyscale.Problem"):
        divergence_probability("problem", [0.01])
