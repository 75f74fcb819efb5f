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
    first = _start(*RUN, flag, path, *extra)
    time.sleep(0.05)
    second = _start(*RUN, flag, path, *extra)
    start = time.perf_counter()
    out2, err2 = second.communicate(timeout=300)
    refused_after = time.perf_counter() - start
    out1, err1 = first.communicate(timeout=300)
    return (first.returncode, err1), (second.returncode, err2, refused_after)


@pytest.mark.parametrize("flag,extra", [("--out", ()), ("--out", ("--force",)),
                                        ("--checkpoint", ())])
def test_two_writers_of_one_output_one_wins_the_other_refuses_first(tmp_path, flag, extra):
    path = tmp_path / "same.npz"
    (code1, err1), (code2, err2, refused_after) = _race(flag, path, extra)
    assert code1 == 0, err1
    assert code2 == 1, err2
    lines = err2.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err2, err2
    assert str(path) in lines[0] and "another" in lines[0]
    assert refused_after < 2.5, f"refused only after {refused_after:.1f} s (did the work?)"
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
