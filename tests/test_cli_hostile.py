"""Hostile input to every subcommand: bad flags, bad configuration files, bad result files.
Each must give exactly one line on stderr (``pyscale CMD: error: ...``), no traceback, and
exit status 2 (bad usage) or 1 (a failed run or an unusable file).

Run in-process through ``pyscale.app.cli.main(argv)``; a few real subprocesses check that the
console entry point behaves the same."""
import json
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import pyscale
from pyscale.app.cli import main

BASE = ["--d", "30", "--a", "2"]
FLOW = ["simulate", *BASE, "--t", "10", "--no-progress"]
GD = ["simulate", *BASE, "--method", "gd", "--lr", "1e-2", "--steps", "100", "--no-progress"]
SGD = ["simulate", *BASE, "--method", "sgd", "--lr", "1e-2", "--steps", "100",
       "--no-progress"]


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code, err, expected_code=None, needle=None, command=None):
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert code in (1, 2), (code, err)
    if expected_code is not None:
        assert code == expected_code, (code, err)
    if command is not None:
        assert lines[0].startswith(f"pyscale {command}: error: "), err
    if needle is not None:
        assert needle in lines[0], err


# ---------------------------------------------------------------------------- flags
BAD_FLAGS = [
    # (argv, exit status, text the message must contain: the flag and its range)
    (FLOW + ["--delta", "nan"], 2, "--delta: must be a finite number in (0, 1)"),
    (FLOW + ["--delta", "-1", "--eps", "5"], 2, "--delta"),
    (FLOW + ["--eps", "5"], 2, "--eps: must be a finite number in (0, 1)"),
    (["predict", *BASE, "--s0", "nan"], 2,
     "--s0: must be a finite number in (-0.333333, 0.666667)"),
    (["predict", *BASE, "--s0", "1"], 2, "--s0"),
    (FLOW + ["--threads", "-1"], 2, "--threads: must be an integer in [0, 1024]"),
    (FLOW + ["--records", "0"], 2, "--records: must be an integer in [1, 10000000]"),
    (SGD + ["--batch", "2147483648"], 2, "--batch: must be an integer in [1, 2**31 - 1]"),
    (SGD + ["--batch", "0"], 2, "--batch"),
    (FLOW + ["--t-start", "100"], 2, "--t-start = 100.0 must be below the horizon --t = 10"),
    (["simulate", *BASE, "--t", "1e-3", "--t-start", "1e-2", "--no-progress"], 2,
     "--t-start"),
    (["simulate", "--d", "1.5", "--a", "2", "--t", "10"], 2, "--d: must be an integer"),
    (["simulate", "--d", "-3", "--a", "2", "--t", "10"], 2, "--d"),
    (["simulate", "--d", "30", "--a", "inf", "--t", "10"], 2, "--a: must be a finite"),
    (["simulate", "--d", "30", "--a", "nan", "--t", "10"], 2, "--a"),
    (FLOW + ["--seed", "-1"], 2, "--seed: must be an integer in [0, 2**64 - 1]"),
    (FLOW + ["--noise", "-1"], 2, "--noise: must be a finite number >= 0"),
    (FLOW + ["--noise", "inf"], 2, "--noise"),
    (FLOW + ["--compress", "10"], 2, "--compress: (the grouping tolerance δ) must be < 1"),
    (FLOW + ["--compress", "nan"], 2, "--compress"),
    (["simulate", *BASE, "--t", "nan"], 2, "--t: must be a finite number > 0"),
    (FLOW + ["--rtol", "2"], 2, "--rtol"),
    (GD + ["--lr", "0"], 2, "--lr: must be a finite number > 0"),
    (["simulate", *BASE, "--method", "gd", "--lr", "1e-2", "--steps", "-1"], 2, "--steps"),
    (FLOW + ["--checkpoint-every", "0"], 2, "--checkpoint-every"),
    (FLOW + ["--checkpoint-every", "nan"], 2, "--checkpoint-every"),
    (FLOW + ["--lr", "0.1"], 2, "--lr: not an option of method='flow'"),
    (FLOW + ["--method", "adam"], 2, "--method"),
    (FLOW + ["--out", "x.txt"], 2, "--out: must end in .npz"),
    (FLOW + ["--bogus"], 2, "pyscale simulate: error: unrecognized arguments: --bogus"),
    (["predict", *BASE, "--no-progress"], 2, "pyscale predict: error: unrecognized"),
    (["simulate", *BASE, "--method", "erm", "--lr", "1e-2", "--steps", "10",
      "--n-samples", "0"], 2, "--n-samples"),
    (["simulate", "--d", "5000", "--a", "2", "--compress", "0.1", "--method", "erm",
      "--n-samples", "10", "--lr", "0.01", "--steps", "10", "--no-progress"], 2, "erm: "),
    (["sweep", "x.toml", "--workers", "0"], 2, "--workers: must be an integer in [1, 4096]"),
    (["sweep", "x.toml", "--retries", "-1"], 2, "--retries"),
    (["sweep", "x.toml", "--dask", "notaurl"], 2, "--dask: must be 'local' or a scheduler"),
    (["sweep", "x.toml", "--dask", "tcp://host"], 2, "--dask"),
    (["figure", "10", "--out", "x.png"], 2, "figure: number must be one of"),
    (["figure", "1", "--d", "0", "--out", "x.png"], 2,
     "--d: must be an integer in [2, 10**12], got 0"),
    (["figure", "1", "--d", "1", "--out", "x.png"], 2, "--d: must be an integer in [2, "),
    (["figure", "1", "--d", "-5", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "5", "--d", "nan", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "5", "--d", "inf", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "1", "--d", "1.5", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "1", "--d", "1e9.5", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "1", "--d", "ten", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "1", "--d", "1e13", "--out", "x.png"], 2,
     "--d: must be an integer in [2, 10**12], got 10000000000000"),
    (["figure", "1", "--d", "1e400", "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "1", "--d", str(2 ** 64), "--out", "x.png"], 2, "--d: must be an integer"),
    (["figure", "2", "--d", "1e9", "--out", "x.png"], 2,
     "--d: only figures 1 and 5 take a dimension, not figure 2"),
    (["figure", "7", "--d", "1e9", "--out", "x.png"], 2, "--d: only figures 1 and 5"),
    (["figure", "all", "--d", "1e9", "--out", "figs"], 2, "--d: only figures 1 and 5"),
    (["figure", "2", "--out", "x.txt"], 2, "--out: must end in .png or .pdf or .svg"),
    (["figure", "all", "--out", "x.png"], 2, "--out: 'figure all' writes"),
    (["figure"], 2, "required"),
    (["predict", "--a", "2"], 2, "problem.d: is required"),
    (["predict", "--d", "30", "--a", "0.5"], 2, "need a > 1"),
    (["show"], 2, "required"),
    ([], 2, "required: COMMAND"),
    (["fly"], 2, "invalid choice: 'fly'"),
]


@pytest.mark.parametrize("argv, code, needle", BAD_FLAGS,
                         ids=[f"flags-{i}" for i in range(len(BAD_FLAGS))])
def test_bad_flag_is_one_line_with_its_range(capsys, tmp_path, monkeypatch, argv, code,
                                             needle):
    monkeypatch.chdir(tmp_path)  # relative outputs (x.png ...) land in a scratch directory
    got, out, err = run(capsys, argv)
    assert_refused(got, err, code, needle)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_memory_is_checked_before_allocating(capsys):
    start = time.perf_counter()
    code, out, err = run(capsys, ["simulate", "--d", "1e11", "--a", "2", "--t", "10",
                                  "--no-progress"])
    assert_refused(code, err, 1, "--compress", "simulate")
    assert "bytes" in err and time.perf_counter() - start < 5
    code, out, err = run(capsys, ["predict", "--d", "1e11", "--a", "2"])
    assert_refused(code, err, 1, "needs 4800000000000 bytes", "predict")


def test_unreachable_scheduler_fails_fast(capsys, tmp_path):
    config = tmp_path / "s.json"
    config.write_text(json.dumps({"grid": {"a": [2.0], "d": [20]}, "flow": {"t": 5.0}}))
    start = time.perf_counter()
    code, out, err = run(capsys, ["sweep", config, "--out", tmp_path / "r", "--dask",
                                  "tcp://127.0.0.1:9", "--no-progress"])
    elapsed = time.perf_counter() - start
    assert_refused(code, err, 1, "cannot reach the dask scheduler at tcp://127.0.0.1:9")
    assert elapsed < 15, elapsed


# ---------------------------------------------------------------------------- config files
BAD_CONFIGS = [
    # (file name, contents (str or bytes), text the message must contain)
    ("c.toml", "problem = 5\n", "problem: must be a table"),
    ("c.toml", "run = 5\n[problem]\nd = 30\na = 2\n", "run: must be a table"),
    ("c.toml", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
    ("c.toml", "[problem\n", "invalid TOML"),
    ("c.json", "[1, 2, 3]", "must hold a table at top level"),
    ("c.json", "null", "must hold a table at top level"),
    ("c.json", "{", "invalid JSON"),
    ("c.json", '{"problem": {"d": [30], "a": 2}, "run": {"t": 10}}', "problem.d: must be"),
    ("c.json", '{"problem": {"d": 30, "a": {"x": 1}}, "run": {"t": 10}}', "problem.a"),
    ("c.json", '{"problem": {"d": 30, "a": NaN}, "run": {"t": 10}}', "problem.a"),
    ("c.json", '{"problem": {"d": 30, "a": 2, "seed": true}, "run": {"t": 10}}',
     "problem.seed"),
    ("c.json", '{"problem": {"d": 30, "a": 2, "target": 5}, "run": {"t": 10}}',
     "problem.target"),
    ("c.json", '{"problem": {"d": 30, "a": 2}, "run": {"method": 5, "t": 10}}',
     "run.method"),
    ("c.json", '{"problem": {"d": 30, "a": 2}, "run": {"t": 10, "records": 0}}',
     "run.records"),
    ("c.json", '{"problem": {"d": 30, "a": 2}, "run": {"t": 10, "t_start": 20}}',
     "run.t_start"),
    ("c.json", '{"problem": {"d": 30, "a": 2}, "run": {"t": 10, "rtoll": 1e-9}}',
     "run.rtoll: unknown field (did you mean 'rtol'?)"),
    ("c.json", '{"problem": {"d": 30, "a": 2}, "run": {"t": 10}, "sweep": {}}',
     "sweep: unknown field"),
    ("c.yaml", "problem: {}", "must end in .toml or .json"),
    ("missing.toml", None, "no such configuration file"),
]


@pytest.mark.parametrize("command", ["simulate", "predict"])
@pytest.mark.parametrize("name, text, needle", BAD_CONFIGS,
                         ids=[f"config-{i}" for i in range(len(BAD_CONFIGS))])
def test_bad_run_config_is_one_line(capsys, tmp_path, command, name, text, needle):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    argv = [command, "--config", path] + (["--no-progress"] if command == "simulate" else [])
    code, out, err = run(capsys, argv)
    if command == "predict" and needle.startswith("run."):
        # predict ignores [run]'s values but still refuses a malformed file
        assert code in (0, 2) and "Traceback" not in err
        return
    assert_refused(code, err, 2, needle, command)


BAD_SWEEPS = [
    ('sweep = 5\n[grid]\na = [2.0]\nd = [20]\n[flow]\nt = 5.0\n', "sweep: must be a table"),
    ('grid = 5\n', "grid: must be a table"),
    ('[grid]\na = [2.0]\nd = [20]\nlrr = [0.1]\n[flow]\nt = 5.0\n', "did you mean 'lr'"),
    ('[grid]\na = [2.0]\nd = [20]\nlr = [0.1]\n[flow]\nt = 5.0\n',
     "grid.lr: is not an option of any method in grid.method"),
    ('[grid]\na = [2.0]\nd = [20]\nmethod = ["gd"]\nlr = [0.1]\n[gd]\nlr = 0.2\nsteps = 9\n',
     "grid.lr: is also set in [gd]"),
    ('[grid]\na = [2.0]\nd = [20]\nbatch = [0]\nmethod = ["sgd"]\n[sgd]\nlr = 0.1\nsteps = 9\n',
     "grid.batch[0]: must be an integer in [1, 2**31 - 1]"),
    ('[grid]\na = []\nd = [20]\n[flow]\nt = 5.0\n', "grid.a: must not be empty"),
    ('[grid]\na = [[2.0]]\nd = [20]\n[flow]\nt = 5.0\n', "grid.a[0]"),
    ('[grid]\na = [2.0]\nd = [20]\n[flow]\nt = 5.0\n[sweep]\ndask = "nowhere"\n',
     "sweep.dask"),
    ('[grid]\na = [2.0]\nd = [20]\n[flow]\nt = 5.0\n[sweep]\nworkers = 0\n', "sweep.workers"),
    ('[grid]\na = [2.0]\nd = [20]\n[flow]\nt = 5.0\n[sweep]\nout = 5\n', "sweep.out"),
    ('[grid]\na = [2.0]\nd = [20]\nmethod = "flow"\n', "flow: is required"),
    ('[grid]\na = [2.0]\nd = [20]\ncompress = [5.0]\n[flow]\nt = 5.0\n', "grid.compress[0]"),
]


@pytest.mark.parametrize("text, needle", BAD_SWEEPS,
                         ids=[f"sweepconfig-{i}" for i in range(len(BAD_SWEEPS))])
def test_bad_sweep_config_is_one_line(capsys, tmp_path, text, needle):
    path = tmp_path / "s.toml"
    path.write_text(text)
    code, out, err = run(capsys, ["sweep", path, "--out", tmp_path / "r", "--no-progress"])
    assert_refused(code, err, 2, needle, "sweep")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------- result files
@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "run.npz"
    problem = pyscale.Problem.power_law(30, 2.0)
    pyscale.app.io.save_trajectory(pyscale.simulate(problem, "gd", lr=1e-2, steps=200), path,
                               problem=problem)
    return path


def _rewrite_npz(source, target, change):
    with zipfile.ZipFile(source) as z:
        members = {name: z.read(name) for name in z.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def _npy(array):
    import io as _io
    buffer = _io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _make_bad_file(kind, good, tmp_path):
    path = tmp_path / "bad.npz"
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "byte-flipped":
        flipped = bytearray(data)
        flipped[len(data) // 3] ^= 0xFF
        path.write_bytes(bytes(flipped))
    elif kind == "foreign-npz":
        np.savez(path, x=np.arange(3))
    elif kind == "npy-not-npz":
        np.save(tmp_path / "bad.npy", np.arange(3))
        (tmp_path / "bad.npy").rename(path)
    elif kind == "text":
        path.write_text("hello, world")
    elif kind == "non-json-header":
        _rewrite_npz(good, path, lambda m: m.__setitem__(
            "header.npy", _npy(np.frombuffer(b"{not json", dtype=np.uint8))))
    elif kind == "header-not-a-table":
        _rewrite_npz(good, path, lambda m: m.__setitem__(
            "header.npy", _npy(np.frombuffer(b"[1, 2]", dtype=np.uint8))))
    elif kind == "missing-column":
        _rewrite_npz(good, path, lambda m: m.pop("col/u.npy"))
    elif kind == "directory-without-index":
        path = tmp_path / "somedir"
        path.mkdir()
        (path / "notes.txt").write_text("x")
    elif kind == "missing":
        path = tmp_path / "nothing-here.npz"
    elif kind == "corrupt-index":
        path = tmp_path / "sweepdir"
        path.mkdir()
        (path / "index.json").write_text('{"format": "pyscale.sweep/1", "tasks": [')
    elif kind == "foreign-index":
        path = tmp_path / "sweepdir"
        path.mkdir()
        (path / "index.json").write_text('{"tasks": 5}')
    return path


BAD_FILES = ["truncated", "empty", "byte-flipped", "foreign-npz", "npy-not-npz", "text",
             "non-json-header", "header-not-a-table", "missing-column",
             "directory-without-index", "missing", "corrupt-index", "foreign-index"]


@pytest.mark.parametrize("kind", BAD_FILES, ids=[f"files-{k}" for k in BAD_FILES])
def test_show_refuses_what_is_not_a_valid_result(capsys, tmp_path, good_run, kind):
    path = _make_bad_file(kind, good_run, tmp_path)
    before = path.read_bytes() if path.is_file() else None
    code, out, err = run(capsys, ["show", path])
    assert_refused(code, err, 1, None, "show")
    assert str(path) in err or path.name in err
    if before is not None:
        assert path.read_bytes() == before
    with pytest.raises((pyscale.app.io.BadFileError, FileNotFoundError)):
        pyscale.load(path)


def test_show_reads_a_good_run(capsys, good_run):
    code, out, err = run(capsys, ["show", good_run, "--json"])
    assert code == 0 and json.loads(out)["records"] == len(pyscale.load(good_run))


# ---------------------------------------------------------------------------- interrupts
def test_ctrl_c_is_exit_130_with_one_line_saying_what_was_saved(capsys, tmp_path,
                                                                 monkeypatch):
    from pyscale.app import cli
    from pyscale.errors import Interrupted
    partial = pyscale.simulate(pyscale.Problem.power_law(30, 2.0), "flow", t=np.arange(5.0))

    def stopped(*args, **kwargs):
        raise Interrupted("stopped", trajectory=partial)

    monkeypatch.setattr(cli, "_engine", stopped)
    code, out, err = run(capsys, FLOW + ["--out", tmp_path / "p.npz"])
    assert code == 130 and len(err.strip().splitlines()) == 1
    assert "partial trajectory saved to" in err and (tmp_path / "p.npz").is_file()

    def plain_interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_engine", plain_interrupt)
    code, out, err = run(capsys, FLOW)
    assert code == 130 and len(err.strip().splitlines()) == 1 and "nothing saved" in err


def test_unexpected_errors_are_one_line_too(capsys, monkeypatch):
    from pyscale.app import cli

    def broken(*args, **kwargs):
        raise LookupError("something unforeseen")

    monkeypatch.setattr(cli, "_engine", broken)
    code, out, err = run(capsys, FLOW)
    assert_refused(code, err, 1, "LookupError: something unforeseen", "simulate")


# ---------------------------------------------------------------------------- subprocesses
@pytest.mark.parametrize("argv, code", [
    (["simulate", "--d", "1e11", "--a", "2", "--t", "10", "--no-progress"], 1),
    (["simulate", "--config", "{bad}", "--no-progress"], 2),
    (["show", "{truncated}"], 1),
], ids=["subprocess-memory", "subprocess-config", "subprocess-show"])
def test_console_entry_point_prints_one_line(tmp_path, good_run, argv, code):
    bad = tmp_path / "bad.toml"
    bad.write_text("problem = 5\n")
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(good_run.read_bytes()[:100])
    argv = [a.format(bad=bad, truncated=truncated) for a in argv]
    result = subprocess.run([sys.executable, "-m", "pyscale", *argv], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("index", ['{"format": "pyscale.sweep/1", "tasks": [', '{"tasks": 5}',
                                   '[]', ''], ids=["files-sweep-index-truncated",
                                                   "files-sweep-index-foreign",
                                                   "files-sweep-index-list",
                                                   "files-sweep-index-empty"])
def test_sweep_into_a_directory_with_a_damaged_index_is_refused(capsys, tmp_path, index):
    config = tmp_path / "s.json"
    config.write_text(json.dumps({"grid": {"a": [2.0], "d": [20]}, "flow": {"t": 5.0}}))
    out = tmp_path / "r"
    out.mkdir()
    (out / "index.json").write_text(index)
    code, _, err = run(capsys, ["sweep", config, "--out", out, "--no-progress"])
    assert_refused(code, err, 1, "index.json", "sweep")
    assert (out / "index.json").read_text() == index  # left as it was
