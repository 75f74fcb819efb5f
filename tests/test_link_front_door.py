"""The link pair in the front door: the problem's identity (results of different links never
combine), trajectory files (roundtrip of named, polynomial and Hermite links; a user link
refused at save), the CLI (``--link``), configuration files and sweeps (a ``link`` field and
grid axis), reprs and tidy tables (a ``link`` column) — and hostile input to each."""
import json
import math

import numpy as np
import pytest

import pyscale
from pyscale.app.cli import main
from pyscale.app.config import ConfigError, parse_problem, parse_sweep
from pyscale.app.io import load_problem, load_trajectory, read_header, save_trajectory
from pyscale.app.sweep import run_task, tasks_of
from pyscale.app.sweep.tasks import check_distinct

BASE = pyscale.Problem.power_law(40, 2.0, seed=2)
ROUNDTRIP = ["relu", "square,abs", pyscale.Link.polynomial([0.5, 0.0, 1.0]),
             pyscale.Link.hermite([0.0, 1.0, 0.0, 0.3]), ("erf", "relu")]


def linked(link):
    return pyscale.Problem(BASE.eigenvalues, BASE.w_star, BASE.w0, link=link)


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- identity
def test_the_link_is_part_of_the_identity_and_the_square_keeps_its_own():
    ids = {linked(link).identity() for link in ["square", "relu", "abs", "square,abs",
                                                 "abs,square", "hermite(0,1,0,0.3)"]}
    assert len(ids) == 6
    assert "link" not in BASE.identity_fields()  # the square's identity is the one before
    assert linked("relu").identity_fields()["link"] == "relu"
    assert linked("relu").identity() == linked(pyscale.Link("relu")).identity()
    assert linked(("square", "abs")).identity() == linked("square,abs").identity()


def test_resume_refuses_a_run_of_another_link_in_one_sentence():
    def stop(t, steps):
        return steps < 10
    relu = linked("relu")
    with pytest.raises(pyscale.Interrupted) as info:
        pyscale.simulate(relu, "gd", lr=1e-2, steps=100, progress=stop, progress_every=5)
    partial = info.value.trajectory
    for other, name in ((BASE, "square"), (linked("erf"), "erf")):
        with pytest.raises(ValueError) as err:
            pyscale.simulate(other, "gd", lr=1e-2, steps=100, resume=partial)
        assert str(err.value) == (f"resume: the trajectory is a run of link pair 'relu', this "
                                  f"problem's is {name!r}: results of different links do "
                                  f"not belong together")
    assert pyscale.simulate(relu, "gd", lr=1e-2, steps=100, resume=partial).status == \
        "completed"


def test_a_stored_problem_of_another_link_is_refused(tmp_path):
    traj = pyscale.simulate(linked("relu"), "flow", t=2.0)
    with pytest.raises(ValueError, match="run of link pair 'relu', this problem's is "
                                         "'square'"):
        save_trajectory(traj, tmp_path / "x.npz", problem=BASE)


# ---------------------------------------------------------------------------- files
@pytest.mark.parametrize("link", ROUNDTRIP, ids=str)
def test_files_roundtrip_every_storable_link(tmp_path, link):
    problem = linked(link)
    times = np.r_[0.0, np.geomspace(0.1, 3.0, 11)]
    traj = pyscale.simulate(problem, "flow", t=times)
    path = save_trajectory(traj, tmp_path / "run.npz", problem=problem)
    back = load_trajectory(path)
    assert back.meta["link"] == problem.link.identity and back.columns == traj.columns
    for name in traj.columns:
        np.testing.assert_array_equal(getattr(back, name), getattr(traj, name))
    assert ("mse" in back.columns) == (problem.link.mse_kind != "undefined")
    t = np.linspace(0.5, 2.5, 7)
    fields = ("s", "u", "loss", "excess_risk", "cosine")
    for name in fields:
        np.testing.assert_array_equal(back.dense.at(t, fields)[name],
                                      traj.dense.at(t, fields)[name])
    rebuilt = load_problem(path)
    assert rebuilt.link == problem.link and rebuilt.identity() == problem.identity()
    assert read_header(path)["problem"]["link"] == problem.link.identity
    again = pyscale.simulate(rebuilt, "flow", t=times)  # the same run, bit for bit
    np.testing.assert_array_equal(again.s, traj.s)


def test_an_sgd_run_of_a_pair_without_mse_roundtrips(tmp_path):
    traj = pyscale.simulate(linked("square,abs"), "sgd", lr=1e-3, steps=200, record=10,
                            seed=3)
    back = load_trajectory(save_trajectory(traj, tmp_path / "sgd.npz"))
    assert "mse" not in back.columns
    np.testing.assert_array_equal(back.meta["online_loss"], traj.meta["online_loss"])
    np.testing.assert_array_equal(back.excess_risk, traj.excess_risk)
    with pytest.raises(AttributeError, match="no recovery MSE"):
        _ = back.mse


def test_a_user_link_is_refused_at_save_in_one_sentence(tmp_path):
    user = pyscale.Link.user(lambda z: math.tanh(z), lambda z: 1.0 - math.tanh(z) ** 2,
                             name="mytanh")
    traj = pyscale.simulate(linked(user), "flow", t=1.0)
    with pytest.raises(ValueError) as err:
        save_trajectory(traj, tmp_path / "user.npz")
    text = str(err.value)
    assert text.startswith("save_trajectory: link pair 'user(mytanh)@") and \
        "a file cannot hold" in text and text.count(". ") == 0
    assert not (tmp_path / "user.npz").exists()


# ---------------------------------------------------------------------------- reprs, tidy
def test_reprs_and_tidy_tables_carry_the_link():
    problem = linked("square,abs")
    traj = pyscale.simulate(problem, "gd", lr=1e-2, steps=50, record=5)
    assert "link=square,abs" in repr(problem) and "link=square,abs" in repr(traj)
    df = traj.to_pandas()
    assert (df["link"] == "square,abs").all() and "mse" not in df
    square = pyscale.simulate(BASE, "gd", lr=1e-2, steps=50, record=5).to_pandas()
    assert (square["link"] == "square").all()
    ens = pyscale.simulate_many(linked("relu"), 2, "sgd", lr=1e-3, steps=40, record=4)
    assert (ens.to_pandas()["link"] == "relu").all()
    assert "link=relu" in repr(ens)


# ---------------------------------------------------------------------------- CLI
def test_cli_runs_saves_and_shows_a_link(capsys, tmp_path):
    out = tmp_path / "run.npz"
    code, text, err = run(capsys, ["simulate", "--d", 40, "--a", 2, "--link", "square,abs",
                                   "--t", 3, "--no-progress", "--json", "--out", out])
    assert code == 0, err
    summary = json.loads(text)
    assert summary["link"] == "square,abs" and "final_mse" not in summary
    assert summary["final_excess_risk"] is not None
    # the pair's own phases (links page: Phases): T1 as the run itself gives it
    direct = pyscale.simulate(pyscale.Problem.power_law(40, 2.0, link="square,abs"), "flow",
                              t=3.0)
    assert summary["T1"] == direct.phases().T1 is not None
    assert load_trajectory(out).meta["link"] == "square,abs"
    code, text, err = run(capsys, ["show", out, "--json"])
    assert code == 0, err
    assert json.loads(text)["link"] == "square,abs" and "final_mse" not in json.loads(text)
    code, text, err = run(capsys, ["simulate", "--d", 40, "--a", 2, "--link", "relu",
                                   "--method", "gd", "--lr", 1e-2, "--steps", 50,
                                   "--no-progress", "--json"])
    assert code == 0, err
    assert json.loads(text)["link"] == "relu" and json.loads(text)["final_mse"] >= 0


def test_cli_square_summary_is_unchanged_by_links(capsys):
    code, text, err = run(capsys, ["simulate", "--d", 40, "--a", 2, "--t", 3,
                                   "--no-progress", "--json"])
    summary = json.loads(text)
    assert code == 0 and summary["link"] == "square" and summary["T1"] is not None
    assert summary["final_mse"] >= 0


@pytest.mark.parametrize("value,needle", [
    ("rleu", "unknown link 'rleu' (did you mean 'relu'?)"),
    ("square,abs,relu", "a link pair is 'student,teacher' (two links), got "
                        "'square,abs,relu'"),
    ("square,", "a link pair is 'student,teacher' (two links), got 'square,'"),
    ("", "unknown link ''"),
    ("polynomial(1,x)", "cannot read the coefficients of link 'polynomial(1,x)'"),
    ("relu,tanh", "the kinked link 'relu' cannot be paired with a quadrature link")])
def test_cli_refuses_a_bad_link_in_one_line(capsys, value, needle):
    for command in ("simulate", "predict"):
        code, _, err = run(capsys, [command, "--d", 30, "--a", 2, "--t", 1, "--link", value]
                           if command == "simulate" else
                           [command, "--d", 30, "--a", 2, "--link", value])
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith(f"pyscale {command}: error: argument --link: "), err
        assert needle in lines[0], err


def test_cli_predict_for_a_link_gives_its_class_and_says_why_there_is_no_number(capsys):
    code, text, err = run(capsys, ["predict", "--d", 30, "--a", 2, "--link", "relu"])
    assert code == 0 and err == "", err
    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert rows["information_exponent"].split()[1] == "1"
    assert rows["T1_predicted"].split()[1] == "—" and "no escape plateau" in rows["T1_predicted"]
    code, text, _ = run(capsys, ["predict", "--d", 10 ** 4, "--a", 2, "--link", "square,abs",
                                 "--json"])
    values = json.loads(text)
    pred = pyscale.predict(pyscale.Problem.power_law(10 ** 4, 2.0, link="square,abs"))
    assert code == 0 and values["T1_predicted"] == pred.escape_time(0.05)
    assert values["escape_rate"] == pred.escape_rate and values["phase3_constant"] is None


def test_config_files_take_a_link_and_refuse_a_bad_one(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[problem]\nd = 30\na = 2.0\nlink = ["square", "abs"]\n\n'
                   '[run]\nmethod = "flow"\nt = 2.0\n')
    code, text, err = run(capsys, ["simulate", "--config", cfg, "--no-progress", "--json"])
    assert code == 0, err
    assert json.loads(text)["link"] == "square,abs"
    assert parse_problem({"d": 30, "a": 2, "link": "Relu "}).link == "relu"
    for value, needle in ((3, "a link is a name such as 'relu' or 'square,abs', got int 3"),
                          (["square", 2], "a link pair is a name or [student, teacher] "
                                          "names, got ['square', 2]"),
                          (["a", "b", "c"], "a link pair is (student, teacher), got 3 links"),
                          ("nope", "unknown link 'nope'")):
        with pytest.raises(ConfigError) as err:
            parse_problem({"d": 30, "a": 2, "link": value})
        assert str(err.value).startswith("problem.link: ") and needle in str(err.value)
    cfg.write_text('[problem]\nd = 30\na = 2.0\nlink = "erff"\n\n[run]\nmethod = "flow"\n'
                   't = 2.0\n')
    code, _, err = run(capsys, ["simulate", "--config", cfg, "--no-progress"])
    assert code == 2 and err.startswith("pyscale simulate: error: problem.link: unknown "
                                        "link 'erff' (did you mean 'erf'?)")


# ---------------------------------------------------------------------------- sweeps
SWEEP = {"grid": {"a": [2.0], "d": [30], "seed": [2], "link": ["square", "relu", "square,abs"],
                  "method": ["flow", "sgd"]},
         "flow": {"t": 5.0, "records": 8}, "sgd": {"lr": 1e-3, "steps": 100, "records": 5}}


def test_sweeps_take_a_link_axis_and_square_tasks_keep_their_ids():
    tasks = tasks_of(parse_sweep(SWEEP))
    assert [t.problem.link for t in tasks] == ["square"] * 2 + ["relu"] * 2 + \
        ["square,abs"] * 2
    check_distinct(tasks)
    plain = dict(SWEEP, grid={k: v for k, v in SWEEP["grid"].items() if k != "link"})
    assert [t.task_id for t in tasks_of(parse_sweep(plain))] == \
        [t.task_id for t in tasks[:2]]
    assert len({t.task_id for t in tasks}) == 6
    fixed = dict(plain, problem={"link": "erf"})
    assert {t.problem.link for t in tasks_of(parse_sweep(fixed))} == {"erf"}


def test_sweep_tasks_of_links_run_and_carry_the_link():
    for task in tasks_of(parse_sweep(SWEEP))[2:]:
        records, summary = run_task(task)
        assert (records["link"] == task.problem.link).all()
        assert summary["link"].iloc[0] == task.problem.link
        direct = pyscale.simulate(task.problem.build(), task.run.method,
                                  **task.run.engine_kwargs(task.problem.seed))
        np.testing.assert_array_equal(records["s"].to_numpy(), direct.s)
        assert records["problem_id"].iloc[0] == direct.meta["problem_id"]
        # a pair without a recovery metric has NaN mse in the one schema of the tables
        assert records["mse"].isna().all() == (task.problem.link == "square,abs")
        # the pair's own phases (links page: Phases), as the run itself gives them
        t1 = direct.phases().T1
        measured = summary["T1_measured"].iloc[0]
        assert np.isnan(measured) if t1 is None else measured == t1


@pytest.mark.parametrize("grid,needle", [
    (["square", "rleu"], "grid.link[1]: unknown link 'rleu' (did you mean 'relu'?)"),
    (["square,abs", ["square", "abs"]], "grid.link: has repeated values"),
    ([["square"]], "grid.link[0]: a link pair is (student, teacher), got 1 links"),
    ([1.5], "grid.link[0]: a link is a name such as 'relu'")])
def test_sweeps_refuse_a_bad_link_axis(grid, needle):
    with pytest.raises(ConfigError) as err:
        parse_sweep(dict(SWEEP, grid=dict(SWEEP["grid"], link=grid)))
    assert needle in str(err.value)
    with pytest.raises(ConfigError, match="grid.link: is also set in"):
        parse_sweep(dict(SWEEP, problem={"link": "relu"}))
