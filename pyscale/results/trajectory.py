"""What the engines return: a :class:`Trajectory` (one run's records, final state and
meta, and its phase stopping times) and an :class:`Ensemble` (runs over seeds on a common
record grid). Arrays only: files are :mod:`pyscale.app.io`'s job."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .. import _core, _repr
from . import tidy

__all__ = ["Trajectory", "Phases", "Ensemble", "FIELDS"]

#: Columns recorded by every engine, in the core's record order (declared once, in C++).
FIELDS: Tuple[str, ...] = tuple(_core.model.RECORD_FIELDS)


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
    #: The flow's dense output (pyscale.results.dense.DenseOutput), None for other engines.
    dense: Any = None
    #: The flow's located events (list of pyscale.engines.flow_events.EventHits), None
    #: without events.
    events: Optional[list] = None

    @classmethod
    def from_records(cls, records: np.ndarray, w, meta) -> "Trajectory":
        cols = {name: np.ascontiguousarray(records[:, j]) for j, name in enumerate(FIELDS)}
        return cls(w=w, meta=meta, **cols)  # type: ignore[arg-type]  # the FIELDS columns

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def status(self) -> str:
        return self.meta.get("status", "completed")

    def as_dict(self) -> Dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in FIELDS}

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
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html

@dataclass
class Ensemble:
    """R independent runs on one problem, one per seed, on a common record grid ``t``.

    Per-seed arrays ``s, u, s2, u2, loss, mse, train_loss`` have shape (R, len(t))
    (``train_loss``: the online loss for SGD, the training loss for ERM; NaN where a member
    stopped early). ``w`` (R, n) holds the final states (None with ``keep_w=False``).
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
    mse: np.ndarray
    train_loss: np.ndarray
    w: Optional[np.ndarray]
    quantiles: Tuple[float, ...] = (0.1, 0.5, 0.9)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.seeds.size)

    @property
    def abs_u(self) -> np.ndarray:
        return np.abs(self.u)

    def _field(self, name: str) -> np.ndarray:
        if name not in FIELDS[1:] + ("abs_u", "train_loss"):
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

    def trajectory(self, i: int) -> Trajectory:
        """Member i as a Trajectory (records up to where it stopped)."""
        ok = ~np.isnan(self.s[i])
        cols = {name: getattr(self, name)[i][ok] if name != "t" else self.t[ok]
                for name in FIELDS}
        meta = dict(self.meta)
        meta.update(seed=int(self.seeds[i]), train_loss=self.train_loss[i][ok])
        meta["status"] = self.meta.get("member_status", ["completed"] * len(self))[i]
        return Trajectory(w=None if self.w is None else self.w[i], meta=meta, **cols)

    to_pandas = tidy.ensemble_to_pandas
    to_xarray = tidy.ensemble_to_xarray
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html
