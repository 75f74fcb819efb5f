"""The engine runner (pyscale/engines/_run.py): one divergence path and one interrupt path
for every engine, so a run that is interrupted, resumed and then diverges (or is
interrupted again) hands back every record from t = 0, equal to the uninterrupted run's."""
import numpy as np
import pytest

import pyscale
from pyscale import DivergenceError, Interrupted, simulate, simulate_many

FIELDS = ("t", "s", "u", "s2", "u2", "loss", "mse")


@pytest.fixture(scope="module")
def problem():
    return pyscale.Problem.power_law(50, 2.0, seed=1, noise=0.01)


def _stop_after(calls):
    """A progress callback that stops the run at its `calls`-th call."""
    seen = [0]

    def hook(t, steps):
        seen[0] += 1
        return seen[0] < calls
    return hook


# (method, options) whose uninterrupted run diverges well after step 32 (measured: gd at
# step 472, sgd at 197, erm at 61, with the seeds' common streams), so an interrupt at step
# 32 comes first.
DIVERGING = {
    "gd": dict(lr=0.42, steps=4000, record=100, progress_every=32),
    "sgd": dict(lr=0.03, steps=4000, record=100, seed=2, progress_every=32, streams="common"),
    "erm": dict(lr=0.4, steps=4000, record=100, seed=2, n_samples=400, progress_every=32,
                streams="common"),
}
PER_RECORD = {"gd": None, "sgd": "online_loss", "erm": "train_loss"}


@pytest.mark.parametrize("method", sorted(DIVERGING))
def test_resumed_run_that_diverges_keeps_every_record_from_zero(problem, method):
    opts = DIVERGING[method]
    with pytest.raises(DivergenceError) as whole:
        simulate(problem, method, **opts)
    with pytest.raises(Interrupted) as first:
        simulate(problem, method, progress=_stop_after(1), **opts)
    assert first.value.cause == "callback"
    part = first.value.trajectory
    assert part.meta["last_step"] == 32
    with pytest.raises(DivergenceError) as resumed:
        simulate(problem, method, resume=part, **opts)
    got, ref = resumed.value.trajectory, whole.value.trajectory
    assert resumed.value.step == whole.value.step > 32
    assert got.t[0] == 0.0 and len(got) == len(ref) > len(part)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
    key = PER_RECORD[method]
    if key is not None:
        np.testing.assert_array_equal(got.meta[key], ref.meta[key])
        assert len(got.meta[key]) == len(got)


@pytest.mark.parametrize("method", ["flow", "gd", "sgd", "erm"])
def test_twice_interrupted_run_keeps_every_record_from_zero(problem, method):
    opts = {"flow": dict(t=np.r_[0.0, np.geomspace(1e-2, 1e3, 60)], progress_every=4),
            "gd": dict(lr=0.01, steps=2000, record=50, progress_every=64),
            "sgd": dict(lr=0.005, steps=2000, record=50, seed=1, progress_every=64),
            "erm": dict(lr=0.01, steps=2000, record=50, seed=1, n_samples=300,
                        progress_every=64)}[method]
    full = simulate(problem, method, **opts)
    with pytest.raises(Interrupted) as one:
        simulate(problem, method, progress=_stop_after(2), **opts)
    with pytest.raises(Interrupted) as two:
        simulate(problem, method, progress=_stop_after(3), resume=one.value.trajectory, **opts)
    part = two.value.trajectory
    assert part.t[0] == 0.0 and len(one.value.trajectory) < len(part) < len(full)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[: len(part)])
    done = simulate(problem, method, resume=part, **opts)
    for name in FIELDS + ("w",):
        np.testing.assert_array_equal(getattr(done, name), getattr(full, name), err_msg=name)
    assert done.meta["steps"] == full.meta["steps"]


def test_ensemble_divergence_keeps_records_from_zero(problem):
    with pytest.raises(DivergenceError) as err:
        simulate_many(problem, seeds=3, lr=0.03, steps=1000, record=40, threads=1)
    ens = err.value.trajectory
    assert isinstance(ens, pyscale.Ensemble) and ens.t[0] == 0.0
    status = ens.meta["member_status"]
    i = status.index("diverged")
    with pytest.raises(DivergenceError) as one:
        simulate(problem, "sgd", lr=0.03, steps=1000, record=40, seed=int(ens.seeds[i]))
    single = one.value.trajectory
    np.testing.assert_array_equal(ens.u[i, : len(single)], single.u)
    assert np.all(np.isnan(ens.u[i, len(single):]))


def test_unknown_and_misspelt_options_name_the_nearest(problem):
    with pytest.raises(TypeError, match="unexpected keyword argument 'step'.*'steps'"):
        simulate(problem, "gd", lr=0.01, step=10)
    with pytest.raises(TypeError, match="takes seeds="):
        simulate_many(problem, seed=3, lr=0.01, steps=10)
    with pytest.raises(ValueError, match="did you mean 'flow'"):
        simulate(problem, "flwo", t=1.0)
