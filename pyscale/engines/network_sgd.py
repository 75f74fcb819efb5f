"""``method="sgd"`` on a two-layer network: online SGD on fresh samples (networks page:
Online SGD). Step k draws ``batch`` samples x_b = √λ ⊙ z_b, their p + k projections
h = Wᵀx_b, h* = W*ᵀx_b, labels y_b = Σ_l a*_l τ(h*_l) + ξ_b, and applies

    W ← W − (lr / B) Σ_b x_b g_bᵀ,   g_bj = 2 (f(x_b) − y_b) a_j σ'(h_bj);

t = step · lr. Randomness and determinism are the single-index engine's: the Gaussians of
sample m are those a single-index run with the same seed draws (Philox counters), so a run
is bit-reproducible from ``seed`` whatever ``threads``, and resumes exactly. Records hold the
population quantities; ``meta["online_loss"]`` the mean per-sample loss since the previous
record.

On a compressed network the run is the mode chain (:mod:`pyscale.engines.network_chain`):
exact in law, O(modes (p + k)³) per step whatever d, the same options and records, no final
``w`` (its frames are in ``meta["resume"]``).
"""
from __future__ import annotations

import time
from typing import Any, Optional

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from . import network_chain
from ._options import sgd_run_options
from ._run import (
    core_network,
    network_finish,
    network_start,
    network_step_meta,
    progress_hook,
    step_state,
)

__all__ = ["run", "OPTIONS", "HINT", "check_workspace"]

OPTIONS = ("lr", "steps", "record", "batch", "noise", "seed", "threads", "progress",
           "progress_every", "divergence_factor", "resume", "samples", "simd", "streams")
HINT = ("lower lr or raise batch (a single sample's gradient fluctuates far more than the "
        "population gradient)")


def check_workspace(problem: Problem, batch: int, opt: Any, members: int = 1,
                    frames: Any = None) -> None:
    """Refuse, before allocating, a network SGD (or chain) workspace that does not fit."""
    if frames is not None:
        check.memory(network_chain.workspace_bytes(frames, batch, members),
                     f"the network mode-chain workspace (batch {batch}, {frames.size} modes)",
                     None, "lower batch or raise the grouping tolerance")
        return
    needed = members * int(_core.network.sgd_workspace_bytes(
        problem.n_coords, problem.units, problem.teacher_units, batch, opt))
    check.memory(needed, f"the network SGD workspace (batch {batch}, d = {problem.n_coords})",
                 None, "lower batch or d, or use samples='regenerate'")


def run(problem: Problem, *, lr: Optional[float] = None, steps: Optional[int] = None,
        record: Any = None, batch: int = 1, noise: Optional[float] = None, seed: int = 0,
        threads: int = 0, progress: Any = None, progress_every: int = 4096,
        divergence_factor: float = 1e30, resume: Any = None, samples: str = "auto",
        simd: bool = True, streams: str = "independent") -> Any:
    """``steps`` steps of online SGD of the network; see :func:`pyscale.simulate`."""
    lr, steps, rec, batch, noise, seed, opt = sgd_run_options(
        problem, lr, steps, record, batch, noise, seed, threads, progress_every,
        divergence_factor, samples, simd, streams)
    chain = problem.is_compressed
    same = {"lr": lr, "batch": batch, "seed": seed, "noise": noise, "streams": streams}
    begun = network_start(problem, "sgd", resume, same, state="frames" if chain else "w")
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    started = time.perf_counter()
    if chain:
        frames = network_chain.frames_of(problem, begun.w if begun.previous else None)
        check_workspace(problem, batch, opt, frames=frames)
        _, kern = core_network(problem, noise)
        x = frames.frames.copy()
        out = _core.network.run_chain(network_chain.core_modes(problem, frames, noise), kern,
                                      x, lr, batch, seed, state, steps, rec, opt,
                                      progress_hook(progress))
    else:
        check_workspace(problem, batch, opt)
        prob, kern = core_network(problem, noise)
        out = _core.network.run_sgd(prob, kern, begun.w, lr, batch, seed, state, steps, rec,
                                    opt, progress_hook(progress))
    meta = network_step_meta(problem, "sgd", out, begun, lr, started, noise, batch=batch,
                             seed=seed, streams=streams,
                             engine="mode_chain" if chain else "full")
    meta["samples_drawn"] = meta["steps"] * batch
    if chain:
        meta["n_modes"] = frames.size
        meta["resume"]["frames"] = x
    return network_finish(out, None if chain else begun.w, meta, begun,
                          "online SGD of the network", HINT, per_record="online_loss")
