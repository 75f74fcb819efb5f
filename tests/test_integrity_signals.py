"""Signals and streams: Ctrl-C at any moment (the first fraction of a second included) and
SIGTERM end a command in one line with its exit status, saving what can be resumed and
leaking nothing; notices go to stderr, results to stdout; files follow the umask; a
trajectory's events survive save → load."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pyscale

SIM = ["simulate", "--d", "2000", "--a", "2", "--method", "gd", "--lr", "1e-2", "--steps",
       "30000000", "--no-progress"]


def _pyscale_command():
    """The installed console script when there is one (its import path is the user's)."""
    script = shutil.which("pyscale", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "pyscale"]


def _signal_after(command, delay, sig, cwd=None):
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)
    time.sleep(delay)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _startup() -> float:
    """Seconds the bare interpreter takes to start here, now (the longest of three)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return max(times)


def _in_interpreter_startup(err: str) -> bool:
    """An interrupt that landed before any pyscale code ran (in Python's own start-up,
    which no program can catch): its traceback names no pyscale file."""
    return "Traceback" in err and "pyscale" not in err.replace("bin/pyscale", "")


@pytest.mark.parametrize("offset", [0.0, 0.05, 0.15, 0.3, 1.5])
@pytest.mark.parametrize("entry", ["module", "script"])
def test_ctrl_c_at_any_moment_is_one_line_and_status_130(tmp_path, offset, entry):
    """From the first pyscale code on — ``offset`` seconds after the bare interpreter's
    start-up time — Ctrl-C ends the command in one line with status 130."""
    command = ([sys.executable, "-m", "pyscale"] if entry == "module"
               else _pyscale_command()) + SIM + ["--out", str(tmp_path / "r.npz")]
    delay = _startup() + offset
    for _ in range(5):
        code, out, err = _signal_after(command, delay, signal.SIGINT, cwd=tmp_path)
        if not _in_interpreter_startup(err):
            break
        delay += 0.05  # the machine is slower than its probe: a little later
    assert "Traceback" not in err, err
    assert code == 130, (code, err)
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err


def test_sigterm_to_simulate_saves_the_checkpoint_and_says_so(tmp_path):
    ck = tmp_path / "ck.npz"
    code, out, err = _signal_after([sys.executable, "-m", "pyscale", *SIM, "--checkpoint",
                                    str(ck)], 3.0, signal.SIGTERM)
    assert code == 143, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "SIGTERM" in lines[0] and str(ck) in lines[0]
    partial = pyscale.load(ck)
    assert partial.status == "interrupted" and partial.meta["last_step"] > 0


SWEEP = {"grid": {"a": [1.5, 2.0, 3.0], "d": [2000], "seed": [0, 1, 2]},
         "gd": {"lr": 1e-2, "steps": 3_000_000, "records": 20}, }


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_sweep_leaks_nothing(tmp_path, sig):
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({**SWEEP, "grid": {**SWEEP["grid"], "method": ["gd"]}}))
    out = tmp_path / "out"
    code, stdout, err = _signal_after([sys.executable, "-m", "pyscale", "sweep", str(config),
                                       "--out", str(out), "--workers", "2",
                                       "--no-progress"], 8.0, sig)
    assert code == (143 if sig == signal.SIGTERM else 130), (code, err)
    assert "Traceback" not in err and "leaked" not in err, err
    assert len(err.strip().splitlines()) == 1
    time.sleep(1.0)
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(out) not in ps and "multiprocessing.spawn" not in "".join(
        line for line in ps.splitlines() if str(tmp_path) in line)
    # whatever finished is stored and resumable
    index = json.loads((out / "index.json").read_text())
    assert len(index["tasks"]) == 9


def test_notices_go_to_stderr_and_results_to_stdout(tmp_path):
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({"grid": {"a": [1.5, 2.0], "d": [30]},
                                  "flow": {"t": 10.0, "records": 10}}))
    out = tmp_path / "out"
    run = [sys.executable, "-m", "pyscale", "sweep", str(config), "--out", str(out),
           "--workers", "1", "--no-progress"]
    first = subprocess.run(run, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr
    part = next((out / "records").glob("*.parquet"))
    part.write_bytes(part.read_bytes()[:100])  # damaged: recomputed, with a notice
    second = subprocess.run(run, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr
    assert "damaged" in second.stderr and "damaged" not in second.stdout
    assert second.stdout.splitlines()[0].startswith("sweep: 2 tasks, 1 computed")


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_are_written_with_the_umask_modes(tmp_path, mask):
    old = os.umask(mask)
    try:
        problem = pyscale.Problem.power_law(30, 2.0, seed=0)
        traj = pyscale.simulate(problem, "gd", lr=1e-2, steps=100)
        path = pyscale.save_trajectory(traj, tmp_path / "run.npz", problem=problem)
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask
        from pyscale.app.config import parse_sweep
        from pyscale.app.sweep import run_sweep
        out = tmp_path / "sweep"
        run_sweep(parse_sweep({"grid": {"a": [2.0], "d": [20]}, "flow": {"t": 5.0,
                                                                          "records": 5}}),
                  out, workers=1, progress=False)
        for f in [out / "index.json", *out.glob("*/*.parquet")]:
            assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f
    finally:
        os.umask(old)


def test_events_survive_save_and_load(tmp_path):
    problem = pyscale.Problem.power_law(60, 2.0, seed=0)
    traj = pyscale.simulate(problem, "flow", t=1e3,
                            events=[("abs_u", 0.5), ("s", 0.9, 1, True)])
    assert traj.events and len(traj.events[0]) > 0
    path = pyscale.save_trajectory(traj, tmp_path / "ev.npz")
    back = pyscale.load(path)
    assert back.status == traj.status and back.meta["stopped_by_event"]
    assert [e.name for e in back.events] == [e.name for e in traj.events]
    for a, b in zip(traj.events, back.events):
        assert a.terminal == b.terminal
        np.testing.assert_array_equal(a.times, b.times)
        for key in a.records:
            np.testing.assert_array_equal(a.records[key], b.records[key])


_MASK = ("import signal, pyscale; print(hasattr(signal, 'pthread_sigmask') and "
         "signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))")


def test_a_program_importing_pyscale_keeps_ctrl_c(tmp_path):
    """Only the command holds Ctrl-C while it loads: ``import pyscale`` in a program (even
    one whose file is named pyscale) leaves SIGINT deliverable."""
    script = tmp_path / "pyscale"
    script.write_text(_MASK + "\n")
    for command in ([sys.executable, "-c", _MASK], [sys.executable, str(script)]):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert out.strip() == "False", (command, out)


def test_ctrl_c_inside_a_lazy_import_is_the_interrupt_line(monkeypatch, capsys):
    """A Ctrl-C inside a compiled module's initialisation surfaces as an error raised from
    the KeyboardInterrupt: the command still ends in its one line, status 130."""
    from pyscale.app import cli

    def interrupted_import(argv):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise ImportError("initialization failed") from err

    monkeypatch.setattr(cli, "_main", interrupted_import)
    assert cli.main(["simulate"]) == 130
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err

    def broken(argv):
        raise ImportError("a real failure")

    monkeypatch.setattr(cli, "_main", broken)
    with pytest.raises(ImportError, match="a real failure"):
        cli.main(["simulate"])
