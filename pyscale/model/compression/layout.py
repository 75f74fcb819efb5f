"""Reading a problem's stored coordinates back as modes (model page: Compression): the
eigenspaces (what the SGD theory needs) and the mode layout (what the mode chain needs)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Eigenspaces", "eigenspaces", "ModeLayout", "mode_layout"]


@dataclass(frozen=True)
class Eigenspaces:
    """The stored coordinates grouped by eigenvalue: eigenspace k is every stored coordinate
    with eigenvalue ``lam[k]`` (exact equality), in order of first appearance.

    Attributes
    ----------
    lam : (m,) eigenvalue of each eigenspace.
    count : (m,) its physical coordinates n (Σ ``counts`` over its stored coordinates).
    r : (m,) the target's norm on it, r = sqrt(Σ w*_i²) ≥ 0.
    n_stored : (m,) its stored coordinates.
    index : (n_coords,) the eigenspace of each stored coordinate.
    direction : (n_coords,) the unit vector ŵ = W*/r of each eigenspace on its stored
        coordinates (where r = 0: its first stored coordinate).

    Stored coordinates reproduce a mode's inner products (module docstring), so ŵ·e and
    Σ e_i² over an eigenspace's stored coordinates are the physical ones for any vector e of
    the problem's span (w*, w(0), an engine's state)."""
    lam: np.ndarray
    count: np.ndarray
    r: np.ndarray
    n_stored: np.ndarray
    index: np.ndarray
    direction: np.ndarray

    @property
    def size(self) -> int:
        return int(self.lam.size)

    def along(self, e: np.ndarray) -> np.ndarray:
        """(m,) ŵ·e per eigenspace, e a stored vector."""
        return np.bincount(self.index, weights=self.direction * e, minlength=self.size)

    def energy(self, e: np.ndarray) -> np.ndarray:
        """(m,) Σ e_i² per eigenspace, e a stored vector."""
        return np.bincount(self.index, weights=e * e, minlength=self.size)


def eigenspaces(eigenvalues: np.ndarray, w_star: np.ndarray, counts: np.ndarray
                ) -> Eigenspaces:
    """Group a problem's stored coordinates by (exactly) equal eigenvalue (model page:
    Compression): for a compressed problem the modes, for a physical one its eigenspaces
    (one coordinate each where the eigenvalues are distinct). O(n_coords log n_coords).

    Raises ValueError where an eigenspace's summed ``counts`` is not a whole number ≥ 1."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    ws = np.asarray(w_star, dtype=np.float64)
    uniq, first, inverse = np.unique(lam, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")          # first appearance, e.g. decreasing λ
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    index = rank[inverse.ravel()]
    m = order.size
    total = np.bincount(index, weights=np.asarray(counts, dtype=np.float64), minlength=m)
    count = np.rint(total)
    bad = (count < 1) | (np.abs(total - count) > 1e-9 * np.maximum(1.0, total))
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"the stored coordinates at eigenvalue {uniq[order][k]:.6g} stand for "
                         f"{total[k]:.6g} physical coordinates (summed counts): a mode needs a "
                         f"whole number >= 1")
    r = np.sqrt(np.bincount(index, weights=ws * ws, minlength=m))
    r_of = r[index]
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = np.where(r_of > 0, ws / np.where(r_of > 0, r_of, 1.0), 0.0)
    empty = np.flatnonzero(r == 0)
    direction[first[order][empty]] = 1.0
    return Eigenspaces(lam=uniq[order], count=count, r=r,
                       n_stored=np.bincount(index, minlength=m), index=index,
                       direction=direction)


@dataclass(frozen=True)
class ModeLayout:
    """Where the modes of a compressed problem are stored (the layout :func:`group` and
    :func:`draw_power_law` produce), in stored order.

    Attributes
    ----------
    lam : (m,) eigenvalue of each mode.
    count : (m,) physical coordinates n of each mode (whole numbers ≥ 1, as floats).
    r : (m,) the target's value on the mode's first stored coordinate: ||W*|| for a mode
        of two stored coordinates, the signed coordinate for a mode of one.
    first, second : (m,) stored index of each mode's coordinates (second = −1: none).
    n_coords : number of stored coordinates.
    """
    lam: np.ndarray
    count: np.ndarray
    r: np.ndarray
    first: np.ndarray
    second: np.ndarray
    n_coords: int

    @property
    def size(self) -> int:
        return int(self.lam.size)

    def state(self, w: np.ndarray):
        """(c1, c2) of the stored vector w: c1 = w[first], c2 = |w[second]| (0 if none).

        The sign of c2 is a reflection across the target's direction, under which the data
        are invariant, so dropping it changes neither the law nor s, u or the MSE."""
        w = np.asarray(w, dtype=np.float64)
        c1 = w[self.first].copy()
        has = self.second >= 0
        c2 = np.zeros(self.size)
        c2[has] = np.abs(w[self.second[has]])
        return c1, c2

    def to_w(self, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """The stored vector of the state (c1, c2): the inverse of :meth:`state`."""
        w = np.zeros(self.n_coords)
        w[self.first] = c1
        has = self.second >= 0
        w[self.second[has]] = c2[has]
        return w


def mode_layout(eigenvalues: np.ndarray, w_star: np.ndarray, counts: np.ndarray
                ) -> ModeLayout:
    """The modes (:func:`eigenspaces`) of a compressed problem as stored by compression: each
    a single coordinate or two consecutive ones whose second target value is 0. n = the
    mode's total ``counts``. Raises ValueError for another layout, or for counts that do
    not sum to whole numbers per mode."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    w_star = np.asarray(w_star, dtype=np.float64)
    spaces = eigenspaces(lam, w_star, counts)
    first = np.flatnonzero(np.r_[True, spaces.index[1:] != spaces.index[:-1]])
    sizes = np.diff(np.r_[first, lam.size])
    if (first.size != spaces.size or np.any(sizes > 2)
            or np.any(w_star[first[sizes == 2] + 1] != 0.0)):
        raise ValueError(
            "the mode chain needs each mode stored as one coordinate or two with the target "
            "(r, 0), as problem.compress(rtol) stores them; recompress this problem")
    second = np.where(sizes == 2, first + 1, -1)
    return ModeLayout(lam=spaces.lam.copy(), count=spaces.count, r=w_star[first].copy(),
                      first=first, second=second, n_coords=int(lam.size))

