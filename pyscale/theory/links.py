"""The theory for a link pair other than the square (links page: Predictions for a pair).

What is derived for a pair (σ, τ) — classified by
:func:`pyscale.model.link_classification.classify` — and nothing more:

* **Phase I** when the small start is linear: ℓ_u(0, 0) = 0 (information exponent k* = 2),
  a smooth student with a finite c0⁰ = −2 ℓ_s(0, 0) and κ = −ℓ_uu(0, 0) > 0. Near w = 0 the
  flow is ẇ = c0⁰ Q w + κ u Q w* + O(s, u²): the square's linear system with (4 s*, 8)
  replaced by (c0⁰, κ). So ρ is the root above max_i c0⁰ λ_i of
  1 = κ Σ_i (w*_i)² λ_i² / (ρ − c0⁰ λ_i), C = â(ρ)/D'(ρ) with â(p) = Σ_i λ_i w_i(0) w*_i /
  (p − c0⁰ λ_i) and D'(ρ) = κ Σ_i (w*_i)² λ_i² / (ρ − c0⁰ λ_i)², and T1 = log(δ/|C|)/ρ.
* **Phase III's constant** for σ = τ: at w = w*, c0* = −c1* = −2 ℓ_s(s*, s*); the tail
  direction i relaxes like e^{c0* λ_i t} (the square: c0* = −8 s*), so the square's spectral
  sums hold with time rescaled by |c0*|/(8 s*).

Everywhere else — k* = 1 (u is driven from the start: no escape plateau), kinked students
(their start is not linear), k* ≥ 3 (a polynomial escape), κ ≤ 0, σ ≠ τ for Phase III — a
law refuses with one sentence (:class:`~pyscale.theory.regime.RegimeError`) and gives no
number: never the square's law in another pair's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._kernels.theory import volterra_march
from ..model.link_classification import PairClass
from ..model.link_levels import PhaseLevels, phase_levels
from ..model.problem import Problem
from ..model.statistics import statistics
from ..results.phases import DEFAULTS
from .escape import EscapeLaw, dispersion, escape_law, escape_s
from .regime import Condition, Regime

__all__ = ["LinkPrediction", "predict_link", "LINK_LAWS", "C0_DRIFT", "MODE_DOMINANCE"]

#: The laws a :class:`LinkPrediction` knows.
LINK_LAWS = ("escape_rate", "escape_prefactor", "escape_time", "u_escape", "dispersion",
             "phase3_constant")
#: Phase I's window: the largest relative change |c0(s(T1), 0)/c0⁰ − 1| along the linear
#: escape — the square's window s(T1) ≤ 0.12 s* is a change of 3 · 0.12 = 0.36 in c0.
C0_DRIFT = 0.36
#: Phase I's window: T1 within this fraction of the whole linear dynamics' crossing (as for
#: the square: the exponential mode dominant by T1).
MODE_DOMINANCE = 0.05
#: What was measured (links page: Predictions for a pair).
LINK_ESCAPE_ACCURACY = ("square student, |z| teacher, a = 2, d = 10^4, seeds 0-4: T1 "
                        "within 2.3 % of the flow's")


@dataclass(frozen=True)
class LinkPrediction:
    """The derived laws for one problem whose link pair is not the square; build it with
    :func:`pyscale.predict`. ``pair`` is the pair's :class:`PairClass`, ``levels`` its
    phases' levels, ``escape`` the escape law (None where the small start is not linear)."""
    problem: Problem
    pair: PairClass
    levels: PhaseLevels
    escape: Optional[EscapeLaw]
    a: Optional[float] = None
    a_source: str = "none"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def link(self):
        return self.problem.link

    @property
    def description(self) -> str:
        """The pair's small-start regime in one sentence."""
        return self.pair.description

    @property
    def sigma_star2(self) -> float:
        """‖w*‖²/d."""
        return self.problem.star_norm2 / self.problem.d

    @property
    def start(self) -> tuple[float, float]:
        """(c0⁰, κ): the linear small start's coefficients."""
        return self.pair.c0_zero, self.pair.kappa

    # ------------------------------------------------------------------ Phase I
    @property
    def escape_rate(self) -> float:
        """ρ: the root above max_i c0⁰ λ_i of 1 = κ Σ_i (w*_i)² λ_i² / (ρ − c0⁰ λ_i)."""
        self.regime("escape_rate").enforce()
        assert self.escape is not None
        return self.escape.rate

    @property
    def escape_prefactor(self) -> float:
        """C = â(ρ)/D'(ρ) with the pair's (c0⁰, κ)."""
        self.regime("escape_prefactor").enforce()
        assert self.escape is not None
        return self.escape.prefactor

    def escape_time(self, delta: float = DEFAULTS.delta) -> float:
        """T1(δ) ≈ log(δ s*/|C|)/ρ; refuses where the small start is not linear or there is
        no escape to time, warns outside the window."""
        self.regime("escape_time", delta=delta).enforce()
        assert self.escape is not None
        return self.escape.time_to(delta * self.problem.s_star)

    def u_escape(self, t) -> np.ndarray:
        """u(t) ≈ C e^{ρ t}."""
        self.regime("u_escape").enforce()
        assert self.escape is not None
        return self.escape.u(t)

    def dispersion(self, p) -> np.ndarray:
        """D(p) = 1 − κ Σ_i (w*_i)² λ_i² / (p − c0⁰ λ_i)."""
        self.regime("dispersion").enforce()
        return dispersion(self.problem, p, start=self.start)

    # ------------------------------------------------------------------ Phase III
    @property
    def phase3_constant(self) -> float:
        """c0* = −2 ℓ_s(s*, s*) for σ = τ: the tail direction i relaxes like e^{c0* λ_i t}."""
        self.regime("phase3_constant").enforce()
        assert self.pair.c0_star is not None
        return float(self.pair.c0_star)

    @property
    def tail_time_scale(self) -> float:
        """|c0*|/(8 s*): the square's Phase III sums hold at time t · |c0*|/(8 s*)."""
        return abs(self.phase3_constant) / (8.0 * self.problem.s_star)

    # ------------------------------------------------------------------ regimes
    def regime(self, law: str, **inputs) -> Regime:
        """Where ``law`` (one of :data:`LINK_LAWS`) holds for this pair, problem and
        ``delta`` (escape_time). A law of the square not derived for this pair refuses."""
        if law not in LINK_LAWS:
            return _not_derived(law, self.link.identity)
        if law == "phase3_constant":
            same = self.pair.c0_star is not None
            return Regime("Phase III's constant (phase3_constant)", (Condition(
                "student is the teacher", "sigma = tau", same, self.link.identity,
                "the minimum is not w* when the student is not the teacher, and Phase III "
                "is derived around w* only", kind="required"),), "exact (to rounding)")
        linear = self.pair.regime == "linear"
        conds = [Condition("a linear small start",
                           "l_u(0, 0) = 0, a smooth student, finite c0_zero, kappa > 0",
                           linear, f"information exponent {self.pair.information_exponent}",
                           self.pair.description, kind="required")]
        if linear and law in ("escape_time", "u_escape", "escape_rate", "escape_prefactor"):
            conds += self._escape_conditions(law, float(inputs.get("delta", DEFAULTS.delta)))
        accuracy = LINK_ESCAPE_ACCURACY if law != "dispersion" else "exact (to rounding)"
        return Regime(f"Phase I for link pair {self.link.identity!r} ({law})", tuple(conds),
                      accuracy)

    def _escape_conditions(self, law: str, delta: float) -> list:
        assert self.escape is not None
        p, esc = self.problem, self.escape
        st = statistics(p)
        level = delta * p.s_star
        timed = "required" if law == "escape_time" else "window"
        conds = [
            Condition("a growing mode", "rho > 0", esc.rate > 0.0, f"rho = {esc.rate:.4g}",
                      "the linear start decays: u = 0 is stable", kind="required"),
            Condition("not yet escaped", "|u(0)| < delta s*", abs(st["u"]) < level,
                      f"|u(0)| = {abs(st['u']):.3g}", "the start is already past |u| = "
                      "delta s*: there is no escape to predict", kind=timed),
            Condition("a positive escape time", "|C| < delta s*", abs(esc.prefactor) < level,
                      f"|C| = {abs(esc.prefactor):.3g}", "the escape law is already above "
                      "delta s* at t = 0, so log(delta s*/|C|)/rho <= 0", kind=timed)]
        if esc.rate > 0.0 and abs(esc.prefactor) < level:
            t1 = esc.time_to(level)
            s_t1 = escape_s(p, esc, t1, start=self.start)
            c0 = self.link.flow_coefficients(s_t1, 0.0, p.s_star)[0]
            drift = abs(c0 / self.pair.c0_zero - 1.0)
            conds.append(Condition(
                "c0 still c0_zero at T1", f"|c0(s(T1), 0)/c0_zero - 1| <= {C0_DRIFT:g}",
                drift <= C0_DRIFT, f"{drift:.3g} at s(T1) = {s_t1 / p.s_star:.3g} s*",
                "s grows with u and c0(s, 0) is no longer its small-start value before T1"))
            linear_t1 = self._linear_t1(level, 2.0 * t1)
            off = abs(t1 / linear_t1 - 1.0) if np.isfinite(linear_t1) else np.inf
            conds.append(Condition(
                "exponential mode dominant",
                f"T1 within {100 * MODE_DOMINANCE:g} % of the whole linear dynamics' crossing",
                off <= MODE_DOMINANCE, f"{100 * off:.3g} % off",
                "the modes near the poles c0_zero lambda_i still matter at T1, so C e^(rho t) "
                "is not yet u"))
        return conds

    def _linear_t1(self, level: float, t_max: float, points: int = 400) -> float:
        """The first t ≤ t_max with |u(t)| ≥ level on the whole linear small-start dynamics
        (the Volterra equation with 4Θ' = c0⁰ and coupling κ, links page: Escape), by
        log-linear interpolation on ``points`` steps; inf if not reached. Cached."""
        key = ("linear_t1", level, t_max)
        if key not in self._cache:
            p = self.problem
            lengths = np.full(points, t_max / points)
            rates = np.full(points, 0.25 * self.pair.c0_zero)
            fastest = max(abs(self.escape.rate) if self.escape else 0.0,
                          abs(self.pair.c0_zero) * p.lambda_max)
            n_sub = np.full(points, max(1, int(np.ceil(lengths[0] * fastest / 0.005))),
                            dtype=np.int64)
            u = np.empty(points)
            volterra_march(p.eigenvalues, p.w_star, p.w0, lengths, rates, n_sub,
                           float(self.pair.kappa), u)
            t = np.arange(1, points + 1) * lengths[0]
            au = np.abs(u)
            hit = np.flatnonzero(au >= level)
            if hit.size == 0:
                value = float("inf")
            else:
                k = int(hit[0])
                lo_t, lo_u = (0.0, abs(float(np.dot(p.eigenvalues * p.w_star, p.w0)))) \
                    if k == 0 else (t[k - 1], au[k - 1])
                value = float(t[k]) if lo_u <= 0 else float(
                    lo_t + (np.log(level) - np.log(lo_u)) / (np.log(au[k]) - np.log(lo_u))
                    * (t[k] - lo_t))
            self._cache[key] = value
        return self._cache[key]

    # ------------------------------------------------------------------ misc
    def summary(self, delta: float = DEFAULTS.delta) -> dict:
        """The scalar predictions: the pair's class, and where derived ρ, C, T1(δ) and c0*
        (None where a law refuses; ``T1_regime`` says why)."""
        regime = self.regime("escape_time", delta=delta)
        ok = not regime.refused
        c0_star = self.pair.c0_star
        return {"d": self.problem.d, "a": self.a, "link": self.link.identity,
                "information_exponent": self.pair.information_exponent,
                "even": self.pair.even, "kinked_start": self.pair.kinked_start,
                "small_start": self.pair.regime, "description": self.description,
                "escape_rate": self.escape.rate if ok and self.escape else None,
                "escape_prefactor": self.escape.prefactor if ok and self.escape else None,
                "delta": delta, "T1": self.escape_time(delta) if ok else None,
                "T1_regime": regime.summary(), "phase3_constant": c0_star,
                "sigma_star2": self.sigma_star2}

    def __repr__(self) -> str:
        info = self.summary(DEFAULTS.delta)
        t1 = "none" if info["T1"] is None else format(info["T1"], ".6g")
        return (f"LinkPrediction(link={self.link.identity!r}, d={self.problem.d}, "
                f"k*={self.pair.information_exponent}, start={self.pair.regime}, "
                f"T1(0.05)={t1})")


def _not_derived(law: str, identity: str) -> Regime:
    return Regime(f"{law} for link pair {identity!r}", (Condition(
        "derived for this pair", "a law derived for this link pair", False, identity,
        f"{law} is derived for phase retrieval (link 'square') only", kind="required"),))


def predict_link(problem: Problem, a: Optional[float], a_source: str) -> LinkPrediction:
    """The :class:`LinkPrediction` of a problem whose pair is not the square."""
    pair = problem.link.classify(problem.s_star)
    escape = escape_law(problem, start=(pair.c0_zero, pair.kappa)) \
        if pair.regime == "linear" else None
    return LinkPrediction(problem, pair, phase_levels(problem.link, problem.s_star), escape,
                          a, a_source)
