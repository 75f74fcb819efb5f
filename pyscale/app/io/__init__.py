"""Results on disk: trajectories as ``.npz`` (:mod:`.trajectory`), sweep tables as Parquet
part files (:mod:`.parts`), both written through :mod:`.files` (atomic, the umask's modes,
one writer at a time, output paths checked before any work).

Every file is verified when read — a trajectory by the digest of all its bytes, header
included; a sweep's parts by their checksums, row counts and task ids — and a file that
fails (truncated, corrupted, edited, foreign) raises :class:`BadFileError` naming it.
:func:`load` does the right thing for either kind of path.
"""
from __future__ import annotations

from pathlib import Path

from .files import (
    BadFileError,
    OutputBusyError,
    PathLike,
    atomic_path,
    check_output_path,
    output_lock,
    read_json,
    write_json,
)
from .parts import SWEEP_INDEX_FORMAT, read_index, read_parts, read_table, verify_part, write_part
from .trajectory import (
    LEGACY_FORMATS,
    TRAJECTORY_FORMAT,
    load_problem,
    load_trajectory,
    read_header,
    save_trajectory,
)

__all__ = ["save_trajectory", "load_trajectory", "load_problem", "load", "read_table",
           "write_part", "read_parts", "verify_part", "write_json", "read_json", "atomic_path",
           "read_header", "read_index", "check_output_path", "output_lock", "BadFileError",
           "OutputBusyError", "TRAJECTORY_FORMAT", "LEGACY_FORMATS", "SWEEP_INDEX_FORMAT"]


def load(path: PathLike, legacy: bool = False):
    """Load what pyscale wrote: a ``.npz`` trajectory → :class:`~pyscale.Trajectory`
    (a :class:`~pyscale.results.network.NetworkTrajectory` for a network's run; verified
    by its digest; ``legacy=True`` reads a file of an earlier format, trusting
    its header — see :mod:`pyscale.app.io.trajectory`); a sweep directory → its tidy
    records table (pandas DataFrame); a ``.parquet`` file → DataFrame."""
    path = Path(path)
    if path.is_dir():
        return read_table(path)
    if path.suffix == ".parquet":
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        return read_parts(path.parent, [path.stem])
    return load_trajectory(path, legacy=legacy)
