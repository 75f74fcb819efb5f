"""A sweep's directory on disk: the index (its tasks, and the checksum, rows and columns
of each finished task's parts), the parts themselves, the failures, and a lock so that two
coordinators never write into one directory at once. Parts are written by the coordinating
process as each task finishes (workers need no shared file system), each atomically; a
task counts as done when both its parts verify (checksum, rows, columns, and rows of this
very task), so a damaged or foreign part is recomputed."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List

from ..io import (
    SWEEP_INDEX_FORMAT,
    BadFileError,
    check_output_path,
    output_lock,
    read_index,
    read_json,
    verify_part,
    write_json,
    write_part,
)
from ..io.parts import part_entry
from .tasks import RECORD_COLUMNS, SUMMARY_COLUMNS, Task

__all__ = ["SweepDirectory"]


class SweepDirectory:
    """The output directory of sweeps: the index (tasks and verified parts), the parts, the
    failures, and a lock so that two coordinators never write into one directory at once.

    A directory accumulates: a sweep whose tasks differ from those already indexed adds its
    tasks to ``index.json``; finished tasks of earlier sweeps stay indexed and readable.
    """

    KNOWN = {"index.json", "records", "summary", "failures.json"}

    def __init__(self, out: Path):
        self.out = out
        check_output_path(out, "out", kind="dir")
        if out.is_dir() and not (out / "index.json").exists():
            foreign = [p.name for p in out.iterdir()
                       if p.name not in self.KNOWN and not p.name.startswith(".")]
            if foreign:
                raise FileExistsError(f"out: {out} is not empty and is not a sweep directory "
                                      f"(no index.json; holds {', '.join(sorted(foreign)[:3])}"
                                      f"); choose an empty or new directory")
        out.mkdir(parents=True, exist_ok=True)
        self.damaged: List[str] = []  # what is_done found damaged (to be recomputed)
        self.saved_at = 0.0
        self._lock()
        try:
            self.index: Dict[str, Any] = (read_index(out) if (out / "index.json").exists() else
                          {"format": SWEEP_INDEX_FORMAT, "tasks": [], "parts": {}})
        except BadFileError as err:
            self.lock.__exit__(None, None, None)
            raise BadFileError(out / "index.json", str(err).split(": ", 1)[-1],
                               "it was not modified; restore it, or move it away to start "
                               "a new index (finished parts are verified and kept)") from None

    def _lock(self) -> None:
        """One coordinator per directory (the lock of its index)."""
        self.lock = output_lock(self.out / "index.json", "out")
        self.lock.__enter__()

    def close(self) -> None:
        try:  # entries of parts stored since the last index write (after any error too)
            self.save_index()
        except OSError:
            pass  # the parts are on disk; the next run verifies and adopts them
        finally:
            self.lock.__exit__(None, None, None)  # releases the lock

    def add_tasks(self, tasks: List[Task]) -> None:
        from ..._version import __version__
        known = {t["task_id"] for t in self.index["tasks"]}
        self.index["tasks"] += [{"task_id": t.task_id, **t.description()} for t in tasks
                                if t.task_id not in known]
        self.index["pyscale_version"] = __version__
        self.save_index()

    def save_index(self) -> None:
        write_json(self.out / "index.json", self.index)
        self.saved_at = time.monotonic()

    def is_done(self, task: Task) -> bool:
        """Whether both parts of ``task`` are stored and verify (checksum, rows, columns).

        A part that fails is removed from the index (and so recomputed); a readable part
        without an index entry (written just before a crash) is verified and adopted.
        """
        entries = self.index["parts"].get(task.task_id) or None
        for which, columns in (("records", RECORD_COLUMNS), ("summary", SUMMARY_COLUMNS)):
            path = self.out / which / f"{task.task_id}.parquet"
            entry = None if entries is None else entries.get(which)
            try:
                rows = verify_part(path, entry, columns, task_id=task.task_id)
            except (FileNotFoundError, BadFileError) as err:
                if entries is not None or path.exists():
                    self.damaged.append(f"{path.name} ({which}): {err}")
                self.index["parts"].pop(task.task_id, None)
                return False
            if rows == 0 or (which == "summary" and rows != 1):
                self.index["parts"].pop(task.task_id, None)
                return False
        if entries is None or None in entries.values():  # parts written before the index
            # was updated (a crash in between), or by an earlier layout: verified, adopted
            self.index["parts"][task.task_id] = {
                which: part_entry(self.out / which / f"{task.task_id}.parquet")
                for which in ("records", "summary")}
        return True

    #: Seconds between index writes while tasks finish: rewriting a large index after
    #: every task would cost O(tasks²); a part whose entry was not yet written when the
    #: coordinator died is verified and adopted on resume (:meth:`is_done`).
    INDEX_EVERY = 2.0

    def store(self, task: Task, records, summary) -> None:
        """Write both parts atomically, then their checksums into the index."""
        entries = {"summary": write_part(self.out / "summary", task.task_id, summary),
                   "records": write_part(self.out / "records", task.task_id, records)}
        self.index["parts"][task.task_id] = entries
        if time.monotonic() - self.saved_at >= self.INDEX_EVERY:
            self.save_index()

    def write_failures(self, failed: Dict[str, str], computed: List[str]) -> None:
        path = self.out / "failures.json"
        previous = {}
        if path.is_file():
            try:
                previous = dict(read_json(path).get("failed", {}))
            except (BadFileError, AttributeError, TypeError, ValueError):
                previous = {}
        merged = {k: v for k, v in previous.items() if k not in computed}
        merged.update(failed)
        if merged:
            write_json(path, {"failed": merged})
        elif path.is_file():
            path.unlink()
