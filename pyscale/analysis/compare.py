"""Simulation against theory, side by side (model page: Phases): :func:`compare` reads the stopping
times, fitted rates and log-log exponents off a simulated :class:`~pyscale.Trajectory` and
puts each beside the matching :class:`~pyscale.theory.Prediction`.

Example::

    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e6, 2000)])
    traj = pyscale.simulate(problem, "flow", t=times)
    res = pyscale.compare(traj, pyscale.predict(problem))
    res.table()           # DataFrame: quantity, measured, predicted, predicted_over_measured
    res.plot("cmp.png")   # four panels (Agg backend)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

import numpy as np

import pyscale._repr as _repr

from ..engines import simulate
from ..model.link_support import require_square
from ..model.problem import Problem
from ..results import tidy
from ..results.identity import check_same_problem
from ..results.network import NetworkTrajectory
from ..results.phases import DEFAULTS
from ..results.trajectory import Ensemble, Trajectory
from ..theory import LinkPrediction, NetworkPrediction, Prediction, RegimeWarning, predict
from .compare_network import NetworkComparison, compare_network
from .compare_sgd import compare_ensemble
from .fits import crossing_time, fit_exponential_rate, fit_loglog
from .inputs import checked_inputs, rel_error

__all__ = ["compare", "Comparison", "fit_loglog", "fit_exponential_rate",
           "crossing_time", "theta_on_records"]


def _flow_state(problem: Problem, t: float) -> np.ndarray:
    if t <= 0:
        return np.array(problem.w0, copy=True)
    w = simulate(problem, "flow", t=[0.0, float(t)], rtol=1e-10).w
    assert w is not None  # the flow always hands back its final state
    return w


def theta_on_records(traj: Trajectory, s_star: float) -> np.ndarray:
    """Θ(t) = ∫_0^t (s* − 3 s) on the record grid (trapezoid rule; model page: Gradient flow)."""
    inc = np.diff(traj.t) * (s_star - 1.5 * (traj.s[1:] + traj.s[:-1]))
    return np.concatenate([[0.0], np.cumsum(inc)])


# ---------------------------------------------------------------------------- result
class Comparison(dict):
    """The data of :func:`compare` (a dict of plain numbers, tuples and arrays) with
    :meth:`table` (the scalar rows as a pandas DataFrame) and :meth:`plot`."""

    ROWS = (("T1", "T1(delta)"), ("escape_rate", "escape rate rho"),
            ("T2", "T2(eps) [bound]"), ("plateau", "MSE(T2) - sigma*^2 [bound]"),
            ("phase3", "Phase III max rel. error [vs eps]"), ("tail_exponent", "tail exponent 1/a"),
            ("phase2b_exponent", "1-|u| exponent (a-1)/a"))

    to_pandas = tidy.comparison_to_pandas
    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html

    def __str__(self) -> str:
        return self.table().to_string()

    def table(self):
        """The scalar comparisons as the comparison table (a pandas DataFrame,
        :data:`pyscale.results.tidy.COMPARISON_COLUMNS`: quantity, description, measured,
        predicted, predicted_over_measured = predicted / measured, rel_error, window_lo,
        window_hi, note), the same for every comparison."""
        return self.to_pandas()

    def plot(self, path=None, figsize=(11, 8)):
        """Four panels: Phase I (log|u|: simulation, C e^{ρt}, Volterra), the order
        parameters with T1, T1', T2 and the Corollary 1 bound, the MSE with the Phase III
        prediction MSE(T2) Ŝ_d(τ), and the learned fraction on the tail-exponent fit window
        with 1 − S_d and the mesoscopic asymptote. Uses the Agg backend; saves to ``path``
        if given; returns the figure."""
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        curves = self["curves"]
        fig, ax = plt.subplots(2, 2, figsize=figsize)
        p1 = curves["phase1"]
        ax[0, 0].semilogy(p1["t"], np.abs(p1["u"]), "k.", ms=3, label="simulated |u|")
        ax[0, 0].semilogy(p1["t"], np.abs(p1["u_escape"]), "C0-", label=r"$|C| e^{\rho t}$")
        ax[0, 0].semilogy(p1["t"], np.abs(p1["u_volterra"]), "C1--",
                          label=r"Volterra, $\Theta = s^* t$")
        ax[0, 0].axhline(self["delta"], color="gray", lw=0.5)
        ax[0, 0].set(xlabel="t", ylabel="|u|", title="Phase I: escape")
        ax[0, 0].legend(fontsize=8)
        tr = curves["trajectory"]
        pos = tr["t"] > 0
        ax[0, 1].loglog(tr["t"][pos], 1 - np.abs(tr["u"][pos]) / self["s_star"],
                        label="1 - |u|/s*")
        ax[0, 1].loglog(tr["t"][pos], np.abs(1 - tr["s"][pos] / self["s_star"]),
                        label="|1 - s/s*|")
        for key, style in (("T1", ":"), ("T1_prime", "-."), ("T2", "--")):
            val = self["times"].get(key)
            if val:
                ax[0, 1].axvline(val, color="k", ls=style, lw=0.8, label=key)
        if self.get("T2") and self["T2"].get("predicted"):
            ax[0, 1].axvline(self["T2"]["predicted"], color="C3", lw=0.8,
                             label="T2 bound (Cor. 1)")
        ax[0, 1].axhline(self["eps"], color="gray", lw=0.5)
        ax[0, 1].set(xlabel="t", title="order parameters")
        ax[0, 1].legend(fontsize=7)
        ax[1, 0].loglog(tr["t"][pos], tr["mse"][pos], "k-", label="simulated MSE")
        if "phase3" in curves:
            p3 = curves["phase3"]
            ax[1, 0].loglog(p3["t"], p3["mse_predicted"], "C1--",
                            label=r"MSE$(T_2)\,\hat S_d(\tau)$")
        ax[1, 0].axhline(self["sigma_star2"], color="gray", lw=0.5, label=r"$\sigma_*^2$")
        ax[1, 0].set(xlabel="t", ylabel="MSE", title="plateau and Phase III")
        ax[1, 0].legend(fontsize=8)
        if "tail_exponent" in curves:
            te = curves["tail_exponent"]
            fit = self["tail_exponent"]
            ax[1, 1].loglog(te["clock"], te["learned"], "k.", ms=3,
                            label=r"$1 - $MSE$/\sigma_*^2$, simulated")
            ax[1, 1].loglog(te["clock"], te["proxy"], "C1-", label=r"$1 - S_d$ (exact sum)")
            ax[1, 1].loglog(te["clock"], te["meso"], "C2:",
                            label=r"$\Gamma(1-1/a)\,x_d/d$ (slope 1/a)")
            ax[1, 1].set(xlabel=r"$(\Theta(T_1') - \Theta(t))/2$",
                         title=f"Phase III: slope {fit['measured']:.3g} vs 1/a = "
                               f"{fit['predicted']:.3g}")
            ax[1, 1].legend(fontsize=8)
        fig.suptitle(f"d = {self['d']}, a = {self['a']}: simulation vs theory")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


# ---------------------------------------------------------------------------- compare
def compare(trajectory: Trajectory, prediction: Any, delta: float = DEFAULTS.delta,
            eps: float = DEFAULTS.eps, s0: float = DEFAULTS.s0,
            states: Optional[Dict[str, np.ndarray]] = None,
            resimulate: bool = True, phase3_floor: float = 1e-4,
            plot: Any = None) -> Union[Comparison, NetworkComparison]:
    """Measured against predicted, for one trajectory (model page: Phases), or for an
    online-SGD :class:`~pyscale.Ensemble` (then
    :func:`pyscale.analysis.compare_sgd.compare_ensemble`: the noise floor, the SGD Phase III law
    and the escape time over seeds), or for a quadratic network's
    :class:`~pyscale.results.network.NetworkTrajectory` (then
    :func:`pyscale.analysis.compare_network.compare_network`: T1_j and ρ_j per unit, with
    ``delta`` the threshold on max_l |U_jl|/S*_ll).

    ``prediction``: a :class:`~pyscale.theory.Prediction` (or the Problem, then predicted
    here). ``delta``, ``eps``, ``s0``: the stopping-time parameters (T1: |u| >= δ s*;
    T1': s >= s*/3 + s0 from then on; T2: |u|, s ∈ [1 − ε, 1] s*). Record densely
    (log-spaced) for sharp stopping times.

    ``states``: optional {'T1_prime': w(T1'), 'T2': w(T2)} for the state-based predictions
    (Corollary 1 and Phase III). Otherwise, with ``resimulate=True``, they are recomputed
    by the exact flow on ``prediction.problem`` up to the measured T1' and T2 — exactly
    the trajectory's state for a flow trajectory, the flow's for GD / SGD ones
    (``result['states_from']`` says which).

    Returns a :class:`Comparison` (a dict) with, each as {'measured', 'predicted', ...}:

    * ``T1`` — the phases' T1 (``trajectory.phases().T1``: exact on a dense output, else
      the first record with |u| >= δ; 'interpolated': the log-interpolated crossing
      between records) vs log(δ/|C|)/ρ (None, with a 'note', where the escape law gives
      no escape time); ``sign``: sign of u(T1), of C and of u(0);
    * ``escape_rate`` — slope of log|u| on t ∈ [max(0, T1 − 2/ρ), T1] vs ρ;
    * ``volterra`` — max error of the Volterra solution (Θ = s* t) and of C e^{ρt} against
      the simulated u on t <= T1, relative to the running max of |u|, and the max absolute
      error of the Volterra solution driven by the simulated s (the exact equation) on
      t <= T1';
    * ``T2`` — the phases' T2 (``trajectory.phases().T2``: |u| and s in [1 − ε, 1] s*;
      one measured T2 throughout; 'u_alone_within_eps': the first record with
      1 − |u|/s* <= ε) vs the bound of Corollary 1 from w(T1') ('predicted'; 'holds' says
      whether measured <= predicted) and its power-law form;
    * ``plateau`` — MSE(T2) − σ*^2 vs the Proposition 4 bound;
    * ``phase3`` — max relative error of MSE(T2) Ŝ_d(τ) against the simulated MSE over τ
      where the simulated MSE is above ``phase3_floor`` · MSE(T2) (the frozen rates are
      off by O(ε) relative, so the error of a mode grows like ε · 16 λ_i τ: deep into the
      decay of a fully learned spectrum the relative error of the MSE is no longer O(ε));
    * ``tail_exponent`` — log-log slope of the learned fraction 1 − MSE(t)/σ*^2 against
      the Phase III clock Λ(t)/2 = (Θ(T1') − Θ(t))/2 (e_i^2 ≈ (w*_i)^2 e^{−16 λ_i Λ/2}
      from T1' on, so this is 1 − S_d with w*-weights) on the mesoscopic window
      10 <= x_d <= d/30, vs 1/a and vs the same fit of the exact sum 1 − S_d;
    * ``phase2b_exponent`` — log-log slope of 1 − |u|/s* against Λ = Θ(T1') − Θ(t) on
      Λ ∈ [10, 0.1/λ_min] (cut where 1 − |u| < 10 ε_machine-level noise) vs (a − 1)/a:
      1 − u ≈ T(1/Λ) ≍ Λ^{−(1 − 1/a)} from the tail mass of Corollary 1.

    ``curves`` holds the arrays behind the plot; ``plot``: a path to save the figure.
    """
    if isinstance(trajectory, NetworkTrajectory) or isinstance(prediction, NetworkPrediction):
        # a quadratic network's run: the per-unit escape (networks page)
        if plot is not None:
            raise ValueError("compare(plot=...) draws the single-index laws; a network's "
                             "comparison has no plot (its table is the result)")
        return compare_network(trajectory, prediction, delta=delta)
    if isinstance(trajectory, Ensemble):
        # online SGD over seeds: floor, SGD Phase III, T1 (derived for the square alone)
        require_square("compare", meta=trajectory.meta)
        return compare_ensemble(trajectory, prediction, delta=delta)
    if _is_link_run(trajectory, prediction):
        if plot is not None:
            raise ValueError("compare(plot=...) draws the square's four laws; a link pair's "
                             "comparison has no plot (its table is the result)")
        return _compare_link(trajectory, prediction, delta, eps, s0)
    ctx = _context(trajectory, prediction, delta, eps, s0, states, resimulate)
    res = ctx.result
    with warnings.catch_warnings():     # each row shows its law's regime instead
        warnings.simplefilter("ignore", RegimeWarning)
        _phase1(ctx)
        _phase2b_bound(ctx)
        _plateau_and_phase3(ctx, phase3_floor)
        _tail_exponent(ctx)
        _phase2b_exponent(ctx)
    res["curves"] = ctx.curves
    if plot is not None:
        import matplotlib.pyplot as plt
        fig = res.plot(plot)
        plt.close(fig)
    return res


# ---------------------------------------------------------------------------- other links
#: Rows of the square's comparison whose laws are derived for the square alone.
_SQUARE_ROWS = ("T2", "plateau", "phase3", "tail_exponent", "phase2b_exponent")


def _is_link_run(trajectory: Any, prediction: Any) -> bool:
    """Whether the run or the prediction is of a link pair other than the square."""
    meta = getattr(trajectory, "meta", None) or {}
    if str(meta.get("link", "square")) != "square" or isinstance(prediction, LinkPrediction):
        return True
    return isinstance(prediction, Problem) and not prediction.link.is_square


def _compare_link(trajectory: Any, prediction: Any, delta: float, eps: float,
                  s0: float) -> Comparison:
    """A link pair's run against its theory (links page: Predictions for a pair): T1 and
    the escape rate where the small start is linear (as for the square), every other row
    refused with the reason; the same table."""
    prediction = checked_inputs(trajectory, prediction, LinkPrediction, Trajectory,
                                "a link pair's LinkPrediction", "a pyscale.Trajectory")
    problem = prediction.problem
    check_same_problem(trajectory.meta, problem, "the trajectory")
    ph = trajectory.phases(delta=delta, eps=eps, s0=s0)
    res = Comparison(d=problem.d, a=prediction.a, method=trajectory.meta.get("method", "unknown"),
                     s_star=problem.s_star, delta=float(delta), eps=float(eps), s0=float(s0),
                     sigma_star2=prediction.sigma_star2, link=problem.link.identity,
                     times={"T1": ph.T1, "T1_prime": ph.T1_prime, "T2": ph.T2},
                     states_from=None)
    regime = prediction.regime("escape_time", delta=delta)
    t1 = None if regime.refused else prediction.escape_time(delta)
    res["T1"] = {"measured": ph.T1, "predicted": t1, "rel_error": rel_error(ph.T1, t1),
                 "regime": regime.summary()}
    if t1 is not None and ph.T1 is not None:
        rho = prediction.escape_rate
        fit = fit_exponential_rate(trajectory.t, trajectory.u,
                                   (max(0.0, ph.T1 - 2.0 / rho), ph.T1))
        if fit is not None:
            res["escape_rate"] = {"measured": fit["rate"], "predicted": rho,
                                  "rel_error": rel_error(fit["rate"], rho), "window": fit["window"],
                                  "n": fit["n"], "regime": regime.summary()}
    for key in _SQUARE_ROWS:
        res[key] = {"measured": None, "predicted": None,
                    "regime": prediction.regime(key).summary()}
    res["curves"] = {"trajectory": {k: np.asarray(getattr(trajectory, k))
                                    for k in ("t", "s", "u")}}
    return res


@dataclass
class _Context:
    """What every part of a comparison reads: the run, the theory, the stopping times."""
    tr: Trajectory
    prediction: Prediction
    problem: Problem
    phases: Any
    abs_u: np.ndarray          # |u| / s* per record
    eps: float
    s0: float
    result: Comparison
    curves: Dict[str, Any]
    states: Dict[str, np.ndarray]
    resimulate: bool

    @property
    def power_law(self) -> bool:
        return self.prediction.a is not None and self.prediction.a > 1

    @property
    def a(self) -> float:
        """The power-law exponent (only read where :attr:`power_law` holds)."""
        assert self.prediction.a is not None
        return float(self.prediction.a)

    def state(self, name: str, t: Optional[float]) -> Optional[np.ndarray]:
        """w at a stopping time: given, or the exact flow re-run up to it."""
        if name in self.states:
            return np.asarray(self.states[name], dtype=np.float64)
        if t is None or not self.resimulate:
            return None
        method = self.result["method"]
        self.result["states_from"] = ("flow (exact state)" if method == "flow"
                                      else f"flow re-run (trajectory method: {method})")
        self.states[name] = _flow_state(self.problem, t)
        return self.states[name]


def _context(trajectory: Any, prediction: Any, delta: float, eps: float, s0: float,
             states: Optional[Dict[str, np.ndarray]], resimulate: bool) -> _Context:
    if isinstance(prediction, Problem):
        prediction = predict(prediction)
    if not isinstance(prediction, Prediction):
        raise TypeError("prediction must be a pyscale.Prediction (or a Problem)")
    if not isinstance(trajectory, Trajectory) or len(trajectory) < 3:
        raise ValueError("trajectory must be a pyscale.Trajectory with at least 3 records")
    problem = prediction.problem
    check_same_problem(trajectory.meta, problem, "the trajectory")
    ph = trajectory.phases(delta=delta, eps=eps, s0=s0)
    res = Comparison(d=problem.d, a=prediction.a, method=trajectory.meta.get("method", "unknown"),
                     s_star=problem.s_star, delta=float(delta), eps=float(eps), s0=float(s0),
                     sigma_star2=prediction.sigma_star2,
                     times={"T1": ph.T1, "T1_prime": ph.T1_prime, "T2": ph.T2},
                     states_from="given" if states else None)
    curves = {"trajectory": {k: getattr(trajectory, k) for k in ("t", "s", "u", "mse")}}
    return _Context(trajectory, prediction, problem, ph, np.abs(trajectory.u) / problem.s_star,
                    float(eps), float(s0), res, curves, dict(states or {}), resimulate)


def _phase1(ctx: _Context) -> None:
    """T1 (|u| = δ: exact on a dense output, else the log-interpolated crossing) vs
    log(δ/|C|)/ρ, the sign of u(T1), the escape rate fitted on log|u| and the Volterra
    solution against the simulated u."""
    tr, pred, ph, res = ctx.tr, ctx.prediction, ctx.phases, ctx.result
    delta = res["delta"]
    # The phases' T1 (exact along the flow's dense output, else the first record with
    # |u| >= δ), and for record grids the log-interpolated crossing beside it.
    t1_meas = ph.T1
    regime = pred.regime("escape_time", delta=delta)
    t1_pred = None if regime.refused else pred.escape_time(delta)
    res["T1"] = {"measured": t1_meas, "predicted": t1_pred,
                 "rel_error": rel_error(t1_meas, t1_pred),
                 "interpolated": (ph.T1 if tr.dense is not None
                                  else crossing_time(tr.t, ctx.abs_u, delta)),
                 "regime": regime.summary()}
    if ph.T1 is None:
        return
    k1 = int(np.searchsorted(tr.t, ph.T1))
    res["sign"] = {"u_T1": float(np.sign(tr.u[k1])), "C": float(np.sign(pred.escape_prefactor)),
                   "u0": float(np.sign(tr.u[0])),
                   "agree": bool(np.sign(tr.u[k1]) == np.sign(pred.escape_prefactor))}
    rho = pred.escape_rate
    lo = max(0.0, ph.T1 - 2.0 / rho)
    # the window starts after the last sign change before T1
    flips = np.flatnonzero(~(np.sign(tr.u) == np.sign(tr.u[k1]))[: k1 + 1])
    if flips.size:
        lo = max(lo, float(tr.t[flips[-1] + 1]))
    fit = fit_exponential_rate(tr.t, tr.u, (lo, ph.T1))
    if fit is not None:
        res["escape_rate"] = {"measured": fit["rate"], "predicted": rho,
                              "rel_error": rel_error(fit["rate"], rho), "window": fit["window"],
                              "n": fit["n"], "regime": regime.summary()}
    _volterra(ctx)


def _volterra(ctx: _Context) -> None:
    tr, pred, ph = ctx.tr, ctx.prediction, ctx.phases
    m1 = tr.t <= ph.T1 * (1 + 1e-12)
    t_p1 = tr.t[m1]
    u_volt = pred.u_volterra(t_p1)
    u_exp = pred.u_escape(t_p1)
    scale = np.maximum.accumulate(np.abs(tr.u[m1]))  # u may cross zero early on
    vol = {"max_rel_error_volterra": float(np.max(np.abs(u_volt - tr.u[m1]) / scale)),
           "max_rel_error_exponential": float(np.max(np.abs(u_exp - tr.u[m1]) / scale)),
           "window": (0.0, float(ph.T1))}
    if ph.T1_prime is not None and tr.t[0] == 0.0:
        m2 = tr.t <= ph.T1_prime * (1 + 1e-12)
        u_exact = pred.u_volterra(tr.t[m2], s_path=(tr.t, tr.s))
        vol["max_abs_error_volterra_measured_theta"] = float(np.max(np.abs(u_exact - tr.u[m2])))
        vol["window_measured_theta"] = (0.0, float(ph.T1_prime))
    ctx.result["volterra"] = vol
    ctx.curves["phase1"] = {"t": t_p1, "u": tr.u[m1], "u_escape": u_exp, "u_volterra": u_volt}


def _phase2b_bound(ctx: _Context) -> None:
    """The measured T2 (the phases' one: |u| and s in band) vs the bound of Corollary 1
    from w(T1'); ``u_alone_within_eps``: the first record with 1 − |u|/s* ≤ ε."""
    tr, ph, eps = ctx.tr, ctx.phases, ctx.eps
    hit = np.flatnonzero(1.0 - ctx.abs_u <= eps)
    t_u_eps = float(tr.t[hit[0]]) if hit.size else None
    w_t1p = ctx.state("T1_prime", ph.T1_prime)
    if w_t1p is None or ph.T1_prime is None:
        return
    bound = ctx.prediction.t2_bound(eps, w_t1p, s0=ctx.s0, t1_prime=ph.T1_prime)
    ctx.result["T2"] = {
        "measured": ph.T2, "u_alone_within_eps": t_u_eps, "predicted": bound.T2,
        "holds": None if ph.T2 is None else bool(ph.T2 <= bound.T2),
        "asymptotic": None if bound.asymptotic is None else ph.T1_prime + bound.asymptotic,
        "lambda_eps": bound.lambda_eps, "index_eps": bound.index,
        "head_alignment": bound.head_alignment, "T1_prime": ph.T1_prime,
        "regime": ctx.prediction.regime("t2_bound", state_at_T1prime=w_t1p,
                                        s0=ctx.s0).summary()}


def _plateau_and_phase3(ctx: _Context, phase3_floor: float) -> None:
    """MSE(T2) − σ*² vs the plateau bound; MSE(T2) Ŝ_d(τ) vs the simulated MSE after T2."""
    tr, ph, pred, res = ctx.tr, ctx.phases, ctx.prediction, ctx.result
    if ph.T2 is None:
        return
    mse_t2 = float(tr.mse[int(np.searchsorted(tr.t, ph.T2))])
    plateau = pred.regime("plateau_bound")
    res["plateau"] = {"measured": mse_t2 - pred.sigma_star2, "mse_T2": mse_t2,
                      "predicted": None if plateau.refused else pred.plateau_bound(ctx.eps),
                      "regime": plateau.summary()}
    w_t2 = ctx.state("T2", ph.T2)
    after = tr.t > ph.T2
    if w_t2 is None or after.sum() < 3:
        return
    tau = tr.t[after] - ph.T2
    mse_meas = tr.mse[after]
    mse_pred = pred.tail_mse(tau, w_t2)
    mse0 = float(pred.tail_mse(0.0, w_t2))
    ok = mse_meas >= phase3_floor * mse0
    max_rel = float((np.abs(mse_pred - mse_meas) / mse_meas)[ok].max()) if ok.any() else None
    res["phase3"] = {"measured": max_rel, "predicted": ctx.eps, "max_rel_error": max_rel,
                     "window": ((float(tau[ok].min()), float(tau[ok].max()))
                                if ok.any() else None),
                     "mse_T2": mse0, "eps": ctx.eps,
                     "regime": pred.regime("tail_mse", w_at_T2=w_t2).summary()}
    ctx.curves["phase3"] = {
        "t": tr.t[after], "tau": tau, "mse": mse_meas, "mse_predicted": mse_pred,
        "learned_measured": 1.0 - mse_meas / mse0, "learned_predicted": 1.0 - mse_pred / mse0,
        "learned_mesoscopic": (pred.tail_asymptotics(tau).learned / ctx.problem.d
                               if ctx.power_law else None)}


def _refused(ctx: _Context, key: str, law: Optional[str] = None) -> bool:
    """A power-law row the prediction refuses (a unknown or ≤ 1): shown with no numbers and
    the reason."""
    regime = ctx.prediction.regime(law or key)
    if regime.refused:
        ctx.result[key] = {"measured": None, "predicted": None, "regime": regime.summary()}
    return regime.refused


def _clock_after_t1_prime(ctx: _Context) -> Optional[np.ndarray]:
    """Λ(t) = Θ(T1') − Θ(t) on the record grid (model page: Phases), or None."""
    if not ctx.power_law or ctx.phases.T1_prime is None:
        return None
    theta = theta_on_records(ctx.tr, ctx.problem.s_star)
    return theta[int(np.searchsorted(ctx.tr.t, ctx.phases.T1_prime))] - theta


def _tail_exponent(ctx: _Context) -> None:
    """Log-log slope of 1 − MSE(t)/σ*² against the Phase III clock Λ(t)/2 on the
    mesoscopic window 10 ≤ x_d ≤ d/30, vs 1/a and vs the same fit of 1 − S_d."""
    if _refused(ctx, "tail_exponent"):
        return
    big_lambda = _clock_after_t1_prime(ctx)
    if big_lambda is None:
        return
    tr, pred, d = ctx.tr, ctx.prediction, ctx.problem.d
    clock = np.where(tr.t > ctx.phases.T1_prime, 0.5 * big_lambda, 0.0)  # ≈ t − T1'
    x_d = pred.tail_asymptotics(np.maximum(clock, 0.0)).x_d
    learned = 1.0 - tr.mse / pred.sigma_star2
    in_window = (clock > 0) & (x_d >= 10.0) & (x_d <= d / 30.0)
    if in_window.sum() < 3:
        return
    window = (float(clock[in_window].min()), float(clock[in_window].max()))
    fit_m = fit_loglog(clock, learned, window)
    proxy = 1.0 - pred.spectral_proxy(clock[in_window])
    fit_p = fit_loglog(clock[in_window], proxy, window)
    ctx.result["tail_exponent"] = {
        "measured": None if fit_m is None else fit_m["slope"], "predicted": 1.0 / ctx.a,
        "proxy_exact_sum": None if fit_p is None else fit_p["slope"], "window": window,
        "x_d_window": (10.0, d / 30.0),
        "variable": "(Theta(T1') - Theta(t))/2; y = 1 - MSE(t)/sigma*^2",
        "regime": pred.regime("tail_exponent").summary()}
    ctx.curves["tail_exponent"] = {
        "clock": clock[in_window], "learned": learned[in_window], "proxy": proxy,
        "meso": pred.tail_asymptotics(clock[in_window]).learned / d}


def _phase2b_exponent(ctx: _Context) -> None:
    """Log-log slope of 1 − |u|/s* against Λ on Λ ∈ [10, 0.1/λ_min] vs (a − 1)/a."""
    if _refused(ctx, "phase2b_exponent", law="tail_exponent"):
        return
    big_lambda = _clock_after_t1_prime(ctx)
    if big_lambda is None:
        return
    a = ctx.a
    gap = 1.0 - ctx.abs_u
    m = (ctx.tr.t > ctx.phases.T1_prime) & (gap > 1e-10)
    fit = fit_loglog(big_lambda[m], gap[m], (10.0, 0.1 / float(ctx.problem.eigenvalues.min())))
    if fit is not None:
        ctx.result["phase2b_exponent"] = {
            "measured": -fit["slope"], "predicted": (a - 1.0) / a, "window": fit["window"],
            "variable": "Lambda = Theta(T1') - Theta(t)",
            "regime": ctx.prediction.regime("tail_exponent").summary()}
