"""compare_ensemble with one start state per member (pyscale.compare_sgd): the Phase III law
is the mean of the members' laws, and the members' states at a step come from the same
seeds run to that step, bit for bit (what figure 7 relies on)."""
import numpy as np
import pytest

import pyscale
from pyscale.analysis.compare_sgd import compare_ensemble


def _ensemble(problem, steps, seeds=4, lr=0.01):
    return pyscale.simulate_many(problem, seeds=seeds, lr=lr, steps=steps, threads=1,
                                 record=np.unique(np.geomspace(1, steps, 40).astype(int)))


def test_law_from_member_states_is_the_mean_of_the_members_laws():
    problem = pyscale.Problem.power_law(30, 1.5, seed=1, noise=0.05)
    pred = pyscale.predict(problem)
    ens = _ensemble(problem, 4000)
    t0, k0 = float(ens.t[20]), int(round(ens.t[20] / 0.01))
    states = pyscale.simulate_many(problem, seeds=ens.seeds, lr=0.01, steps=k0,
                                   record=[0, k0], threads=1).w
    res = compare_ensemble(ens, pred, start_time=t0, w_start=states)
    tau = res.curves["phase3"]["tau"]
    by_hand = sum(pred.sgd_tail_mse(tau, w, 0.01) for w in states) / len(states)
    np.testing.assert_allclose(res.curves["phase3"]["law"], by_hand, rtol=1e-13)
    # the law starts at the members' mean MSE there: the ensemble's own mean
    assert res.curves["phase3"]["law"][0] == pytest.approx(ens.mean_mse[20], rel=1e-12)
    # one common state, given as (members, n) rows, is the one-state law
    same = compare_ensemble(ens, pred, start_time=t0, w_start=np.tile(states[0], (4, 1)))
    one = compare_ensemble(ens, pred, start_time=t0, w_start=states[0])
    np.testing.assert_allclose(same.curves["phase3"]["law"], one.curves["phase3"]["law"],
                               rtol=1e-13)
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(members, n\)"):
        compare_ensemble(ens, pred, start_time=t0, w_start=states[:3])


@pytest.mark.parametrize("compress", [None, 1e-2])
def test_state_at_a_step_reproduces_the_longer_run(compress):
    """Full engine and mode chain: the same seeds run to step k end where the longer run
    was at step k (its record there, bit for bit)."""
    d = 40 if compress is None else 2 * 10 ** 4
    problem = pyscale.Problem.power_law(d, 2.0, seed=0, noise=0.05, compress=compress)
    ens = pyscale.simulate_many(problem, seeds=3, lr=0.01, steps=3000,
                                record=[0, 700, 1500, 3000], threads=1)
    short = pyscale.simulate_many(problem, seeds=ens.seeds, lr=0.01, steps=1500,
                                  record=[0, 1500], threads=2)
    for name in ("mse", "u", "s"):
        np.testing.assert_array_equal(getattr(short, name)[:, -1], getattr(ens, name)[:, 2])
    for i in range(3):
        stats = pyscale.statistics(problem, short.w[i])
        assert stats["mse"] == pytest.approx(ens.mse[i, 2], rel=1e-12)
