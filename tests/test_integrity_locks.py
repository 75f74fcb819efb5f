"""Outputs have a lock: two commands writing one file at once — ``--out``, ``--checkpoint``
— never both succeed; exactly one wins and the other refuses in one line before doing the
work (as two sweeps into one directory already do)."""
import subprocess
import sys
import time

import pytest

import pyscale

# long enough that the two runs overlap (a few seconds), short enough for the suite
RUN = ["simulate", "--d", "2000", "--a", "2", "--method", "gd", "--lr", "1e-2",
       "--steps", "3000000", "--no-progress"]


def _start(*argv):
    return subprocess.Popen([sys.executable, "-m", "pyscale", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _race(flag, path, extra=()):
    """Two commands writing ``path`` at once: (code, stderr, seconds) of each."""
    procs = [_start(*RUN, flag, path, *extra) for _ in range(2)]
    start = time.perf_counter()
    ends = [None, None]
    while any(e is None for e in ends):
        for i, proc in enumerate(procs):
            if ends[i] is None and proc.poll() is not None:
                ends[i] = time.perf_counter() - start
        time.sleep(0.02)
    return [(p.returncode, p.communicate(timeout=60)[1], ends[i]) for i, p in enumerate(procs)]


@pytest.mark.parametrize("flag,extra", [("--out", ()), ("--out", ("--force",)),
                                        ("--checkpoint", ())])
def test_two_writers_of_one_output_one_wins_the_other_refuses_first(tmp_path, flag, extra):
    path = tmp_path / "same.npz"
    results = sorted(_race(flag, path, extra), key=lambda r: r[0])
    (code1, err1, took1), (code2, err2, took2) = results
    assert (code1, code2) == (0, 1), (err1, err2)
    lines = err2.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err2, err2
    assert str(path) in lines[0] and "another" in lines[0]
    # refused before the work: it ends while the winner still runs (seconds of work)
    assert took2 < took1, (took1, took2)
    traj = pyscale.load(path)
    assert traj.status == "completed" and traj.meta["last_step"] == 3000000


def test_out_and_checkpoint_locks_are_released(tmp_path):
    """After a run, its lock is gone: the same command (with --force) runs again, and no
    stray file is left next to the output."""
    path = tmp_path / "run.npz"
    argv = ["simulate", "--d", "30", "--a", "2", "--t", "10", "--no-progress"]
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "pyscale", *argv, "--out", str(path),
                               "--force"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]
