"""A quadratic network's run against its small-start escape law (networks page: Escape of the
quadratic network): per unit, the measured escape time and growth rate beside T1_j and ρ_j.

Example::

    problem = pyscale.Problem.power_law(1000, 2.0, units=3, teacher_units=2, seed=0)
    pred = pyscale.predict(problem)
    times = np.linspace(0.0, 1.5 * pred.escape_time(0.1).max(), 600)
    res = pyscale.compare(pyscale.simulate(problem, "flow", t=times), pred, delta=0.1)
    res.table()      # T1[j] and escape_rate[j] per unit: measured, predicted, rel_error, regime
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import pyscale._repr as _repr

from ..model.problem import Problem
from ..results import tidy
from ..results.identity import check_same_problem
from ..results.network import NetworkTrajectory
from ..theory import NetworkPrediction, RegimeWarning
from .fits import crossing_time, fit_exponential_rate
from .inputs import checked_inputs, rel_error

__all__ = ["compare_network", "NetworkComparison", "escape_criterion"]


class NetworkComparison(dict):
    """The data of :func:`compare_network` (a dict of plain numbers and arrays: ``T1[j]``,
    ``escape_rate[j]`` per unit, each {'measured', 'predicted', 'rel_error', 'regime'}) with
    :meth:`table`, the comparison table of every comparison."""

    to_pandas = tidy.comparison_to_pandas
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html

    @property
    def ROWS(self) -> tuple:  # noqa: N802 (the rows' name in every comparison)
        rows = []
        for j in range(int(self["p"])):
            rows += [(f"T1[{j}]", f"T1(delta) of unit {j}"),
                     (f"escape_rate[{j}]", f"escape rate rho_{j}")]
        return tuple(rows)

    def __str__(self) -> str:
        return self.table().to_string()

    def table(self):
        """The rows as the comparison table (a pandas DataFrame,
        :data:`pyscale.results.tidy.COMPARISON_COLUMNS`)."""
        return self.to_pandas()


def escape_criterion(trajectory: NetworkTrajectory) -> np.ndarray:
    """max_l |U_jl|/S*_ll per record and unit (T, p): the quantity whose crossing of δ is
    unit j's escape (networks page: Escape of the quadratic network)."""
    level = np.diag(trajectory.s_star)
    return np.max(np.abs(trajectory.U) / level, axis=-1)


def _check_belongs(trajectory: NetworkTrajectory, problem: Problem) -> None:
    """Refuse a run of another problem: by its identity where the run carries one, else by
    what defines a network's dynamics — the link, d, the readouts, S* and the start's S(0),
    U(0) (the first record, at t = 0) — to rounding."""
    meta = trajectory.meta
    if meta.get("problem_id") is not None:
        check_same_problem(meta, problem, "the trajectory")
        return
    if str(meta.get("link", "square")) != problem.link.identity:
        raise ValueError(f"the trajectory is a run of link pair {meta.get('link')!r}, this "
                         f"problem's is {problem.link.identity!r}")
    lam = problem.eigenvalues
    s0 = problem.w0.T @ (lam[:, None] * problem.w0)
    u0 = problem.w0.T @ (lam[:, None] * problem.w_star)
    ours = (problem.d, problem.readout, problem.teacher_readout, problem.S_star, s0, u0)
    theirs = (meta.get("d"), meta.get("readout"), meta.get("teacher_readout"),
              meta.get("S_star"), trajectory.S[0], trajectory.U[0])
    same = trajectory.t[0] == 0.0 and all(
        b is not None and np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=1e-10, atol=0)
        for a, b in zip(ours, theirs))
    if not same:
        raise ValueError("the trajectory is a run of another problem (its d, readouts, S* or "
                         "start S(0), U(0) differ from this problem's, or it does not start "
                         "at t = 0); give the problem it was run on")


def compare_network(trajectory: Any, prediction: Any,
                    delta: float = 0.05) -> NetworkComparison:
    """Measured against predicted, per unit, for a quadratic network's run.

    ``prediction``: the :class:`~pyscale.theory.NetworkPrediction` of the run's problem (or
    that Problem). Measured T1_j: the first time max_l |U_jl|/S*_ll ≥ δ on the records,
    log-interpolated between the two bracketing records (record densely up to past the
    escape); measured rate: the slope of log max_l |U_jl| over [T1_j − 2/ρ_j, T1_j]. Each
    row carries the law's regime for that unit (the later units are outside the window:
    the first one's growth slows them)."""
    prediction = checked_inputs(trajectory, prediction, NetworkPrediction, NetworkTrajectory,
                                "a quadratic network's NetworkPrediction",
                                "a network's NetworkTrajectory")
    problem = prediction.problem
    _check_belongs(trajectory, problem)
    delta = float(delta)
    size = escape_criterion(trajectory)
    with warnings.catch_warnings():     # each row shows its law's regime instead
        warnings.simplefilter("ignore", RegimeWarning)
        regimes = [prediction.regime("escape_time", delta=delta, unit=j)
                   for j in range(problem.units)]
        predicted = prediction.escape.time_to(delta)
    res = NetworkComparison(d=problem.d, a=prediction.a, p=problem.units,
                            k=problem.teacher_units, delta=delta,
                            method=trajectory.meta.get("method", "unknown"),
                            s_star=problem.s_star, times={})
    for j, reg in enumerate(regimes):
        t1 = None if reg.refused else float(predicted[j])
        measured = crossing_time(trajectory.t, size[:, j], delta)
        res["times"][f"T1[{j}]"] = measured
        res[f"T1[{j}]"] = {"measured": measured, "predicted": t1,
                           "rel_error": rel_error(measured, t1), "regime": reg.summary()}
        rho = float(prediction.escape_rate[j])
        fit = None if measured is None else fit_exponential_rate(
            trajectory.t, size[:, j], (max(0.0, measured - 2.0 / rho), measured))
        res[f"escape_rate[{j}]"] = {
            "measured": None if fit is None else fit["rate"], "predicted": rho,
            "rel_error": None if fit is None else rel_error(fit["rate"], rho),
            "window": None if fit is None else fit["window"], "regime": reg.summary()}
    return res
