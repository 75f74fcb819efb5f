"""Results on disk: trajectories as ``.npz``, sweep tables as Parquet part files.

A trajectory file holds everything needed to trust and reuse a run (its records plus
provenance): the recorded columns, the final state ``w`` (so the run can be resumed, see
:func:`pyscale.simulate`'s ``resume=``), the engine's ``meta`` (method, options, counters,
``h_next`` / ``last_step`` for exact resumption), the problem's parameters and, when given,
its arrays (eigenvalues, w*, w(0), counts), the package version and the seed.

>>> pyscale.app.io.save_trajectory(traj, "run.npz", problem=problem)  # doctest: +SKIP
>>> traj = pyscale.load("run.npz")                 # doctest: +SKIP
>>> problem = pyscale.app.io.load_problem("run.npz")   # doctest: +SKIP

Sweep results (:mod:`pyscale.app.sweep`) are one tidy table written task by task: one Parquet
file per finished task under ``DIR/parts/`` plus ``DIR/index.json`` listing the tasks, so an
interrupted sweep loses nothing and resumes where it stopped. :func:`read_table` assembles
the table; :func:`load` does the right thing for either kind of path.

Every write is atomic (a temporary file, flushed to disk, renamed into place): a file that
exists is complete. Every file is verified when read: a trajectory's header holds a SHA-256
checksum of its arrays, a sweep's index the checksum and row count of each part; a file
that fails (truncated, corrupted, foreign) raises :class:`BadFileError` naming it.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from ..model.problem import Problem
from ..results.trajectory import FIELDS, Trajectory

__all__ = ["save_trajectory", "load_trajectory", "load_problem", "load", "read_table",
           "write_part", "read_parts", "verify_part", "write_json", "read_json", "atomic_path",
           "read_header", "read_index", "check_output_path", "BadFileError",
           "TRAJECTORY_FORMAT", "SWEEP_INDEX_FORMAT"]

#: Written into every trajectory file; bumped when the layout changes incompatibly.
TRAJECTORY_FORMAT = "pyscale.trajectory/1"

PathLike = Union[str, os.PathLike]


class BadFileError(ValueError):
    """A file that is not a readable pyscale result (missing, truncated, corrupted, foreign,
    or of another layout); ``path`` names it and the message says what to do."""

    def __init__(self, path: PathLike, reason: str, advice: str = ""):
        super().__init__(f"{path}: {reason}" + (f"; {advice}" if advice else ""))
        self.path = Path(path)


#: What reading arbitrary bytes as an .npz / .parquet / JSON file can raise.
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
                zipfile.BadZipFile, zlib.error)


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:120]}" if text else type(err).__name__


# ---------------------------------------------------------------------------- atomic writes
def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class atomic_path:
    """Context manager yielding a temporary path next to ``path``; on success the temporary
    file is flushed to disk (fsync) and replaces ``path`` in one rename, on error it is
    removed: a reader, or a run after a crash, never sees a half-written file."""

    def __init__(self, path: PathLike, suffix: str = ""):
        self.path = Path(path)
        self.suffix = suffix

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.suffix + ".tmp",
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_writable(directory: Path) -> None:
    """Create and remove a file in ``directory`` (permission bits can lie, e.g. for root or
    on read-only mounts); raises OSError when that fails."""
    fd, tmp = tempfile.mkstemp(prefix=".pyscale-probe.", dir=directory)
    os.close(fd)
    os.unlink(tmp)


def check_output_path(path: PathLike, what: str = "output", *, kind: str = "file",
                      overwrite: bool = False, suffixes: Tuple[str, ...] = ()) -> Path:
    """Refuse, before any work, an output path that cannot be written; returns it.

    ``kind="file"``: ``path`` must not be a directory, must end in one of ``suffixes``
    (when given) and must not exist unless ``overwrite``; ``kind="dir"``: ``path`` must be
    a directory or not exist. In both cases the nearest existing ancestor must be a
    writable directory (tested by creating a file in it). Raises ValueError (wrong kind,
    existing file) or PermissionError/NotADirectoryError (cannot write), messages starting
    with ``what``.
    """
    path = Path(path)
    if kind == "file":
        if path.is_dir():
            raise IsADirectoryError(f"{what}: {path} is a directory; give a file name")
        if suffixes and path.suffix.lower() not in suffixes:
            raise ValueError(f"{what}: must end in {' or '.join(suffixes)}, got {str(path)!r}")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{what}: {path} exists; use --force to overwrite it")
    elif path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what}: {path} exists and is not a directory")
    base = _first_existing(path if kind == "dir" else path.parent)
    if not base.is_dir():
        raise NotADirectoryError(f"{what}: cannot create {path}: {base} is a file, "
                                 f"not a directory")
    try:
        _probe_writable(base)
    except OSError as err:
        raise PermissionError(f"{what}: cannot write to {base} "
                              f"({err.strerror or type(err).__name__})") from None
    return path


def write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays allowed)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, default=_json_default, allow_nan=True))
    return Path(path)


def read_json(path: PathLike) -> Any:
    """Read a JSON file; a file that is not valid JSON raises :class:`BadFileError`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except _READ_ERRORS as err:
        raise BadFileError(path, f"not a valid JSON file ({_reason(err)})") from None


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in JSON")


# ---------------------------------------------------------------------------- trajectories
_ARRAY_TAG = "__npz_array__"


def _split_arrays(obj: Any, prefix: str, arrays: Dict[str, np.ndarray]) -> Any:
    """Replace every ndarray inside ``obj`` by a reference and collect it in ``arrays``."""
    if isinstance(obj, np.ndarray):
        key = f"{prefix}"
        arrays[key] = obj
        return {_ARRAY_TAG: key}
    if isinstance(obj, dict):
        return {str(k): _split_arrays(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_arrays(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join_arrays(obj: Any, npz) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY_TAG}:
            return np.array(npz[obj[_ARRAY_TAG]])  # npz: an NpzFile or a dict of arrays
        return {k: _join_arrays(v, npz) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, npz) for v in obj]
    return obj


def _problem_header(problem: Problem) -> dict:
    return {"d": int(problem.d), "n_coords": problem.n_coords, "noise": problem.noise,
            "s_star": problem.s_star, "info": dict(problem.info)}


def save_trajectory(traj: Trajectory, path: PathLike, problem: Optional[Problem] = None,
                    extra: Optional[dict] = None) -> Path:
    """Write ``traj`` to ``path`` (``.npz``): columns, final state, meta, provenance.

    ``problem`` (optional) stores the problem's arrays too, so :func:`load_problem` can
    rebuild it exactly (costs 4 vectors of length ``n_coords``). ``extra`` is any JSON-able
    dict kept under ``header['extra']`` (the CLI stores the run's configuration there).
    """
    from .._version import __version__
    if not isinstance(traj, Trajectory):
        raise TypeError(f"expected a Trajectory, got {type(traj).__name__}")
    arrays: Dict[str, np.ndarray] = {f"col/{name}": np.asarray(getattr(traj, name))
                                     for name in FIELDS}
    if traj.w is not None:
        arrays["state/w"] = np.asarray(traj.w)
    if getattr(traj, "dense", None) is not None:  # the flow's dense output (exact phases)
        arrays["dense/rows"] = np.asarray(traj.dense.rows)
    meta = _split_arrays(dict(traj.meta), "meta", arrays)
    info = dict(traj.meta.get("problem", {}))
    header = {"format": TRAJECTORY_FORMAT, "pyscale_version": __version__,
              "method": traj.meta.get("method"), "seed": info.get("seed"),
              "sample_seed": traj.meta.get("seed"), "meta": meta,
              "problem": None if problem is None else _problem_header(problem),
              "extra": _split_arrays(dict(extra or {}), "extra", arrays)}
    if problem is not None:
        arrays.update({"problem/eigenvalues": problem.eigenvalues,
                       "problem/w_star": problem.w_star, "problem/w0": problem.w0,
                       "problem/counts": problem.counts})
    header["checksum"] = _checksum(arrays)
    header_bytes = json.dumps(header, default=_json_default, allow_nan=True).encode()
    arrays["header"] = np.frombuffer(header_bytes, dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    return Path(path)


def _checksum(arrays: Dict[str, np.ndarray]) -> str:
    """SHA-256 over every array but the header: name, dtype, shape and bytes, name order."""
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if k != "header"):
        arr = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


_DAMAGED = "the file is damaged (truncated or altered); restore a copy or recompute it"


def _read_npz(path: Path) -> Dict[str, np.ndarray]:
    """Every array of an .npz file, read now (a damaged member fails here, not later)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise BadFileError(path, "not a pyscale trajectory file (a plain .npy array, "
                                         "not an .npz archive)")
            return {name: np.array(npz[name]) for name in npz.files}
    except BadFileError:
        raise
    except _READ_ERRORS as err:
        raise BadFileError(path, f"not a readable .npz file ({_reason(err)})",
                           _DAMAGED) from None


def _open(path: PathLike) -> Tuple[dict, Dict[str, np.ndarray]]:
    """The verified (header, arrays) of a trajectory file; BadFileError when it is not one."""
    path = Path(path)
    if path.is_dir():
        raise BadFileError(path, "is a directory, not a trajectory file (.npz)")
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file at {path}")
    arrays = _read_npz(path)
    if "header" not in arrays:
        raise BadFileError(path, "not a pyscale trajectory file (no header)")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
    except _READ_ERRORS as err:
        raise BadFileError(path, f"its header is not valid JSON ({_reason(err)})",
                           _DAMAGED) from None
    if not isinstance(header, dict):
        raise BadFileError(path, "not a pyscale trajectory file (header is not a table)")
    fmt = header.get("format")
    if fmt != TRAJECTORY_FORMAT:
        raise BadFileError(path, f"has format {fmt!r:.60}; this pyscale reads "
                                 f"{TRAJECTORY_FORMAT!r}")
    stored = header.get("checksum")
    if stored is not None and stored != _checksum(arrays):
        raise BadFileError(path, "checksum mismatch: its arrays are not those that were "
                                 "saved", _DAMAGED)
    missing = [f"col/{n}" for n in FIELDS if f"col/{n}" not in arrays]
    if missing or not isinstance(header.get("meta"), dict):
        raise BadFileError(path, f"not a complete pyscale trajectory (missing "
                                 f"{', '.join(missing) or 'meta'})")
    lengths = {arrays[f"col/{n}"].shape for n in FIELDS}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise BadFileError(path, f"its columns are not 1-D arrays of one length "
                                 f"({sorted(lengths)})")
    return header, arrays


def _joined(header: dict, key: str, arrays: Dict[str, np.ndarray], path: Path):
    try:
        return _join_arrays(header.get(key, {}), arrays)
    except KeyError as err:
        raise BadFileError(path, f"its header refers to a missing array {err}") from None


def read_header(path: PathLike) -> dict:
    """The provenance of a trajectory file: format, version, method, seed, meta, extra."""
    header, arrays = _open(path)
    header["meta"] = _joined(header, "meta", arrays, Path(path))
    header["extra"] = _joined(header, "extra", arrays, Path(path))
    return header


def load_trajectory(path: PathLike) -> Trajectory:
    """Read a file written by :func:`save_trajectory`."""
    header, arrays = _open(path)
    cols = {name: arrays[f"col/{name}"] for name in FIELDS}
    try:
        meta = _joined(header, "meta", arrays, Path(path))
        dense = None
        if "dense/rows" in arrays:  # the flow's dense output
            from ..results.dense import DenseOutput
            dense = DenseOutput(arrays["dense/rows"], meta.get("s_star", 1.0),
                                meta.get("noise", 0.0), meta.get("d", 1))
        return Trajectory(w=arrays.get("state/w"), meta=meta, dense=dense,
                          **cols)  # type: ignore[arg-type]  # the FIELDS columns
    except (ValueError, TypeError) as err:
        raise BadFileError(path, f"not a valid trajectory ({_reason(err)})") from None


def load_problem(path: PathLike) -> Optional[Problem]:
    """The problem stored with a trajectory (``save_trajectory(..., problem=)``), or None."""
    header, arrays = _open(path)
    if header.get("problem") is None:
        return None
    p = header["problem"]
    try:
        return Problem(arrays["problem/eigenvalues"], arrays["problem/w_star"],
                       arrays["problem/w0"], noise=p["noise"], d=p["d"],
                       counts=arrays["problem/counts"], info=p["info"])
    except (KeyError, ValueError, TypeError) as err:
        raise BadFileError(path, f"its stored problem is invalid ({_reason(err)})") from None


# ---------------------------------------------------------------------------- tables
def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_part(directory: PathLike, name: str, frame) -> Dict[str, Any]:
    """Write one part (a pandas DataFrame) of a table as ``directory/name.parquet``,
    atomically; returns its entry for the index: ``{"sha256", "rows", "columns"}``."""
    path = Path(directory) / f"{name}.parquet"
    with atomic_path(path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
        digest = _file_sha256(tmp)
    return {"sha256": digest, "rows": int(len(frame)), "columns": [str(c) for c in frame]}


def verify_part(path: PathLike, entry: Optional[dict] = None,
                columns: Iterable[str] = ()) -> int:
    """Check a part file: it exists, its SHA-256 and row count match ``entry`` (its index
    entry, when known), and it is a readable Parquet file holding ``columns``. Returns the
    number of rows; raises :class:`BadFileError` (or FileNotFoundError) otherwise."""
    import pyarrow.parquet as pq
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: part file is missing")
    if entry is not None and _file_sha256(path) != entry.get("sha256"):
        raise BadFileError(path, "checksum mismatch with the sweep's index.json (truncated "
                                 "or altered)")
    try:
        meta = pq.read_metadata(path)
        names = set(meta.schema.names)
        rows = int(meta.num_rows)
    except _READ_ERRORS as err:
        raise BadFileError(path, f"not a readable Parquet file ({_reason(err)})") from None
    absent = [c for c in columns if c not in names]
    if absent:
        raise BadFileError(path, f"missing columns {', '.join(absent)}")
    if entry is not None and rows != entry.get("rows"):
        raise BadFileError(path, f"holds {rows} rows, the index says {entry.get('rows')}")
    return rows


def _read_part(path: Path):
    import pandas as pd
    try:
        return pd.read_parquet(path)
    except _READ_ERRORS as err:
        raise BadFileError(path, f"not a readable Parquet file ({_reason(err)})") from None


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


SWEEP_INDEX_FORMAT = "pyscale.sweep/1"
_RERUN = "run the sweep again to recompute it"


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

    ``which="records"``: one row per (task, record time) with a, d, seed, method, run
    options, t, s, u, s2, u2, loss, mse. ``which="summary"``: one row per task (phase times,
    final MSE, predicted escape rate, status). Every finished task of the directory's
    index is read, each part verified against its checksum (:class:`BadFileError` names a
    damaged one).
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
            verify_part(path, entry, entry.get("columns", ()) if entry else ())
        except FileNotFoundError as err:
            raise BadFileError(path, "part file is missing", _RERUN) from err
        except BadFileError as err:
            raise BadFileError(path, str(err).split(": ", 1)[1], _RERUN) from None
        frames.append(_read_part(path))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load(path: PathLike):
    """Load what pyscale wrote: a ``.npz`` trajectory → :class:`~pyscale.Trajectory`;
    a sweep directory → its tidy records table (pandas DataFrame); a ``.parquet`` file →
    DataFrame."""
    path = Path(path)
    if path.is_dir():
        return read_table(path)
    if path.suffix == ".parquet":
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        return _read_part(path)
    return load_trajectory(path)
