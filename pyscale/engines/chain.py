"""Online SGD on a compressed problem through its modes (model page: Mode chain).

A compressed problem stores each mode — n physical coordinates sharing one eigenvalue λ — as
at most two virtual coordinates (model page: Compression): the target as (r, 0) and the
iterate as (c1, c2), c1 along the target's direction and c2 ≥ 0 across it. The mode chain
(``csrc/include/pyscale/steps/mode_chain.hpp``) runs online SGD on exactly these numbers, exact in
law: per step, two Gaussians per sample and mode supply the sample's components on the two
directions, and one χ²_{n−2} draw the energy the other n − 2 directions add to c2.

Where each mode's two numbers are stored is model knowledge
(:func:`pyscale.model.compression.mode_layout`, shared with the SGD theory's
:func:`pyscale.model.compression.eigenspaces`); this module adds the chain's own condition (a mode
of n ≥ 2 needs its second stored coordinate) and maps a compressed
:class:`~pyscale.Problem` to the chain's arrays and back:
the final state is returned in the stored coordinates (c1 on a mode's first, c2 on its
second), so the project's statistics computed from ``w`` agree with the chain's records.
"""
from __future__ import annotations

import numpy as np

import pyscale._core as _core

from ..model.compression import ModeLayout, mode_layout
from ..model.problem import Problem
from ._run import core_pair

__all__ = ["Modes", "modes_of", "run_chain", "run_chain_ensemble", "SUMS", "check_resumable"]

#: How the chain adds its sums p_j, q_j: in 8 lanes per chunk of modes. Their rounding is
#: part of a seeded run's bits, so this is one of the options that identify a chain run
#: (``meta["run_options"]["sums"]``); runs saved before it was recorded added them in
#: another order.
SUMS = "8 lanes"

#: The chain's modes: where each mode's (c1, c2) is stored (model layer,
#: :class:`pyscale.model.compression.ModeLayout`).
Modes = ModeLayout


def modes_of(problem: Problem) -> Modes:
    """The chain's modes of a compressed problem (:func:`pyscale.model.compression.mode_layout`:
    each mode a single stored coordinate or a pair whose second target value is 0).

    Raises ValueError for another layout, or for a mode of n ≥ 2 coordinates stored in one
    coordinate (w(0) parallel to w*, or w* = 0, on it): online SGD moves the iterate off
    that line, which needs the second stored coordinate.
    """
    modes = mode_layout(problem.eigenvalues, problem.w_star, problem.counts)
    lonely = (modes.second < 0) & (modes.count >= 2)
    if np.any(lonely):
        k = int(np.flatnonzero(lonely)[0])
        raise ValueError(
            f"the mode at λ = {modes.lam[k]:.6g} holds {int(modes.count[k])} coordinates in one "
            f"stored coordinate (w(0) parallel to w*, or w* = 0, on it); online SGD moves the "
            f"iterate off that line, which needs a second stored coordinate: give w(0) a "
            f"component across w* on every mode")
    return modes


def check_resumable(resume) -> None:
    """Refuse to continue a chain run saved by a version that added its sums in another
    order: the continuation would match neither that version's run nor this one's."""
    meta = getattr(resume, "meta", None) or {}
    if meta.get("engine") == "mode_chain" and meta.get("run_options", {}).get("sums") != SUMS:
        raise ValueError("resume: this mode-chain run was saved by an earlier pyscale, which "
                         "added the sums p, q in another order, so it cannot continue bit for "
                         "bit: rerun it from the start")


def run_chain(problem: Problem, modes: Modes, w: np.ndarray, noise: float, lr: float,
              batch: int, seed: int, state, steps: int, rec: np.ndarray, opt, callback):
    """One chain run from the stored state w (updated in place): the core's StepRun.
    ``opt`` is the run's SgdOptions (its sample storage does not apply)."""
    c1, c2 = modes.state(w)
    out = _core.chain.run_mode_chain(modes.lam, modes.count, modes.r, c1, c2, float(problem.d),
                                     float(noise), core_pair(problem), lr, batch, seed, state,
                                     steps, rec, opt, callback)
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
    out = _core.chain.run_mode_chain_ensemble(modes.lam, modes.count, modes.r, C1, C2,
                                              float(problem.d), float(noise),
                                              core_pair(problem), seeds, lr, batch, steps, rec,
                                              opt, threads, callback)
    for i in range(R):
        W[i] = modes.to_w(C1[i], C2[i])
    return out
