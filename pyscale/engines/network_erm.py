"""``method="erm"`` on a two-layer network: full-batch gradient descent on N fixed samples
(data reuse), W ← W − (lr / N) Σ_j x_j g_jᵀ with g_j as online SGD's (networks page:
Online SGD); records the population quantities and, in ``meta["train_loss"]``, the training
loss (1/N) Σ_j (f(x_j) − y_j)². The data set with seed s is exactly the first N samples
online SGD with seed s and batch 1 draws. Needs 8 N (d + 1) bytes and the physical
coordinates (data reuse does not reduce to modes).
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from ._options import noise_variance, require_physical, step_options, streams_choice
from ._run import (
    core_network,
    network_finish,
    network_start,
    network_step_meta,
    progress_hook,
    step_state,
)

__all__ = ["run", "OPTIONS", "HINT"]

OPTIONS = ("n_samples", "lr", "steps", "record", "noise", "seed", "threads", "progress",
           "progress_every", "divergence_factor", "resume", "max_memory", "streams")
HINT = "lower lr (the empirical Hessian exceeds the population one when n_samples is small)"
MAX_SAMPLES = 2 ** 62


def run(problem: Problem, *, n_samples: Optional[int] = None, lr: Optional[float] = None,
        steps: Optional[int] = None, record: Any = None, noise: Optional[float] = None,
        seed: int = 0, threads: int = 0, progress: Any = None, progress_every: int = 64,
        divergence_factor: float = 1e30, resume: Any = None,
        max_memory: Optional[int] = None, streams: str = "independent") -> Any:
    """``steps`` steps of full-batch GD of the network on ``n_samples`` fixed samples; see
    :func:`pyscale.simulate`."""
    require_physical(problem, "erm")
    if n_samples is None:
        raise ValueError("method='erm' needs n_samples=, lr= and steps=")
    n_samples = check.integer("n_samples", n_samples, 1, MAX_SAMPLES)
    lr, steps, rec, factor = step_options(lr, steps, record, divergence_factor)
    noise = noise_variance(problem, noise)
    seed = check.seed(seed)
    key = int(_core.steps.stream_seed(seed, float(problem.d), streams_choice(streams)))
    opt = _core.steps.ErmOptions()
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.divergence_factor = factor
    check.memory(int(_core.steps.erm_data_bytes(n_samples, problem.n_coords)),
                 f"the ERM data set ({n_samples} samples × d = {problem.n_coords})",
                 max_memory, "lower n_samples or d")
    begun = network_start(problem, "erm", resume, {"lr": lr, "n_samples": n_samples,
                                                   "seed": seed, "noise": noise,
                                                   "streams": streams})
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    prob, kern = core_network(problem, noise)
    X = np.empty((n_samples, problem.n_coords))
    y = np.empty(n_samples)
    _core.network.erm_make_data(prob, kern, key, X, y, opt.threads)
    started = time.perf_counter()
    out = _core.network.run_erm(prob, kern, X, y, begun.w, lr, state, steps, rec, opt,
                                progress_hook(progress))
    meta = network_step_meta(problem, "erm", out, begun, lr, started, noise,
                             n_samples=n_samples, seed=seed, streams=streams)
    return network_finish(out, begun.w, meta, begun, "ERM of the network", HINT,
                          per_record="train_loss")
