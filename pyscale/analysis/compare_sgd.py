"""An online-SGD ensemble against the theory (model page: SGD floor): the noise floor, the
SGD Phase III law and the escape time's spread over seeds.

Example::

    problem = pyscale.Problem.power_law(100, 1.5, seed=0, noise=0.05)
    ens = pyscale.simulate_many(problem.with_w0(w_start), seeds=32, method="sgd",
                                lr=0.01, steps=40_000)
    res = compare_ensemble(ens, pyscale.predict(problem.with_w0(w_start)))
    res.table()          # DataFrame: quantity, measured, predicted, predicted_over_measured, ...
    print(res)           # the same rows as text
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..model.link_support import require_square
from ..model.problem import Problem
from ..results.identity import check_same_problem
from ..results.tidy import comparison_table
from ..results.trajectory import Ensemble
from ..theory import Prediction, RegimeWarning, predict, stable_step

__all__ = ["compare_ensemble", "SgdComparison", "SgdRow", "escape_times"]


@dataclass(frozen=True)
class SgdRow:
    """One comparison: rel_error = (predicted − measured)/|measured| (None if undefined);
    regime: the law's regime ('holds', or why it is outside its window or refused)."""
    name: str
    measured: float | None
    predicted: float | None
    rel_error: float | None
    note: str = ""
    regime: str = ""


@dataclass
class SgdComparison:
    """Rows of :func:`compare_ensemble` and the arrays behind them (``curves``)."""
    rows: list[SgdRow]
    curves: dict = field(default_factory=dict)

    def row(self, name: str) -> SgdRow:
        """The row called ``name`` (KeyError if absent)."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {[r.name for r in self.rows]}")

    def text(self) -> str:
        """The rows as a fixed-width text table (also ``str(comparison)``; regime: its
        status, the reasons are in :meth:`table` and in ``row(name).regime``)."""
        head = (f"{'name':<28} {'measured':>12} {'predicted':>12} {'rel_error':>10}  "
                f"{'regime':<18}  note")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            status = r.regime.split(":")[0] if r.regime else "-"
            lines.append(f"{r.name:<28} {_fmt(r.measured):>12} {_fmt(r.predicted):>12} "
                         f"{_fmt(r.rel_error, '.3f'):>10}  {status:<18}  {r.note}")
        return "\n".join(lines)

    def table(self):
        """The rows as the comparison table every comparison returns (a pandas DataFrame,
        :data:`pyscale.results.tidy.COMPARISON_COLUMNS`: quantity, description, measured,
        predicted, predicted_over_measured, rel_error, window_lo, window_hi, note,
        regime)."""
        return comparison_table([{"quantity": r.name, "description": r.name,
                                  "measured": r.measured, "predicted": r.predicted,
                                  "note": r.note, "regime": r.regime} for r in self.rows],
                                {"method": "sgd"})

    to_pandas = table

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()


def _fmt(x, code: str = ".5g") -> str:
    return "-" if x is None else format(x, code)


def _rel(measured, predicted) -> float | None:
    if measured is None or predicted is None or not np.isfinite(measured) or measured == 0:
        return None
    return float((predicted - measured) / abs(measured))


def escape_times(ensemble: Ensemble, delta: float = 0.05) -> np.ndarray:
    """T1 per member: the first record time with |u| >= δ s* (NaN where never reached).
    The record grid sets the resolution."""
    s_star = float(ensemble.meta.get("s_star", 1.0))
    hit = np.abs(ensemble.u) >= delta * s_star
    first = np.argmax(hit, axis=1)
    return np.where(hit.any(axis=1), ensemble.t[first], np.nan)


def _validated(ensemble, prediction) -> tuple[Ensemble, Prediction]:
    if not isinstance(ensemble, Ensemble):
        raise TypeError(f"ensemble must be a pyscale.Ensemble, got {type(ensemble).__name__}")
    require_square("compare", meta=ensemble.meta)
    if ensemble.meta.get("method") != "sgd":
        raise ValueError(f"ensemble must come from method='sgd', got "
                         f"{ensemble.meta.get('method')!r}")
    if len(ensemble) < 2 or ensemble.t.size < 2:
        raise ValueError("ensemble needs at least 2 members and 2 records for standard errors")
    if isinstance(prediction, Problem):
        prediction = predict(prediction)
    if not isinstance(prediction, Prediction):
        raise TypeError("prediction must be a pyscale.Prediction (or a Problem)")
    check_same_problem(ensemble.meta, prediction.problem, "the ensemble")
    return ensemble, prediction


def _floor_rows(ens: Ensemble, prediction: Prediction, fl, window) -> list[SgdRow]:
    t = ens.t
    lo, hi = (0.5 * t[-1], t[-1]) if window is None else (float(window[0]), float(window[1]))
    inside = (t >= lo) & (t <= hi)
    if inside.sum() < 1:
        raise ValueError(f"window ({lo:g}, {hi:g}) holds no record")
    per_member = np.nanmean(ens.mse[:, inside], axis=1)     # one number per seed
    mean = float(np.mean(per_member))
    se = float(np.std(per_member, ddof=1) / np.sqrt(per_member.size))
    where = f"mean over t in [{lo:.4g}, {hi:.4g}] ({int(inside.sum())} records)"
    regime = fl.regime.summary()
    floor = None if fl.regime.refused else fl.floor
    step = stable_step(prediction.problem, fl.batch, fl.noise)
    rows = [SgdRow("floor", mean, floor, _rel(mean, floor),
                   f"s.e. {se:.2g}; {where}; relative correction {fl.relative_correction:.3f}",
                   regime),
            SgdRow("floor, first order only", mean, fl.first_order,
                   _rel(mean, fl.first_order), "lr sigma^2 / B", regime),
            SgdRow("floor, linear in lr", mean, fl.linear_floor,
                   _rel(mean, fl.linear_floor), f"(lr sigma^2/B)(1 + lr c1), c1 = "
                                                f"{fl.linear_coefficient:.4g}", regime),
            SgdRow("max stable lr", None, step.lr, None,
                   f"{step.method}, the bound in [{step.lr:.6g}, {step.upper:.6g}]; run at "
                   f"lr = {fl.lr:.4g} = {fl.lr / step.lr:.3f} x bound", "holds")]
    return rows


def _phase3_rows(ens: Ensemble, prediction: Prediction, fl, t0: float, w_start,
                 coupled: bool, curves: dict) -> list[SgdRow]:
    after = ens.t >= t0
    tau = ens.t[after] - t0
    law = _law(prediction, fl, tau, w_start, coupled, len(ens))
    mean = ens.mean("mse")[after]
    se = ens.std("mse")[after] / np.sqrt(len(ens))
    lo, hi = ens.band("mse", (0.1, 0.9))[:, after]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (law - mean) / se, 0.0)
        rel = np.abs(law - mean) / np.abs(mean)
    inside = float(np.mean((law >= lo) & (law <= hi)))
    worst = int(np.nanargmax(rel))
    curves["phase3"] = {"t": ens.t[after], "tau": tau, "mean": mean, "se": se, "law": law,
                        "q10": lo, "q90": hi, "z": z}
    note = (f"max |z| = {np.nanmax(np.abs(z)):.2f} over {tau.size} records; inside the "
            f"q10-q90 band at {100 * inside:.0f}%; {'coupled' if coupled else 'closed form'}")
    regime = _start_regime(prediction, fl, w_start)
    return [SgdRow("Phase III law, worst record", float(mean[worst]), float(law[worst]),
                   _rel(float(mean[worst]), float(law[worst])),
                   f"tau = {tau[worst]:.4g}; {note}", regime),
            SgdRow("Phase III law, last record", float(mean[-1]), float(law[-1]),
                   _rel(float(mean[-1]), float(law[-1])), f"z = {z[-1]:.2f}", regime)]


def _start_regime(prediction: Prediction, fl, w_start) -> str:
    """The SGD Phase III law's regime from the common start, or from each member's (the
    first failing reason and how many members it concerns)."""
    rows = np.atleast_2d(np.asarray(w_start, dtype=np.float64))
    regimes = [prediction.regime("sgd_tail_mse", w_at_T2=w, lr=fl.lr, batch=fl.batch,
                                 noise=fl.noise) for w in rows]
    bad = [r for r in regimes if r.failed]
    if not bad:
        return regimes[0].summary()
    share = "" if rows.shape[0] == 1 else f" ({len(bad)} of {rows.shape[0]} member starts)"
    return bad[0].summary() + share


def _law(prediction: Prediction, fl, tau: np.ndarray, w_start, coupled: bool,
         members: int) -> np.ndarray:
    """The Phase III law from one common start state (n,), or its mean over one start
    state per member (R, n): E MSE(T2 + τ) averaged over the ensemble's states at T2."""
    w = np.asarray(w_start, dtype=np.float64)
    if w.ndim == 1:
        return prediction.sgd_tail_mse(tau, w, fl.lr, fl.batch, fl.noise, coupled=coupled)
    if w.ndim != 2 or w.shape[0] != members:
        raise ValueError(f"w_start must have shape (n,) or (members, n) = ({members}, n), "
                         f"got {w.shape}")
    return np.mean([prediction.sgd_tail_mse(tau, row, fl.lr, fl.batch, fl.noise,
                                            coupled=coupled) for row in w], axis=0)


def _escape_rows(ens: Ensemble, prediction: Prediction, delta: float,
                 curves: dict) -> list[SgdRow]:
    s_star = prediction.problem.s_star
    if np.any(np.abs(ens.u[:, 0]) >= delta * s_star):
        return [SgdRow("escape time T1", None, None, None,
                       f"skipped: members start with |u| >= delta s* = {delta * s_star:.3g}")]
    t1 = escape_times(ens, delta)
    curves["escape"] = {"T1": t1}
    done = t1[np.isfinite(t1)]
    try:
        pred: float | None = prediction.escape_time(delta)
    except ValueError as err:  # no escape phase to time
        return [SgdRow("escape time T1", float(np.median(done)) if done.size else None, None,
                       None, f"no prediction: {err}")]
    if done.size == 0:
        return [SgdRow("escape time T1", None, pred, None,
                       f"no member reached |u| = {delta:g} s* by t = {ens.t[-1]:.4g}")]
    q10, q50, q90 = np.quantile(done, (0.1, 0.5, 0.9))
    se = float(np.std(done, ddof=1) / np.sqrt(done.size)) if done.size > 1 else float("nan")
    spread = f"q10 {q10:.4g}, q90 {q90:.4g}; {done.size}/{len(ens)} escaped"
    regime = prediction.regime("escape_time", delta=delta).summary()
    return [SgdRow("escape time T1, mean", float(done.mean()), pred,
                   _rel(float(done.mean()), pred), f"s.e. {se:.2g}; {spread}", regime),
            SgdRow("escape time T1, median", float(q50), pred, _rel(float(q50), pred),
                   f"delta = {delta:g}; record-grid resolution", regime)]


def compare_ensemble(ensemble: Ensemble, prediction, window: tuple | None = None,
                     start_time: float | None = None, w_start=None, delta: float = 0.05,
                     eps: float = 0.05, coupled: bool = True) -> SgdComparison:
    """Measured against predicted for an online-SGD ensemble (model page: SGD floor).

    Parameters
    ----------
    ensemble : Ensemble from ``simulate_many(..., method="sgd")``; its lr, batch and
        noise (meta) are the ones predicted for.
    prediction : Prediction (or the Problem) of the problem the ensemble ran on.
    window : (t_lo, t_hi) over which the floor is measured (default: the last half of
        the records); each member's MSE is averaged there, and the standard error is over
        members.
    start_time, w_start : where the Phase III law starts (default: the first record and
        ``prediction.problem.w0``, the ensemble's common start). ``w_start`` of shape
        (members, n) gives each member's own state at ``start_time`` (e.g. from the same
        seeds run to that step): the law is then the mean of the members' laws. Without
        ``w_start`` the law is compared only when every member starts with
        |u| >= (1 − ``eps``) s*.
    delta : |u| level of the escape time T1 (per member, on the record grid).
    coupled : Phase III law with the transient multiplicative noise (default) or in closed
        form (see :func:`pyscale.theory.sgd_tail_mse`).

    Returns
    -------
    SgdComparison with rows floor (± s.e.), floor's first-order and linear-in-lr values,
    max stable lr, the Phase III law at its worst and last record (max |z| and the share
    of records inside the q10–q90 band in the note) and, for members that start unescaped,
    the escape time's mean and median over seeds against log(δ/|C|)/ρ.
    """
    ens, prediction = _validated(ensemble, prediction)
    with warnings.catch_warnings():     # each row shows its law's regime instead
        warnings.simplefilter("ignore", RegimeWarning)
        return _compare(ens, prediction, window, start_time, w_start, delta, eps, coupled)


def _compare(ens: Ensemble, prediction: Prediction, window, start_time, w_start, delta: float,
             eps: float, coupled: bool) -> SgdComparison:
    lr, batch = float(ens.meta["lr"]), int(ens.meta.get("batch", 1))
    fl = prediction.sgd_floor(lr, batch, ens.meta.get("noise"))
    curves: dict = {}
    rows = _floor_rows(ens, prediction, fl, window)
    s_star = prediction.problem.s_star
    near = np.all(np.abs(ens.u[:, 0]) >= (1.0 - eps) * s_star)
    if fl.stable and (w_start is not None or near):
        t0 = float(ens.t[0]) if start_time is None else float(start_time)
        w = prediction.problem.w0 if w_start is None else w_start
        rows += _phase3_rows(ens, prediction, fl, t0, w, coupled, curves)
    else:
        why = ("lr >= max stable lr" if not fl.stable else
               "the start is not in Phase III (|u(0)| < (1 - eps) s*); pass w_start= "
               "and start_time=")
        rows.append(SgdRow("Phase III law", None, None, None, f"skipped: {why}",
                           fl.regime.summary() if not fl.stable else ""))
    rows += _escape_rows(ens, prediction, float(delta), curves)
    return SgdComparison(rows=rows, curves=curves)
