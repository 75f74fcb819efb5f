"""Online SGD of a compressed two-layer network through its modes (networks page: The mode
chain for p > 1), exact in law.

A compressed network stores each mode — n coordinates sharing one eigenvalue — as at most
p + k rows of [W* W] (:mod:`pyscale.model.compression.network`). The chain
(``csrc/include/pyscale/steps/network_chain.hpp``) runs on the coordinates of each mode's
block in an orthonormal frame of its span (:func:`pyscale.model.compression.network_frames`):
per step the samples' components in the frame (p + k Gaussians per mode and sample) move the
student columns, and a Bartlett (Wishart) draw gives the complement's share, after which a QR
refolds the mode into p + k frame rows. The frames rotate from step to step, so the chain's
state is not the problem's stored W: a chain run returns ``w = None`` and keeps its frames
in ``meta["resume"]``; its records (S, U, the loss) have the full engine's law.
"""
from __future__ import annotations

import numpy as np

import pyscale._core as _core

from ..model.compression import NetworkFrames, network_frames
from ..model.problem import Problem

__all__ = ["frames_of", "core_modes", "workspace_bytes"]


def frames_of(problem: Problem, state=None) -> NetworkFrames:
    """The chain's modes of a network problem; ``state`` (frames from an interrupted run's
    resume meta) replaces the initial frames."""
    fr = network_frames(problem.eigenvalues, problem.w_star, problem.w0, problem.counts)
    if state is not None:
        frames = np.array(state, dtype=np.float64)
        if frames.shape != fr.frames.shape:
            raise ValueError(f"resume: the chain state has shape {frames.shape}, the problem's "
                             f"modes {fr.frames.shape}")
        fr = NetworkFrames(fr.lam, fr.count, frames)
    return fr


def core_modes(problem: Problem, frames: NetworkFrames, noise: float
               ) -> "_core.network.NetworkModes":
    """The core's view of the modes (eigenvalues, counts, the frames' S*)."""
    return _core.network.NetworkModes(frames.lam, frames.count, frames.frames, problem.units,
                                      float(problem.d), float(noise))


def workspace_bytes(frames: NetworkFrames, batch: int, members: int = 1) -> int:
    """Bytes the chain holds per run: the frames, the samples' components (batch p + k per
    mode) and the Gamma shapes."""
    dim = frames.frames.shape[1]
    return members * 8 * frames.size * (dim * dim + batch * dim + 2 * dim)
