"""A dead local worker never stops a sweep: a worker SIGKILLed at any point of a task's
life (before it starts, mid-task, after its result is sent, while the coordinator is busy
storing another result) is replaced, the lost tasks rerun, the sweep completes — and
nothing finished is recomputed or lost. A script that starts a sweep without the
``__main__`` guard is refused at once, with that sentence."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import pyscale
from pyscale.app.config import parse_sweep
from pyscale.app.sweep import run_sweep, run_task, tasks_of

GRID = {"grid": {"a": [1.5, 2.0, 3.0], "d": [30], "seed": [0, 1]},
        "flow": {"t": 20.0, "records": 20}}


class Lifecycle:
    """Runs a task, leaving markers (``start.<task>.<n>``, ``end.<task>.<n>``) and the
    worker's pid; on the first attempt of ``victim`` it SIGKILLs its own process at
    ``when``: "before" (nothing done yet), "mid" (half-way), "after-send" (0.4 s after the
    result was handed back, from a thread: the result is on its way or received)."""

    def __init__(self, directory, victim, when):
        self.directory, self.victim, self.when = Path(directory), victim, when

    def _mark(self, kind, task):
        n = len(list(self.directory.glob(f"{kind}.{task.task_id}.*"))) + 1
        (self.directory / f"{kind}.{task.task_id}.{n}").write_text(str(os.getpid()))
        return n

    def __call__(self, task):
        attempt = self._mark("start", task)
        (self.directory / f"pid.{os.getpid()}").touch()
        doomed = task.task_id == self.victim and attempt == 1
        if doomed and self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        if doomed and self.when == "mid":
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
        result = run_task(task)
        self._mark("end", task)
        if doomed and self.when == "after-send":
            def die():
                time.sleep(0.4)
                os.kill(os.getpid(), signal.SIGKILL)
            threading.Thread(target=die, daemon=True).start()
        return result


def _count(directory, kind, task_id):
    return len(list(Path(directory).glob(f"{kind}.{task_id}.*")))


def _check_complete(result, tasks, markers, stored_order):
    ids = sorted(t.task_id for t in tasks)
    assert not result.failed, result.failed
    assert sorted(result.computed) == ids
    assert sorted(stored_order) == ids, "a task was stored twice or not at all"
    for task in tasks:  # each task's rows are those of a direct run, bit for bit
        rows = result.records[result.records.task_id == task.task_id].sort_values("t")
        direct = pyscale.simulate(task.problem.build(), "flow",
                                  **task.run.engine_kwargs(task.problem.seed))
        np.testing.assert_array_equal(rows.u.to_numpy(), direct.u)
    import multiprocessing
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("when", ["before", "mid", "after-send"])
def test_a_worker_killed_in_its_task_never_stops_the_sweep(tmp_path, when):
    tasks = tasks_of(parse_sweep(GRID))
    victim = tasks[2].task_id
    markers = tmp_path / "markers"
    markers.mkdir()
    stored = []
    ended_before = {}

    def done(task, status):
        stored.append(task.task_id)
        ended_before[task.task_id] = _count(markers, "start", task.task_id)

    result = run_sweep(tasks, tmp_path / "out", workers=2, retries=0, progress=False,
                       runner=Lifecycle(markers, victim, when), on_task_done=done)
    _check_complete(result, tasks, markers, stored)
    # retries=0: the lost tasks were rerun although no retry was allowed (a death is not
    # the task's failure), and a stored task never ran again
    for task in tasks:
        assert _count(markers, "start", task.task_id) == ended_before[task.task_id]
    if when == "after-send":  # its result was received: kept, never recomputed
        assert _count(markers, "start", victim) == 1


def test_a_worker_killed_while_the_coordinator_stores_a_result(tmp_path):
    """The coordinator is busy with a finished task (its on_task_done hook runs after the
    part is stored, inside the collection loop) when another worker dies: the pool is
    broken before the coordinator submits again."""
    tasks = tasks_of(parse_sweep(GRID))
    markers = tmp_path / "markers"
    markers.mkdir()
    stored = []
    started_when_stored = {}

    def kill_a_worker_while_storing(task, status):
        stored.append(task.task_id)
        started_when_stored[task.task_id] = _count(markers, "start", task.task_id)
        if len(stored) == 1:
            import multiprocessing
            victims = multiprocessing.active_children()
            assert victims
            os.kill(victims[0].pid, signal.SIGKILL)
            time.sleep(1.0)  # the pool notices the death before the coordinator goes on

    result = run_sweep(tasks, tmp_path / "out", workers=2, retries=0, progress=False,
                       runner=Lifecycle(markers, "none", "never"),
                       on_task_done=kill_a_worker_while_storing)
    _check_complete(result, tasks, markers, stored)
    for task in tasks:
        assert _count(markers, "start", task.task_id) == started_when_stored[task.task_id]


class AlwaysDies:
    """Kills its worker on every attempt of ``victim`` (a task that runs out of memory)."""

    def __init__(self, victim):
        self.victim = victim

    def __call__(self, task):
        if task.task_id == self.victim:
            os.kill(os.getpid(), signal.SIGKILL)
        return run_task(task)


def test_a_task_that_always_kills_its_worker_fails_alone(tmp_path):
    """The task whose worker dies is charged its retries; the tasks in flight beside it
    are not: they complete."""
    tasks = tasks_of(parse_sweep(GRID))
    victim = tasks[0].task_id
    result = run_sweep(tasks, tmp_path / "out", workers=2, retries=1, progress=False,
                       runner=AlwaysDies(victim))
    assert list(result.failed) == [victim] and "died" in result.failed[victim]
    assert sorted(result.computed) == sorted(t.task_id for t in tasks if t.task_id != victim)


def test_worker_death_notices_go_to_stderr(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_integrity_workers import AlwaysDies, GRID
        from pyscale.app.config import parse_sweep
        from pyscale.app.sweep import run_sweep, tasks_of
        if __name__ == "__main__":
            tasks = tasks_of(parse_sweep(GRID))
            result = run_sweep(tasks, {str(tmp_path / 'out')!r}, workers=2, retries=0,
                               progress=False, runner=AlwaysDies(tasks[0].task_id))
            print("failed", len(result.failed))
    """)
    path = tmp_path / "sweep_script.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == ["failed 1"], proc.stdout
    assert "died" in proc.stderr


UNGUARDED = """
from pyscale.app.config import parse_sweep
from pyscale.app.sweep import run_sweep
run_sweep(parse_sweep({grid!r}), {out!r}, workers=2, progress=False)
print("finished")
"""


def test_a_sweep_without_the_main_guard_is_refused_at_once(tmp_path):
    path = tmp_path / "unguarded.py"
    path.write_text(UNGUARDED.format(grid=GRID, out=str(tmp_path / "out")))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=240)
    elapsed = time.perf_counter() - start
    assert proc.returncode != 0 and "finished" not in proc.stdout
    assert 'if __name__ == "__main__":' in proc.stderr, proc.stderr
    assert "BrokenProcessPool" not in proc.stderr
    assert elapsed < 30
    assert not (tmp_path / "out" / "records").exists()  # refused before any task


def test_the_same_script_with_the_guard_runs(tmp_path):
    body = UNGUARDED.format(grid=GRID, out=str(tmp_path / "out")).strip().splitlines()
    guarded = "\n".join(body[:2] + ['if __name__ == "__main__":']
                        + ["    " + line for line in body[2:]])
    path = tmp_path / "guarded.py"
    path.write_text(guarded)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0 and "finished" in proc.stdout, proc.stderr
