"""The columns of a run's records, one schema for every link pair (model page: What a
trajectory records; links page: Records).

Recorded by the core, in its order (:data:`RECORDED`): ``t, s, u, s2, u2, loss, mse``.
Derived from them (:data:`DERIVED`), for every pair:

* ``excess_risk`` = loss − σ² = ℓ(s, u), the population loss above the label noise (its
  absolute accuracy is the loss's, about 1e-16 (s*² + σ²));
* ``cosine`` = u / √(s s*), the cosine of the angle between w and w* in the Q inner product.

``mse`` is the pair's recovery metric: min ‖w ∓ w*‖²/d when the student is the teacher and
is even (w and −w predict alike), ‖w − w*‖²/d when the student is the teacher and is not
even. When the student is not the teacher there is no w* to recover: such a run has **no**
mse column (the core's NaN is dropped; reading it raises AttributeError saying why), and its
tables omit it. A run's ``meta["mse_kind"]`` says which (runs without it are the square's).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

import numpy as np

import pyscale._core as _core

__all__ = ["RECORDED", "DERIVED", "MSE_KINDS", "has_mse", "recorded", "columns",
           "no_mse_message", "excess_risk", "cosine", "MseColumn", "with_mse_column"]

#: Columns every engine records, in the core's record order (declared once, in C++).
RECORDED: Tuple[str, ...] = tuple(_core.model.RECORD_FIELDS)
#: Columns derived from the recorded ones, for every pair.
DERIVED: Tuple[str, ...] = ("excess_risk", "cosine")
#: What a pair's mse column means (``LinkPair.mse_kind``).
MSE_KINDS = ("sign_invariant", "plain", "undefined")


def has_mse(meta: Optional[Mapping[str, Any]]) -> bool:
    """Whether a run (its ``meta``) has an mse column: its pair's student is its teacher."""
    return (meta or {}).get("mse_kind", "sign_invariant") != "undefined"


def recorded(meta: Optional[Mapping[str, Any]]) -> Tuple[str, ...]:
    """The recorded columns a run has: :data:`RECORDED`, without mse when it has none."""
    return RECORDED if has_mse(meta) else tuple(n for n in RECORDED if n != "mse")


def columns(meta: Optional[Mapping[str, Any]]) -> Tuple[str, ...]:
    """Every column of a run: its recorded ones, then :data:`DERIVED`."""
    return recorded(meta) + DERIVED


def no_mse_message(link: Any) -> str:
    """The one sentence of a run without a recovery metric."""
    return (f"link pair {str(link)!r} has no recovery MSE: its student is not its teacher, so "
            f"there is no w* to recover (its runs record excess_risk and cosine instead)")


def excess_risk(loss: np.ndarray, noise: float) -> np.ndarray:
    """ℓ(s, u) = L − σ², from the recorded loss and the run's label-noise variance."""
    return np.asarray(loss) - float(noise)


def cosine(s: np.ndarray, u: np.ndarray, s_star: float) -> np.ndarray:
    """u / √(s s*) (NaN where s = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(u) / np.sqrt(np.asarray(s) * float(s_star))


class MseColumn:
    """The mse column of a record container (its dataclass field ``mse``): the array, or,
    for a run whose pair has no recovery metric (stored as None), an AttributeError with
    :func:`no_mse_message` — absent, never a column of NaN. Attached by
    :func:`with_mse_column`."""

    _slot = "_mse"

    def __get__(self, obj: Any, owner: Optional[type] = None) -> np.ndarray:
        if obj is None:  # on the class: a field without a default
            raise AttributeError("mse")
        value = obj.__dict__.get(self._slot)
        if value is None:
            raise AttributeError(no_mse_message(obj.meta.get("link")))
        return value

    def __set__(self, obj: Any, value: Optional[np.ndarray]) -> None:
        obj.__dict__[self._slot] = value


def with_mse_column(cls: type) -> type:
    """Class decorator (outside ``@dataclass``): the class's ``mse`` field becomes a
    :class:`MseColumn`, so that a run without a recovery metric has no such column."""
    cls.mse = MseColumn()
    return cls
