"""What the engines share (one module, so that engines never import each other's helpers):
the network flow's validated options, validated step options,
label noise, sample storage and streams, the physical-coordinates requirement of data
reuse, and the SGD workspace check."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from ..model.compression import ModeLayout
from ..model.problem import Problem

__all__ = ["step_options", "sgd_options", "sgd_run_options", "check_workspace", "noise_variance",
           "require_physical", "streams_choice", "flow_options", "SAMPLES", "STREAMS",
           "SCHEMES", "NETWORK_SCHEMES", "RECORD_MODES"]


def step_options(lr: Any, steps: Any, record: Any, divergence_factor: Any):
    """(lr, steps, record step indices, divergence factor), validated; shared by gd/sgd/erm."""
    if lr is None or steps is None:
        raise ValueError("lr= and steps= are required")
    lr = check.step_size(lr)
    steps = check.step_count(steps)
    factor = check.real("divergence_factor", divergence_factor, 1.0, low_open=True)
    return lr, steps, check.record_steps(steps, record), factor



#: The flow's schemes by name, as the binding's FlowOptions takes them (the single-index
#: flow takes all; the network flow the Rosenbrock pair, NETWORK_SCHEMES).
SCHEMES = {"auto": _core.flow.FlowScheme.auto, "rodas4": _core.flow.FlowScheme.rodas4,
           "ros4": _core.flow.FlowScheme.ros4, "exponential": _core.flow.FlowScheme.exponential}
NETWORK_SCHEMES = ("rodas4", "ros4")
RECORD_MODES = {"interpolate": _core.flow.FlowRecordMode.interpolate,
                "step": _core.flow.FlowRecordMode.step}


def flow_options(rtol: Any, atol: Any, h0: Any, hmax: Any, max_steps: Any, threads: Any,
                 progress_every: Any, scheme: Any, record_mode: Any
                 ) -> "_core.flow.FlowOptions":
    """The network flow's options, validated with the single-index flow's checks."""
    opt = _core.flow.FlowOptions()
    opt.scheme = SCHEMES[check.choice("scheme", scheme, NETWORK_SCHEMES)]
    opt.rtol = check.rtol(rtol)
    opt.atol = -1.0 if atol is None else check.positive("atol", atol)
    opt.h0 = 0.0 if h0 is None else check.positive("h0", h0)
    opt.hmax = np.inf if hmax is None or hmax == np.inf else check.positive("hmax", hmax)
    opt.max_steps = check.max_steps(max_steps)
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.record_mode = RECORD_MODES[check.choice("record_mode", record_mode, RECORD_MODES)]
    return opt


SAMPLES = {"auto": _core.steps.SampleStorage.auto, "store": _core.steps.SampleStorage.store,
           "regenerate": _core.steps.SampleStorage.regenerate}
STREAMS = {"independent": _core.steps.Streams.independent, "common": _core.steps.Streams.common}


def require_physical(problem: Problem, method: str) -> None:
    """Finite-sample GD needs the physical coordinates (online SGD runs on modes)."""
    if problem.is_compressed:
        raise ValueError(
            f"method={method!r} reuses a fixed set of samples, and data reuse does not reduce "
            f"to modes (a sample's components across a mode stay correlated from step to "
            f"step), so it needs the physical coordinates; this problem is compressed "
            f"({problem.n_coords} stored coordinates for d={problem.d}): build it without "
            f"compress= (online SGD, method='sgd', does run on compressed problems)")


def streams_choice(streams: Any) -> "_core.steps.Streams":
    """streams="independent" (d mixed into the generator's key) or "common" (the seed)."""
    return STREAMS[check.choice("streams", streams, STREAMS)]


def noise_variance(problem: Problem, noise: Any) -> float:
    """The label-noise variance of a run: ``problem.noise`` unless ``noise`` overrides it."""
    return float(problem.noise) if noise is None else check.noise(noise)


def sgd_options(problem: Problem, threads: Any, progress_every: Any, divergence_factor: Any,
                samples: Any, simd: Any, streams: Any = "independent") -> "_core.steps.SgdOptions":
    opt = _core.steps.SgdOptions()
    opt.threads = check.threads(threads)
    opt.progress_every = check.integer("progress_every", progress_every, 1, check.MAX_STEPS)
    opt.divergence_factor = check.real("divergence_factor", divergence_factor, 1.0,
                                       low_open=True)
    opt.sample_storage = SAMPLES[check.choice("samples", samples, SAMPLES)]
    if not isinstance(simd, bool):
        raise TypeError(f"simd must be True or False, got {simd!r}")
    opt.simd = simd
    opt.streams = streams_choice(streams)
    return opt


def sgd_run_options(problem: Problem, lr: Any, steps: Any, record: Any, batch: Any,
                    noise: Any, seed: Any, threads: Any, progress_every: Any,
                    divergence_factor: Any, samples: Any, simd: Any, streams: Any) -> tuple:
    """An online-SGD run's checked options (single-index or network): (lr, steps, the
    record steps, batch, the label-noise variance, seed, the core's SgdOptions)."""
    lr, steps, rec, _ = step_options(lr, steps, record, divergence_factor)
    batch = check.batch(batch)
    noise = noise_variance(problem, noise)
    seed = check.seed(seed)
    opt = sgd_options(problem, threads, progress_every, divergence_factor, samples, simd,
                      streams)
    return lr, steps, rec, batch, noise, seed, opt


def check_workspace(problem: Problem, batch: int, opt: "_core.steps.SgdOptions",
                    members: int = 1, modes: Optional[ModeLayout] = None) -> None:
    if modes is not None:  # the mode chain: O(modes) memory, nothing to regenerate
        needed = members * int(_core.chain.chain_workspace_bytes(modes.size, batch))
        check.memory(needed, f"the mode-chain workspace (batch {batch}, {modes.size} modes"
                     f"{f', {members} members' if members > 1 else ''})", None,
                     "lower batch or raise the grouping tolerance")
        return
    needed = members * int(_core.steps.sgd_workspace_bytes(problem.n_coords, batch, opt))
    regenerate = _core.steps.SgdOptions()
    regenerate.sample_storage = _core.steps.SampleStorage.regenerate
    smaller = members * int(_core.steps.sgd_workspace_bytes(problem.n_coords, batch, regenerate))
    fix = "lower batch or d" + (", or use samples='regenerate'" if smaller < needed else "")
    check.memory(needed, f"the online-SGD workspace (batch {batch}, d = {problem.n_coords}"
                 f"{f', {members} members' if members > 1 else ''})", None, fix)
