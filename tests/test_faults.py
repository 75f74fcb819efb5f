"""Faults survived without losing results: unusable output paths refused before any work,
two sweeps into one directory, damaged sweep parts recomputed, a killed worker's task
retried, no orphan workers after the coordinator is SIGKILLed, damaged checkpoints refused
by name and left untouched."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyscale
from pyscale.app.cli import main
from pyscale.app.config import parse_sweep
from pyscale.app.sweep import run_sweep, run_task, tasks_of

# A run that would take minutes: the path checks must refuse it before any engine runs.
LONG_RUN = ["simulate", "--d", "3000", "--a", "2", "--t", "1e9", "--no-progress"]
UNWRITABLE = "/proc/pyscale-no-such-dir"  # cannot be created, even by root


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, err


@pytest.fixture
def work_done(monkeypatch):
    """Every entry point the CLI does its work through (an engine run, a checkpointed run,
    a sweep's workers, a figure), replaced by one that records the call: the list of calls made."""
    import types

    import pyscale.app.checkpoint
    import pyscale.app.sweep.driver
    import pyscale.engines
    calls = []

    def recorder(name):
        def called(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} ran before the refusal")
        return called
    monkeypatch.setattr(pyscale.engines, "simulate", recorder("simulate"))
    monkeypatch.setattr(pyscale.app.checkpoint, "run_checkpointed", recorder("checkpoint"))
    for backend in ("LocalBackend", "DaskBackend"):  # a sweep's workers
        monkeypatch.setattr(pyscale.app.sweep.driver, backend, recorder(backend))
    figures = types.ModuleType("pyscale.app.figures")  # never the plotting stack itself
    for name in ("make_all", "make_figure", "make_into"):
        setattr(figures, name, recorder(name))
    monkeypatch.setitem(sys.modules, "pyscale.app.figures", figures)
    return calls


def assert_one_line_error(code, err):
    assert code in (1, 2), (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("x")
    return path


@pytest.mark.parametrize("case", [
    "out-unwritable-dir", "out-is-a-directory", "out-parent-is-a-file", "out-exists",
    "checkpoint-unwritable", "checkpoint-is-a-directory", "figure-unwritable",
    "figure-exists", "figure-all-parent-is-a-file", "sweep-out-parent-is-a-file",
    "sweep-out-foreign-directory",
])
def test_output_path_refused_before_any_work(capsys, tmp_path, a_file, case, work_done):
    existing = tmp_path / "done.npz"
    existing.write_bytes(b"finished result")
    sweep_config = tmp_path / "sweep.json"
    sweep_config.write_text(json.dumps({"grid": {"a": [2.0], "d": [3000]},
                                        "flow": {"t": 1e9}}))
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    argv = {
        "out-unwritable-dir": LONG_RUN + ["--out", f"{UNWRITABLE}/run.npz"],
        "out-is-a-directory": LONG_RUN + ["--out", tmp_path],
        "out-parent-is-a-file": LONG_RUN + ["--out", a_file / "run.npz"],
        "out-exists": LONG_RUN + ["--out", existing],
        "checkpoint-unwritable": LONG_RUN + ["--checkpoint", f"{UNWRITABLE}/ck.npz"],
        "checkpoint-is-a-directory": LONG_RUN + ["--checkpoint", tmp_path],
        "figure-unwritable": ["figure", "2", "--out", f"{UNWRITABLE}/f.png"],
        "figure-exists": ["figure", "2", "--out", a_file.with_suffix(".png")],
        "figure-all-parent-is-a-file": ["figure", "all", "--out", a_file / "gallery"],
        "sweep-out-parent-is-a-file": ["sweep", sweep_config, "--out", a_file / "res",
                                       "--no-progress"],
        "sweep-out-foreign-directory": ["sweep", sweep_config, "--out", foreign,
                                        "--no-progress"],
    }[case]
    if case == "figure-exists":
        a_file.with_suffix(".png").write_bytes(b"an earlier figure")
    code, err = cli(capsys, *argv)
    assert_one_line_error(code, err)
    assert work_done == [], f"refused only after {work_done}"
    assert existing.read_bytes() == b"finished result"  # nothing overwritten
    assert (foreign / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]


@pytest.mark.parametrize("argv, out, called", [(LONG_RUN, "new.npz", "simulate"),
                                                (["figure", "2"], "new.png", "make_figure")])
def test_work_done_sees_the_work_of_an_accepted_path(capsys, tmp_path, work_done, argv, out,
                                                     called):
    """The recorder above does see a run that got past the path checks."""
    cli(capsys, *argv, "--out", tmp_path / out)
    assert work_done == [called]


def test_force_allows_overwriting_an_existing_output(capsys, tmp_path):
    out = tmp_path / "run.npz"
    out.write_bytes(b"old")
    argv = ["simulate", "--d", "30", "--a", "2", "--t", "10", "--out", out, "--no-progress"]
    code, err = cli(capsys, *argv)
    assert_one_line_error(code, err)
    assert "--force" in err and out.read_bytes() == b"old"
    code, err = cli(capsys, *argv, "--force")
    assert code == 0, err
    assert len(pyscale.load(out)) == 201


# ---------------------------------------------------------------------------- sweeps
SWEEP_A = {"grid": {"a": [1.5, 2.0], "d": [30], "seed": [0]}, "flow": {"t": 20.0,
                                                                        "records": 20}}
SWEEP_B = {"grid": {"a": [3.0], "d": [30], "seed": [0, 1], "method": ["gd"]},
           "gd": {"lr": 1e-2, "steps": 500, "records": 20}}


def threads_sweep(config, out, **kw):
    """The sweep logic on dask worker threads (fast to start; same code path for storing,
    verifying and merging as the process backends)."""
    return run_sweep(config, out, dask="local", dask_processes=False, workers=2,
                     progress=False, **kw)


def by_task(frame):
    return frame.sort_values(["task_id", "t"]).reset_index(drop=True)


def test_two_different_sweeps_into_one_directory_lose_nothing(capsys, tmp_path):
    first = threads_sweep(parse_sweep(SWEEP_A), tmp_path)
    second = threads_sweep(parse_sweep(SWEEP_B), tmp_path)
    assert len(first.computed) == 2 and len(second.computed) == 2
    everything = pyscale.load(tmp_path)
    assert set(everything.task_id) == set(first.computed) | set(second.computed)
    pd.testing.assert_frame_equal(
        by_task(everything[everything.task_id.isin(first.computed)]), by_task(first.records))
    summary = pyscale.app.io.read_table(tmp_path, "summary")
    assert len(summary) == 4 and set(summary.method) == {"flow", "gd"}
    # the first sweep again: all reused, nothing recomputed, nothing hidden
    again = threads_sweep(parse_sweep(SWEEP_A), tmp_path)
    assert sorted(again.reused) == sorted(first.computed) and not again.computed
    assert len(pyscale.app.io.read_table(tmp_path, "summary")) == 4
    assert main(["show", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("completed") == 4


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "empty":
        path.write_bytes(b"")
    else:  # one byte flipped in the middle: same size, different content
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "empty", "byte-flipped"])
@pytest.mark.parametrize("which", ["records", "summary"])
def test_damaged_part_is_refused_by_show_then_recomputed(capsys, tmp_path, how, which):
    config = parse_sweep(SWEEP_A)
    first = threads_sweep(config, tmp_path)
    victim = sorted(first.computed)[0]
    part = tmp_path / which / f"{victim}.parquet"
    _damage(part, how)
    code = main(["show", str(tmp_path)])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert code == 1 and part.name in err and "run the sweep again" in err
    second = threads_sweep(config, tmp_path)
    assert second.computed == [victim] and sorted(second.reused) == sorted(
        set(first.computed) - {victim})
    pd.testing.assert_frame_equal(by_task(second.records), by_task(first.records))


@pytest.mark.parametrize("lost", ["one-entry", "all-entries"])
def test_parts_without_index_entries_are_verified_and_adopted(capsys, tmp_path, lost):
    """one-entry: the crash came between writing a part and updating the index;
    all-entries: a directory written by an earlier layout (no checksums at all)."""
    config = parse_sweep(SWEEP_A)
    first = threads_sweep(config, tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    victim = sorted(first.computed)[0]
    if lost == "one-entry":
        del index["parts"][victim]
    else:
        del index["parts"]
    (tmp_path / "index.json").write_text(json.dumps(index))
    if lost == "all-entries":  # still readable as it is
        assert len(pyscale.app.io.read_table(tmp_path, "summary")) == 2
    second = threads_sweep(config, tmp_path)
    assert not second.computed and victim in second.reused
    assert victim in json.loads((tmp_path / "index.json").read_text())["parts"]
    pd.testing.assert_frame_equal(by_task(pyscale.load(tmp_path)), by_task(first.records))


class KillOnce:
    """Kills its own worker process (SIGKILL, as the OOM killer would) on the first
    attempt of one task; a marker file per attempt, since each attempt is a new process."""

    def __init__(self, directory, victim):
        self.directory, self.victim = Path(directory), victim

    def __call__(self, task):
        attempt = len(list(self.directory.glob(f"{task.task_id}.*"))) + 1
        (self.directory / f"{task.task_id}.{attempt}").touch()
        if task.task_id == self.victim and attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return run_task(task)


def test_killed_local_worker_task_is_retried_and_the_sweep_completes(tmp_path):
    tasks = tasks_of(parse_sweep(SWEEP_A)) + tasks_of(parse_sweep(SWEEP_B))
    victim = tasks[1].task_id
    markers = tmp_path / "attempts"
    markers.mkdir()
    result = run_sweep(tasks, tmp_path / "out", workers=2, retries=1, progress=False,
                       runner=KillOnce(markers, victim))
    assert not result.failed and sorted(result.computed) == sorted(t.task_id for t in tasks)
    assert len(list(markers.glob(f"{victim}.*"))) == 2  # killed once, then retried
    import multiprocessing
    assert multiprocessing.active_children() == []  # the broken pool's workers are gone
    direct = pyscale.simulate(tasks[1].problem.build(), "flow",
                              **tasks[1].run.engine_kwargs(tasks[1].problem.seed))
    rows = result.records[result.records.task_id == victim].sort_values("t")
    np.testing.assert_array_equal(rows.u.to_numpy(), direct.u)


def test_ctrl_c_in_a_local_sweep_stops_its_workers_and_keeps_finished_tasks(tmp_path):
    import multiprocessing
    tasks = tasks_of(parse_sweep(SWEEP_A)) + tasks_of(parse_sweep(SWEEP_B))
    finished = []

    def interrupt_after_two(task, status):
        finished.append(task.task_id)
        if len(finished) == 2:
            raise KeyboardInterrupt

    with pytest.raises(pyscale.Interrupted) as info:
        run_sweep(tasks, tmp_path, workers=2, progress=False,
                  on_task_done=interrupt_after_two)
    assert sorted(info.value.result.computed) == sorted(finished)
    assert multiprocessing.active_children() == []  # no worker left running
    assert set(pyscale.load(tmp_path).task_id) == set(finished)


def _state(pid: int) -> str:
    """'gone', 'zombie' or 'alive' for a process id."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    state = next(line.split()[1] for line in status.splitlines() if line.startswith("State"))
    return "zombie" if state in ("Z", "X") else "alive"


COORDINATOR = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_faults import SleepForever, SWEEP_A
    from pyscale.app.config import parse_sweep
    from pyscale.app.sweep import run_sweep
    run_sweep(parse_sweep(SWEEP_A), {out!r}, workers=2, progress=False,
              runner=SleepForever({pids!r}))
""")


class SleepForever:
    """Writes its worker's pid, then blocks (a long task)."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def __call__(self, task):
        (self.directory / str(os.getpid())).touch()
        time.sleep(300)


def test_no_orphan_workers_after_the_coordinator_is_sigkilled(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = COORDINATOR.format(tests=str(Path(__file__).parent), out=str(tmp_path / "out"),
                                pids=str(pids))
    coordinator = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            assert coordinator.poll() is None, "the coordinator exited early"
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2 and all(_state(w) == "alive" for w in workers)
    finally:
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait(timeout=10)
    deadline = time.monotonic() + 5
    while any(_state(w) == "alive" for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [w for w in workers if _state(w) == "alive"] == []


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("how", ["truncated", "empty", "byte-flipped", "not-an-npz"])
def test_damaged_checkpoint_is_refused_by_name_and_left_untouched(capsys, tmp_path, how):
    checkpoint = tmp_path / "run.npz"
    argv = ["simulate", "--d", "40", "--a", "2", "--method", "gd", "--lr", "1e-2", "--steps",
            "2000", "--checkpoint", checkpoint, "--no-progress"]
    code, err = cli(capsys, *argv)
    assert code == 0, err
    if how == "not-an-npz":
        checkpoint.write_text("hello")
    else:
        _damage(checkpoint, how)
    damaged = checkpoint.read_bytes()
    code, err = cli(capsys, *argv)
    assert_one_line_error(code, err)
    assert code == 1 and str(checkpoint) in err and "not modified" in err
    assert checkpoint.read_bytes() == damaged
    with pytest.raises(pyscale.app.io.BadFileError, match="run.npz"):
        pyscale.app.checkpoint.run_checkpointed(pyscale.Problem.power_law(40, 2.0), "gd",
                                            checkpoint, lr=1e-2, steps=2000)
    assert checkpoint.read_bytes() == damaged


def test_flipped_byte_in_an_array_is_caught_by_the_checksum(tmp_path):
    """Flip a byte inside the stored state w itself (zip CRCs would catch it on read; here
    the CRC is recomputed to prove that the header's checksum catches it independently)."""
    import zipfile
    problem = pyscale.Problem.power_law(40, 2.0)
    path = pyscale.app.io.save_trajectory(pyscale.simulate(problem, "gd", lr=1e-2, steps=100),
                                      tmp_path / "r.npz")
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = bytearray(members["state/w.npy"])
    data[-3] ^= 0x01
    members["state/w.npy"] = bytes(data)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    with pytest.raises(pyscale.app.io.BadFileError, match="digest mismatch"):
        pyscale.load(path)
