"""A network of one student and one teacher unit with unit readouts (p = k = 1, a = a* = 1)
is the single-index model: f(x) = σ(x·w), y = τ(x·w*) + ξ (networks page: What is exact).
Its runs are the single-index engines' runs, bit for bit: :func:`runner` and
:func:`ensemble_runner` run the single-index engine on :func:`single_index` (the same stored
arrays as vectors), with the options the network engine accepts and the same RNG streams
(``seed``), and wrap what it returns as the network's record (S = [[s]], U = [[u]],
W = w[:, None]); a wrapped trajectory keeps the single-index one as ``single_index`` (its
dense output, its second moments) and resumes through it.

Other readouts, or a compressed network whose modes are not stored as the single-index
compression stores them (the mode chain needs that layout), run on the network engines.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..errors import DivergenceError, DomainError, Interrupted
from ..model.compression import mode_layout
from ..model.problem import Problem
from ..results.network import NetworkEnsemble, NetworkTrajectory
from ..results.trajectory import Ensemble, Trajectory
from ._run import network_meta

__all__ = ["applies", "single_index", "as_network", "as_network_ensemble", "runner",
           "ensemble_runner"]


def applies(problem: Problem, method: str) -> bool:
    """Whether ``method`` on ``problem`` runs on the single-index engine: a network with
    p = k = 1 and readouts exactly 1 — for ERM a physical one (the network engine refuses a
    compressed one), for SGD on a compressed one stored as the mode chain reads it."""
    if not (problem.is_network and problem.units == 1 and problem.teacher_units == 1):
        return False
    readouts = np.r_[np.asarray(problem.readout), np.asarray(problem.teacher_readout)]
    if not np.all(readouts == 1.0):
        return False
    if not problem.is_compressed:
        return True
    if method == "erm":
        return False
    if method != "sgd":
        return True
    try:
        layout = mode_layout(problem.eigenvalues, problem.w_star[:, 0], problem.counts)
    except ValueError:
        return False
    return not np.any((layout.second < 0) & (layout.count >= 2))


def single_index(problem: Problem) -> Problem:
    """The single-index problem a one-unit network is: its stored arrays as vectors."""
    return Problem(problem.eigenvalues, problem.w_star[:, 0], problem.w0[:, 0],
                   noise=problem.noise, d=problem.d, counts=problem.counts, info=problem.info,
                   link=problem.link)


def _meta(meta: dict, problem: Problem) -> dict:
    """The single-index run's meta with the network's own keys over it."""
    out = dict(meta)
    out.update(network_meta(problem, str(meta["method"]), meta.get("noise")))
    out.update(problem_id=problem.identity(), single_index_engine=True)
    return out


def as_network(traj: Trajectory, problem: Problem) -> NetworkTrajectory:
    """A single-index trajectory of :func:`single_index` (``problem``) as the network's."""
    return NetworkTrajectory(t=traj.t, loss=traj.loss, S=traj.s[:, None, None],
                             U=traj.u[:, None, None],
                             w=None if traj.w is None else traj.w[:, None],
                             meta=_meta(traj.meta, problem), single_index=traj)


def as_network_ensemble(ens: Ensemble, problem: Problem) -> NetworkEnsemble:
    """A single-index ensemble of :func:`single_index` (``problem``) as the network's."""
    return NetworkEnsemble(seeds=ens.seeds, t=ens.t, loss=ens.loss, S=ens.s[..., None, None],
                           U=ens.u[..., None, None], train_loss=ens.train_loss,
                           w=None if ens.w is None else ens.w[..., None],
                           quantiles=ens.quantiles, meta=_meta(ens.meta, problem))


def _previous(resume: Any, method: str) -> Optional[Trajectory]:
    """The single-index trajectory a network ``resume`` continues."""
    if resume is None:
        return None
    if not isinstance(resume, NetworkTrajectory):
        raise TypeError(f"resume must be a NetworkTrajectory (a network run), got "
                        f"{type(resume).__name__}")
    if resume.single_index is None:
        raise ValueError(f"resume: the trajectory is not a resumable {method!r} run of a "
                         f"network")
    return resume.single_index


def runner(run: Callable[..., Trajectory], method: str) -> Callable[..., NetworkTrajectory]:
    """``run`` (a single-index engine's) as the network engine's run of a one-unit network:
    the result, and the trajectory a DivergenceError / DomainError / Interrupted carries,
    wrapped by :func:`as_network`."""
    def one_unit_run(problem: Problem, resume: Any = None, **options: Any) -> NetworkTrajectory:
        previous = _previous(resume, method)
        try:
            traj = run(single_index(problem), resume=previous, **options)
        except (DivergenceError, DomainError, Interrupted) as err:
            if isinstance(err.trajectory, Trajectory):
                err.trajectory = as_network(err.trajectory, problem)
            raise
        return as_network(traj, problem)
    return one_unit_run


def ensemble_runner(run: Callable[..., Ensemble]) -> Callable[..., NetworkEnsemble]:
    """``run`` (the single-index SGD ensemble's) as the network's, wrapped by
    :func:`as_network_ensemble`."""
    def one_unit_ensemble(problem: Problem, *args: Any, **options: Any) -> NetworkEnsemble:
        return as_network_ensemble(run(single_index(problem), *args, **options), problem)
    return one_unit_ensemble
