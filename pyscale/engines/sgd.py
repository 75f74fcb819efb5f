"""``method="sgd"``: online SGD on fresh samples (model page: Time and steps). Step k draws
``batch`` samples x_b = √λ ⊙ z_b, y_b = τ(⟨x_b, w*⟩) + ξ_b, ξ_b ~ N(0, σ²), and applies

    w ← w − (lr / B) Σ_b 2 (σ(x_b·w) − y_b) σ'(x_b·w) x_b

(σ, τ the problem's link pair; the square: 4 ((x_b·w)² − y_b)(x_b·w)),

whose expectation is the population gradient, so with t = step · lr the mean path follows
population GD at the same lr. Records hold the population quantities; ``meta["online_loss"]``
the mean per-sample loss of the steps since the previous record (measured before each
update: an unbiased running estimate of the population loss; NaN at step 0).

Randomness is counter-based (Philox4x32-10 in the core): the Gaussians of sample m are a
pure function of (seed, m), so a run is bit-reproducible from ``seed`` whatever ``threads``,
and a resumed run continues exactly. ``streams="independent"`` (the default) mixes the true
dimension d into the generator's key, so one seed at two dimensions gives unrelated runs;
``streams="common"`` keys by the seed alone (common random numbers across d, and the
streams of earlier releases bit for bit).

On a compressed problem the run is the mode chain (:mod:`pyscale.engines.chain`; model
page: Mode chain): exact in law, O(modes) per step whatever d, the same options and records;
the final ``w`` is the chain state in the problem's stored coordinates.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import pyscale._core as _core

from ..model.problem import Problem
from ..results.trajectory import Trajectory
from . import chain
from ._options import check_workspace, sgd_run_options
from ._run import core_pair, core_problem, finish, progress_hook, start, step_meta, step_state

__all__ = ["run", "OPTIONS", "HINT"]

OPTIONS = ("lr", "steps", "record", "batch", "noise", "seed", "threads", "progress",
           "progress_every", "divergence_factor", "resume", "samples", "simd", "streams")
HINT = ("lower lr or raise batch (a single sample's gradient fluctuates far more than the "
        "population gradient, so online SGD needs a smaller step than GD)")
def run(problem: Problem, *, lr: Optional[float] = None, steps: Optional[int] = None,
        record: Any = None, batch: int = 1, noise: Optional[float] = None, seed: int = 0,
        threads: int = 0, progress: Any = None, progress_every: int = 4096,
        divergence_factor: float = 1e30, resume: Optional[Trajectory] = None,
        samples: str = "auto", simd: bool = True,
        streams: str = "independent") -> Trajectory:
    """``steps`` steps of online SGD; see :func:`pyscale.simulate`. ``samples``: "auto"
    (keep a step's samples for its update when they fit 256 MiB, else regenerate them),
    "store" or "regenerate" — identical results (not used by the mode chain);
    ``simd=False`` forces the scalar Philox path (same numbers); ``streams``: see the
    module docstring."""
    lr, steps, rec, batch, noise, seed, opt = sgd_run_options(
        problem, lr, steps, record, batch, noise, seed, threads, progress_every,
        divergence_factor, samples, simd, streams)
    modes = chain.modes_of(problem) if problem.is_compressed else None
    check_workspace(problem, batch, opt, modes=modes)
    same = {"lr": lr, "batch": batch, "seed": seed, "noise": noise, "streams": streams}
    if modes is not None:  # the chain's sum order is part of its bits
        chain.check_resumable(resume)
        same["sums"] = chain.SUMS
    begun = start(problem, "sgd", resume, same, t_end=steps * lr)
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    started = time.perf_counter()
    if modes is not None:
        out = chain.run_chain(problem, modes, begun.w, noise, lr, batch, seed, state, steps,
                              rec, opt, progress_hook(progress))
    else:
        out = _core.steps.run_sgd(core_problem(problem, noise), core_pair(problem), begun.w, lr,
                                  batch, seed, state, steps, rec, opt, progress_hook(progress))
    meta = step_meta(problem, "sgd", out, begun, lr, started, batch=batch, seed=seed,
                     noise=noise, streams=streams,
                     engine="full" if modes is None else "mode_chain")
    if modes is not None:
        meta["n_modes"] = modes.size
    meta["samples_drawn"] = meta["steps"] * batch
    return finish(out, begun.w, meta, begun, "online SGD", HINT, per_record="online_loss")

