"""Files as pyscale writes them: atomically (a temporary file, flushed, renamed into place:
a file that exists is complete), with the permission bits of an ordinary file (0666 less
the process's umask), under a lock that one writer at a time holds, and checked before any
work (an output path that cannot be written is refused at once).

Readers raise :class:`BadFileError` naming the file for anything unreadable, foreign or
damaged; writers raise :class:`OutputBusyError` when another process holds the output.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any, Tuple, Union

import numpy as np

__all__ = ["BadFileError", "OutputBusyError", "PathLike", "READ_ERRORS", "reason",
           "atomic_path", "file_mode", "check_output_path", "output_lock", "write_json",
           "read_json", "file_sha256", "json_default"]

PathLike = Union[str, os.PathLike]


class BadFileError(ValueError):
    """A file that is not a readable pyscale result (missing, truncated, corrupted, foreign,
    or of another layout); ``path`` names it and the message says what to do."""

    def __init__(self, path: PathLike, reason: str, advice: str = ""):
        super().__init__(f"{path}: {reason}" + (f"; {advice}" if advice else ""))
        self.path = Path(path)


class OutputBusyError(BlockingIOError):
    """Another process is writing the same output right now; ``path`` names it."""

    def __init__(self, path: PathLike, what: str):
        super().__init__(f"{what}: another pyscale process is writing {path} right now; "
                         f"wait for it to finish or choose another path")
        self.path = Path(path)


#: What reading arbitrary bytes as an .npz / .parquet / JSON file can raise.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
               zipfile.BadZipFile, zlib.error)


def reason(err: BaseException) -> str:
    """An exception as a short reason: its type and the first line of its message."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:120]}" if text else type(err).__name__


# ---------------------------------------------------------------------------- modes
_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask: from /proc where the kernel shows it (Linux), else by setting
    and restoring it (under a lock; the only portable way to read it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The permission bits of a new ordinary file: 0666 less the current umask."""
    return 0o666 & ~_umask()


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
    file is given the mode of a new file (:func:`file_mode`), flushed to disk (fsync) and
    replaces ``path`` in one rename, on error it is removed: a reader, or a run after a
    crash, never sees a half-written file."""

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
            os.chmod(self.tmp, file_mode())  # mkstemp creates 0600 whatever the umask
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)


# ---------------------------------------------------------------------------- locks
class output_lock:
    """Hold an exclusive lock on an output for the duration of a ``with`` block; another
    process asking for the same output meanwhile gets :class:`OutputBusyError` at once.

    The lock is a file ``.NAME.lock`` beside the output (``flock``, released by the
    kernel when the holder dies, even by SIGKILL) and is removed on release; a holder
    that finds its lock file replaced (removed by a finishing holder between its open
    and its lock) takes the new one.
    """

    def __init__(self, path: PathLike, what: str = "output"):
        self.path = Path(path)
        self.what = what
        self.lock_path = self.path.parent / f".{self.path.name}.lock"
        self.handle: Any = None

    def __enter__(self) -> "output_lock":
        import fcntl
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.lock_path, "a+")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise OutputBusyError(self.path, self.what) from None
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.handle = handle
                return self
            handle.close()  # locked a file that was removed meanwhile: lock the new one

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            try:
                self.lock_path.unlink()
            except FileNotFoundError:
                pass
            self.handle.close()
            self.handle = None


# ---------------------------------------------------------------------------- checks
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


# ---------------------------------------------------------------------------- JSON
def json_default(obj):
    """JSON for what numpy and pathlib hand us (numpy scalars and arrays, paths)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in JSON")


def write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays allowed)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, default=json_default, allow_nan=True))
    return Path(path)


def read_json(path: PathLike) -> Any:
    """Read a JSON file; a file that is not valid JSON raises :class:`BadFileError`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except READ_ERRORS as err:
        raise BadFileError(path, f"not a valid JSON file ({reason(err)})") from None


def file_sha256(path: PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
