"""The pyscale command (pyscale.cli): runs, predictions, sweeps, checkpoints, and error
messages that name the bad flag or field."""
import json
import subprocess
import sys

import numpy as np
import pytest

import pyscale
from pyscale.app.cli import main
from pyscale.theory import predict


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_prints_the_summary_and_saves_the_trajectory(capsys, tmp_path):
    path = tmp_path / "run.npz"
    code, out, err = run(capsys, "simulate", "--d", 80, "--a", 2, "--t", 1e3, "--out", path,
                         "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    for key in ("T1", "T1_prime", "T2", "final_mse", "escape_rate", "T1_predicted"):
        assert key in summary
    traj = pyscale.load(path)
    direct = pyscale.simulate(pyscale.Problem.power_law(80, 2.0), "flow",
                              t=traj.t)
    np.testing.assert_array_equal(traj.u, direct.u)
    assert summary["final_mse"] == traj.mse[-1]
    assert summary["escape_rate"] == pytest.approx(predict(
        pyscale.Problem.power_law(80, 2.0)).escape_rate, rel=1e-12)


def test_simulate_from_a_config_file_with_flag_override(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[problem]\nd = 60\na = 1.5\nseed = 4\n\n'
                      '[run]\nmethod = "gd"\nlr = 1e-2\nsteps = 3000\nrecords = 50\n')
    code, out, err = run(capsys, "simulate", "--config", config, "--steps", 2000, "--out",
                         tmp_path / "gd.npz", "--no-progress")
    assert code == 0, err
    assert "T1_prime" in out and "final_mse" in out
    traj = pyscale.load(tmp_path / "gd.npz")
    assert traj.meta["method"] == "gd" and traj.meta["last_step"] == 2000
    assert traj.meta["problem"]["seed"] == 4


def test_checkpointed_simulate_resumes_to_the_same_result(capsys, tmp_path):
    args = ["simulate", "--d", 60, "--a", 2, "--method", "gd", "--lr", 1e-2, "--steps",
            20_000, "--checkpoint", tmp_path / "ck.npz", "--checkpoint-every", 1e-6,
            "--no-progress", "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    traj = pyscale.load(tmp_path / "ck.npz")
    direct = pyscale.simulate(pyscale.Problem.power_law(60, 2.0), "gd", lr=1e-2,
                              steps=20_000)
    np.testing.assert_array_equal(traj.u, direct.u)
    np.testing.assert_array_equal(traj.w, direct.w)
    code, out2, _ = run(capsys, *args)  # finished checkpoint: same answer, no rerun
    assert code == 0 and json.loads(out2)["final_mse"] == json.loads(out)["final_mse"]


def test_simulate_online_sgd_with_label_noise(capsys, tmp_path):
    code, out, err = run(capsys, "simulate", "--d", 50, "--a", 1, "--method", "sgd", "--lr",
                         1e-2, "--steps", 5000, "--noise", 0.05, "--sample-seed", 3, "--out",
                         tmp_path / "sgd.npz", "--no-progress", "--json")
    assert code == 0, err
    traj = pyscale.load(tmp_path / "sgd.npz")
    direct = pyscale.simulate(pyscale.Problem.power_law(50, 1.0, noise=0.05), "sgd", lr=1e-2,
                              steps=5000, seed=3)
    np.testing.assert_array_equal(traj.u, direct.u)
    assert traj.meta["noise"] == 0.05 and traj.meta["seed"] == 3


def test_predict_prints_the_predictions(capsys):
    code, out, err = run(capsys, "predict", "--d", 200, "--a", 2, "--json")
    assert code == 0, err
    values = json.loads(out)
    pred = predict(pyscale.Problem.power_law(200, 2.0))
    assert values["escape_rate"] == pytest.approx(pred.escape_rate, rel=1e-12)
    assert values["T1_predicted"] == pytest.approx(pred.escape_time(0.05), rel=1e-12)
    assert values["T2_bound"] > values["T1_predicted"]


def test_sweep_command_and_show(capsys, tmp_path):
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({"grid": {"a": [2.0], "d": [30], "seed": [0, 1]},
                                  "flow": {"t": 20.0, "records": 20}}))
    out_dir = tmp_path / "results"
    code, out, err = run(capsys, "sweep", config, "--out", out_dir, "--dask", "local",
                         "--workers", 1, "--no-progress")
    assert code == 0, err
    assert "2 computed" in out
    assert len(pyscale.load(out_dir)) == 2 * 21
    code, out, err = run(capsys, "show", out_dir)
    assert code == 0 and "final_mse" in out


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "--d", "50", "--a", "-1", "--t", "10"], "--a: must be a finite number >= 0"),
    (["simulate", "--d", "0", "--a", "2", "--t", "10"], "--d: must be an integer in [1, 2**53]"),
    (["simulate", "--d", "50", "--a", "2", "--t", "10", "--lr", "0.1"],
     "--lr: not an option of method='flow'"),
    (["simulate", "--d", "50", "--a", "2", "--method", "gd", "--lr", "0.1"],
     "run.steps: is required"),
    (["simulate", "--a", "2", "--t", "10"], "problem.d: is required"),
    (["simulate", "--d", "50", "--a", "2", "--t", "-5"], "--t: must be a finite number > 0"),
    (["simulate", "--d", "50", "--a", "2", "--t", "5", "--out", "x.txt"], "--out"),
    (["figure", "10", "--out", "x.png"], "figure: number must be one of"),
    (["figure", "all", "--out", "x.png"], "--out: 'figure all' writes"),
    (["simulate", "--d", "5000", "--a", "2", "--compress", "0.1", "--method", "erm",
      "--n-samples", "10", "--lr", "0.01", "--steps", "10"],
     "erm: method='erm' reuses a fixed set of samples"),
])
def test_bad_flags_get_messages_naming_them(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2  # bad usage
    assert needle in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, needle", [
    ('[problem]\nd = 50\na = "two"\n[run]\nt = 10\n', "problem.a: must be a real number"),
    ('[problem]\nd = 50\na = 2\n[run]\nt = 10\nrtoll = 1e-9\n',
     "run.rtoll: unknown field (did you mean 'rtol'?)"),
    ('[problem]\nd = 50\na = 2\n[run]\nmethod = "adam"\n', "run.method: must be one of"),
    ('[problm]\nd = 50\n', "problm: unknown field (did you mean 'problem'?)"),
    ('[problem\n', "invalid TOML"),
])
def test_bad_config_files_get_messages_naming_the_field(capsys, tmp_path, text, needle):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    code, out, err = run(capsys, "simulate", "--config", config, "--no-progress")
    assert code == 2
    assert needle in err


def test_argparse_rejects_malformed_numbers(capsys):
    assert main(["simulate", "--d", "fifty", "--a", "2"]) == 2
    err = capsys.readouterr().err
    assert "--d" in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_pyscale_runs(tmp_path):
    # Outside the source tree: `-m` puts the working directory first on sys.path, and the
    # checkout's pyscale/ has no compiled extension when the package was pip-installed.
    result = subprocess.run([sys.executable, "-m", "pyscale", "--version"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and pyscale.__version__ in result.stdout


def test_figure_numbers_known_to_the_cli_are_the_figures():
    from pyscale.app import cli, figures
    assert tuple(cli.FIGURES) == tuple(sorted(figures.FIGURES))
    assert tuple(cli.FIGURES_WITH_D) == figures.ANY_D == (1, 5)
