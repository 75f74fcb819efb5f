"""Trajectory: what an engine returns — recorded summary statistics, the final state,
the phase stopping times of SPEC §3, and save / load."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from . import _repr, tidy

__all__ = ["Trajectory", "Phases"]

#: Columns recorded by every engine (the C++ core's RecordField order).
FIELDS = ("t", "s", "u", "s2", "u2", "loss", "mse")


@dataclass(frozen=True)
class Phases:
    """Stopping times of SPEC §3 (None where the trajectory does not reach them).

    T1: first t with |u| >= delta.  T1_prime: the time after which s stays >= 1/3 + s0
    (s*/3 in general), i.e. the first record after the last one below.  T2: first t with
    |u| and s both in [1 - eps, 1] (s* in general, u normalised by s*).
    """
    T1: Optional[float]
    T1_prime: Optional[float]
    T2: Optional[float]
    delta: float
    eps: float
    s0: float


@dataclass
class Trajectory:
    """Recorded dynamics. Arrays ``t, s, u, s2, u2, loss, mse`` share one length;
    ``w`` is the state at ``t[-1]``; ``meta`` holds the engine's parameters and counters
    (``method``, ``status``, ``steps``, ``rhs_evals``, ``diverged_at_step``, ...).
    """
    t: np.ndarray
    s: np.ndarray
    u: np.ndarray
    s2: np.ndarray
    u2: np.ndarray
    loss: np.ndarray
    mse: np.ndarray
    w: Optional[np.ndarray]
    meta: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: np.ndarray, w, meta) -> "Trajectory":
        cols = {name: np.ascontiguousarray(records[:, j]) for j, name in enumerate(FIELDS)}
        return cls(w=w, meta=meta, **cols)

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def status(self) -> str:
        return self.meta.get("status", "completed")

    def as_dict(self) -> Dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in FIELDS}

    def save(self, path, problem=None, extra: Optional[dict] = None):
        """Write to ``path`` (``.npz``) with meta, version and seed; ``problem`` stores its
        arrays too. See :func:`pyscale.io.save_trajectory`."""
        from .io import save_trajectory
        return save_trajectory(self, path, problem=problem, extra=extra)

    @classmethod
    def load(cls, path) -> "Trajectory":
        """Read a file written by :meth:`save` (:func:`pyscale.io.load_trajectory`)."""
        from .io import load_trajectory
        return load_trajectory(path)

    def phases(self, delta: float = 0.05, eps: float = 0.05, s0: float = 0.0) -> Phases:
        """Stopping times T1(δ), T1', T2(ε) of SPEC §3 read off the recorded times.

        Resolution is that of the record grid: record densely (e.g. log-spaced) to resolve
        them. s* is taken from ``meta['s_star']`` (1 for the paper's normalisation).
        """
        s_star = float(self.meta.get("s_star", 1.0))
        au = np.abs(self.u) / s_star
        s = self.s / s_star
        t1 = _first(self.t, au >= delta)
        below = np.flatnonzero(s < 1.0 / 3.0 + s0)
        if below.size == 0:
            t1p = float(self.t[0]) if len(self) else None
        elif below[-1] + 1 < len(self):
            t1p = float(self.t[below[-1] + 1])
        else:
            t1p = None
        # 1 + 1e-12: a value that reaches 1 up to rounding is in [1 - eps, 1].
        ok = (au >= 1 - eps) & (au <= 1 + 1e-12) & (s >= 1 - eps) & (s <= 1 + 1e-12)
        t2 = _first(self.t, ok)
        return Phases(t1, t1p, t2, float(delta), float(eps), float(s0))

    to_pandas = tidy.trajectory_to_pandas
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html

def _first(t: np.ndarray, mask: np.ndarray) -> Optional[float]:
    idx = np.flatnonzero(mask)
    return float(t[idx[0]]) if idx.size else None
