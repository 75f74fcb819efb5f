"""Online SGD on a compressed problem through its modes (model page: Mode chain).

A compressed problem stores each mode — n physical coordinates sharing one eigenvalue λ — as
at most two virtual coordinates (model page: Compression): the target as (r, 0) and the
iterate as (c1, c2), c1 along the target's direction and c2 ≥ 0 across it. The mode chain
(``csrc/include/pyscale/mode_chain.hpp``) runs online SGD on exactly these numbers, exact in
law: per step, two Gaussians per sample and mode supply the sample's components on the two
directions, and one χ²_{n−2} draw the energy the other n − 2 directions add to c2.

This module maps a compressed :class:`~pyscale.Problem` to the chain's arrays and back:
the final state is returned in the stored coordinates (c1 on a mode's first, c2 on its
second), so the project's statistics computed from ``w`` agree with the chain's records.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from ..problem import Problem

__all__ = ["Modes", "modes_of", "run_chain", "run_chain_ensemble"]


@dataclass(frozen=True)
class Modes:
    """The modes of a compressed problem, in stored order.

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
        """The stored vector of the chain state (c1, c2): the inverse of :meth:`state`."""
        w = np.zeros(self.n_coords)
        w[self.first] = c1
        has = self.second >= 0
        w[self.second[has]] = c2[has]
        return w


def modes_of(problem: Problem) -> Modes:
    """The chain's modes of a compressed problem: runs of stored coordinates with one
    eigenvalue, each a single coordinate or a pair whose second target value is 0 (the
    layout :func:`pyscale.compression.compress` and ``Problem.power_law(..., compress=δ)``
    produce). n = the run's total ``counts``.

    Raises ValueError for another layout, or for a mode of n ≥ 2 coordinates stored in one
    coordinate (w(0) parallel to w*, or w* = 0, on it): online SGD moves the iterate off
    that line, which needs the second stored coordinate.
    """
    lam = np.asarray(problem.eigenvalues, dtype=np.float64)
    w_star = np.asarray(problem.w_star, dtype=np.float64)
    n = lam.size
    first = np.flatnonzero(np.r_[True, lam[1:] != lam[:-1]])
    sizes = np.diff(np.r_[first, n])
    if np.any(sizes > 2) or np.any(w_star[first[sizes == 2] + 1] != 0.0):
        raise ValueError(
            "the mode chain needs each mode stored as one coordinate or two with the target "
            "(r, 0), as problem.compress(rtol) stores them; recompress this problem")
    total = np.add.reduceat(np.asarray(problem.counts, dtype=np.float64), first)
    count = np.rint(total)
    if np.any(count < 1) or np.any(np.abs(total - count) > 1e-9 * np.maximum(1.0, total)):
        raise ValueError("the mode chain needs whole numbers of coordinates per mode "
                         "(counts summed over a mode's stored coordinates)")
    lonely = (sizes == 1) & (count >= 2)
    if np.any(lonely):
        k = int(np.flatnonzero(lonely)[0])
        raise ValueError(
            f"the mode at λ = {lam[first[k]]:.6g} holds {int(count[k])} coordinates in one "
            f"stored coordinate (w(0) parallel to w*, or w* = 0, on it); online SGD moves the "
            f"iterate off that line, which needs a second stored coordinate: give w(0) a "
            f"component across w* on every mode")
    second = np.where(sizes == 2, first + 1, -1)
    return Modes(lam=lam[first].copy(), count=count, r=w_star[first].copy(), first=first,
                 second=second, n_coords=n)


def run_chain(problem: Problem, modes: Modes, w: np.ndarray, noise: float, lr: float,
              batch: int, seed: int, state, steps: int, rec: np.ndarray, opt, callback):
    """One chain run from the stored state w (updated in place): the core's StepRun.
    ``opt`` is the run's SgdOptions (its sample storage does not apply)."""
    c1, c2 = modes.state(w)
    out = _core.run_mode_chain(modes.lam, modes.count, modes.r, c1, c2, float(problem.d),
                               float(noise), lr, batch, seed, state, steps, rec, opt, callback)
    w[:] = modes.to_w(c1, c2)
    return out


def run_chain_ensemble(problem: Problem, modes: Modes, W: np.ndarray, seeds: np.ndarray,
                       noise: float, lr: float, batch: int, steps: int, rec: np.ndarray, opt,
                       threads: int, callback):
    """R chains from the rows of W (R × n_coords, updated in place): the core's
    EnsembleRun."""
    c1, c2 = modes.state(W[0])
    R = W.shape[0]
    C1 = np.repeat(c1[None, :], R, axis=0)
    C2 = np.repeat(c2[None, :], R, axis=0)
    out = _core.run_mode_chain_ensemble(modes.lam, modes.count, modes.r, C1, C2,
                                        float(problem.d), float(noise), seeds, lr, batch,
                                        steps, rec, opt, threads, callback)
    for i in range(R):
        W[i] = modes.to_w(C1[i], C2[i])
    return out
