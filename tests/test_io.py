"""Results on disk (pyscale.io) and checkpointed runs (pyscale.checkpoint)."""
import json

import numpy as np
import pytest

import pyscale
from pyscale.app import io
from pyscale.app.checkpoint import run_checkpointed
from pyscale.results.trajectory import FIELDS

TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 120)])


@pytest.fixture(scope="module")
def problem():
    return pyscale.Problem.power_law(150, 2.0, seed=5, noise=0.01)


def assert_same_trajectory(a, b, rtol=0.0):
    """Bitwise equal (rtol=0), or equal to rtol relative."""
    for name in FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0,
                                   err_msg=name)
    np.testing.assert_allclose(a.w, b.w, rtol=rtol, atol=rtol * np.abs(a.w).max())


def test_flow_trajectory_round_trip_keeps_columns_state_meta_and_problem(problem, tmp_path):
    traj = pyscale.simulate(problem, "flow", t=TIMES)
    path = pyscale.app.io.save_trajectory(traj, tmp_path / "run.npz", problem=problem,
                                      extra={"note": "x"})
    back = pyscale.load(path)
    assert isinstance(back, pyscale.Trajectory)
    assert_same_trajectory(traj, back)
    assert back.meta == json.loads(json.dumps(traj.meta))  # every meta entry survives
    assert back.meta["resume"] == traj.meta["resume"]
    header = io.read_header(path)
    assert header["pyscale_version"] == pyscale.__version__
    assert header["seed"] == 5 and header["method"] == "flow"
    assert header["extra"] == {"note": "x"}
    stored = io.load_problem(path)
    for name in ("eigenvalues", "w_star", "w0", "counts"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(problem, name))
    assert (stored.d, stored.noise, stored.info) == (problem.d, problem.noise, problem.info)


def test_sgd_meta_arrays_round_trip(problem, tmp_path):
    traj = pyscale.simulate(problem, "sgd", lr=1e-2, steps=2000, record=20, seed=7)
    back = pyscale.app.io.load_trajectory(
        pyscale.app.io.save_trajectory(traj, tmp_path / "sgd.npz"))
    assert_same_trajectory(traj, back)
    np.testing.assert_array_equal(back.meta["online_loss"], traj.meta["online_loss"])
    assert back.meta["seed"] == 7
    assert io.read_header(tmp_path / "sgd.npz")["sample_seed"] == 7
    assert io.load_problem(tmp_path / "sgd.npz") is None


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "x.npz"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_loading_a_foreign_file_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(ValueError, match="not a pyscale trajectory"):
        pyscale.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        pyscale.load(tmp_path / "missing.npz")


# The flow and GD resume bitwise. Online SGD recomputes (s, u) from the resumed state in a
# separate pass where the uninterrupted run accumulates them in its fused pass: the
# summation order differs, so records agree to rounding (measured: 2.5e-16 relative).
@pytest.mark.parametrize("method, options, rtol", [
    ("flow", {"t": TIMES, "progress_every": 16}, 0.0),
    ("gd", {"lr": 1e-2, "steps": 30_000, "record": 80, "progress_every": 1024}, 0.0),
    ("sgd", {"lr": 1e-2, "steps": 30_000, "record": 80, "seed": 3, "progress_every": 1024},
     1e-14),
])
def test_checkpointed_run_equals_uninterrupted_run(problem, tmp_path, method, options, rtol):
    full = pyscale.simulate(problem, method, **options)
    path = tmp_path / "ck.npz"
    # every=1e-9 s: a checkpoint (stop, save, resume) at every progress call.
    traj = run_checkpointed(problem, method, path, every=1e-9, **options)
    assert traj.meta.get("resumed") is True  # it really was stopped and resumed
    assert_same_trajectory(full, traj, rtol)
    assert_same_trajectory(full, pyscale.load(path), rtol)
    # a completed checkpoint is returned as is
    assert_same_trajectory(full, run_checkpointed(problem, method, path, **options), rtol)


def test_stopped_checkpointed_run_resumes_from_the_file(problem, tmp_path):
    full = pyscale.simulate(problem, "flow", t=TIMES)
    path = tmp_path / "ck.npz"
    calls = []

    def stop_after_three(t, steps):
        calls.append(t)
        return len(calls) < 3

    with pytest.raises(pyscale.Interrupted):
        run_checkpointed(problem, "flow", path, progress=stop_after_three,
                         progress_every=16, t=TIMES)
    partial = pyscale.load(path)
    assert partial.status == "interrupted" and len(partial) < len(full)
    resumed = run_checkpointed(problem, "flow", path, t=TIMES)
    assert_same_trajectory(full, resumed)


def test_checkpoint_of_another_run_is_refused(problem, tmp_path):
    path = tmp_path / "ck.npz"
    run_checkpointed(problem, "flow", path, extra={"run": 1}, t=TIMES[:20])
    with pytest.raises(ValueError, match="belongs to another run"):
        run_checkpointed(problem, "flow", path, extra={"run": 2}, t=TIMES[:20])
    other = pyscale.Problem.power_law(150, 2.0, seed=6)
    with pytest.raises(ValueError, match="a run of another problem"):
        run_checkpointed(other, "flow", path, extra={"run": 1}, t=TIMES[:20])
