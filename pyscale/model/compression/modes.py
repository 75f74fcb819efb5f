"""The one type of a compressed problem's stored coordinates (model page: Compression):
:class:`Modes`, and :func:`assemble_modes`, which stores each mode's Gram matrix of
(w(0), w*) as at most two virtual coordinates (its Cholesky factor)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

import numpy as np

__all__ = ["Modes", "assemble_modes"]


@dataclass(frozen=True)
class Modes:
    """A grouped problem's stored coordinates: ≤ 2 virtual coordinates per mode, with the
    mode's eigenvalue, and the physical coordinates each stands for (``counts``)."""
    eigenvalues: np.ndarray
    w_star: np.ndarray
    w0: np.ndarray
    counts: np.ndarray
    n_modes: int
    info: Dict[str, Any] = field(default_factory=dict)



def assemble_modes(lam_mode, count_mode, single, single_w_star, single_w0, s11, s01, resid2):
    """Stored coordinates from per-mode data, modes kept in the given (decreasing λ) order.

    A single-coordinate mode keeps its values. Otherwise the Cholesky factor of
    G = [[S00, S01], [S01, S11]]: w* → (√S11, 0), w(0) → (S01/√S11, √resid2) with
    resid2 = S00 − S01²/S11 (computed by the caller without cancellation). Rank-one modes
    (resid2 = 0, or S11 = 0 where w(0) → (√S00)) need only one coordinate.
    Counts: the mode's count, split evenly over its stored coordinates.
    """
    n_modes = lam_mode.size
    w_star_1 = np.where(single, single_w_star, np.sqrt(s11))
    with np.errstate(invalid="ignore", divide="ignore"):
        w0_1 = np.where(single, single_w0,
                        np.where(s11 > 0, s01 / np.sqrt(np.where(s11 > 0, s11, 1.0)),
                                 np.sqrt(resid2)))
    two = (~single) & (s11 > 0) & (resid2 > 0)
    width = np.where(two, 2, 1)
    offset = np.concatenate([[0], np.cumsum(width)[:-1]])
    n_stored = int(width.sum())
    eig = np.repeat(lam_mode, width)
    counts = np.repeat(count_mode / width, width)
    w_star = np.zeros(n_stored)
    w0 = np.zeros(n_stored)
    w_star[offset] = w_star_1
    w0[offset] = w0_1
    w0[offset[two] + 1] = np.sqrt(resid2[two])
    return eig, w_star, w0, counts, n_modes

