"""``method="sgd"``: online SGD on fresh samples (model page: Time and steps). Step k draws
``batch`` samples x_b = √λ ⊙ z_b, y_b = ⟨x_b, w*⟩² + ξ_b, ξ_b ~ N(0, σ²), and applies

    w ← w − (lr / B) Σ_b 4 ((x_b·w)² − y_b)(x_b·w) x_b,

whose expectation is the population gradient, so with t = step · lr the mean path follows
population GD at the same lr. Records hold the population quantities; ``meta["online_loss"]``
the mean per-sample loss of the steps since the previous record (measured before each
update: an unbiased running estimate of the population loss; NaN at step 0).

Randomness is counter-based (Philox4x32-10 in the core): the Gaussians of sample m are a
pure function of (seed, m), so a run is bit-reproducible from ``seed`` whatever ``threads``,
and a resumed run continues exactly. Samples live in the physical coordinates: compressed
problems are refused.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from .. import _core
from .. import _validate as check
from ..problem import Problem
from ..trajectory import Trajectory
from ._run import core_problem, finish, progress_hook, start, step_meta, step_state
from .gd import step_options

__all__ = ["run", "OPTIONS", "HINT", "sgd_options", "require_physical", "noise_variance"]

OPTIONS = ("lr", "steps", "record", "batch", "noise", "seed", "threads", "progress",
           "progress_every", "divergence_factor", "resume", "samples", "simd")
HINT = ("lower lr or raise batch (a single sample's gradient fluctuates far more than the "
        "population gradient, so online SGD needs a smaller step than GD)")
SAMPLES = {"auto": _core.SampleStorage.auto, "store": _core.SampleStorage.store,
           "regenerate": _core.SampleStorage.regenerate}


def require_physical(problem: Problem, method: str) -> None:
    if problem.is_compressed:
        raise ValueError(
            f"method={method!r} draws samples x ~ N(0, Q) in the physical coordinates, but "
            f"this problem is compressed ({problem.n_coords} stored coordinates for "
            f"d={problem.d}); build it without compress= to run {method!r}")


def noise_variance(problem: Problem, noise: Any) -> float:
    """The label-noise variance of a run: ``problem.noise`` unless ``noise`` overrides it."""
    return float(problem.noise) if noise is None else check.real("noise", noise, 0.0)


def sgd_options(problem: Problem, threads: Any, progress_every: Any, divergence_factor: Any,
                samples: Any, simd: Any) -> "_core.SgdOptions":
    opt = _core.SgdOptions()
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.divergence_factor = check.real("divergence_factor", divergence_factor, 1.0,
                                       low_open=True)
    opt.sample_storage = SAMPLES[check.choice("samples", samples, SAMPLES)]
    if not isinstance(simd, bool):
        raise TypeError(f"simd must be True or False, got {simd!r}")
    opt.simd = simd
    return opt


def check_workspace(problem: Problem, batch: int, opt: "_core.SgdOptions",
                    members: int = 1) -> None:
    needed = members * int(_core.sgd_workspace_bytes(problem.n_coords, batch, opt))
    regenerate = _core.SgdOptions()
    regenerate.sample_storage = _core.SampleStorage.regenerate
    smaller = members * int(_core.sgd_workspace_bytes(problem.n_coords, batch, regenerate))
    fix = "lower batch or d" + (", or use samples='regenerate'" if smaller < needed else "")
    check.memory(needed, f"the online-SGD workspace (batch {batch}, d = {problem.n_coords}"
                 f"{f', {members} members' if members > 1 else ''})", None, fix)


def run(problem: Problem, *, lr: Optional[float] = None, steps: Optional[int] = None,
        record: Any = None, batch: int = 1, noise: Optional[float] = None, seed: int = 0,
        threads: int = 0, progress: Any = None, progress_every: int = 4096,
        divergence_factor: float = 1e30, resume: Optional[Trajectory] = None,
        samples: str = "auto", simd: bool = True) -> Trajectory:
    """``steps`` steps of online SGD; see :func:`pyscale.simulate`. ``samples``: "auto"
    (keep a step's samples for its update when they fit 256 MiB, else regenerate them),
    "store" or "regenerate" — identical results; ``simd=False`` forces the scalar Philox
    path (same numbers)."""
    require_physical(problem, "sgd")
    lr, steps, rec, _ = step_options(lr, steps, record, divergence_factor)
    batch = check.integer("batch", batch, 1, check.MAX_BATCH)
    noise = noise_variance(problem, noise)
    seed = check.seed(seed)
    opt = sgd_options(problem, threads, progress_every, divergence_factor, samples, simd)
    check_workspace(problem, batch, opt)
    begun = start(problem, "sgd", resume, {"lr": lr, "batch": batch, "seed": seed,
                                           "noise": noise})
    state = step_state(begun)
    rec = rec[rec > state.step] if begun.previous is not None else rec
    started = time.perf_counter()
    out = _core.run_sgd(core_problem(problem, noise), begun.w, lr, batch, seed, state, steps,
                        rec, opt, progress_hook(progress))
    meta = step_meta(problem, "sgd", out, begun, lr, started, batch=batch, seed=seed,
                     noise=noise)
    meta["samples_drawn"] = meta["steps"] * batch
    return finish(out, begun.w, meta, begun, "online SGD", HINT, per_record="online_loss")

