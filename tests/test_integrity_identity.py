"""Every result carries the identity of its problem and options, and whatever combines two
results checks it: resume, compare, checkpoints, sweep parts; a sweep cannot set one
parameter twice; a diverged state is never resumed."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pyscale
from pyscale.app.config import ConfigError, parse_sweep
from pyscale.app.sweep import run_sweep, tasks_of

P = pyscale.Problem.power_law(60, 2.0, seed=0)
Q = pyscale.Problem.power_law(60, 2.0, seed=1)          # same d, other arrays
P_NOISY = pyscale.Problem.power_law(60, 2.0, seed=0, noise=0.1)


def test_identity_is_a_digest_of_every_defining_field():
    assert P.identity() == pyscale.Problem.power_law(60, 2.0, seed=0).identity()
    variants = [Q, P_NOISY, P.with_w0(P.w0 * 2), P.compress(0.2),
                pyscale.Problem(P.eigenvalues, P.w_star * 1.0000001, P.w0),
                pyscale.Problem(P.eigenvalues, P.w_star, P.w0, d=61,
                                counts=np.r_[np.ones(59), 2.0])]
    ids = {v.identity() for v in variants} | {P.identity()}
    assert len(ids) == len(variants) + 1
    # the provenance (info) is not the problem: same arrays, same identity
    same = pyscale.Problem(P.eigenvalues, P.w_star, P.w0, info={"note": "x"})
    assert same.identity() == P.identity()
    assert set(P.identity_fields()) >= {"eigenvalues", "w_star", "w0", "counts", "noise",
                                        "d"}


@pytest.mark.parametrize("method,options", [
    ("gd", {"lr": 1e-2, "steps": 100}), ("sgd", {"lr": 1e-3, "steps": 200, "seed": 1}),
    ("flow", {"t": 5.0}), ("erm", {"lr": 1e-2, "steps": 100, "n_samples": 200})])
def test_every_result_carries_its_identity(method, options):
    traj = pyscale.simulate(P, method, **options)
    assert traj.meta["problem_id"] == P.identity()
    assert isinstance(traj.meta["run_id"], str) and len(traj.meta["run_id"]) >= 32
    other = pyscale.simulate(P, method, **{**options, **({"rtol": 1e-8} if method == "flow"
                                                         else {"lr": 2e-3})})
    assert other.meta["run_id"] != traj.meta["run_id"]


def test_ensembles_and_hierarchies_carry_it_too():
    ens = pyscale.simulate_many(P, 3, "sgd", lr=1e-3, steps=100)
    assert ens.meta["problem_id"] == P.identity() and "run_id" in ens.meta
    h = pyscale.hierarchy(P, order=4, t=1.0, error_estimate=False)
    assert h.meta["problem_id"] == P.identity()


@pytest.mark.parametrize("method,options", [
    ("gd", {"lr": 1e-2, "steps": 100}), ("sgd", {"lr": 1e-3, "steps": 200, "seed": 1}),
    ("flow", {"t": 5.0})])
def test_resume_refuses_another_problem_of_the_same_size(method, options):
    def stop(t, steps):
        return steps < 20
    with pytest.raises(pyscale.Interrupted) as info:
        pyscale.simulate(P, method, progress=stop, progress_every=10, **options)
    partial = info.value.trajectory
    for other in (Q, P_NOISY, P.with_w0(-P.w0)):
        with pytest.raises(ValueError, match="resume.*problem"):
            pyscale.simulate(other, method, resume=partial, **options)
    done = pyscale.simulate(P, method, resume=partial, **options)
    assert done.status == "completed"


def test_resume_refuses_other_engine_options():
    def stop(t, steps):
        return steps < 20
    with pytest.raises(pyscale.Interrupted) as info:
        pyscale.simulate(P, "sgd", lr=1e-3, steps=200, seed=1, batch=2, progress=stop,
                         progress_every=10)
    for change in ({"lr": 2e-3}, {"seed": 2}, {"batch": 3}, {"noise": 0.1}):
        opts = {"lr": 1e-3, "steps": 200, "seed": 1, "batch": 2, **change}
        with pytest.raises(ValueError, match="resume"):
            pyscale.simulate(P, "sgd", resume=info.value.trajectory, **opts)


def test_compare_refuses_a_prediction_of_another_problem():
    traj = pyscale.simulate(P, "flow", t=1e3)
    for other in (Q, P_NOISY):
        with pytest.raises(ValueError, match="problem"):
            pyscale.compare(traj, pyscale.predict(other))
        with pytest.raises(ValueError, match="problem"):
            pyscale.compare(traj, other)
    assert pyscale.compare(traj, pyscale.predict(P))["T1"]["measured"] > 0
    ens = pyscale.simulate_many(P, 3, "sgd", lr=1e-3, steps=1000)
    with pytest.raises(ValueError, match="problem"):
        pyscale.compare(ens, pyscale.predict(Q))


def test_a_diverged_state_is_never_resumed(tmp_path):
    with pytest.raises(pyscale.DivergenceError) as info:
        pyscale.simulate(P, "gd", lr=50.0, steps=1000)
    with pytest.raises(ValueError, match="diverged"):
        pyscale.simulate(P, "gd", lr=50.0, steps=2000, resume=info.value.trajectory)
    # the command line: a diverged checkpoint is refused, not continued
    ck = tmp_path / "ck.npz"
    argv = [sys.executable, "-m", "pyscale", "simulate", "--d", "60", "--a", "2",
            "--method", "gd", "--lr", "50", "--steps", "1000", "--no-progress",
            "--checkpoint", str(ck)]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1 and "diverged" in first.stderr
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "diverged" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_a_checkpoint_of_another_problem_with_the_same_description_is_refused(tmp_path):
    from pyscale.app.checkpoint import run_checkpointed
    ck = tmp_path / "ck.npz"
    run_checkpointed(P, "gd", ck, lr=1e-2, steps=100)
    twin = pyscale.Problem(Q.eigenvalues, Q.w_star, Q.w0, info=dict(P.info))
    with pytest.raises(ValueError, match="problem"):
        run_checkpointed(twin, "gd", ck, lr=1e-2, steps=100)


SWEEP = {"grid": {"a": [1.5, 2.0], "d": [30], "seed": [0]}, "flow": {"t": 20.0,
                                                                     "records": 20}}


def test_a_part_copied_from_another_task_is_not_loaded_as_this_one(tmp_path):
    first = run_sweep(parse_sweep(SWEEP), tmp_path, workers=1, progress=False)
    a, b = sorted(first.computed)
    index = json.loads((tmp_path / "index.json").read_text())
    for which in ("records", "summary"):
        shutil.copy(tmp_path / which / f"{a}.parquet", tmp_path / which / f"{b}.parquet")
    index["parts"][b] = index["parts"][a]          # the index copied along
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=b):
        pyscale.load(tmp_path)
    again = run_sweep(parse_sweep(SWEEP), tmp_path, workers=1, progress=False)
    assert again.computed == [b]
    table = pyscale.load(tmp_path)
    assert set(table.task_id) == {a, b}
    assert not table[table.task_id == b].equals(table[table.task_id == a])


def test_one_parameter_set_twice_in_a_sweep_is_refused():
    for config in (
            {"grid": {"a": [2.0], "d": [30], "noise": [0.0, 0.1], "method": ["sgd"]},
             "sgd": {"lr": 1e-3, "steps": 100, "noise": 0.05}},
            {"grid": {"a": [2.0], "d": [30], "method": ["sgd"], "noise": [0.0, 0.1]},
             "problem": {}, "sgd": {"lr": 1e-3, "steps": 100, "noise": 0.2}},
            {"grid": {"a": [2.0], "d": [30], "method": ["erm"]}, "problem": {"noise": 0.1},
             "erm": {"lr": 1e-3, "steps": 100, "n_samples": 50, "noise": 0.2}}):
        with pytest.raises(ConfigError, match="noise"):
            parse_sweep(config)


def test_tasks_with_the_same_effective_parameters_are_refused(tmp_path):
    from pyscale.app.sweep import Task
    config = parse_sweep({"grid": {"a": [2.0], "d": [30], "method": ["sgd"]},
                          "sgd": {"lr": 1e-3, "steps": 100, "noise": 0.05}})
    (task,) = tasks_of(config)
    twin = Task(type(task.problem)(**{**task.problem.as_dict(), "noise": 0.3}), task.run)
    assert twin.task_id != task.task_id
    with pytest.raises(ValueError, match="same"):
        run_sweep([task, twin], tmp_path, workers=1, progress=False)
