"""What the engines return for a two-layer network (networks page: The model): a
:class:`NetworkTrajectory` (one run) and a :class:`NetworkEnsemble` (runs over seeds).

Records are the overlaps S = WᵀQW (p × p) and U = WᵀQW* (p × k) and the population loss;
everything else is derived from them and the problem's S* = W*ᵀQW* and readouts (kept in
``meta``): the excess risk L − σ², the per-unit cosines U_jl / √(S_jj S*_ll), the student
cosines S_jl / √(S_jj S_ll) (the symmetric plateau: all near 1), and the component
eigenvalues of D_a^½ S D_a^½ — for the quadratic network (σ = τ = z²), where f depends on W
only through W D_a Wᵀ, these are what is learned (units are not identifiable), to be held
against ``teacher_components``, the eigenvalues of D_a*^½ S* D_a*^½. Arrays only."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

import pyscale._repr as _repr

from . import tidy

__all__ = ["NetworkTrajectory", "NetworkEnsemble", "network_columns"]


def network_columns(records: np.ndarray, p: int, k: int) -> Dict[str, np.ndarray]:
    """The core's network record rows (…, 2 + p² + pk: t, loss, S, U) as arrays
    t, loss (…), S (…, p, p), U (…, p, k)."""
    lead = records.shape[:-1]
    return {"t": np.ascontiguousarray(records[..., 0]),
            "loss": np.ascontiguousarray(records[..., 1]),
            "S": np.ascontiguousarray(records[..., 2:2 + p * p]).reshape(lead + (p, p)),
            "U": np.ascontiguousarray(records[..., 2 + p * p:]).reshape(lead + (p, k))}


class _Derived:
    """The quantities every network result derives from S, U, S* and the readouts."""
    S: np.ndarray
    U: np.ndarray
    loss: np.ndarray
    meta: Dict[str, Any]

    @property
    def p(self) -> int:
        return int(self.S.shape[-1])

    @property
    def k(self) -> int:
        return int(self.U.shape[-1])

    @property
    def s_star(self) -> np.ndarray:
        """S* = W*ᵀQW* (k × k)."""
        return np.asarray(self.meta["S_star"], dtype=np.float64)

    @property
    def excess_risk(self) -> np.ndarray:
        """L − σ²: the loss above the label noise."""
        return self.loss - float(self.meta.get("noise", 0.0))

    @property
    def cos(self) -> np.ndarray:
        """Per-unit cosines U_jl / √(S_jj S*_ll) (…, p, k)."""
        sjj = np.diagonal(self.S, axis1=-2, axis2=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.U / np.sqrt(sjj[..., :, None] * np.diag(self.s_star))

    @property
    def student_cos(self) -> np.ndarray:
        """Student–student cosines S_jl / √(S_jj S_ll) (…, p, p)."""
        sjj = np.diagonal(self.S, axis1=-2, axis2=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.S / np.sqrt(sjj[..., :, None] * sjj[..., None, :])

    @property
    def components(self) -> np.ndarray:
        """Eigenvalues of D_a^½ S D_a^½ (…, p), decreasing: for the quadratic network the
        learned components of W D_a Wᵀ (networks page: The quadratic network)."""
        half = np.sqrt(np.abs(np.asarray(self.meta["readout"], dtype=np.float64)))
        m = half[:, None] * self.S * half[None, :]
        return np.linalg.eigvalsh(m)[..., ::-1]

    @property
    def teacher_components(self) -> np.ndarray:
        """Eigenvalues of D_a*^½ S* D_a*^½ (k), decreasing: the quadratic network's targets."""
        half = np.sqrt(np.abs(np.asarray(self.meta["teacher_readout"], dtype=np.float64)))
        return np.linalg.eigvalsh(half[:, None] * self.s_star * half[None, :])[::-1]


@dataclass
class NetworkTrajectory(_Derived):
    """Recorded dynamics of a two-layer network: ``t``, ``loss`` (T,), ``S`` (T, p, p),
    ``U`` (T, p, k); ``w`` the state (n, p) at ``t[-1]`` (None for the mode chain, whose
    frames rotate); ``meta`` the engine's parameters and counters and the problem's
    ``S_star``, ``readout``, ``teacher_readout``, ``noise``. Derived: ``excess_risk``,
    ``cos``, ``student_cos``, ``components``, ``teacher_components``. ``single_index``: for
    one unit on each side with unit readouts, the single-index engine's
    :class:`~pyscale.Trajectory` that this record is, bit for bit (networks page: What is
    exact); None otherwise."""
    t: np.ndarray
    loss: np.ndarray
    S: np.ndarray
    U: np.ndarray
    w: Optional[np.ndarray]
    meta: Dict[str, Any] = field(default_factory=dict)
    single_index: Optional[Any] = field(default=None, repr=False, compare=False)

    @classmethod
    def from_records(cls, records: np.ndarray, w, meta, p: int, k: int) -> "NetworkTrajectory":
        return cls(w=w, meta=meta, **network_columns(records, p, k))

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def status(self) -> str:
        return self.meta.get("status", "completed")

    to_pandas = tidy.network_trajectory_to_pandas
    to_xarray = tidy.network_to_xarray
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html


@dataclass
class NetworkEnsemble(_Derived):
    """R independent runs of a network on a common record grid ``t``: ``loss``,
    ``train_loss`` (R, T) (the online loss for SGD), ``S`` (R, T, p, p), ``U`` (R, T, p, k),
    NaN where a member stopped; ``w`` (R, n, p) the final states (None with
    ``keep_w=False`` or for the mode chain). Statistics over seeds: :meth:`mean`,
    :meth:`band` of any derived array (``"loss"``, ``"excess_risk"``, ``"abs_cos"``, ...)."""
    seeds: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    S: np.ndarray
    U: np.ndarray
    train_loss: np.ndarray
    w: Optional[np.ndarray]
    quantiles: Tuple[float, ...] = (0.1, 0.5, 0.9)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.seeds.size)

    def _field(self, name: str) -> np.ndarray:
        if name == "abs_cos":
            return np.abs(self.cos)
        if name not in ("loss", "excess_risk", "train_loss", "S", "U", "cos", "student_cos",
                        "components"):
            raise ValueError(f"unknown field {name!r}")
        return np.asarray(getattr(self, name))

    def mean(self, name: str) -> np.ndarray:
        """Mean over seeds, per record (and unit)."""
        with np.errstate(all="ignore"):
            return np.nanmean(self._field(name), axis=0)

    def band(self, name: str, q: Optional[Sequence[float]] = None) -> np.ndarray:
        """Quantiles over seeds, shape (len(q), len(t), ...); q defaults to ``quantiles``."""
        q = self.quantiles if q is None else tuple(q)
        with np.errstate(all="ignore"):
            return np.nanquantile(self._field(name), q, axis=0)

    def trajectory(self, i: int) -> NetworkTrajectory:
        """Member i as a NetworkTrajectory (records up to where it stopped)."""
        ok = ~np.isnan(self.loss[i])
        meta = dict(self.meta)
        meta.update(seed=int(self.seeds[i]), train_loss=self.train_loss[i][ok])
        meta["status"] = self.meta.get("member_status", ["completed"] * len(self))[i]
        return NetworkTrajectory(t=self.t[ok], loss=self.loss[i][ok], S=self.S[i][ok],
                                 U=self.U[i][ok], w=None if self.w is None else self.w[i],
                                 meta=meta)

    to_pandas = tidy.network_ensemble_to_pandas
    to_xarray = tidy.network_to_xarray
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html
