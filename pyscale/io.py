"""Results on disk: trajectories as ``.npz``, sweep tables as Parquet part files.

A trajectory file holds everything needed to trust and reuse a run (SPEC §3's records plus
provenance): the recorded columns, the final state ``w`` (so the run can be resumed, see
:func:`pyscale.simulate`'s ``resume=``), the engine's ``meta`` (method, options, counters,
``h_next`` / ``last_step`` for exact resumption), the problem's parameters and, when given,
its arrays (eigenvalues, w*, w(0), counts), the package version and the seed.

>>> pyscale.io.save_trajectory(traj, "run.npz", problem=problem)  # doctest: +SKIP
>>> traj = pyscale.load("run.npz")                 # doctest: +SKIP
>>> problem = pyscale.io.load_problem("run.npz")   # doctest: +SKIP

Sweep results (:mod:`pyscale.sweep`) are one tidy table written task by task: one Parquet
file per finished task under ``DIR/parts/`` plus ``DIR/index.json`` listing the tasks, so an
interrupted sweep loses nothing and resumes where it stopped. :func:`read_table` assembles
the table; :func:`load` does the right thing for either kind of path.

Every write is atomic (a temporary file renamed into place): a file that exists is complete.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from .problem import Problem
from .trajectory import FIELDS, Trajectory

__all__ = ["save_trajectory", "load_trajectory", "load_problem", "load", "read_table",
           "write_part", "read_parts", "write_json", "read_json", "atomic_path", "read_header",
           "TRAJECTORY_FORMAT"]

#: Written into every trajectory file; bumped when the layout changes incompatibly.
TRAJECTORY_FORMAT = "pyscale.trajectory/1"

PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------------- atomic writes
class atomic_path:
    """Context manager yielding a temporary path next to ``path``; on success the temporary
    file replaces ``path`` in one rename, on error it is removed (no half-written files)."""

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
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays allowed)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, default=_json_default, allow_nan=True))
    return Path(path)


def read_json(path: PathLike) -> Any:
    return json.loads(Path(path).read_text())


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
            return np.array(npz[obj[_ARRAY_TAG]])
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
    from ._version import __version__
    if not isinstance(traj, Trajectory):
        raise TypeError(f"expected a Trajectory, got {type(traj).__name__}")
    arrays: Dict[str, np.ndarray] = {f"col/{name}": np.asarray(getattr(traj, name))
                                     for name in FIELDS}
    if traj.w is not None:
        arrays["state/w"] = np.asarray(traj.w)
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
    header_bytes = json.dumps(header, default=_json_default, allow_nan=True).encode()
    arrays["header"] = np.frombuffer(header_bytes, dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    return Path(path)


def _open(path: PathLike) -> Tuple[dict, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file at {path}")
    npz = np.load(path, allow_pickle=False)
    if "header" not in npz.files:
        raise ValueError(f"{path} is not a pyscale trajectory file (no header)")
    header = json.loads(bytes(npz["header"]).decode())
    fmt = header.get("format")
    if fmt != TRAJECTORY_FORMAT:
        raise ValueError(f"{path} has format {fmt!r}; this pyscale reads {TRAJECTORY_FORMAT!r}")
    return header, npz


def read_header(path: PathLike) -> dict:
    """The provenance of a trajectory file: format, version, method, seed, meta, extra."""
    header, npz = _open(path)
    with npz:
        header["meta"] = _join_arrays(header["meta"], npz)
        header["extra"] = _join_arrays(header.get("extra", {}), npz)
    return header


def load_trajectory(path: PathLike) -> Trajectory:
    """Read a file written by :func:`save_trajectory`."""
    header, npz = _open(path)
    with npz:
        cols = {name: np.array(npz[f"col/{name}"]) for name in FIELDS}
        w = np.array(npz["state/w"]) if "state/w" in npz.files else None
        meta = _join_arrays(header["meta"], npz)
    return Trajectory(w=w, meta=meta, **cols)


def load_problem(path: PathLike) -> Optional[Problem]:
    """The problem stored with a trajectory (``save_trajectory(..., problem=)``), or None."""
    header, npz = _open(path)
    with npz:
        if header.get("problem") is None:
            return None
        p = header["problem"]
        return Problem(np.array(npz["problem/eigenvalues"]), np.array(npz["problem/w_star"]),
                       np.array(npz["problem/w0"]), noise=p["noise"], d=p["d"],
                       counts=np.array(npz["problem/counts"]), info=p["info"])


# ---------------------------------------------------------------------------- tables
def write_part(directory: PathLike, name: str, frame) -> Path:
    """Write one part (a pandas DataFrame) of a table as ``directory/name.parquet``."""
    path = Path(directory) / f"{name}.parquet"
    with atomic_path(path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    return path


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
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def read_table(directory: PathLike, which: str = "records"):
    """The tidy table of a sweep directory (see :mod:`pyscale.sweep`).

    ``which="records"``: one row per (task, record time) with a, d, seed, method, run
    options, t, s, u, s2, u2, loss, mse. ``which="summary"``: one row per task (phase times,
    final MSE, predicted escape rate, status). Only tasks of the sweep's index are read.
    """
    directory = Path(directory)
    index_path = directory / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{directory} is not a sweep directory (no index.json)")
    if which not in ("records", "summary"):
        raise ValueError(f"which must be 'records' or 'summary', got {which!r}")
    ids = [task["task_id"] for task in read_json(index_path)["tasks"]]
    return read_parts(directory / which, ids)


def load(path: PathLike):
    """Load what pyscale wrote: a ``.npz`` trajectory → :class:`~pyscale.Trajectory`;
    a sweep directory → its tidy records table (pandas DataFrame); a ``.parquet`` file →
    DataFrame."""
    path = Path(path)
    if path.is_dir():
        return read_table(path)
    if path.suffix == ".parquet":
        import pandas as pd
        return pd.read_parquet(path)
    return load_trajectory(path)
