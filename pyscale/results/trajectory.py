"""What the engines return: a :class:`Trajectory` (one run's records, final state and
meta, and its phase stopping times) and an :class:`Ensemble` (runs over seeds on a common
record grid). Arrays only: files are :mod:`pyscale.app.io`'s job."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import pyscale._repr as _repr

from . import columns as schema
from . import tidy

__all__ = ["Trajectory", "Phases", "Ensemble", "FIELDS", "SUCCESS"]

#: Columns recorded by every engine, in the core's record order (declared once, in C++);
#: a run's own columns are ``traj.columns`` (:mod:`pyscale.results.columns`).
FIELDS: Tuple[str, ...] = schema.RECORDED
#: The statuses of a run that ended where it was asked to (``Trajectory.success``).
SUCCESS = ("completed", "event")


@dataclass(frozen=True)
class Phases:
    """Stopping times (model page: Phases; None where the trajectory does not reach them).

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


@schema.with_mse_column
@dataclass
class Trajectory:
    """Recorded dynamics. Arrays ``t, s, u, s2, u2, loss, mse`` share one length, and so do
    the derived ``excess_risk`` (loss − σ²) and ``cosine`` (u/√(s s*)); a run whose link
    pair has no recovery metric (student ≠ teacher) has no ``mse`` (reading it raises
    AttributeError saying so; :attr:`columns` lists what a run has). ``w`` is the state at
    ``t[-1]``; ``meta`` holds the engine's parameters and counters (``method``, ``status``,
    ``link``, ``mse_kind``, ``steps``, ``rhs_evals``, ``diverged_at_step``, ...).
    """
    t: np.ndarray
    s: np.ndarray
    u: np.ndarray
    s2: np.ndarray
    u2: np.ndarray
    loss: np.ndarray
    mse: np.ndarray  # None: the pair has no recovery metric (schema.with_mse_column)
    w: Optional[np.ndarray]
    meta: Dict[str, Any] = field(default_factory=dict)
    #: The flow's dense output (pyscale.results.dense.DenseOutput), None for other engines.
    dense: Any = None
    #: The flow's located events (list of pyscale.engines.flow_events.EventHits), None
    #: without events.
    events: Optional[list] = None

    @classmethod
    def from_records(cls, records: np.ndarray, w, meta) -> "Trajectory":
        """From the core's record rows (columns :data:`FIELDS`); the mse column is dropped
        when ``meta`` says the pair has none."""
        cols: Dict[str, Any] = {name: np.ascontiguousarray(records[:, j])
                                for j, name in enumerate(FIELDS)}
        if not schema.has_mse(meta):
            cols["mse"] = None
        return cls(w=w, meta=meta, **cols)

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def status(self) -> str:
        """How the run ended: "completed" (its horizon reached), "event" (a terminal event
        stopped it), "interrupted", "diverged" or "step_limit" (its step budget ran out, or
        its step size underflowed: the horizon was not reached)."""
        return self.meta.get("status", "completed")

    @property
    def columns(self) -> Tuple[str, ...]:
        """The run's columns: the recorded ones it has, then ``excess_risk`` and ``cosine``."""
        return schema.columns(self.meta)

    @property
    def excess_risk(self) -> np.ndarray:
        """L − σ² = ℓ(s, u) per record (model page: What a trajectory records)."""
        return schema.excess_risk(self.loss, self.meta.get("noise", 0.0))

    @property
    def cosine(self) -> np.ndarray:
        """u / √(s s*) per record."""
        return schema.cosine(self.s, self.u, self.meta.get("s_star", 1.0))

    @property
    def success(self) -> bool:
        """Whether the run ended where it was asked to: its horizon, or a terminal event."""
        return self.status in SUCCESS

    def as_dict(self) -> Dict[str, np.ndarray]:
        """Every column (:attr:`columns`) by name."""
        return {name: getattr(self, name) for name in self.columns}

    def phases(self, delta: Optional[float] = None, eps: Optional[float] = None,
               s0: Optional[float] = None) -> Phases:
        """Stopping times T1(δ), T1'(s0), T2(ε) (model page: Phases); None → the defaults
        of :data:`pyscale.results.phases.DEFAULTS`. Exact along the flow's dense output (any
        thresholds, no rerun); read off the record grid for the other engines. See
        :func:`pyscale.results.phases.stopping_times`.
        """
        from .phases import stopping_times
        return Phases(*stopping_times(self, delta, eps, s0))

    to_pandas = tidy.trajectory_to_pandas
    to_xarray = tidy.trajectory_to_xarray
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html

@schema.with_mse_column
@dataclass
class Ensemble:
    """R independent runs on one problem, one per seed, on a common record grid ``t``.

    Per-seed arrays ``s, u, s2, u2, loss, mse, train_loss`` and the derived ``excess_risk``,
    ``cosine`` have shape (R, len(t)) (``train_loss``: the online loss for SGD, the training
    loss for ERM; NaN where a member stopped early; no ``mse`` when the link pair has no
    recovery metric, as for :class:`Trajectory`). ``w`` (R, n) holds the final states (None
    with ``keep_w=False``).
    Statistics are over seeds and sign-invariant where it matters (u's sign is random:
    use ``abs_u``): :meth:`mean`, :meth:`std`, :meth:`band` (quantiles), and the shortcuts
    ``mean_abs_u``, ``mean_mse``, ``band_abs_u``, ``band_mse`` (``quantiles`` × len(t)).
    """
    seeds: np.ndarray
    t: np.ndarray
    s: np.ndarray
    u: np.ndarray
    s2: np.ndarray
    u2: np.ndarray
    loss: np.ndarray
    mse: np.ndarray  # None: the pair has no recovery metric (schema.with_mse_column)
    train_loss: np.ndarray
    w: Optional[np.ndarray]
    quantiles: Tuple[float, ...] = (0.1, 0.5, 0.9)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.seeds.size)

    @property
    def abs_u(self) -> np.ndarray:
        return np.abs(self.u)

    @property
    def columns(self) -> Tuple[str, ...]:
        """The per-seed columns (as :attr:`Trajectory.columns`, without t)."""
        return schema.columns(self.meta)[1:]

    @property
    def excess_risk(self) -> np.ndarray:
        """L − σ² = ℓ(s, u), (R, len(t))."""
        return schema.excess_risk(self.loss, self.meta.get("noise", 0.0))

    @property
    def cosine(self) -> np.ndarray:
        """u / √(s s*), (R, len(t))."""
        return schema.cosine(self.s, self.u, self.meta.get("s_star", 1.0))

    def _field(self, name: str) -> np.ndarray:
        if name not in self.columns + ("abs_u", "train_loss"):
            if name == "mse":
                getattr(self, name)  # raises, saying why the run has none
            raise ValueError(f"unknown field {name!r}")
        return getattr(self, name)

    def mean(self, name: str) -> np.ndarray:
        """Mean over seeds of a field ('abs_u', 'mse', 's', 'loss', ...), per record."""
        with np.errstate(all="ignore"):
            return np.nanmean(self._field(name), axis=0)

    def std(self, name: str) -> np.ndarray:
        """Standard deviation over seeds (ddof=1), per record."""
        with np.errstate(all="ignore"):
            return np.nanstd(self._field(name), axis=0, ddof=1)

    def band(self, name: str, q: Optional[Sequence[float]] = None) -> np.ndarray:
        """Quantiles over seeds, shape (len(q), len(t)); q defaults to ``quantiles``."""
        q = self.quantiles if q is None else tuple(q)
        with np.errstate(all="ignore"):
            return np.nanquantile(self._field(name), q, axis=0)

    @property
    def mean_abs_u(self) -> np.ndarray:
        return self.mean("abs_u")

    @property
    def mean_mse(self) -> np.ndarray:
        return self.mean("mse")

    @property
    def band_abs_u(self) -> np.ndarray:
        return self.band("abs_u")

    @property
    def band_mse(self) -> np.ndarray:
        return self.band("mse")

    def phases(self, delta: Optional[float] = None, eps: Optional[float] = None,
               s0: Optional[float] = None) -> List[Phases]:
        """The stopping times of every member (``Trajectory.phases`` of
        :meth:`trajectory`), in the ensemble's order, on the common record grid."""
        return [self.trajectory(i).phases(delta, eps, s0) for i in range(len(self))]

    def trajectory(self, i: int) -> Trajectory:
        """Member i as a Trajectory (records up to where it stopped)."""
        ok = ~np.isnan(self.s[i])
        cols = {name: getattr(self, name)[i][ok] if name != "t" else self.t[ok]
                for name in schema.recorded(self.meta)}
        cols.setdefault("mse", None)
        meta = dict(self.meta)
        meta.update(seed=int(self.seeds[i]), train_loss=self.train_loss[i][ok])
        meta["status"] = self.meta.get("member_status", ["completed"] * len(self))[i]
        return Trajectory(w=None if self.w is None else self.w[i], meta=meta, **cols)

    to_pandas = tidy.ensemble_to_pandas
    to_xarray = tidy.ensemble_to_xarray
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html
