"""Sweep tables on disk: one tidy table written task by task, as Parquet part files.

A sweep directory (:mod:`pyscale.app.sweep`) holds ``index.json`` (the tasks, and the
SHA-256, row count and columns of each finished task's parts), ``records/<task_id>.parquet``
and ``summary/<task_id>.parquet``. Every part is verified when read: its checksum and row
count against the index, its columns, and its rows' ``task_id`` against the task it is
read as — so a part copied from another task is refused, never read as this one's.
:func:`read_table` assembles a table; a damaged or foreign part raises
:class:`~pyscale.app.io.files.BadFileError` naming it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Optional

from .files import READ_ERRORS, BadFileError, PathLike, atomic_path, file_sha256, read_json, reason

__all__ = ["write_part", "verify_part", "read_parts", "part_entry", "read_index",
           "read_table", "SWEEP_INDEX_FORMAT"]

SWEEP_INDEX_FORMAT = "pyscale.sweep/1"
_RERUN = "run the sweep again to recompute it"


def write_part(directory: PathLike, name: str, frame) -> Dict[str, Any]:
    """Write one part (a pandas DataFrame) of a table as ``directory/name.parquet``,
    atomically; returns its entry for the index: ``{"sha256", "rows", "columns"}``."""
    path = Path(directory) / f"{name}.parquet"
    with atomic_path(path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
        digest = file_sha256(tmp)
    return {"sha256": digest, "rows": int(len(frame)), "columns": [str(c) for c in frame]}


def part_entry(path: PathLike) -> dict:
    """The index entry of an existing part file (its checksum, rows and columns)."""
    import pyarrow.parquet as pq
    meta = pq.read_metadata(path)
    return {"sha256": file_sha256(path), "rows": int(meta.num_rows),
            "columns": list(meta.schema.names)}


def _check_task(path: Path, task_id: str) -> None:
    """Every row of the part belongs to ``task_id`` (a part copied from another task
    holds that task's id)."""
    import pyarrow.parquet as pq
    try:
        ids = set(pq.read_table(path, columns=["task_id"]).column("task_id").to_pylist())
    except READ_ERRORS as err:
        raise BadFileError(path, f"not a readable Parquet file ({reason(err)})") from None
    if ids - {task_id}:
        other = sorted(str(i) for i in ids - {task_id})[0]
        raise BadFileError(path, f"holds the rows of task {other}, not of task {task_id} "
                                 f"(a part copied from another task)")


def verify_part(path: PathLike, entry: Optional[dict] = None,
                columns: Iterable[str] = (), task_id: Optional[str] = None) -> int:
    """Check a part file: it exists, its SHA-256 and row count match ``entry`` (its index
    entry, when known), it is a readable Parquet file holding ``columns``, and (given
    ``task_id``) its rows are that task's. Returns the number of rows; raises
    :class:`BadFileError` (or FileNotFoundError) otherwise."""
    import pyarrow.parquet as pq
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: part file is missing")
    if entry is not None and file_sha256(path) != entry.get("sha256"):
        raise BadFileError(path, "checksum mismatch with the sweep's index.json (truncated "
                                 "or altered)")
    try:
        meta = pq.read_metadata(path)
        names = set(meta.schema.names)
        rows = int(meta.num_rows)
    except READ_ERRORS as err:
        raise BadFileError(path, f"not a readable Parquet file ({reason(err)})") from None
    absent = [c for c in columns if c not in names]
    if absent:
        raise BadFileError(path, f"missing columns {', '.join(absent)}")
    if entry is not None and rows != entry.get("rows"):
        raise BadFileError(path, f"holds {rows} rows, the index says {entry.get('rows')}")
    if task_id is not None and "task_id" in names:
        _check_task(path, task_id)
    return rows


def _read_part(path: Path):
    import pandas as pd
    try:
        return pd.read_parquet(path)
    except READ_ERRORS as err:
        raise BadFileError(path, f"not a readable Parquet file ({reason(err)})") from None


def read_parts(directory: PathLike, names: Optional[Iterable[str]] = None):
    """Concatenate the parts in ``directory`` (all, or those in ``names`` that exist)."""
    import pandas as pd
    directory = Path(directory)
    if names is None:
        files = sorted(directory.glob("*.parquet"))
    else:
        files = [directory / f"{n}.parquet" for n in names]
        files = [f for f in files if f.is_file()]
    if not files:
        return pd.DataFrame()
    return pd.concat([_read_part(f) for f in files], ignore_index=True)


def read_index(directory: PathLike) -> dict:
    """The verified ``index.json`` of a sweep directory: ``tasks`` (list) and ``parts``
    (task_id → {"records": entry, "summary": entry} of finished tasks)."""
    directory = Path(directory)
    index_path = directory / "index.json"
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such sweep directory")
    if not index_path.is_file():
        raise BadFileError(directory, "not a sweep directory (no index.json)")
    index = read_json(index_path)
    fmt = index.get("format") if isinstance(index, dict) else None
    if fmt != SWEEP_INDEX_FORMAT:
        raise BadFileError(index_path, f"not a pyscale sweep index (format {fmt!r:.40})")
    tasks = index.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "task_id" in t
                                              for t in tasks):
        raise BadFileError(index_path, "its task list is malformed")
    if "parts" not in index:  # written by an earlier pyscale: parts found on disk count
        index["parts"] = {t["task_id"]: {w: None for w in ("records", "summary")
                                         if (directory / w / f"{t['task_id']}.parquet")
                                         .is_file()} for t in tasks}
    if not isinstance(index["parts"], dict):
        raise BadFileError(index_path, "its part list is malformed")
    return index


def read_table(directory: PathLike, which: str = "records"):
    """The tidy table of a sweep directory (see :mod:`pyscale.app.sweep`).

    ``which="records"``: one row per (task, record time) with the task's parameters
    (a, d, seed, method, run options, identities) and t, s, u, s2, u2, loss, mse.
    ``which="summary"``: one row per task (phase times, final MSE, predicted escape rate,
    status). Every finished task of the directory's index is read, each part verified
    against its checksum and its task (:class:`BadFileError` names a damaged one).
    """
    import pandas as pd
    if which not in ("records", "summary"):
        raise ValueError(f"which must be 'records' or 'summary', got {which!r}")
    directory = Path(directory)
    index = read_index(directory)
    frames = []
    for task in index["tasks"]:
        entries = index["parts"].get(task["task_id"], {})
        if which not in entries:
            continue  # not finished (yet)
        entry = entries[which]  # None: a part of an earlier layout, without checksum
        path = directory / which / f"{task['task_id']}.parquet"
        try:
            verify_part(path, entry, entry.get("columns", ()) if entry else (),
                        task_id=task["task_id"])
        except FileNotFoundError as err:
            raise BadFileError(path, "part file is missing", _RERUN) from err
        except BadFileError as err:
            raise BadFileError(path, str(err).split(": ", 1)[1], _RERUN) from None
        frames.append(_read_part(path))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
