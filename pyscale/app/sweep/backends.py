"""Where a sweep's tasks run: worker processes on this machine (:class:`LocalBackend`) or
a dask.distributed cluster (:class:`DaskBackend`). Both answer one protocol: ``capacity``
(tasks in flight at once), ``submit(task)``, ``wait()`` → events ``(kind, task, value)``
with kind "done" (value: the runner's result), "failed" (value: the error, one line) or
"died" (value: how its worker died), and ``close(cancel)``.

Local workers are plain processes, one task each at a time, each with its own pipe: a
worker that dies (killed, out of memory, crashed) is noticed by its process sentinel, the
task it was running — and only that one — is reported "died", and a fresh worker takes
its place. Nothing else in flight is touched, nothing received is lost. Workers ignore
Ctrl-C (the coordinator stops them) and exit when their coordinator dies, even by SIGKILL.
"""
from __future__ import annotations

import ast
import os
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["LocalBackend", "DaskBackend", "check_main_guard", "DASK_CONNECT_TIMEOUT",
           "GUARD"]

Event = Tuple[str, Any, Any]

_WATCHDOG_PERIOD = 0.25  # seconds between a worker's checks that its coordinator lives
#: Seconds to wait for a remote dask scheduler before giving up with a clear message.
DASK_CONNECT_TIMEOUT = 5.0
#: The sentence that a sweep started at the top level of a script is refused with.
GUARD = ('start the sweep under `if __name__ == "__main__":` — its worker processes '
         'import the script, which would start the sweep again in every worker')


# ---------------------------------------------------------------------------- the guard
def _frame_line_of_main() -> Optional[Tuple[str, int]]:
    """(file, line) where the ``__main__`` script's top-level code is running now, or None
    (no script: an interactive session, ``python -c``, a notebook)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None:
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if name == "__main__" or name.endswith(".__main__"):
        return None  # `python -m package`: multiprocessing never reruns a __main__ module
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            return str(path), frame.f_lineno
        frame = frame.f_back
    return None


def _guarded(source: str, line: int) -> bool:
    """Whether ``line`` of ``source`` lies inside ``if __name__ == "__main__":``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id == "__name__" and len(test.comparators) == 1
                and isinstance(test.comparators[0], ast.Constant)
                and test.comparators[0].value == "__main__"):
            end = getattr(node, "end_lineno", None) or line
            if node.body and node.body[0].lineno <= line <= end:
                return True
    return False


def check_main_guard() -> None:
    """Refuse, before any worker starts, a sweep started by the top-level code of a script
    outside ``if __name__ == "__main__":`` (each spawned worker imports the script and
    would run the sweep again); RuntimeError with :data:`GUARD`."""
    where = _frame_line_of_main()
    if where is None:
        return
    path, line = where
    try:
        source = Path(path).read_text(encoding="utf-8")
        guarded = _guarded(source, line)
    except (OSError, SyntaxError, ValueError):
        return  # cannot tell: let it run
    if not guarded:
        raise RuntimeError(f"{path}, line {line}: {GUARD}")


# ---------------------------------------------------------------------------- local
def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCHDOG_PERIOD)
        if os.getppid() != parent:  # re-parented: the coordinator died (even by SIGKILL)
            os._exit(1)


def _worker_main(conn, parent: int) -> None:
    """A local worker: run the tasks sent on ``conn`` one by one, answer each with
    ("done", result) or ("failed", the error in one line); exit on None or when the
    coordinator dies."""
    import signal
    import threading
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="pyscale-parent-watchdog").start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        runner, task = message
        try:
            answer: Tuple[str, Any] = ("done", runner(task))
        except BaseException as exc:  # reported to the coordinator, which retries
            answer = ("failed", "".join(traceback.format_exception_only(type(exc), exc))
                      .strip())
        try:
            conn.send(answer)
        except Exception as exc:  # an unpicklable result
            conn.send(("failed", f"the result could not be sent back: {exc}"))


class _Worker:
    """One worker process, its end of the pipe, and the task it is running."""

    def __init__(self, context) -> None:
        parent, child = context.Pipe()
        self.conn = parent
        self.process = context.Process(target=_worker_main, args=(child, os.getpid()),
                                       daemon=True, name="pyscale-sweep-worker")
        self.process.start()
        child.close()
        self.task: Any = None


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        import signal
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process running it died (killed by {name})"
    return f"the worker process running it died (exit status {code})"


class LocalBackend:
    """Worker processes on this machine (spawned: safe with the engines' threads), one
    task each at a time; a dead worker is replaced and only its own task reported."""
    name = "local"

    def __init__(self, workers: Optional[int], runner: Callable):
        import multiprocessing
        self.capacity = workers or os.cpu_count() or 1
        self.context = multiprocessing.get_context("spawn")
        self.runner = runner
        self.replaced = 0
        self.workers: List[_Worker] = [_Worker(self.context) for _ in range(self.capacity)]

    def submit(self, task: Any) -> None:
        worker = next(w for w in self.workers if w.task is None)
        if not worker.process.is_alive():  # died while idle: replaced before it is used
            worker = self._replace(worker)
        worker.task = task
        try:
            worker.conn.send((self.runner, task))
        except (BrokenPipeError, OSError):
            pass  # it died just now: its sentinel reports it in wait()

    def wait(self) -> List[Event]:
        from multiprocessing.connection import wait
        busy = [w for w in self.workers if w.task is not None]
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        events: List[Event] = []
        for worker in busy:
            answer = None
            try:
                if worker.conn.poll():
                    answer = worker.conn.recv()
            except (EOFError, OSError):  # died while answering
                answer = None
            if answer is not None:
                events.append((answer[0], worker.task, answer[1]))
                worker.task = None
            if not worker.process.is_alive():
                worker.process.join()
                if worker.task is not None:  # died running it: that task alone is lost
                    events.append(("died", worker.task, _death(worker.process)))
                self._replace(worker)
        return events

    def _replace(self, worker: _Worker) -> _Worker:
        worker.conn.close()
        fresh = _Worker(self.context)
        self.workers[self.workers.index(worker)] = fresh
        self.replaced += 1
        return fresh

    def close(self, cancel: bool = False) -> None:
        """Stop the workers: at once (``cancel``: Ctrl-C, their results would be dropped)
        or after telling each to exit."""
        for worker in self.workers:
            if cancel or worker.task is not None:
                worker.process.terminate()
            else:
                try:
                    worker.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


# ---------------------------------------------------------------------------- dask
class DaskBackend:
    """A dask.distributed cluster: ``"local"`` (a LocalCluster), an address, or a Client.
    dask reruns the tasks of a lost worker itself; a task that keeps killing workers
    comes back as a failure (dask's KilledWorker)."""
    name = "dask"

    def __init__(self, where, workers: Optional[int], runner: Callable,
                 processes: bool = True):
        from distributed import Client, LocalCluster
        self.cluster = None
        self.own_client = True
        self.runner = runner
        if isinstance(where, Client):
            self.client, self.own_client = where, False
        elif where == "local":
            self.cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                        threads_per_worker=1, processes=processes,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = _connect(where)
        count = len(self.client.scheduler_info().get("workers", {})) or workers or 1
        self.capacity = 2 * count
        self.futures: Dict[Any, Any] = {}

    def submit(self, task: Any) -> None:
        self.futures[self.client.submit(self.runner, task, pure=False)] = task

    def wait(self) -> List[Event]:
        from distributed import wait
        done, _ = wait(list(self.futures), return_when="FIRST_COMPLETED")
        events: List[Event] = []
        for future in done:
            task = self.futures.pop(future)
            try:
                events.append(("done", task, future.result()))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                events.append(("failed", task, "".join(
                    traceback.format_exception_only(type(exc), exc)).strip()))
        return events

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self.client.cancel([f for f in self.futures if not f.done()])
        if self.own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _connect(address: str):
    """A Client of the scheduler at ``address``; ConnectionError within a few seconds when
    it cannot be reached (instead of dask's default 30 s and a traceback)."""
    from distributed import Client

    from ..config import check_dask_address
    check_dask_address("dask", address)
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise ConnectionError(f"cannot reach the dask scheduler at {address} within "
                              f"{DASK_CONNECT_TIMEOUT:g} s ({type(err).__name__}); is it "
                              f"running? ('--dask local' starts a cluster here)") from None
    except ValueError as err:
        raise ValueError(f"dask: invalid scheduler address {address!r}: {err}") from None
