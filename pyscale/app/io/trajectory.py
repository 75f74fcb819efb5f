"""Trajectory files (``.npz``): what is on disk is what ran.

A file holds everything needed to trust and reuse a run: the recorded columns, the final
state ``w`` (so the run can be resumed, :func:`pyscale.simulate`'s ``resume=``), the
flow's dense output and events, the engine's ``meta`` (method, options, counters, the
resumable state, the identities of the problem and of the run), the problem's parameters
and, when given, its arrays (eigenvalues, w*, w(0), counts), the package version and the
seed. The link pair is held by its identity (``meta["link"]``: ``"relu"``,
``"square,abs"``, ``"hermite(0,0,0,1)"``, ...), from which loading rebuilds it; a run of a
user link (``Link.user``) is refused at save, its compiled functions living only in the
process that made them. A pair without a recovery metric has no ``col/mse``.

A two-layer network's run (:class:`~pyscale.results.network.NetworkTrajectory`; networks
page: Using networks) is saved the same way with ``header["kind"] = "network"`` and its
columns ``t``, ``loss`` (T,), ``S`` (T, p, p), ``U`` (T, p, k); its problem's readouts are
stored with the problem's arrays.

>>> pyscale.save_trajectory(traj, "run.npz", problem=problem)  # doctest: +SKIP
>>> traj = pyscale.load("run.npz")                              # doctest: +SKIP
>>> problem = pyscale.app.io.load_problem("run.npz")            # doctest: +SKIP

Layout (format ``pyscale.trajectory/2``): an ``.npz`` archive whose member ``header`` is
the JSON header (arrays inside ``meta`` and ``extra`` stored as members of their own and
referenced by name), and whose member ``digest`` is the SHA-256 (:func:`pyscale._digest.
digest`) of every other member — name, dtype, shape and bytes, the header's included — so
that no byte that defines the result can change unnoticed. A file whose digest is
missing, empty or wrong is refused (:class:`BadFileError`). Files of format 1 (earlier
pyscale) carry a checksum of their arrays only: they are refused unless read with
``legacy=True`` (``pyscale show --legacy``), the documented opt-out, which verifies their
arrays and trusts their header.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..._digest import digest
from ...model.problem import Problem
from ...results.columns import recorded
from ...results.identity import check_same_problem
from ...results.network import NetworkTrajectory
from ...results.trajectory import Trajectory
from .files import READ_ERRORS, BadFileError, PathLike, atomic_path, json_default, reason

__all__ = ["save_trajectory", "load_trajectory", "load_problem", "read_header",
           "TRAJECTORY_FORMAT", "LEGACY_FORMATS"]

#: Written into every trajectory file; bumped when the layout changes incompatibly.
TRAJECTORY_FORMAT = "pyscale.trajectory/2"
#: Earlier formats, read only with ``legacy=True``: their checksum covers the arrays, not
#: the header.
LEGACY_FORMATS = ("pyscale.trajectory/1",)

#: The columns of a network run (``header["kind"] == "network"``), in record order.
NETWORK_COLUMNS = ("t", "loss", "S", "U")

_ARRAY_TAG = "__npz_array__"
_DAMAGED = "the file is damaged (truncated or altered); restore a copy or recompute it"
_LEGACY = ("it was written by an earlier pyscale (format {fmt}), whose checksum does not "
           "cover its header: read it with pyscale.load(path, legacy=True) "
           "(pyscale show --legacy) to trust its header")


def _split_arrays(obj: Any, prefix: str, arrays: Dict[str, np.ndarray]) -> Any:
    """Replace every ndarray inside ``obj`` by a reference and collect it in ``arrays``."""
    if isinstance(obj, np.ndarray):
        arrays[prefix] = obj
        return {_ARRAY_TAG: prefix}
    if isinstance(obj, dict):
        return {str(k): _split_arrays(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_arrays(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join_arrays(obj: Any, arrays: Dict[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY_TAG}:
            return np.array(arrays[obj[_ARRAY_TAG]])
        return {k: _join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, arrays) for v in obj]
    return obj


def _check_link_storable(identity: str) -> None:
    """Refuse a run of a user link: a file holds a link by its identity, from which a user
    link (compiled functions of the process that made it) cannot be rebuilt."""
    if "user(" in identity:
        raise ValueError(f"save_trajectory: link pair {identity!r} has a user link, which a "
                         f"file cannot hold (its compiled functions live only in this "
                         f"process); save its columns yourself (traj.to_pandas())")


def _problem_header(problem: Problem) -> dict:
    return {"d": int(problem.d), "n_coords": problem.n_coords, "noise": problem.noise,
            "s_star": problem.s_star, "link": problem.link.identity,
            "info": dict(problem.info)}


def _events_members(traj: Trajectory, arrays: Dict[str, np.ndarray]) -> Optional[list]:
    """The flow's located events as header entries and arrays (``events/<i>/...``)."""
    events = getattr(traj, "events", None)
    if events is None:
        return None
    out = []
    for i, hits in enumerate(events):
        arrays[f"events/{i}/times"] = np.asarray(hits.times, dtype=np.float64)
        for name, values in hits.records.items():
            arrays[f"events/{i}/record/{name}"] = np.asarray(values, dtype=np.float64)
        out.append({"name": hits.name, "terminal": bool(hits.terminal),
                    "fields": sorted(hits.records)})
    return out


def _kind(traj) -> Optional[str]:
    """``"network"`` for a network run, None for a single-index one (files without a kind)."""
    return "network" if isinstance(traj, NetworkTrajectory) else None


def _columns(kind: Optional[str], meta: Dict[str, Any]) -> Tuple[str, ...]:
    """The recorded columns of a run of this kind."""
    return NETWORK_COLUMNS if kind == "network" else recorded(meta)


def _problem_arrays(problem: Problem) -> Dict[str, np.ndarray]:
    arrays = {"problem/eigenvalues": problem.eigenvalues, "problem/w_star": problem.w_star,
              "problem/w0": problem.w0, "problem/counts": problem.counts}
    if problem.is_network:
        arrays.update({"problem/readout": np.asarray(problem.readout),
                       "problem/teacher_readout": np.asarray(problem.teacher_readout)})
    return arrays


def save_trajectory(traj: Trajectory, path: PathLike, problem: Optional[Problem] = None,
                    extra: Optional[dict] = None) -> Path:
    """Write ``traj`` to ``path`` (``.npz``): columns, final state, dense output, events,
    meta, provenance, and the digest of all of it.

    ``problem`` (optional, the problem the trajectory is a run of — checked by its
    identity) stores the problem's arrays too, so :func:`load_problem` can rebuild it
    exactly (4 vectors of length ``n_coords``). ``extra`` is any JSON-able dict kept under
    ``header['extra']`` (the CLI stores the run's configuration there).
    """
    from ..._version import __version__
    if not isinstance(traj, (Trajectory, NetworkTrajectory)):
        raise TypeError(f"expected a Trajectory or a NetworkTrajectory, got "
                        f"{type(traj).__name__}")
    _check_link_storable(str(traj.meta.get("link", "square")))
    if problem is not None and "problem_id" in traj.meta:
        check_same_problem(traj.meta, problem, "save_trajectory: the trajectory")
    if problem is not None and problem.is_network != (_kind(traj) == "network"):
        raise ValueError("save_trajectory: the trajectory is not a run of this problem (one "
                         "is a network, the other a single-index model)")
    kind = _kind(traj)
    arrays: Dict[str, np.ndarray] = {f"col/{name}": np.asarray(getattr(traj, name))
                                     for name in _columns(kind, traj.meta)}
    if traj.w is not None:
        arrays["state/w"] = np.asarray(traj.w)
    if getattr(traj, "dense", None) is not None:  # the flow's dense output (exact phases)
        arrays["dense/rows"] = np.asarray(traj.dense.rows)
    info = dict(traj.meta.get("problem", {}))
    header = {"format": TRAJECTORY_FORMAT, "pyscale_version": __version__,
              "method": traj.meta.get("method"), "seed": info.get("seed"),
              "sample_seed": traj.meta.get("seed"),
              "meta": _split_arrays(dict(traj.meta), "meta", arrays),
              "problem": None if problem is None else _problem_header(problem),
              "extra": _split_arrays(dict(extra or {}), "extra", arrays),
              "events": _events_members(traj, arrays)}
    if kind is not None:
        header["kind"] = kind
    if problem is not None:
        arrays.update(_problem_arrays(problem))
    text = json.dumps(header, default=json_default, allow_nan=True, sort_keys=True)
    arrays["header"] = np.frombuffer(text.encode(), dtype=np.uint8)
    arrays["digest"] = np.frombuffer(digest(arrays).encode(), dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    return Path(path)


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
    except READ_ERRORS as err:
        raise BadFileError(path, f"not a readable .npz file ({reason(err)})",
                           _DAMAGED) from None


def _legacy_checksum(arrays: Dict[str, np.ndarray]) -> str:
    """Format 1's checksum: SHA-256 over every array but the header, in name order."""
    import hashlib
    h = hashlib.sha256()
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _verify(path: Path, header: dict, raw: np.ndarray, arrays: Dict[str, np.ndarray],
            stored: Optional[np.ndarray], legacy: bool) -> None:
    """The digest of a current file, or (``legacy=True``) the array checksum of an old one."""
    fmt = header.get("format")
    if fmt == TRAJECTORY_FORMAT:
        if stored is None or stored.size == 0:
            raise BadFileError(path, "its digest is missing: nothing shows that its contents "
                                     "are those that were saved", _DAMAGED)
        if stored.tobytes() != digest(dict(arrays, header=raw)).encode():
            raise BadFileError(path, "digest mismatch: its contents (header or arrays) are "
                                     "not those that were saved", _DAMAGED)
        return
    if fmt in LEGACY_FORMATS:
        if not legacy:
            raise BadFileError(path, _LEGACY.format(fmt=fmt))
        checksum = header.get("checksum")
        if checksum is not None and checksum != _legacy_checksum(arrays):
            raise BadFileError(path, "checksum mismatch: its arrays are not those that were "
                                     "saved", _DAMAGED)
        return
    raise BadFileError(path, f"has format {fmt!r:.60}; this pyscale reads "
                             f"{TRAJECTORY_FORMAT!r}")


def _open(path: PathLike, legacy: bool = False) -> Tuple[dict, Dict[str, np.ndarray]]:
    """The verified (header, arrays) of a trajectory file; BadFileError when it is not one."""
    path = Path(path)
    if path.is_dir():
        raise BadFileError(path, "is a directory, not a trajectory file (.npz)")
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file at {path}")
    arrays = _read_npz(path)
    if "header" not in arrays:
        raise BadFileError(path, "not a pyscale trajectory file (no header)")
    raw = arrays.pop("header")
    stored = arrays.pop("digest", None)
    try:
        header = json.loads(raw.tobytes().decode())
    except READ_ERRORS as err:
        raise BadFileError(path, f"its header is not valid JSON ({reason(err)})",
                           _DAMAGED) from None
    if not isinstance(header, dict):
        raise BadFileError(path, "not a pyscale trajectory file (header is not a table)")
    _verify(path, header, raw, arrays, stored, legacy)
    if not isinstance(header.get("meta"), dict):
        raise BadFileError(path, "not a complete pyscale trajectory (missing meta)")
    if header.get("kind") not in (None, "network"):
        raise BadFileError(path, f"holds a run of kind {header.get('kind')!r:.40}; this "
                                 f"pyscale reads single-index and network runs")
    names = _columns(header.get("kind"), header["meta"])
    missing = [f"col/{n}" for n in names if f"col/{n}" not in arrays]
    if missing:
        raise BadFileError(path, f"not a complete pyscale trajectory (missing "
                                 f"{', '.join(missing)})")
    _check_shapes(path, header.get("kind"), {n: arrays[f"col/{n}"].shape for n in names})
    return header, arrays


def _check_shapes(path: Path, kind: Optional[str], shapes: Dict[str, tuple]) -> None:
    """Columns of one length: 1-D, or for a network S (T, p, p) and U (T, p, k)."""
    if kind == "network":
        (n,), s, u = shapes["t"], shapes["S"], shapes["U"]
        if shapes["loss"] != (n,) or len(s) != 3 or len(u) != 3 or s[0] != n or \
                u[0] != n or s[1] != s[2] or u[1] != s[1]:
            raise BadFileError(path, f"its network columns do not fit together (t, loss, "
                                     f"S, U: {[shapes[k] for k in NETWORK_COLUMNS]})")
        return
    lengths = set(shapes.values())
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise BadFileError(path, f"its columns are not 1-D arrays of one length "
                                 f"({sorted(lengths)})")


def _joined(header: dict, key: str, arrays: Dict[str, np.ndarray], path: Path):
    try:
        return _join_arrays(header.get(key, {}), arrays)
    except KeyError as err:
        raise BadFileError(path, f"its header refers to a missing array {err}") from None


def read_header(path: PathLike, legacy: bool = False) -> dict:
    """The verified provenance of a trajectory file: format, version, method, seed, meta,
    extra (``legacy=True``: files of an earlier format too, see the module docstring)."""
    header, arrays = _open(path, legacy)
    header["meta"] = _joined(header, "meta", arrays, Path(path))
    header["extra"] = _joined(header, "extra", arrays, Path(path))
    return header


def _events(header: dict, arrays: Dict[str, np.ndarray]) -> Optional[list]:
    from ...engines.flow_events import EventHits
    entries = header.get("events")
    if entries is None:
        return None
    return [EventHits(e["name"], bool(e["terminal"]), arrays[f"events/{i}/times"],
                      {name: arrays[f"events/{i}/record/{name}"] for name in e["fields"]})
            for i, e in enumerate(entries)]


def load_trajectory(path: PathLike, legacy: bool = False):
    """Read a file written by :func:`save_trajectory`, verified by its digest
    (``legacy=True``: a file of an earlier format, see the module docstring): a
    Trajectory, or a NetworkTrajectory for a network's run."""
    header, arrays = _open(path, legacy)
    try:
        meta = _joined(header, "meta", arrays, Path(path))
        if header.get("kind") == "network":
            return NetworkTrajectory(w=arrays.get("state/w"), meta=meta,
                                     **{n: arrays[f"col/{n}"] for n in NETWORK_COLUMNS})
        cols: Dict[str, Any] = {name: arrays[f"col/{name}"] for name in recorded(meta)}
        cols.setdefault("mse", None)  # a pair without a recovery metric
        dense = None
        if "dense/rows" in arrays:  # the flow's dense output
            from ...results.dense import DenseOutput
            dense = DenseOutput(arrays["dense/rows"], meta.get("s_star", 1.0),
                                meta.get("noise", 0.0), meta.get("d", 1),
                                meta.get("link", "square"))
        return Trajectory(w=arrays.get("state/w"), meta=meta, dense=dense,
                          events=_events(header, arrays), **cols)
    except (ValueError, TypeError, KeyError) as err:
        raise BadFileError(path, f"not a valid trajectory ({reason(err)})") from None


def load_problem(path: PathLike, legacy: bool = False) -> Optional[Problem]:
    """The problem stored with a trajectory (``save_trajectory(..., problem=)``), or None;
    checked against the trajectory's problem identity."""
    header, arrays = _open(path, legacy)
    if header.get("problem") is None:
        return None
    p = header["problem"]
    try:
        problem = Problem(arrays["problem/eigenvalues"], arrays["problem/w_star"],
                          arrays["problem/w0"], noise=p["noise"], d=p["d"],
                          counts=arrays["problem/counts"], info=p["info"],
                          link=p.get("link", "square"),
                          readout=arrays.get("problem/readout"),
                          teacher_readout=arrays.get("problem/teacher_readout"))
    except (KeyError, ValueError, TypeError) as err:
        raise BadFileError(path, f"its stored problem is invalid ({reason(err)})") from None
    stored = header["meta"].get("problem_id")
    if stored is not None and stored != problem.identity():
        raise BadFileError(path, "its stored problem is not the one its trajectory ran on "
                                 "(their identities differ)", _DAMAGED)
    return problem
