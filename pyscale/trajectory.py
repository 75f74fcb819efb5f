"""Trajectory: what an engine returns — recorded summary statistics, the final state,
the phase stopping times of SPEC §3, and save / load."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

__all__ = ["Trajectory", "Phases"]

#: Columns recorded by every engine (the C++ core's RecordField order).
FIELDS = ("t", "s", "u", "s2", "u2", "loss", "mse")


@dataclass(frozen=True)
class Phases:
    """Stopping times of SPEC §3 (None where the trajectory does not reach them).

    T1: first t with |u| >= delta s*.  T1_prime: the time after which s stays >= s* (1/3 +
    s0) (the last upward crossing).  T2: first t with |u|/s* and s/s* both in [1 - eps, 1].
    Exact along the flow's dense output; on the record grid for the other engines.
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
    #: The flow's dense output (pyscale.dense_output.DenseOutput), None for other engines.
    dense: Any = None
    #: The flow's located events (list of pyscale.events.EventHits), None without events.
    events: Optional[list] = None

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

    def phases(self, delta: Optional[float] = None, eps: Optional[float] = None,
               s0: Optional[float] = None) -> Phases:
        """Stopping times T1(δ), T1'(s0), T2(ε) (model page: Phases); None → the defaults
        of :data:`pyscale.phases.DEFAULTS`. Exact along the flow's dense output (any
        thresholds, no rerun); read off the record grid for the other engines. See
        :func:`pyscale.phases.stopping_times`.
        """
        from .phases import stopping_times
        return stopping_times(self, delta, eps, s0)

    def __repr__(self) -> str:
        if len(self) == 0:
            return f"Trajectory(empty, status={self.status!r})"
        return (f"Trajectory(method={self.meta.get('method')!r}, n={len(self)}, "
                f"t=[{self.t[0]:.3g}, {self.t[-1]:.3g}], final mse={self.mse[-1]:.6g}, "
                f"|u|={abs(self.u[-1]):.6g}, status={self.status!r})")
