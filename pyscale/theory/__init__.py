"""The predictions (model page: Phases) as functions of a :class:`~pyscale.Problem` (any spectrum),
in O(d) with numba kernels (:mod:`pyscale._kernels.theory`).

Example::

    problem = pyscale.Problem.power_law(1000, 2.0, seed=0)
    pred = pyscale.predict(problem)
    pred.escape_rate, pred.escape_time(0.05)        # ρ and T1(δ) = log(δ/|C|)/ρ
    pred.tail_mse(tau, w_at_T2)                      # Phase III from a state at T2

Every law states where it holds: ``pred.regime(name, **inputs)`` is its
:class:`~pyscale.theory.regime.Regime` for this problem and state; outside a required
condition the law refuses (:class:`~pyscale.theory.regime.RegimeError`), outside its
measured window it warns (:class:`~pyscale.theory.regime.RegimeWarning`).

Modules, one job each: :mod:`.escape` (Phase I: ρ, C, Volterra), :mod:`.convergence`
(Phase IIb: Corollary 1; the plateau), :mod:`.tail` (Phase III), :mod:`.isotropic`
(the closed 2-D ODE of Q = c I), :mod:`.recursion`, :mod:`.sgd`, :mod:`.stability` (online
SGD near w*), :mod:`.regime` (the mechanism) and :mod:`.validity` (each law's regime);
:mod:`.links` (other link pairs), :mod:`.network` and :mod:`.network_escape` (the quadratic
network's small-start escape, networks page: Escape of the quadratic network).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from ..model.problem import Problem
from ..results.phases import DEFAULTS
from . import validity
from .convergence import (
    PhaseIIbBound,
    check_power_law_exponent,
    plateau_excess_bound,
    t2_bound,
    t2_power_law,
)
from .escape import (
    EscapeLaw,
    dispersion,
    escape_law,
    escape_s,
    solve_volterra,
    volterra_escape_time,
)
from .isotropic import isotropic_flow, isotropic_rhs
from .links import LINK_LAWS, LinkPrediction, predict_link
from .network import (
    NETWORK_LAWS,
    NOT_DERIVED,
    NetworkPrediction,
    predict_network,
)
from .network_escape import NetworkEscape, network_escape_law
from .regime import Condition, Regime, RegimeError, RegimeWarning
from .sgd import SgdFloor, sgd_floor, sgd_tail_mse
from .stability import StableStep, max_stable_lr, stable_step
from .tail import (
    TailAsymptotics,
    aligned_error,
    spectral_proxy,
    tail_asymptotics,
    tail_mse,
    tail_profile,
)

__all__ = ["predict", "Prediction", "spectral_proxy", "tail_asymptotics", "TailAsymptotics",
           "tail_mse", "tail_profile", "t2_bound", "t2_power_law", "PhaseIIbBound",
           "plateau_excess_bound", "escape_law", "EscapeLaw", "dispersion",
           "solve_volterra", "isotropic_flow", "isotropic_rhs", "fit_power_law_exponent",
           "aligned_error", "SgdFloor", "sgd_floor", "sgd_tail_mse", "max_stable_lr",
           "stable_step", "StableStep", "Regime", "Condition", "RegimeWarning", "RegimeError",
           "LAWS", "escape_s", "volterra_escape_time", "LinkPrediction", "LINK_LAWS",
           "NetworkPrediction", "NETWORK_LAWS", "NOT_DERIVED", "NetworkEscape",
           "network_escape_law"]

#: The laws of :class:`Prediction` that :meth:`Prediction.regime` knows, by method name.
LAWS = ("escape_rate", "escape_prefactor", "escape_time", "u_escape", "u_volterra",
        "dispersion", "t2_bound", "t2_asymptotic", "plateau_bound", "tail_mse", "tail_profile",
        "spectral_proxy", "tail_asymptotics", "tail_exponent", "sgd_floor", "sgd_tail_mse",
        "max_stable_lr", "isotropic")


def fit_power_law_exponent(problem: Problem) -> float:
    """Least-squares slope a of log λ against log(rank) (λ ∝ rank^{-a}), ranks counted in
    physical coordinates (``counts``) so that a compressed spectrum gives the same a.
    A descriptive fit for spectra that are not built as power laws."""
    order = np.argsort(-problem.eigenvalues, kind="stable")
    lam = problem.eigenvalues[order]
    counts = problem.counts[order]
    upper = np.cumsum(counts)
    rank = upper - 0.5 * counts + 0.5  # mid-rank of each stored coordinate's block
    keep = counts > 0
    if keep.sum() < 2 or np.ptp(lam[keep]) == 0:
        return 0.0
    slope = np.polyfit(np.log(rank[keep]), np.log(lam[keep]), 1, w=np.sqrt(counts[keep]))[0]
    return float(-slope)


@dataclass(frozen=True)
class Prediction:
    """Every prediction (model page: Phases) for one problem. Build it with :func:`predict`.

    escape_rate ρ and escape_prefactor C (Phase I) are computed on construction, O(d);
    everything else is computed on demand from a time grid or a state. ``a`` is the
    power-law exponent used by the asymptotic formulas (None for a spectrum that is not a
    power law: those formulas then raise ValueError, the exact sums do not need it).
    """
    problem: Problem
    escape: EscapeLaw
    a: Optional[float] = None
    a_source: str = "none"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ Phase I
    @property
    def escape_rate(self) -> float:
        """ρ: the root > 4 s* λ_1 of 1 = 8 Σ_i (w*_i)^2 λ_i^2 / (ρ − 4 s* λ_i) (model page:
        Escape)."""
        return self.escape.rate

    @property
    def escape_prefactor(self) -> float:
        """C = â(ρ) / D'(ρ) (model page: Escape); its sign is the sign u takes at escape."""
        return self.escape.prefactor

    def escape_time(self, delta: float = DEFAULTS.delta) -> float:
        """T1(δ) ≈ log(δ / |C|) / ρ (model page: Escape). Refuses (RegimeError, a
        ValueError) where there is no escape to time — a start past |u| = δ, or |C| ≥ δ
        (then the law's T1 would be ≤ 0) — and warns outside its window
        (``regime("escape_time", delta=δ)``: the linear escape's own s(T1) ≤ 0.12 s*)."""
        self.regime("escape_time", delta=delta).enforce()
        return self.escape.time_to(delta)

    def u_escape(self, t) -> np.ndarray:
        """u(t) ≈ C e^{ρ t} (model page: Escape), for t up to T1(0.05); the regime of
        :meth:`escape_time`."""
        self.regime("u_escape").enforce()
        return self.escape.u(t)

    def u_volterra(self, t, s_path=None, max_step: Optional[float] = None) -> np.ndarray:
        """u(t) from the Volterra equation (model page: Gradient flow) with Θ(t) = s* t, or with the
        Θ of a recorded s path ``s_path = (t, s)`` (then exact); see
        :func:`pyscale.theory.solve_volterra`."""
        self.regime("u_volterra", s_path=s_path).enforce()
        return solve_volterra(self.problem, t, s_path=s_path, max_step=max_step)

    def dispersion(self, p) -> np.ndarray:
        """D(p) = 1 − 8 Σ_i (w*_i)^2 λ_i^2 / (p − 4 s* λ_i) (model page: Escape)."""
        return dispersion(self.problem, p)

    # ------------------------------------------------------------------ Phase IIb
    def t2_bound(self, eps: float, state_at_T1prime, s0: float,
                 t1_prime: float = 0.0) -> PhaseIIbBound:
        """Corollary 1 (model page: Phases) from w(T1') (an array, or a Trajectory ending at T1');
        ``.T2`` is T1' + log(4 S≥(λ_ε)/ε)/(4 s0 λ_ε). The power-law asymptotic is
        attached as ``.asymptotic`` when a > 1 is known."""
        a = self.a if (self.a is not None and self.a > 1) else None
        if isinstance(state_at_T1prime, np.ndarray):
            self.regime("t2_bound", state_at_T1prime=state_at_T1prime, s0=s0).enforce()
        return t2_bound(self.problem, eps, state_at_T1prime, s0, t1_prime=t1_prime, a=a)

    def t2_asymptotic(self, eps, s0: float, s_T1prime: float = 1.0 / 3.0,
                      head_alignment: float = 1.0):
        """Power-law form of Corollary 1: T2 − T1' ∝ ε^{-2a/(a−1)} log(1/ε) (model page: Phases);
        see :func:`pyscale.theory.t2_power_law`. Needs a > 1."""
        return t2_power_law(eps, self._power_law_a("t2_asymptotic"), s0, d=self.problem.d,
                            s_T1prime=s_T1prime, head_alignment=head_alignment,
                            star_mean2=self.sigma_star2)

    @property
    def sigma_star2(self) -> float:
        """σ*^2 = ||w*||^2 / d: the MSE of w = 0, the plateau level (model page: Phases)."""
        return self.problem.star_norm2 / self.problem.d

    def plateau_bound(self, eps) -> float:
        """Proposition 4 (model page: Phases): the bound on MSE(T2) − σ*^2, with constant 1,
        (ε^{-a}/d)^{1/3} + (log d / d)^{1/3}. Needs a > 1."""
        return plateau_excess_bound(eps, self._power_law_a("plateau_bound"), self.problem.d)

    # ------------------------------------------------------------------ Phase III
    def tail_mse(self, tau, w_at_T2):
        """MSE(T2 + τ) ≈ MSE(T2) · Ŝ_d(τ) from the state w(T2) (model page: Phase III);
        warns outside its measured window (``regime("tail_mse", w_at_T2=w)``)."""
        return tail_mse(self.problem, tau, w_at_T2)

    def tail_profile(self, tau, w_at_T2):
        """Ŝ_d(τ) = Σ π_i e^{−16 s* λ_i τ}, π_i ∝ e_i(T2)^2 (model page: Phase III); the
        regime of :meth:`tail_mse`."""
        return tail_profile(self.problem, tau, w_at_T2)

    def spectral_proxy(self, tau):
        """S_d(τ) = (1/d) Σ_i e^{−16 s* λ_i τ} over the physical coordinates (``counts``)."""
        p = self.problem
        return spectral_proxy(p.eigenvalues, tau, counts=p.counts, d=p.d, s_star=p.s_star)

    def tail_asymptotics(self, tau) -> TailAsymptotics:
        """Early / mesoscopic / late regimes of S_d(τ) (model page: Phase III). Needs a > 1."""
        return tail_asymptotics(self.problem.d, self._power_law_a("tail_asymptotics"), tau)

    @property
    def tail_exponent(self) -> float:
        """1/a: 1 − S_d(τ) ∝ τ^{1/a} in the mesoscopic regime (model page: Phase III). Needs a >
        1."""
        return 1.0 / self._power_law_a("tail_exponent")

    # ------------------------------------------------------------------ online SGD
    def sgd_floor(self, lr: float, batch: int = 1, noise: Optional[float] = None) -> SgdFloor:
        """Stationary E[MSE] of online SGD near w*: η σ²/B with its O(lr) corrections and
        the largest stable lr (model page: SGD floor), compressed problems included, in
        O(modes); see :func:`pyscale.theory.sgd_floor`. Refused (``floor`` inf) at or above
        the stable step, warns above 0.6 of it (``.regime``)."""
        return sgd_floor(self.problem, lr, batch, noise)

    def sgd_tail_mse(self, tau, w_at_T2, lr: float, batch: int = 1,
                     noise: Optional[float] = None, coupled: bool = True):
        """E MSE(T2 + τ) under online SGD ≈ MSE(T2) Ŝ_d(τ) + floor (1 − S_d(τ)) with the
        finite-lr rates (model page: SGD floor), ``w_at_T2`` a stored vector (length
        ``problem.n_coords``, as a trajectory's ``w``); see
        :func:`pyscale.theory.sgd_tail_mse`. Refuses at or above the stable step; warns
        outside its window (``regime("sgd_tail_mse", w_at_T2=w, lr=lr)``)."""
        return sgd_tail_mse(self.problem, tau, w_at_T2, lr, batch, noise, coupled=coupled)

    # ------------------------------------------------------------------ isotropic
    @property
    def isotropic_scale(self) -> float:
        """c = tr Q / d: the isotropic problem Q = c I with the same trace."""
        p = self.problem
        return float(np.dot(p.counts, p.eigenvalues) / p.d)

    def isotropic(self, t) -> dict:
        """The closed 2-D ODE of Q = c I (model page: Moment hierarchy), c = tr Q / d, from this
        problem's s(0), u(0): the isotropic reference (exact when the problem is isotropic)."""
        self.regime("isotropic").enforce()
        p = self.problem
        s0 = float(np.dot(p.eigenvalues * p.w0, p.w0))
        u0 = float(np.dot(p.eigenvalues * p.w_star, p.w0))
        out = isotropic_flow(t, s0, u0, s_star=p.s_star, c=self.isotropic_scale)
        out["mse"] = out["q_error"] / (self.isotropic_scale * p.d)
        return out

    # ------------------------------------------------------------------ regimes
    def regime(self, law: str, **inputs) -> Regime:
        """Where ``law`` (a method name, one of :data:`LAWS`) holds for this problem and the
        given inputs (docs: Theory and its regimes): its conditions, whether each holds and,
        where not, why. Inputs by law: ``delta`` (escape_time), ``s_path`` (u_volterra),
        ``state_at_T1prime`` and ``s0`` (t2_bound), ``w_at_T2`` (tail_mse, tail_profile,
        sgd_tail_mse), ``lr``, ``batch``, ``noise`` (sgd_floor, sgd_tail_mse)."""
        if law not in LAWS:
            raise ValueError(f"unknown law {law!r}; laws: {', '.join(LAWS)}")
        p = self.problem
        try:
            if law in ("escape_rate", "escape_prefactor", "u_escape", "escape_time") or (
                    law == "u_volterra" and inputs.get("s_path") is None):
                delta = float(inputs.get("delta", DEFAULTS.delta))
                volterra = (None if law == "u_volterra" else self._volterra_t1(delta))
                return validity.escape_regime(p, self.escape, law, delta, volterra)
            if law in ("u_volterra", "dispersion", "spectral_proxy", "max_stable_lr"):
                return validity.exact_regime(law)
            if law == "t2_bound":
                return validity.t2_bound_regime(p, inputs["state_at_T1prime"],
                                                float(inputs["s0"]))
            if law in ("t2_asymptotic", "plateau_bound", "tail_asymptotics", "tail_exponent"):
                return validity.power_law_regime(self.a, law)
            if law in ("tail_mse", "tail_profile"):
                return validity.phase3_regime(p, inputs["w_at_T2"], f"Phase III ({law})")
            if law == "isotropic":
                return validity.isotropic_regime(p)
            args = (inputs["lr"], inputs.get("batch", 1), inputs.get("noise"))
        except KeyError as err:
            raise TypeError(f"regime({law!r}) needs {err.args[0]}=") from None
        bound = max_stable_lr(p, args[1], args[2])
        if law == "sgd_floor":
            return validity.sgd_floor_regime(float(args[0]), bound)
        return validity.sgd_tail_regime(p, inputs["w_at_T2"], float(args[0]), bound)

    def _volterra_t1(self, delta: float) -> Optional[float]:
        """T1(δ) of the Volterra solution with Θ = s* t, cached (None: no finite T1)."""
        key = ("volterra_t1", delta)
        if key not in self._cache:
            t1 = self.escape.time_to(delta)
            ok = np.isfinite(t1) and t1 > 0
            self._cache[key] = volterra_escape_time(self.problem, delta, 2.0 * t1) if ok \
                else None
        return self._cache[key]

    # ------------------------------------------------------------------ misc
    def _power_law_a(self, law: str) -> float:
        self.regime(law).enforce()
        return check_power_law_exponent(self.a)

    def summary(self, delta: float = DEFAULTS.delta) -> dict:
        """The scalar predictions: ρ, C, T1(δ) (None where the escape law refuses: see
        ``T1_regime``), and (a > 1) the tail exponent 1/a."""
        regime = self.regime("escape_time", delta=delta)
        out: dict = {"d": self.problem.d, "a": self.a, "escape_rate": self.escape_rate,
                     "escape_prefactor": self.escape_prefactor, "delta": delta,
                     "T1": None if regime.refused else self.escape.time_to(delta),
                     "sigma_star2": self.sigma_star2, "T1_regime": regime.summary()}
        if self.a is not None and self.a > 1:
            out["tail_exponent"] = 1.0 / self.a
        return out

    def __repr__(self) -> str:
        t1 = self.summary(0.05)["T1"]
        return (f"Prediction(d={self.problem.d}, a={self.a}, rho={self.escape_rate:.12g}, "
                f"C={self.escape_prefactor:.6g}, T1(0.05)="
                f"{'none' if t1 is None else format(t1, '.6g')})")


def predict(problem: Problem, a: Union[None, float, str] = None
            ) -> Union[Prediction, LinkPrediction, NetworkPrediction]:
    """All predictions (model page: Phases) for ``problem``; ρ and C are computed now (O(d)).

    For a link pair other than the square: a :class:`LinkPrediction` (links page: Predictions
    for a pair) holding the laws derived for that pair; the others refuse in one sentence.
    For a quadratic network: a :class:`NetworkPrediction` (networks page: Escape of the
    quadratic network), the per-unit small-start escape; any other network is refused in one
    sentence saying why no theory is derived for it.

    ``a``: the power-law exponent for the asymptotic formulas — default: the ``a`` the
    problem was built with (``Problem.power_law``), else none; a number; or ``"fit"``
    (:func:`fit_power_law_exponent`). a <= 1 is accepted here (the exact sums hold for
    any spectrum) and refused with ValueError by the asymptotic formulas.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    if a is None:
        info_a = problem.info.get("a") if problem.info.get("constructor") == "power_law" \
            else None
        a_value, source = (None, "none") if info_a is None else (float(info_a), "problem")
    elif isinstance(a, str):
        if a != "fit":
            raise ValueError(f"a must be a number, None or 'fit', got {a!r}")
        a_value, source = fit_power_law_exponent(problem), "fitted"
    else:
        a_value, source = float(a), "given"
        if not np.isfinite(a_value) or a_value < 0:
            raise ValueError(f"a must be finite and >= 0, got {a}")
    if problem.is_network:
        return predict_network(problem, a_value, source)
    if not problem.link.is_square:
        return predict_link(problem, a_value, source)
    return Prediction(problem=problem, escape=escape_law(problem), a=a_value,
                      a_source=source)
