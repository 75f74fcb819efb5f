"""Every argument check of the package, with one message style.

Each checker takes the parameter's *name* first and returns the value converted to the
type the engines use, or raises :class:`ValueError` / :class:`TypeError` whose one-line
message names the parameter, what it must be, and what it got. The CLI and the config
files wrap these (prefixing the flag or the config key); nothing else validates.
"""
from __future__ import annotations

import difflib
import numbers
import operator
import os
from typing import Any, Collection, Iterable, Mapping, Optional

import numpy as np

__all__ = ["integer", "real", "positive", "probability", "seed", "threads", "choice",
           "keywords", "vector", "record_times", "record_steps", "suggest", "dimension",
           "exponent", "grouping_tolerance", "memory", "available_memory", "noise", "horizon",
           "rtol", "record_count", "step_size", "step_count", "batch", "sample_count",
           "max_steps", "workers", "retries", "delta", "eps", "s0", "interval", "PARAMETERS",
           "parameter", "MAX_THREADS", "MAX_STEPS", "MAX_BATCH", "MAX_DIMENSION",
           "MAX_SAMPLES", "MAX_RECORDS"]

#: Largest thread count accepted (OpenMP cannot start more than a few thousand threads).
MAX_THREADS = 1024
#: Largest step count: step indices and t = step · lr must stay exact in the core's int64.
MAX_STEPS = 2 ** 62
#: Largest batch: the core indexes samples of a step with 32-bit integers.
MAX_BATCH = 2 ** 31 - 1
#: Largest data set of finite-sample GD (its memory, 8·n·(d + 1) bytes, is checked apart).
MAX_SAMPLES = 2 ** 62
#: Largest number of records of one run.
MAX_RECORDS = 10 ** 7
#: Largest dimension d: the core holds d (and the counts that sum to it) in float64,
#: whose integers are exact up to 2**53.
MAX_DIMENSION = 2 ** 53


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def suggest(word: str, allowed: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest allowed word, or ''."""
    close = difflib.get_close_matches(str(word), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def integer(name: str, value: Any, low: Optional[int] = None,
            high: Optional[int] = None) -> int:
    """``value`` as an int in [low, high]; integral floats (1e6) are accepted, bools are not."""
    where = _range_text(low, high)
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise TypeError(f"{name} must be an integer{where}, got {_show(value)}")
    if isinstance(value, numbers.Integral):
        out = operator.index(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        out = int(float(value))
    elif isinstance(value, numbers.Real):  # a number, just not a whole one
        raise ValueError(f"{name} must be an integer{where}, got {_show(value)}")
    else:
        raise TypeError(f"{name} must be an integer{where}, got {_show(value)}")
    if (low is not None and out < low) or (high is not None and out > high):
        raise ValueError(f"{name} must be an integer{where}, got {out}")
    return out


def real(name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None,
         *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within the given bounds (open or closed)."""
    where = _range_text(low, high, low_open, high_open)
    if isinstance(value, (bool, np.bool_, complex, np.complexfloating)) or \
            not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{where}, got {_show(value)}")
    out = float(value)
    ok = np.isfinite(out)
    if ok and low is not None:
        ok = out > low if low_open else out >= low
    if ok and high is not None:
        ok = out < high if high_open else out <= high
    if not ok:
        raise ValueError(f"{name} must be a finite number{where}, got {_show(value)}")
    return out


def positive(name: str, value: Any, high: Optional[float] = None) -> float:
    """A finite float > 0 (and <= high)."""
    return real(name, value, 0.0, high, low_open=True)


def probability(name: str, value: Any) -> float:
    return real(name, value, 0.0, 1.0)


def seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**64)."""
    return integer(name, value, 0, 2 ** 64 - 1)


def threads(value: Any, name: str = "threads") -> int:
    """Thread count: 0 (the OpenMP default) or 1..MAX_THREADS. Results never depend on it."""
    return integer(name, value, 0, MAX_THREADS)


def choice(name: str, value: Any, allowed: Collection[str]) -> str:
    """One of ``allowed`` (strings); a misspelling names the nearest one."""
    if not isinstance(value, str) or value not in allowed:
        hint = suggest(value, allowed) if isinstance(value, str) else ""
        raise ValueError(f"{name} must be one of {', '.join(map(repr, sorted(allowed)))}, "
                         f"got {_show(value)}{hint}")
    return value


def keywords(where: str, given: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Refuse keyword arguments ``where`` does not take, naming the nearest valid one."""
    for key in given:
        if key not in allowed:
            raise TypeError(f"{where} got an unexpected keyword argument {key!r}"
                            f"{suggest(key, allowed)}; it takes "
                            f"{', '.join(sorted(allowed))}")


def vector(name: str, value: Any, n: Optional[int] = None,
           other: str = "eigenvalues") -> np.ndarray:
    """A finite, real, 1-D float64 array (C-contiguous copy-if-needed), of length n if given."""
    try:
        raw = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a 1-D array of real numbers ({exc})") from None
    if raw.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got a complex array (its imaginary part "
                        f"would be dropped)")
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a 1-D array of real numbers, got dtype {raw.dtype}")
    arr = np.ascontiguousarray(raw, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: the dimension d must be >= 1")
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has length {arr.size} but {other} has length {n}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} has a non-finite entry ({arr[i]!r}) at index {i}")
    return arr


def record_times(t: Any, name: str = "t", start: float = 1e-2, count: int = 200) -> np.ndarray:
    """Record times of the flow: a horizon (→ 0 and ``count`` log-spaced times from
    ``start``) or a non-empty, strictly increasing 1-D array of finite times >= 0."""
    if t is None:
        raise ValueError(f"{name} is required: a horizon or increasing record times")
    if np.ndim(t) == 0:
        horizon = positive(name, t)
        # Always ends at the horizon (one point would otherwise be `start` itself).
        grid = np.geomspace(min(start, horizon), horizon, count) if count > 1 else [horizon]
        return np.concatenate([[0.0], grid])
    times = vector(name, t)
    if np.any(times < 0):
        raise ValueError(f"{name}: record times must be >= 0, got {times.min()!r}")
    if np.any(np.diff(times) <= 0):
        i = int(np.flatnonzero(np.diff(times) <= 0)[0])
        raise ValueError(f"{name}: record times must be strictly increasing, but "
                         f"t[{i + 1}] = {times[i + 1]!r} follows t[{i}] = {times[i]!r}")
    return times


def record_steps(steps: int, record: Any, name: str = "record") -> np.ndarray:
    """Step indices to record: None (about 200 log-spaced), a count, or strictly
    increasing indices within [0, steps]. Always includes 0 and ``steps`` for counts."""
    if record is None or np.ndim(record) == 0:
        count = 200 if record is None else record_count(record, name)
        if steps <= 0:
            return np.zeros(1, dtype=np.int64)
        idx = np.unique(np.geomspace(1, steps, count).round().astype(np.int64))
        return np.unique(np.concatenate([[0], idx, [steps]]))
    rec = np.asarray(record)
    if rec.ndim != 1 or rec.size == 0 or rec.dtype.kind not in "iuf" or \
            not np.all(np.isfinite(rec)) or not np.all(rec == np.round(rec)):
        raise ValueError(f"{name} must be a count or a 1-D array of step indices")
    rec = rec.astype(np.int64)
    if np.any(np.diff(rec) <= 0) or rec[0] < 0 or rec[-1] > steps:
        raise ValueError(f"{name}: step indices must be strictly increasing within "
                         f"[0, {steps}]")
    return rec


def _num(x) -> str:
    """Bounds as a reader writes them: 2**64 - 1 rather than 1.84467e+19, 10**12 rather
    than 1000000000000 (powers of ten from 10**9 on)."""
    if isinstance(x, int):
        if x >= 10 ** 9 and str(x).rstrip("0") == "1":
            return f"10**{len(str(x)) - 1}"
        for k in range(20, 128):
            if x == 2 ** k:
                return f"2**{k}"
            if x == 2 ** k - 1:
                return f"2**{k} - 1"
        return str(x)
    return f"{x:g}"


def _range_text(low, high, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return (f" in {'(' if low_open else '['}{_num(low)}, {_num(high)}"
                f"{')' if high_open else ']'}")
    if low is not None:
        return f" {'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_num(high)}"
    return ""


def dimension(d: Any, name: str = "d") -> int:
    """The dimension d: an integer in [1, MAX_DIMENSION] (integral floats such as 1e9
    accepted). The core normalises by d in float64, exact up to 2**53."""
    return integer(name, d, 1, MAX_DIMENSION)


def exponent(a: Any, name: str = "a") -> float:
    """The power-law exponent a >= 0 (a = 0 is isotropic)."""
    return real(name, a, 0.0)


def grouping_tolerance(rtol: Any, name: str = "rtol") -> float:
    """The compression tolerance δ in (0, 1): eigenvalues within a factor 1 + δ share a
    mode. δ ≥ 1 would merge eigenvalues a factor two apart — an O(1) error; 1e-4 … 1e-1
    is the useful range (the error is O(δ))."""
    if isinstance(rtol, numbers.Real) and not isinstance(rtol, bool) and \
            np.isfinite(float(rtol)) and float(rtol) >= 1:
        raise ValueError(f"{name} (the grouping tolerance δ) must be < 1, got {rtol!r}: "
                         f"eigenvalues a factor 1 + δ apart would share a mode, an O(1) "
                         f"error; use 1e-4 ... 1e-1 (the error is O(δ))")
    return real(f"{name} (the grouping tolerance δ)", rtol, 0.0, 1.0, low_open=True,
                high_open=True)


def available_memory() -> Optional[int]:
    """Bytes of memory available now (psutil if installed, else sysconf), or None."""
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory(needed: int, what: str, max_memory: Optional[int], fix: str) -> None:
    """Refuse, before allocating, a workspace of ``needed`` bytes that will not fit."""
    limit = available_memory() if max_memory is None else \
        integer("max_memory", max_memory, 0)
    if limit is not None and needed > limit:
        source = "available" if max_memory is None else "allowed (max_memory)"
        raise MemoryError(f"{what} needs {needed} bytes ({needed / 2 ** 30:.3g} GiB) but only "
                          f"{limit} bytes ({limit / 2 ** 30:.3g} GiB) are {source}; {fix}")


# ---------------------------------------------------------------------------- named
# One validator per parameter of the package, used by the engines, the configuration
# files and the command line alike (the range of a parameter is stated once, here).
def noise(value: Any, name: str = "noise") -> float:
    """The label-noise variance σ² >= 0."""
    return real(name, value, 0.0)


def horizon(value: Any, name: str = "t") -> float:
    """A horizon or a record time t > 0 (the flow's unit of time)."""
    return positive(name, value)


def rtol(value: Any, name: str = "rtol") -> float:
    """A relative tolerance in [1e-14, 1) (below 1e-14 float64 rounding dominates)."""
    return real(name, value, 1e-14, 1.0, high_open=True)


def record_count(value: Any, name: str = "records") -> int:
    """How many records a run keeps: an integer in [1, MAX_RECORDS]."""
    return integer(name, value, 1, MAX_RECORDS)


def step_size(value: Any, name: str = "lr") -> float:
    """A step size (learning rate) lr > 0; t = step · lr."""
    return positive(name, value)


def step_count(value: Any, name: str = "steps") -> int:
    """A number of steps in [0, MAX_STEPS] (0: the start alone)."""
    return integer(name, value, 0, MAX_STEPS)


def batch(value: Any, name: str = "batch") -> int:
    """Samples per SGD step: an integer in [1, MAX_BATCH]."""
    return integer(name, value, 1, MAX_BATCH)


def sample_count(value: Any, name: str = "n_samples") -> int:
    """The size of a fixed data set: an integer in [1, MAX_SAMPLES]."""
    return integer(name, value, 1, MAX_SAMPLES)


def max_steps(value: Any, name: str = "max_steps") -> int:
    """A step budget: an integer in [1, MAX_STEPS]."""
    return integer(name, value, 1, MAX_STEPS)


def workers(value: Any, name: str = "workers") -> int:
    """Worker processes of a sweep: an integer in [1, 4096]."""
    return integer(name, value, 1, 4096)


def retries(value: Any, name: str = "retries") -> int:
    """Retries of a failed task: an integer in [0, 1000]."""
    return integer(name, value, 0, 1000)


def delta(value: Any, name: str = "delta") -> float:
    """The escape threshold δ in (0, 1): T1 is the first t with |u| >= δ s*."""
    return real(name, value, 0.0, 1.0, low_open=True, high_open=True)


def eps(value: Any, name: str = "eps") -> float:
    """The convergence threshold ε in (0, 1): T2 is the first t with |u|/s*, s/s* in
    [1 − ε, 1]."""
    return real(name, value, 0.0, 1.0, low_open=True, high_open=True)


def s0(value: Any, name: str = "s0") -> float:
    """The margin s0 in (−1/3, 2/3): T1' is the time after which s >= s* (1/3 + s0)."""
    return real(name, value, -1.0 / 3.0, 2.0 / 3.0, low_open=True, high_open=True)


def interval(value: Any, name: str = "every") -> float:
    """A wall-time interval in seconds, > 0."""
    return positive(name, value)


#: The validator of each named parameter, ``f(value, name) -> value`` (CLI flags and
#: configuration fields look theirs up here).
PARAMETERS = {"d": dimension, "a": exponent, "seed": seed, "noise": noise,
              "compress": grouping_tolerance, "t": horizon, "t_start": horizon, "rtol": rtol,
              "records": record_count, "lr": step_size, "steps": step_count, "batch": batch,
              "sample_seed": seed, "n_samples": sample_count, "max_steps": max_steps,
              "threads": threads, "workers": workers, "retries": retries, "delta": delta,
              "eps": eps, "s0": s0, "checkpoint_every": interval}


def parameter(key: str, value: Any, name: Optional[str] = None) -> Any:
    """``value`` checked by the validator of parameter ``key`` (:data:`PARAMETERS`);
    errors are named ``name`` (default ``key``)."""
    return PARAMETERS[key](value, key if name is None else name)
