"""``method="erm"``: full-batch gradient descent on a fixed data set of N samples (data
reuse; model page: Time and steps):

    w ← w − lr (2/N) Σ_j (σ(x_j·w) − y_j) σ'(x_j·w) x_j,    y_j = τ(x_j·w*) + ξ_j

(σ, τ the problem's link pair; the square: (4/N) Σ_j ((x_j·w)² − y_j)(x_j·w) x_j), recording
the population quantities and, in ``meta["train_loss"]``, the training loss
(1/N) Σ_j (σ(x_j·w) − y_j)² at the recorded steps; t = step · lr. The data set with seed s
is exactly the first N samples online SGD with seed s and batch 1 draws. It needs
8 · N · (d + 1) bytes: a run that would not fit is refused, with the figure, before
anything is allocated.
"""
from __future__ import annotations

import time
from typing import Any, Optional, Tuple, Union

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from ..model.problem import Problem
from ..results.trajectory import Trajectory
from ._options import noise_variance, require_physical, step_options, streams_choice
from ._run import core_pair, core_problem, finish, progress_hook, start, step_meta, step_state

__all__ = ["run", "OPTIONS", "HINT", "erm_dataset", "erm_memory_bytes"]

OPTIONS = ("n_samples", "lr", "steps", "record", "noise", "seed", "threads", "progress",
           "progress_every", "divergence_factor", "resume", "max_memory", "streams")
HINT = ("lower lr (the empirical Hessian's top eigenvalue exceeds the population one when "
        "n_samples is small)")
MAX_SAMPLES = check.MAX_SAMPLES  # the memory check refuses what will not fit


def erm_memory_bytes(problem_or_n: Union[Problem, int], n_samples: int) -> int:
    """Bytes method='erm' needs for n_samples samples: the data set X (n_samples × d
    doubles) and y, plus the engine's workspace (2 n_samples + d doubles) and the state."""
    n = problem_or_n.n_coords if isinstance(problem_or_n, Problem) else int(problem_or_n)
    n_samples = int(n_samples)
    return int(_core.steps.erm_data_bytes(n_samples, n)) + 8 * (2 * n_samples + 2 * n)


def erm_dataset(problem: Problem, n_samples: int, seed: int = 0,
                noise: Optional[float] = None, threads: int = 0,
                max_memory: Optional[int] = None,
                streams: str = "independent") -> Tuple[np.ndarray, np.ndarray]:
    """The data set of method='erm': X (n_samples × d, rows x_j = √λ ⊙ z_j) and
    y_j = ⟨x_j, w*⟩² + ξ_j — the first n_samples samples of online SGD with this seed,
    these ``streams`` and batch 1. Needs 8 · n_samples · (d + 1) bytes; refuses
    (MemoryError) what will not fit."""
    require_physical(problem, "erm")
    n_samples = check.sample_count(n_samples)
    noise = noise_variance(problem, noise)
    seed = int(_core.steps.stream_seed(check.seed(seed), float(problem.d),
                                 streams_choice(streams)))
    threads = check.threads(threads)
    check.memory(int(_core.steps.erm_data_bytes(n_samples, problem.n_coords)),
                 f"the ERM data set ({n_samples} samples × d = {problem.n_coords})",
                 max_memory, "lower n_samples or d")
    X = np.empty((n_samples, problem.n_coords))
    y = np.empty(n_samples)
    _core.steps.erm_make_data(core_problem(problem, noise), core_pair(problem), seed, X, y,
                              threads)
    return X, y


def run(problem: Problem, *, n_samples: Optional[int] = None, lr: Optional[float] = None,
        steps: Optional[int] = None, record: Any = None, noise: Optional[float] = None,
        seed: int = 0, threads: int = 0, progress: Any = None, progress_every: int = 64,
        divergence_factor: float = 1e30, resume: Optional[Trajectory] = None,
        max_memory: Optional[int] = None, streams: str = "independent") -> Trajectory:
    """``steps`` steps of full-batch GD on ``n_samples`` fixed samples; see
    :func:`pyscale.simulate`. ``streams`` as for online SGD (the data set is the first
    ``n_samples`` samples online SGD draws with the same seed and streams)."""
    require_physical(problem, "erm")
    streams_choice(streams)
    if n_samples is None:
        raise ValueError("method='erm' needs n_samples=, lr= and steps=")
    n_samples = check.sample_count(n_samples)
    lr, steps, rec, factor = step_options(lr, steps, record, divergence_factor)
    noise = noise_variance(problem, noise)
    seed = check.seed(seed)
    opt = _core.steps.ErmOptions()
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.divergence_factor = factor
    begun = start(problem, "erm", resume, {"lr": lr, "n_samples": n_samples, "seed": seed,
                                           "noise": noise, "streams": streams},
                  t_end=steps * lr)
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    needed = erm_memory_bytes(problem, n_samples)
    check.memory(needed, f"method='erm' with n_samples={n_samples} at d={problem.n_coords}",
                 max_memory, "lower n_samples or d")
    started = time.perf_counter()
    X, y = erm_dataset(problem, n_samples, seed, noise, opt.threads, max_memory=needed,
                       streams=streams)
    out = _core.steps.run_erm(core_problem(problem, noise), core_pair(problem), X, y, begun.w,
                              lr, state, steps, rec, opt, progress_hook(progress))
    del X, y
    meta = step_meta(problem, "erm", out, begun, lr, started, n_samples=n_samples, seed=seed,
                     noise=noise, streams=streams)
    meta["memory_bytes"] = needed
    return finish(out, begun.w, meta, begun, "finite-sample GD", HINT, per_record="train_loss")
