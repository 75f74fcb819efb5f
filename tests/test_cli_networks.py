"""The pyscale command for two-layer networks: --units / --teacher-units / --teachers through
the one configuration and validation, network runs saved, shown and reloaded, and
predict's refusal (or whatever pyscale.predict gives) in one line."""
import dataclasses
import json

import numpy as np
import pytest
from test_cli import run  # main(argv) → (status, stdout, stderr)

import pyscale
from pyscale.app.config import ConfigError, parse_problem
from pyscale.app.io import load_problem
from pyscale.results import network_times as nt
from pyscale.results.network import NetworkTrajectory


def test_simulate_a_network_prints_its_times_and_saves_it(capsys, tmp_path):
    path = tmp_path / "net.npz"
    code, out, err = run(capsys, "simulate", "--d", 120, "--a", 2, "--units", 3,
                         "--teacher-units", 2, "--link", "erf", "--t", 200, "--out", path,
                         "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    traj = pyscale.load(path)
    assert isinstance(traj, NetworkTrajectory) and traj.U.shape == (201, 3, 2)
    problem = pyscale.Problem.power_law(120, 2.0, units=3, teacher_units=2, link="erf")
    direct = pyscale.simulate(problem, "flow", t=traj.t)
    np.testing.assert_array_equal(traj.S, direct.S)
    np.testing.assert_array_equal(traj.U, direct.U)
    np.testing.assert_array_equal(traj.w, direct.w)
    assert summary["units"] == 3 and summary["teacher_units"] == 2
    assert summary["T1_units"] == nt.escape_times(direct, 0.05)
    assert summary["final_loss"] == direct.loss[-1]
    assert summary["final_best_cosines"] == list(nt.best_cosines(direct)[-1])
    assert summary["T1_predicted"] is None  # none derived for an erf committee


def test_a_saved_network_problem_is_rebuilt_with_its_readouts(capsys, tmp_path):
    path = tmp_path / "net.npz"
    code, _, err = run(capsys, "simulate", "--d", 60, "--a", 1.5, "--units", 2,
                       "--teachers", "orthonormal", "--t", 10, "--out", path, "--no-progress")
    assert code == 0, err
    problem = load_problem(path)
    direct = pyscale.Problem.power_law(60, 1.5, units=2, teachers="orthonormal")
    assert problem.is_network and problem.units == 2 and problem.teacher_units == 1
    np.testing.assert_array_equal(problem.w_star, direct.w_star)
    np.testing.assert_array_equal(problem.readout, direct.readout)
    np.testing.assert_array_equal(problem.teacher_readout, direct.teacher_readout)


def test_show_a_saved_network_run(capsys, tmp_path):
    path = tmp_path / "net.npz"
    assert run(capsys, "simulate", "--d", 60, "--a", 2, "--units", 2, "--teacher-units", 2,
               "--t", 50, "--out", path, "--no-progress")[0] == 0
    code, out, err = run(capsys, "show", path, "--json")
    assert code == 0, err
    shown = json.loads(out)
    traj = pyscale.load(path)
    assert shown["units"] == 2 and shown["records"] == len(traj)
    assert shown["final_excess_risk"] == traj.excess_risk[-1]
    assert shown["plateau_end"] == nt.plateau_end(traj, 0.9)


def test_a_network_in_a_config_file_and_on_the_mode_chain(capsys, tmp_path):
    config = tmp_path / "net.toml"
    config.write_text('[problem]\nd = 1e9\na = 2\nunits = 2\nteacher_units = 2\n'
                      'link = "erf"\ncompress = 0.2\n\n'
                      '[run]\nmethod = "sgd"\nlr = 0.01\nsteps = 200\nrecords = 5\n')
    code, out, err = run(capsys, "simulate", "--config", config, "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["d"] == 10 ** 9 and summary["method"] == "sgd"
    assert len(summary["final_best_cosines"]) == 2


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "--d", 50, "--a", 2, "--units", 0, "--t", 10],
     "--units: must be an integer in [1, 32], got 0"),
    (["simulate", "--d", 50, "--a", 2, "--teacher-units", 33, "--t", 10],
     "--teacher-units: must be an integer in [1, 32]"),
    (["simulate", "--d", 50, "--a", 2, "--units", "two", "--t", 10], "--units"),
    (["simulate", "--d", 50, "--a", 2, "--teachers", "orthonormal", "--t", 10],
     "--teachers: draws a network's teachers"),
    (["simulate", "--d", 50, "--a", 2, "--units", 2, "--teachers", "qr", "--t", 10],
     "--teachers: invalid choice"),
    (["predict", "--d", 50, "--a", 2, "--units", 2, "--link", "erf"],
     "pyscale predict: error: no theory is derived for the 'erf' network"),
])
def test_bad_network_requests_get_one_line_and_status_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


def test_config_fields_of_a_network_are_checked_by_the_one_validator():
    with pytest.raises(ConfigError, match=r"problem.units: must be an integer in \[1, 32\]"):
        parse_problem({"d": 10, "a": 2, "units": 2.5})
    with pytest.raises(ConfigError, match="problem.teachers: must be one of"):
        parse_problem({"d": 10, "a": 2, "units": 2, "teachers": "qr"})
    conf = parse_problem({"d": 10, "a": 2, "units": "3"})
    assert conf.units == 3 and conf.is_network
    # a single-index problem keeps the description (hence the task ids) it had
    assert parse_problem({"d": 10, "a": 2}).as_dict() == {
        "d": 10, "a": 2.0, "seed": 0, "target": "unit_q", "noise": 0.0, "compress": None}


def test_a_sweep_refuses_a_network(capsys, tmp_path):
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({"grid": {"a": [2.0], "d": [30]}, "problem": {"units": 2},
                                  "flow": {"t": 5.0}}))
    code, out, err = run(capsys, "sweep", config, "--out", tmp_path / "out")
    assert code == 2 and "problem.units: sweeps run single-index problems" in err


@dataclasses.dataclass
class _Escape:
    """A stand-in for a network prediction: per-unit numbers, a long vector, the problem."""
    problem: object
    rates: tuple
    direction: np.ndarray
    note: str


class _Summarised(_Escape):
    """... whose summary holds a table per unit."""

    def summary(self, delta):
        return {"d": 1, "delta": delta, "units": [{"T1": 2.0 / r, "rate": r}
                                                  for r in self.rates]}

    def escape_time(self, delta):
        return np.array([2.0 / r for r in self.rates])


def test_predict_prints_whatever_the_theory_gives_for_a_network(capsys, monkeypatch):
    import pyscale.theory
    seen = {}

    def fake(problem):
        seen["problem"] = problem
        return _Escape(problem, (0.5, 0.25), np.ones(500), "small start only")
    monkeypatch.setattr(pyscale.theory, "predict", fake)
    code, out, err = run(capsys, "predict", "--d", 500, "--a", 2, "--units", 2,
                         "--teacher-units", 2, "--json")
    assert code == 0, err
    values = json.loads(out)
    assert seen["problem"].units == 2 and values["units"] == 2
    assert values["rates"] == [0.5, 0.25] and values["note"] == "small start only"
    assert values["direction"] == "array of shape (500,)"
    assert "problem" not in values


def test_a_prediction_summary_with_per_unit_tables_is_one_row_per_key(capsys, monkeypatch):
    import pyscale.theory
    monkeypatch.setattr(pyscale.theory, "predict",
                        lambda problem: _Summarised(problem, (0.5, 0.25), np.ones(3), ""))
    code, out, err = run(capsys, "predict", "--d", 40, "--a", 2, "--units", 2, "--json",
                         "--delta", 0.1)
    assert code == 0, err
    values = json.loads(out)
    assert values["d"] == 40 and values["delta"] == 0.1  # the problem's d, not the summary's
    assert values["T1"] == [4.0, 8.0] and values["rate"] == [0.5, 0.25]
    code, out, err = run(capsys, "simulate", "--d", 40, "--a", 2, "--units", 2, "--t", 5,
                         "--json", "--no-progress", "--delta", 0.1)
    assert code == 0, err
    assert json.loads(out)["T1_predicted"] == [4.0, 8.0]


def test_readouts_from_flags_and_files_reach_the_problem(capsys, tmp_path):
    path = tmp_path / "net.npz"
    code, out, err = run(capsys, "simulate", "--d", 80, "--a", 2, "--readout", "0.5,0.25",
                         "--teacher-readout", 1, "--t", 20, "--out", path, "--json",
                         "--no-progress")
    assert code == 0, err
    problem = pyscale.Problem.power_law(80, 2.0, readout=[0.5, 0.25], teacher_readout=[1.0])
    assert problem.units == 2 and json.loads(out)["readout"] == [0.5, 0.25]
    direct = pyscale.simulate(problem, "flow", t=pyscale.load(path).t)
    np.testing.assert_array_equal(pyscale.load(path).loss, direct.loss)
    np.testing.assert_array_equal(load_problem(path).readout, [0.5, 0.25])
    conf = parse_problem({"d": 10, "a": 2, "readout": [1, 2], "teachers": "orthonormal"})
    assert conf.readout == (1.0, 2.0) and conf.is_network


@pytest.mark.parametrize("argv, needle", [
    (["--readout", "0.5,x"], "--readout: a readout is a list of numbers, one per unit"),
    (["--readout", "0.5,nan"], "--readout: has a non-finite entry"),
    (["--units", 3, "--readout", "0.5,0.25"], "problem: readout has length 2"),
    (["--readout", "0.5,0"], "problem: readout has a zero entry"),
])
def test_bad_readouts_are_refused_in_one_line(capsys, argv, needle):
    code, out, err = run(capsys, "simulate", "--d", 50, "--a", 2, "--t", 10, *argv)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


def test_predict_and_simulate_print_the_quadratic_networks_escape(capsys):
    problem = pyscale.Problem.power_law(400, 2.0, units=3, teacher_units=2)
    pred = pyscale.predict(problem)
    code, out, err = run(capsys, "predict", "--d", 400, "--a", 2, "--units", 3,
                         "--teacher-units", 2, "--json", "--delta", 0.1)
    assert code == 0, err
    values = json.loads(out)
    np.testing.assert_allclose(values["escape_rate"], pred.escape_rate, rtol=1e-12)
    T1 = [u["T1"] for u in pred.summary(0.1)["units"]]
    assert values["T1"] == T1 and values["not_derived"] == list(pred.not_derived)
    code, out, err = run(capsys, "simulate", "--d", 400, "--a", 2, "--units", 3,
                         "--teacher-units", 2, "--t", 30, "--json", "--delta", 0.1,
                         "--no-progress")
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["T1_predicted"], pred.escape_time(0.1),
                               rtol=1e-12)
