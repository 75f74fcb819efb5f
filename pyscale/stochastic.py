"""Stochastic engines: online SGD (``method="sgd"``), finite-sample gradient descent
(``method="erm"``) and ensembles over seeds (:func:`simulate_many`).

The data model is SPEC §1: ``x ~ N(0, Q)`` drawn as ``sqrt(λ) ⊙ z``, ``y = <x, w*>² + ξ``,
``ξ ~ N(0, σ²)``; the per-sample loss is ``((x·w)² − y)²``. Its expected gradient is the
population gradient of SPEC §2, so with ``t = step · lr`` the mean SGD trajectory follows
population GD at the same ``lr`` (SPEC §5, "Online SGD / finite-sample GD").

Label noise: ``noise=None`` (the default) uses ``problem.noise``; a number overrides it for
this run. The variance used is ``meta["noise"]`` and is the constant in the recorded
population loss ``loss = 3s² + 3s*² − 4u² − 2s*s + σ²`` (SPEC §1).

Randomness is counter-based (Philox4x32-10, ``csrc/include/pyscale/philox.hpp``): the
Gaussians of sample ``m`` are a pure function of ``(seed, m)``. Runs are therefore
bit-reproducible from ``seed`` whatever ``threads``, a resumed run continues exactly, and the
ERM data set with seed ``s`` is the first ``n_samples`` samples online SGD with seed ``s`` and
``batch=1`` sees. ``streams="independent"`` (the default) mixes the true dimension d into the
generator's key, so one seed at two dimensions gives unrelated runs; ``streams="common"``
keys by the seed alone (common random numbers across d, and the streams of earlier
releases bit for bit).

On a compressed problem ``method="sgd"`` runs the mode chain (:mod:`pyscale.mode_chain`;
model page: Mode chain): exact in law, O(modes) per step whatever d. Finite-sample GD
reuses its samples, which does not reduce to modes: it needs the physical coordinates.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from . import mode_chain as _chain
from .errors import DivergenceError, Interrupted
from .problem import Problem
from .simulate import (_base_meta, _callback, _concat, _finish, _int_at_least,
                       _positive_lr, _record_steps, _resume_state)
from .trajectory import FIELDS, Trajectory

__all__ = ["simulate_many", "Ensemble", "erm_dataset", "erm_memory_bytes"]

_SAMPLES = {"auto": -1, "store": 1, "regenerate": 0}
_STREAMS = ("independent", "common")


# ---------------------------------------------------------------------------- validation
def _require_problem(problem: Problem) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")


def _require_physical(problem: Problem, method: str) -> None:
    _require_problem(problem)
    if problem.is_compressed:
        raise ValueError(
            f"method={method!r} reuses a fixed set of samples, and data reuse does not reduce "
            f"to modes (a sample's components across a mode stay correlated from step to "
            f"step), so it needs the physical coordinates; this problem is compressed "
            f"({problem.n_coords} stored coordinates for d={problem.d}): build it without "
            f"compress= (online SGD, method='sgd', does run on compressed problems)")


def _common_streams(streams) -> bool:
    """streams="independent" (d mixed into the key) -> False, "common" -> True."""
    if streams not in _STREAMS:
        raise ValueError(f"streams must be one of {_STREAMS}, got {streams!r}")
    return streams == "common"


def _noise(problem: Problem, noise) -> float:
    if noise is None:
        return float(problem.noise)
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise is the label-noise variance and must be finite and >= 0, "
                         f"got {noise}")
    return noise


def _seed(seed) -> int:
    if isinstance(seed, bool):
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    try:
        s = int(seed)
        ok = s == seed
    except (TypeError, ValueError):
        ok = False
    if not ok or not (0 <= s < 2 ** 64):
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    return s


def _samples_mode(samples: str) -> int:
    try:
        return _SAMPLES[samples]
    except (KeyError, TypeError):
        raise ValueError(f"samples must be one of {sorted(_SAMPLES)}, got {samples!r}") from None


def _sgd_options(problem: Problem, lr, steps, batch, noise, progress_every, samples, record):
    """The validated options shared by a single SGD run and an SGD ensemble."""
    _require_problem(problem)
    if steps is None:
        raise ValueError("method='sgd' needs lr= and steps=")
    lr = _positive_lr(lr)
    steps = _int_at_least("steps", steps, 0)
    return (lr, steps, _int_at_least("batch", batch, 1), _noise(problem, noise),
            _int_at_least("progress_every", progress_every, 1), _samples_mode(samples),
            _record_steps(steps, record))


def _check_resume(prev: Trajectory, **values) -> None:
    """A resumed run must repeat the interrupted run's options (trajectories from before
    the streams option used the common streams)."""
    for key, val in values.items():
        old = prev.meta.get(key, "common" if key == "streams" else None)
        if old != val:
            raise ValueError(f"resume with the same {key} as the interrupted run "
                             f"({old!r}, got {val!r})")


def _diverged(out: dict, records: np.ndarray, w, meta: dict, what: str, hint: str):
    traj = Trajectory.from_records(records[: out["records_written"]], w, meta)
    step = int(meta["diverged_at_step"])
    raise DivergenceError(
        f"{what} diverged at step {step} (t = {step * meta['lr']:.6g}): the iterate became "
        f"non-finite or exploded; {hint}. The trajectory up to step "
        f"{meta['last_good_step']} is in err.trajectory.", step, traj)


def _attach(traj: Trajectory, prev: Optional[Trajectory], key: str, values: np.ndarray):
    values = np.asarray(values[: len(traj) - (len(prev) if prev is not None else 0)])
    if prev is not None and key in prev.meta:
        values = np.concatenate([prev.meta[key], values])
    traj.meta[key] = values
    return traj


# ---------------------------------------------------------------------------- online SGD
def run_sgd(problem: Problem, *, lr: float = None, steps: int = None,
            record: Union[None, int, Sequence[int]] = None, batch: int = 1,
            noise: Optional[float] = None, seed: int = 0, threads: int = 0,
            progress=None, progress_every: int = 4096, divergence_factor: float = 1e30,
            resume: Optional[Trajectory] = None, samples: str = "auto",
            simd: bool = True, streams: str = "independent") -> Trajectory:
    """Online SGD on fresh samples (``simulate(problem, method="sgd", ...)``).

    Step k draws ``batch`` fresh samples and applies
    ``w ← w − (lr/B) Σ_b 4((x_b·w)² − y_b)(x_b·w) x_b``; records hold the population
    quantities (s, u, s2, u2, loss, mse; SPEC §1) at the recorded steps, ``t = step · lr``.
    ``meta["online_loss"]`` holds, per record, the mean per-sample loss of the steps since the
    previous record (measured before each update: an unbiased running estimate of the
    population loss; NaN at step 0).

    ``samples``: ``"auto"`` (keep a step's samples for the update, fused into the next
    step's sweep, when they fit 256 MiB, else regenerate them from the counter), ``"store"``
    or ``"regenerate"``; all three give identical results. ``simd=False`` forces the scalar Philox path (same
    numbers). ``streams``: ``"independent"`` (d mixed into the key) or ``"common"`` (the seed
    alone; see the module docstring). Raises DivergenceError with the step, Interrupted on
    Ctrl-C / progress False.

    A compressed problem runs on the mode chain (:mod:`pyscale.mode_chain`; ``samples`` does
    not apply there): the same options and records, exact in law, O(modes) per step; the
    final ``w`` is the chain state in the problem's stored coordinates.
    """
    lr, steps, batch, noise, progress_every, mode, rec = _sgd_options(
        problem, lr, steps, batch, noise, progress_every, samples, record)
    seed = _seed(seed)
    common = _common_streams(streams)
    modes = _chain.modes_of(problem) if problem.is_compressed else None
    w, prev = _resume_state(problem, resume, "sgd")
    step0 = 0
    if prev is not None:
        _check_resume(prev, lr=lr, batch=batch, seed=seed, noise=noise, streams=streams)
        step0 = int(prev.meta["last_step"])
        rec = rec[rec > step0]
    window = (0.0, 0) if prev is None else tuple(prev.meta.get("online_loss_window", (0.0, 0)))
    start = time.perf_counter()
    if modes is not None:
        out = _chain.run_chain(problem, modes, w, noise=noise, lr=lr, batch=batch, seed=seed,
                               step0=step0, steps=steps, rec=rec, threads=threads,
                               progress_every=progress_every,
                               divergence_factor=divergence_factor, simd=simd, common=common,
                               callback=_callback(progress), window=window)
    else:
        out = _core.sgd_run(problem.eigenvalues, problem.w_star, w, float(problem.d), noise,
                            lr, batch, seed, step0, steps, rec, int(threads), progress_every,
                            float(divergence_factor), mode, bool(simd), _callback(progress),
                            float(window[0]), int(window[1]), common)
    meta = _base_meta(problem, "sgd")
    meta.update(engine="mode_chain" if modes is not None else "full", streams=streams)
    if modes is not None:
        meta["n_modes"] = modes.size
    meta.update(lr=lr, batch=batch, seed=seed, noise=noise, steps=out["last_step"] - step0,
                last_step=out["last_step"], status=out["status"],
                diverged_at_step=out["diverged_at_step"],
                last_good_step=out["last_step"] - (1 if out["status"] == "diverged" else 0),
                t_reached=out["last_step"] * lr, threads=out["threads"],
                samples_drawn=(out["last_step"] - step0) * batch,
                online_loss_window=tuple(out["window"]),
                wall_time=time.perf_counter() - start)
    online = out["online_loss"][: out["records_written"]]
    if out["status"] == "diverged":
        meta["online_loss"] = online
        _diverged(out, out["records"], w, meta, "online SGD",
                  "lower lr or raise batch (a single sample's gradient fluctuates far more "
                  "than the population gradient, so online SGD needs a smaller step than GD)")
    meta["online_loss"] = online
    try:
        traj = _finish(out, out["records"], w, meta, "online SGD")
    except Interrupted as err:
        if prev is not None and err.trajectory is not None:
            err.trajectory = _attach(_concat(prev, err.trajectory), prev, "online_loss", online)
        raise
    return _attach(_concat(prev, traj), prev, "online_loss", online)


# ---------------------------------------------------------------------------- finite-sample GD
def erm_memory_bytes(problem_or_n: Union[Problem, int], n_samples: int) -> int:
    """Bytes method='erm' needs for n_samples samples: the data set X (n_samples × d
    doubles) and y, plus the engine's workspace (2 n_samples + d doubles) and the state."""
    n = problem_or_n.n_coords if isinstance(problem_or_n, Problem) else int(problem_or_n)
    n_samples = int(n_samples)
    return int(_core.erm_data_bytes(n_samples, n)) + 8 * (2 * n_samples + 2 * n)


def _available_memory() -> Optional[int]:
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _check_memory(needed: int, what: str, max_memory: Optional[int]) -> None:
    limit = _available_memory() if max_memory is None else int(max_memory)
    if limit is not None and needed > limit:
        raise MemoryError(
            f"{what} needs {needed} bytes ({needed / 2 ** 30:.3g} GiB) but only {limit} bytes "
            f"({limit / 2 ** 30:.3g} GiB) are "
            f"{'available' if max_memory is None else 'allowed (max_memory)'}; "
            f"lower n_samples or d")


def erm_dataset(problem: Problem, n_samples: int, seed: int = 0,
                noise: Optional[float] = None, threads: int = 0,
                max_memory: Optional[int] = None,
                streams: str = "independent") -> Tuple[np.ndarray, np.ndarray]:
    """The data set of method='erm': X (n_samples × d, rows x_j = sqrt(λ) ⊙ z_j) and
    y_j = <x_j, w*>² + ξ_j — the first n_samples samples of online SGD with this seed,
    these ``streams`` and batch 1. Needs 8 · n_samples · (d + 1) bytes; refuses
    (MemoryError) what will not fit."""
    _require_physical(problem, "erm")
    n_samples = _int_at_least("n_samples", n_samples, 1)
    noise = _noise(problem, noise)
    seed = int(_core.stream_seed(_seed(seed), float(problem.d), _common_streams(streams)))
    _check_memory(int(_core.erm_data_bytes(n_samples, problem.n_coords)),
                  f"the ERM data set ({n_samples} samples × d = {problem.n_coords})", max_memory)
    X = np.empty((n_samples, problem.n_coords))
    y = np.empty(n_samples)
    _core.erm_data(problem.eigenvalues, problem.w_star, float(problem.d), noise, seed, X, y,
                   int(threads))
    return X, y


def run_erm(problem: Problem, *, n_samples: int = None, lr: float = None, steps: int = None,
            record: Union[None, int, Sequence[int]] = None, noise: Optional[float] = None,
            seed: int = 0, threads: int = 0, progress=None, progress_every: int = 64,
            divergence_factor: float = 1e30, resume: Optional[Trajectory] = None,
            max_memory: Optional[int] = None, streams: str = "independent") -> Trajectory:
    """Full-batch GD on a fixed data set of ``n_samples`` samples (data reuse):
    ``w ← w − lr (4/N) Σ_j ((x_j·w)² − y_j)(x_j·w) x_j`` (``simulate(..., method="erm")``).

    Records the population quantities (SPEC §1) and, in ``meta["train_loss"]``, the
    training loss ``(1/N) Σ_j ((x_j·w)² − y_j)²`` at the recorded steps; ``t = step · lr``.
    Memory: the data set is ``n_samples × d`` doubles (:func:`erm_memory_bytes`); a run
    that would not fit the available memory (or ``max_memory`` bytes) raises MemoryError
    with the figure before allocating anything. ``streams`` as for online SGD.
    """
    _require_physical(problem, "erm")
    _common_streams(streams)
    if n_samples is None or steps is None:
        raise ValueError("method='erm' needs n_samples=, lr= and steps=")
    n_samples = _int_at_least("n_samples", n_samples, 1)
    lr = _positive_lr(lr)
    steps = _int_at_least("steps", steps, 0)
    noise = _noise(problem, noise)
    seed = _seed(seed)
    progress_every = _int_at_least("progress_every", progress_every, 1)
    rec = _record_steps(steps, record)
    w, prev = _resume_state(problem, resume, "erm")
    step0 = 0
    if prev is not None:
        _check_resume(prev, lr=lr, n_samples=n_samples, seed=seed, noise=noise,
                      streams=streams)
        step0 = int(prev.meta["last_step"])
        rec = rec[rec > step0]
    needed = erm_memory_bytes(problem, n_samples)
    _check_memory(needed, f"method='erm' with n_samples={n_samples} at d={problem.n_coords}",
                  max_memory)
    start = time.perf_counter()
    X, y = erm_dataset(problem, n_samples, seed, noise, threads, max_memory=needed,
                       streams=streams)
    out = _core.erm_run(problem.eigenvalues, problem.w_star, X, y, w, float(problem.d), noise,
                        lr, step0, steps, rec, int(threads), progress_every,
                        float(divergence_factor), _callback(progress))
    del X, y
    meta = _base_meta(problem, "erm")
    meta.update(lr=lr, n_samples=n_samples, seed=seed, noise=noise, streams=streams,
                steps=out["last_step"] - step0, last_step=out["last_step"],
                status=out["status"], diverged_at_step=out["diverged_at_step"],
                last_good_step=out["last_step"] - (1 if out["status"] == "diverged" else 0),
                t_reached=out["last_step"] * lr, memory_bytes=needed,
                wall_time=time.perf_counter() - start)
    train = out["train_loss"][: out["records_written"]]
    meta["train_loss"] = train
    if out["status"] == "diverged":
        _diverged(out, out["records"], w, meta, "finite-sample GD",
                  "lower lr (the empirical Hessian's top eigenvalue exceeds the population "
                  "one when n_samples is small)")
    try:
        traj = _finish(out, out["records"], w, meta, "finite-sample GD")
    except Interrupted as err:
        if prev is not None and err.trajectory is not None:
            err.trajectory = _attach(_concat(prev, err.trajectory), prev, "train_loss", train)
        raise
    return _attach(_concat(prev, traj), prev, "train_loss", train)


# ---------------------------------------------------------------------------- ensembles
@dataclass
class Ensemble:
    """R independent runs on one problem, one per seed, on a common record grid ``t``.

    Per-seed arrays ``s, u, s2, u2, loss, mse, train_loss`` have shape (R, len(t))
    (``train_loss``: the online loss for SGD, the training loss for ERM; NaN where a member
    stopped early). ``w`` (R, n) holds the final states (None with ``keep_w=False``).
    Statistics are over seeds and sign-invariant where it matters (u's sign is random:
    use ``abs_u``): :meth:`mean`, :meth:`std`, :meth:`band` (quantiles), and the shortcuts
    ``mean_abs_u``, ``mean_mse``, ``band_abs_u``, ``band_mse`` (``quantiles`` × len(t)).
    """
    seeds: np.ndarray
    t: np.ndarray
    s: np.ndarray
    u: np.ndarray
    s2: np.ndarray
    u2: np.ndarray
    loss: np.ndarray
    mse: np.ndarray
    train_loss: np.ndarray
    w: Optional[np.ndarray]
    quantiles: Tuple[float, ...] = (0.1, 0.5, 0.9)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.seeds.size)

    @property
    def abs_u(self) -> np.ndarray:
        return np.abs(self.u)

    def _field(self, name: str) -> np.ndarray:
        if name not in FIELDS[1:] + ("abs_u", "train_loss"):
            raise ValueError(f"unknown field {name!r}")
        return getattr(self, name)

    def mean(self, name: str) -> np.ndarray:
        """Mean over seeds of a field ('abs_u', 'mse', 's', 'loss', ...), per record."""
        with np.errstate(all="ignore"):
            return np.nanmean(self._field(name), axis=0)

    def std(self, name: str) -> np.ndarray:
        """Standard deviation over seeds (ddof=1), per record."""
        with np.errstate(all="ignore"):
            return np.nanstd(self._field(name), axis=0, ddof=1)

    def band(self, name: str, q: Optional[Sequence[float]] = None) -> np.ndarray:
        """Quantiles over seeds, shape (len(q), len(t)); q defaults to ``quantiles``."""
        q = self.quantiles if q is None else tuple(q)
        with np.errstate(all="ignore"):
            return np.nanquantile(self._field(name), q, axis=0)

    @property
    def mean_abs_u(self) -> np.ndarray:
        return self.mean("abs_u")

    @property
    def mean_mse(self) -> np.ndarray:
        return self.mean("mse")

    @property
    def band_abs_u(self) -> np.ndarray:
        return self.band("abs_u")

    @property
    def band_mse(self) -> np.ndarray:
        return self.band("mse")

    def trajectory(self, i: int) -> Trajectory:
        """Member i as a Trajectory (records up to where it stopped)."""
        ok = ~np.isnan(self.s[i])
        cols = {name: getattr(self, name)[i][ok] if name != "t" else self.t[ok]
                for name in FIELDS}
        meta = dict(self.meta)
        meta.update(seed=int(self.seeds[i]), train_loss=self.train_loss[i][ok])
        meta["status"] = self.meta.get("member_status", ["completed"] * len(self))[i]
        return Trajectory(w=None if self.w is None else self.w[i], meta=meta, **cols)

    def __repr__(self) -> str:
        return (f"Ensemble(method={self.meta.get('method')!r}, members={len(self)}, "
                f"records={self.t.size}, final mean mse={self.mean_mse[-1]:.6g}, "
                f"final mean |u|={self.mean_abs_u[-1]:.6g})")


def _seed_list(seeds) -> np.ndarray:
    if np.ndim(seeds) == 0:
        r = _int_at_least("seeds", seeds, 1)
        return np.arange(r, dtype=np.uint64)
    vals = [_seed(s) for s in seeds]
    if not vals:
        raise ValueError("seeds must not be empty")
    if len(set(vals)) != len(vals):
        raise ValueError("seeds must be distinct (equal seeds give identical runs)")
    return np.array(vals, dtype=np.uint64)


def simulate_many(problem: Problem, seeds: Union[int, Sequence[int]] = 8,
                  method: str = "sgd", *, threads: int = 0,
                  quantiles: Sequence[float] = (0.1, 0.5, 0.9), keep_w: bool = True,
                  **options) -> Ensemble:
    """Run ``method`` ("sgd" or "erm") once per seed and return an :class:`Ensemble`.

    ``seeds``: a count R (seeds 0 .. R−1) or distinct integers. ``method="sgd"`` runs the
    members in parallel in the C++ core (``threads`` of them at a time, each member
    single-threaded); member r is bit-identical to ``simulate(problem, "sgd",
    seed=seeds[r], ...)`` whatever ``threads``. ``method="erm"`` runs members one after
    the other, each parallel inside. Other options as for :func:`pyscale.simulate`
    (``resume`` is not supported). For "sgd", ``progress(t, steps)`` sees the ensemble's mean
    progress (member steps so far / R: monotone, ending at ``steps``). Raises DivergenceError
    / Interrupted with the partial ensemble as ``err.trajectory``.
    """
    seed_arr = _seed_list(seeds)
    q = tuple(float(x) for x in quantiles)
    if not all(0.0 <= x <= 1.0 for x in q):
        raise ValueError(f"quantiles must lie in [0, 1], got {q}")
    if "resume" in options or "seed" in options:
        raise ValueError("simulate_many takes seeds=, not seed= or resume=")
    if method == "sgd":
        return _sgd_ensemble(problem, seed_arr, threads, q, keep_w, **options)
    if method == "erm":
        return _erm_ensemble(problem, seed_arr, threads, q, keep_w, **options)
    raise ValueError(f"simulate_many supports method='sgd' or 'erm', got {method!r}")


def _sgd_ensemble(problem, seeds, threads, quantiles, keep_w, *, lr=None, steps=None,
                  record=None, batch=1, noise=None, progress=None, progress_every=4096,
                  divergence_factor=1e30, samples="auto", simd=True,
                  streams="independent") -> Ensemble:
    lr, steps, batch, noise, progress_every, mode, rec = _sgd_options(
        problem, lr, steps, batch, noise, progress_every, samples, record)
    common = _common_streams(streams)
    modes = _chain.modes_of(problem) if problem.is_compressed else None
    R, n = seeds.size, problem.n_coords
    W = np.empty((R, n))
    W[:] = problem.w0
    start = time.perf_counter()
    if modes is not None:
        out = _chain.run_chain_ensemble(
            problem, modes, W, seeds, noise=noise, lr=lr, batch=batch, steps=steps, rec=rec,
            threads=threads, progress_every=progress_every,
            divergence_factor=divergence_factor, simd=simd, common=common,
            callback=_callback(progress))
    else:
        out = _core.sgd_ensemble_run(problem.eigenvalues, problem.w_star, W, float(problem.d),
                                     noise, seeds, lr, batch, steps, rec, int(threads),
                                     progress_every, float(divergence_factor), mode,
                                     bool(simd), _callback(progress), common)
    meta = _base_meta(problem, "sgd")
    meta.update(engine="mode_chain" if modes is not None else "full", streams=streams)
    meta.update(lr=lr, batch=batch, noise=noise, steps=steps, member_status=out["status"],
                last_step=out["last_step"], diverged_at_step=out["diverged_at_step"],
                threads=int(threads), wall_time=time.perf_counter() - start,
                samples_drawn=int(sum(out["last_step"])) * batch)
    recs = out["records"]
    ens = Ensemble(seeds=seeds, t=rec * lr, w=W if keep_w else None,
                   train_loss=out["online_loss"], quantiles=quantiles, meta=meta,
                   **{name: np.ascontiguousarray(recs[:, :, j])
                      for j, name in enumerate(FIELDS) if name != "t"})
    return _ensemble_status(ens, out["status"], out["diverged_at_step"], out["signalled"], lr)


def _erm_ensemble(problem, seeds, threads, quantiles, keep_w, *, progress=None,
                  **options) -> Ensemble:
    members = []
    status, diverged = [], []
    signalled = False
    start = time.perf_counter()
    for s in seeds:
        try:
            traj = run_erm(problem, seed=int(s), threads=threads, progress=progress, **options)
            status.append("completed")
            diverged.append(-1)
        except DivergenceError as err:
            traj, status, diverged = err.trajectory, status + ["diverged"], diverged + [err.step]
        except Interrupted as err:
            traj = err.trajectory
            status.append("interrupted")
            diverged.append(-1)
            signalled = "Ctrl-C" in str(err)
        members.append(traj)
        if status[-1] == "interrupted":
            break
    lr = float(members[0].meta["lr"])
    steps = _int_at_least("steps", options.get("steps"), 0)
    rec = _record_steps(steps, options.get("record"))
    R, T = seeds.size, rec.size
    arrays = {name: np.full((R, T), np.nan) for name in FIELDS[1:] + ("train_loss",)}
    W = np.full((R, problem.n_coords), np.nan) if keep_w else None
    for i, traj in enumerate(members):
        k = len(traj)
        for name in FIELDS[1:]:
            arrays[name][i, :k] = getattr(traj, name)
        arrays["train_loss"][i, :k] = traj.meta["train_loss"]
        if keep_w and traj.w is not None:
            W[i] = traj.w
    status += ["interrupted"] * (R - len(status))
    diverged += [-1] * (R - len(diverged))
    meta = dict(members[0].meta)
    meta.pop("train_loss", None)
    meta.update(member_status=status, diverged_at_step=diverged,
                wall_time=time.perf_counter() - start)
    ens = Ensemble(seeds=seeds, t=rec * lr, w=W, quantiles=quantiles, meta=meta, **arrays)
    return _ensemble_status(ens, status, diverged, signalled, lr)


def _ensemble_status(ens: Ensemble, status, diverged_at, signalled, lr) -> Ensemble:
    bad = [i for i, s in enumerate(status) if s == "diverged"]
    if bad:
        i = min(bad, key=lambda j: diverged_at[j])
        step = int(diverged_at[i])
        raise DivergenceError(
            f"{len(bad)} of {len(ens)} members diverged, first seed {int(ens.seeds[i])} at step "
            f"{step} (t = {step * lr:.6g}); lower lr or raise batch. The partial ensemble is in "
            f"err.trajectory.", step, ens)
    if any(s == "interrupted" for s in status):
        why = "Ctrl-C" if signalled else "the progress callback"
        raise Interrupted(f"the ensemble was stopped by {why}; the partial ensemble is in "
                          f"err.trajectory (ensembles cannot be resumed)", ens)
    return ens
