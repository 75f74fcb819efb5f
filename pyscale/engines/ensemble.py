"""Ensembles over seeds: :func:`simulate_many` runs one engine once per seed and returns an
:class:`~pyscale.Ensemble` on a common record grid. Online SGD runs its members in parallel
in the core (each member single-threaded, bit-identical to the single run with its seed);
finite-sample GD runs them one after the other, each parallel inside.
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from ..errors import DivergenceError, DomainError, Interrupted
from ..model.problem import Problem
from ..results.columns import recorded
from ..results.network import NetworkEnsemble, network_columns
from ..results.trajectory import FIELDS, Ensemble, Trajectory
from . import chain, erm, network_chain, network_sgd, one_unit, sgd
from ._options import check_workspace, noise_variance, sgd_options, step_options
from ._run import (
    base_meta,
    check_horizon,
    check_rate,
    core_network,
    core_pair,
    core_problem,
    divergence_message,
    domain_message,
    network_meta,
    progress_hook,
    run_identity,
)
from .progress import run_with_progress

__all__ = ["simulate_many", "seed_list", "METHODS"]

METHODS = ("sgd", "erm")
_SGD_OPTIONS = tuple(k for k in sgd.OPTIONS if k not in ("seed", "resume", "threads"))
_ERM_OPTIONS = tuple(k for k in erm.OPTIONS if k not in ("seed", "resume", "threads"))


def seed_list(seeds: Any) -> np.ndarray:
    """Seeds of an ensemble: a count R (seeds 0 .. R−1) or distinct integers."""
    if np.ndim(seeds) == 0:
        return np.arange(check.integer("seeds", seeds, 1, 10 ** 7), dtype=np.uint64)
    values = [check.seed(s, "seeds") for s in seeds]
    if not values:
        raise ValueError("seeds must not be empty")
    if len(set(values)) != len(values):
        raise ValueError("seeds must be distinct (equal seeds give identical runs)")
    return np.array(values, dtype=np.uint64)


def simulate_many(problem: Problem, seeds: Union[int, Sequence[int]] = 8,
                  method: str = "sgd", *, threads: int = 0,
                  quantiles: Sequence[float] = (0.1, 0.5, 0.9), keep_w: bool = True,
                  on_divergence: str = "raise", **options: Any) -> Ensemble:
    """Run ``method`` ("sgd" or "erm") once per seed and return an :class:`Ensemble`.

    ``seeds``: a count R (seeds 0 .. R−1) or distinct integers. ``method="sgd"`` runs the
    members in parallel in the C++ core (``threads`` of them at a time); member r is
    bit-identical to ``simulate(problem, "sgd", seed=seeds[r], ...)`` whatever
    ``threads``. ``method="erm"`` runs members one after the other. Other options as for
    :func:`pyscale.simulate` (``seed`` and ``resume`` are not taken); ``progress=True``
    shows a tqdm bar. For "sgd",
    ``progress(t, steps)`` sees the ensemble's mean progress. Raises DivergenceError /
    Interrupted with the partial ensemble as ``err.trajectory``; with
    ``on_divergence="keep"`` a member that diverges is recorded as such instead
    (``meta["member_status"]``, ``meta["diverged_at_step"]``, NaN after its last good
    record; a RuntimeWarning counts them) and the others are kept, as sweeps do. Its
    memory (final states and records of every member) is estimated first and refused,
    with the bytes, when it does not fit.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    if isinstance(seeds, str) and seeds in METHODS:  # simulate(problem, "sgd") by habit
        raise TypeError(f"simulate_many's second argument is seeds, got the method name "
                        f"{seeds!r}: write simulate_many(problem, 8, {seeds!r}) or "
                        f"simulate_many(problem, seeds=8, method={seeds!r})")
    method = check.choice("method", method, METHODS)
    allowed = _SGD_OPTIONS if method == "sgd" else _ERM_OPTIONS
    if "seed" in options or "resume" in options:
        raise TypeError("simulate_many takes seeds= (a count or distinct seeds), not seed= "
                        "or resume= (ensembles are not resumed)")
    check.keywords(f"simulate_many(method={method!r})", options, allowed)
    seed_arr = seed_list(seeds)
    q = tuple(check.probability("quantiles", x) for x in quantiles)
    threads = check.threads(threads)
    if problem.is_network and method == "erm":
        raise ValueError("simulate_many(method='erm') does not take a network: its members "
                         "would each hold an n_samples × d data set; run "
                         "simulate(problem, 'erm', seed=s) per seed")
    keep = check.choice("on_divergence", on_divergence, ("raise", "keep")) == "keep"
    _check_fits(problem, seed_arr.size, options, bool(keep_w))
    runner: Callable[..., Any] = _sgd_ensemble if method == "sgd" else _erm_ensemble
    if problem.is_network:  # p = k = 1, unit readouts: the single-index ensemble
        runner = (one_unit.ensemble_runner(_sgd_ensemble) if one_unit.applies(problem, method)
                  else _network_sgd_ensemble)

    def run(prob: Problem, **opts: Any) -> Ensemble:
        ens = runner(prob, seed_arr, threads, q, bool(keep_w), **opts)
        ens.meta["run_id"] = run_identity(prob, f"{method} ensemble", {
            **{k: v for k, v in opts.items() if k not in _NOT_IDENTITY},
            "seeds": [int(x) for x in seed_arr]})
        return _raise_on_status(ens, keep)
    # ERM members run one after the other, each reporting t from 0: one bar over all R.
    result: Ensemble = run_with_progress(run, problem, method, options,
                                         members=seed_arr.size if method == "erm" else 1)
    return result


#: Options that do not shape the members' dynamics (left out of the ensemble's run_id).
_NOT_IDENTITY = ("progress", "progress_every", "record", "steps", "samples", "simd")
#: Doubles per member and record that an ensemble holds: the six record fields and the
#: per-record loss, in the core's result and in the Ensemble (two copies).
_DOUBLES_PER_RECORD = 2 * (len(FIELDS) - 1 + 1)


def _check_fits(problem: Problem, members: int, options: dict, keep_w: bool) -> None:
    """Refuse, before any allocation, an ensemble whose states and records do not fit."""
    try:
        _, steps, rec, _ = step_options(options.get("lr"), options.get("steps"),
                                        options.get("record"), 1e30)
    except (TypeError, ValueError):
        return  # the engine reports the bad options themselves
    states = (2 if keep_w else 1) * members * problem.n_coords * 8
    records = members * rec.size * _DOUBLES_PER_RECORD * 8
    check.memory(states + records, f"an ensemble of {members} members ({rec.size} records "
                 f"each, d = {problem.n_coords} stored coordinates)", None,
                 "use fewer seeds or records, or keep_w=False")


def _sgd_ensemble(problem: Problem, seeds: np.ndarray, threads: int,
                  quantiles: Tuple[float, ...], keep_w: bool, *, lr: Any = None,
                  steps: Any = None, record: Any = None, batch: Any = 1, noise: Any = None,
                  progress: Any = None, progress_every: Any = 4096,
                  divergence_factor: Any = 1e30, samples: Any = "auto",
                  simd: Any = True, streams: Any = "independent") -> Ensemble:
    lr, steps, rec, _ = step_options(lr, steps, record, divergence_factor)
    batch = check.batch(batch)
    noise = noise_variance(problem, noise)
    opt = sgd_options(problem, 1, progress_every, divergence_factor, samples, simd,
                          streams)
    modes = chain.modes_of(problem) if problem.is_compressed else None
    check_workspace(problem, batch, opt, members=min(len(seeds), max(threads, 1)),
                        modes=modes)
    bound = check_horizon(problem, steps * lr, np.asarray(problem.w0, dtype=np.float64))
    W = np.empty((seeds.size, problem.n_coords))
    W[:] = problem.w0
    started = time.perf_counter()
    if modes is not None:
        out = chain.run_chain_ensemble(problem, modes, W, seeds, noise, lr, batch, steps, rec,
                                       opt, threads, progress_hook(progress))
    else:
        out = _core.steps.run_sgd_ensemble(core_problem(problem, noise), core_pair(problem), W,
                                           seeds, lr, batch, steps, rec, opt, threads,
                                           progress_hook(progress))
    status = [s.name for s in out.status]
    meta = base_meta(problem, "sgd")
    meta.update(streams=streams, engine="full" if modes is None else "mode_chain")
    meta.update(lr=lr, batch=batch, noise=noise, steps=steps, member_status=status,
                last_step=list(out.last_step), diverged_at_step=list(out.diverged_at_step),
                t_reached=[step * lr for step in out.last_step],
                threads=threads, wall_time=time.perf_counter() - started,
                samples_drawn=int(sum(out.last_step)) * batch)
    records = out.records
    cols: Dict[str, Any] = {name: np.ascontiguousarray(records[:, :, j])
                            for j, name in enumerate(FIELDS)
                            if name in recorded(meta) and name != "t"}
    cols.setdefault("mse", None)  # the pair has no recovery metric: no column
    ens = Ensemble(seeds=seeds, t=rec * lr, w=W if keep_w else None,
                   train_loss=out.per_record, quantiles=quantiles, meta=meta, **cols)
    check_rate(bound, ens.s.ravel(), ens.u.ravel(), "online SGD (ensemble)")
    if "interrupted" in status:
        meta["stopped_by"] = "signal" if out.signalled else "callback"
    return ens


def _network_sgd_ensemble(problem: Problem, seeds: np.ndarray, threads: int,
                          quantiles: Tuple[float, ...], keep_w: bool, *, lr: Any = None,
                          steps: Any = None, record: Any = None, batch: Any = 1,
                          noise: Any = None, progress: Any = None, progress_every: Any = 4096,
                          divergence_factor: Any = 1e30, samples: Any = "auto",
                          simd: Any = True, streams: Any = "independent") -> NetworkEnsemble:
    """Online SGD of a network over seeds (the mode chain on a compressed network); member
    r bit-identical to ``simulate(problem, "sgd", seed=seeds[r], ...)``."""
    lr, steps, rec, _ = step_options(lr, steps, record, divergence_factor)
    batch = check.batch(batch)
    noise = noise_variance(problem, noise)
    opt = sgd_options(problem, 1, progress_every, divergence_factor, samples, simd, streams)
    members = min(len(seeds), max(threads, 1))
    _, kern = core_network(problem, noise)
    hook = progress_hook(progress)
    started = time.perf_counter()
    if problem.is_compressed:
        frames = network_chain.frames_of(problem)
        network_sgd.check_workspace(problem, batch, opt, members, frames=frames)
        W = np.empty((seeds.size,) + frames.frames.shape)
        W[:] = frames.frames
        out = _core.network.run_chain_ensemble(
            network_chain.core_modes(problem, frames, noise), kern, W, seeds, lr, batch,
            steps, rec, opt, threads, hook)
    else:
        network_sgd.check_workspace(problem, batch, opt, members)
        W = np.empty((seeds.size,) + problem.w0.shape)
        W[:] = problem.w0
        prob, _ = core_network(problem, noise)
        out = _core.network.run_sgd_ensemble(prob, kern, W, seeds, lr, batch, steps, rec, opt,
                                             threads, hook)
    status = [s.name for s in out.status]
    meta = network_meta(problem, "sgd", noise)
    meta.update(streams=streams, engine="mode_chain" if problem.is_compressed else "full",
                lr=lr, batch=batch, steps=steps, member_status=status,
                last_step=list(out.last_step), diverged_at_step=list(out.diverged_at_step),
                threads=threads, wall_time=time.perf_counter() - started,
                samples_drawn=int(sum(out.last_step)) * batch)
    cols = network_columns(np.asarray(out.records), problem.units, problem.teacher_units)
    ens = NetworkEnsemble(seeds=seeds, t=rec * lr, loss=cols["loss"], S=cols["S"],
                          U=cols["U"], train_loss=np.asarray(out.per_record),
                          w=W if keep_w and not problem.is_compressed else None,
                          quantiles=quantiles, meta=meta)
    if out.signalled or any(x == "interrupted" for x in status):
        meta["stopped_by"] = "signal" if out.signalled else "callback"
    meta["t_reached"] = [step * lr for step in out.last_step]
    return ens


def _erm_ensemble(problem: Problem, seeds: np.ndarray, threads: int,
                  quantiles: Tuple[float, ...], keep_w: bool, *, progress: Any = None,
                  **options: Any) -> Ensemble:
    members: List[Trajectory] = []
    status: List[str] = []
    diverged: List[int] = []
    stopped: List[float] = []
    signalled = False
    started = time.perf_counter()
    for s in seeds:
        t_stop = np.nan
        try:
            traj = erm.run(problem, seed=int(s), threads=threads, progress=progress,
                           **options)
            status.append("completed")
            diverged.append(-1)
        except DivergenceError as err:
            traj = err.trajectory
            status.append("diverged")
            diverged.append(err.step)
        except DomainError as err:
            traj, t_stop = err.trajectory, err.t
            status.append("out_of_domain")
            diverged.append(-1)
        except Interrupted as err:
            traj = err.trajectory
            status.append("interrupted")
            diverged.append(-1)
            signalled = err.cause == "signal"
        stopped.append(float(traj.meta.get("t_reached", np.nan)) if np.isnan(t_stop)
                       else t_stop)
        members.append(traj)
        if status[-1] == "interrupted":
            break
    lr, steps, rec, _ = step_options(options.get("lr"), options.get("steps"),
                                     options.get("record"), options.get("divergence_factor",
                                                                        1e30))
    arrays = _member_arrays(members, seeds.size, rec.size, recorded(members[0].meta))
    W = np.full((seeds.size, problem.n_coords), np.nan) if keep_w else None
    for i, traj in enumerate(members):
        if W is not None and traj.w is not None:
            W[i] = traj.w
    stopped += [np.nan] * (seeds.size - len(stopped))
    status += ["interrupted"] * (seeds.size - len(status))
    diverged += [-1] * (seeds.size - len(diverged))
    meta = dict(members[0].meta)
    for key in ("train_loss", "resume", "seed", "run_options"):  # member 0's own
        meta.pop(key, None)
    meta.update(member_status=status, diverged_at_step=diverged,
                wall_time=time.perf_counter() - started)
    if "interrupted" in status:
        meta["stopped_by"] = "signal" if signalled else "callback"
    meta["t_reached"] = stopped
    return Ensemble(seeds=seeds, t=rec * lr, w=W, quantiles=quantiles, meta=meta, **arrays)


def _member_arrays(members: List[Trajectory], count: int, n_records: int,
                   names: Tuple[str, ...]) -> Dict[str, Any]:
    """Per-seed arrays (count × n_records) of the recorded columns ``names`` (and the
    training loss), NaN where a member stopped early; mse None when it is not one of them."""
    names = tuple(n for n in names if n != "t")
    arrays: Dict[str, Any] = {name: np.full((count, n_records), np.nan)
                              for name in names + ("train_loss",)}
    for i, traj in enumerate(members):
        k = len(traj)
        for name in names:
            arrays[name][i, :k] = getattr(traj, name)
        arrays["train_loss"][i, :k] = traj.meta["train_loss"]
    arrays.setdefault("mse", None)
    return arrays


def _raise_on_status(ens: Ensemble, keep: bool) -> Ensemble:
    """DivergenceError (unless ``keep``: a warning), DomainError or Interrupted carrying the
    ensemble."""
    status, diverged_at = ens.meta["member_status"], ens.meta["diverged_at_step"]
    bad = [i for i, s in enumerate(status) if s == "diverged"]
    if bad:
        i = min(bad, key=lambda j: diverged_at[j])
        step = int(diverged_at[i])
        members = f" in {len(bad)} of {len(ens)} members, first seed {int(ens.seeds[i])}"
        message = divergence_message("the ensemble", step, ens.meta["lr"],
                                     "lower lr or raise batch", members=members)
        if not keep:
            raise DivergenceError(message, step, ens)
        warnings.warn(f"{len(bad)} of {len(ens)} members diverged (first at step {step}, "
                      f"seed {int(ens.seeds[i])}); kept as diverged (on_divergence='keep')",
                      RuntimeWarning, stacklevel=4)
    out = [i for i, s in enumerate(status) if s == "out_of_domain"]
    if out:
        members = f" in {len(out)} of {len(ens)} members, first seed {int(ens.seeds[out[0]])}"
        t = float(ens.meta["t_reached"][out[0]])
        raise DomainError(domain_message("the ensemble", t, str(ens.meta.get("link")),
                                         members=members), t, ens)
    if any(s == "interrupted" for s in status):
        signalled = ens.meta.get("stopped_by") == "signal"
        why = "Ctrl-C" if signalled else "the progress callback"
        raise Interrupted(f"the ensemble was stopped by {why}; the partial ensemble is in "
                          f"err.trajectory (ensembles cannot be resumed)", ens,
                          cause="signal" if signalled else "callback")
    return ens
