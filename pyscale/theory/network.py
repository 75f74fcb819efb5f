"""The theory of two-layer networks (networks page: Escape of the quadratic network): what is
derived, and the one sentence that says so where it is not.

Derived: the **small-start escape of the quadratic network** (σ = τ = square, readouts
a_j > 0, a*_l > 0): per unit the growth rate ρ_j = a_j ρ̃, the prefactor C_j of
U_j(t) ≈ C_j e^{ρ_j t}, the common escape direction and T1_j(δ) = log(δ/|C_j|)/ρ_j
(:mod:`.network_escape`). It holds while every unit is still small (its regime says when
not). Nothing else about networks is derived: :data:`NOT_DERIVED` lists it, and every other
network — erf committees, ReLU networks, other pairs — is refused by :func:`predict` in one
sentence that says why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..model.problem import Problem
from ..results.phases import DEFAULTS
from .network_escape import NetworkEscape, linear_escape, network_escape_law
from .regime import Condition, Regime

__all__ = ["NetworkPrediction", "predict_network", "require_network_theory", "NOT_DERIVED",
           "NETWORK_LAWS", "UNITS_SMALL", "MODE_DOMINANCE"]

#: The laws a :class:`NetworkPrediction` knows.
NETWORK_LAWS = ("escape_rate", "escape_prefactor", "escape_time", "u_escape")
#: The window of the escape law: the largest relative change of the linearised coefficient
#: A = 4 s̄* D_a by T1_j, (tr D_a S + 2 μ_max(D_a^½ S D_a^½)) / s̄*, along the linear escape —
#: the single-index window s(T1) ≤ 0.12 s* is this change at 3 × 0.12 (p = k = 1).
UNITS_SMALL = 0.36
#: The window of the escape law: T1_j within this fraction of the whole linearised dynamics'
#: crossing (the exponential mode dominant by T1_j), as for single-index models.
MODE_DOMINANCE = 0.05
#: What was measured (networks page: Escape of the quadratic network, measured).
ESCAPE_ACCURACY = ("quadratic network, p = 3, k = 2, delta = 0.1, d = 1000 and 10^4, a in "
                   "{1.5, 2, 3}, seeds 0-4: T1_j within 5.5 % of the flow where all hold; "
                   "units outside the window up to 34 % early")
#: What the theory of networks does not derive (networks page: Escape of the quadratic
#: network).
NOT_DERIVED = (
    "the escapes of the units after the first: once one unit has grown it lowers "
    "s̄* − tr D_a S for all, so the later units are slower than their T1_j says "
    "(the components of W D_a Wᵀ are then learned one after another; their times are not "
    "derived)",
    "the alignment and tail phases of networks (T1', T2, the plateau bound, Phase III)",
    "the erf committee's symmetric plateau and the specialisation of its units",
    "online SGD near the minimum for networks (noise floor, stable step)",
)


def require_network_theory(problem: Problem) -> None:
    """Refuse, in one sentence, a network for which no theory is derived: any pair but the
    square (σ = τ = z²), or a quadratic network with a readout ≤ 0."""
    link = problem.link
    where = (f"no theory is derived for the {link.identity!r} network "
             f"(p = {problem.units}, k = {problem.teacher_units})")
    if not link.is_square:
        pair = link.classify(problem.s_star)
        why = {"first_order": "information exponent 1: ℓ_U(0) ≠ 0 drives U from the "
                              "start, so there is no escape plateau to time, and the "
                              "symmetric plateau and specialisation that follow are not "
                              "derived",
               "linear": "its small start is linear for one unit each side (p = k = 1, "
                         "the links page), but no network's linearised operator is derived "
                         "for this pair"}.get(pair.regime, pair.description)
        raise ValueError(f"{where}: {why}; the small-start escape is derived for the "
                         f"quadratic network (link 'square') only")
    a = np.asarray(problem.readout)
    b = np.asarray(problem.teacher_readout)
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError(f"{where}: the small-start escape is derived for positive readouts "
                         f"(a = {np.array2string(a, precision=3)}, a* = "
                         f"{np.array2string(b, precision=3)}): a unit with a_j < 0 decays "
                         f"from W = 0, and a negative a*_l makes the growth operator "
                         f"indefinite")


@dataclass(frozen=True)
class NetworkPrediction:
    """The derived laws of a quadratic network (networks page: Escape of the quadratic
    network); build it with :func:`pyscale.predict`. ``escape`` holds ρ_j, C_j and the
    escape direction (computed on construction, O(n k²)); :data:`NOT_DERIVED` what is not."""
    problem: Problem
    escape: NetworkEscape
    a: Optional[float] = None
    a_source: str = "none"
    not_derived: tuple = NOT_DERIVED
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def escape_rate(self) -> np.ndarray:
        """ρ_j = a_j ρ̃ (p,), ρ̃ the top eigenvalue of 4 s̄* Q + 8 Q W* D_a* W*ᵀ Q."""
        return self.escape.rate

    @property
    def escape_prefactor(self) -> np.ndarray:
        """C_j (p, k): U_j(t) ≈ C_j e^{ρ_j t} while the units are small."""
        return self.escape.prefactor

    @property
    def escape_direction(self) -> np.ndarray:
        """v (n,): the unit vector, in the stored coordinates, along which every unit grows."""
        return self.escape.direction

    def escape_time(self, delta: float = DEFAULTS.delta) -> np.ndarray:
        """T1_j(δ) = log(δ / max_l |C_jl|/S*_ll) / ρ_j (p,): when unit j reaches
        max_l |U_jl|/S*_ll = δ. Refuses where a unit is past δ at t = 0 or the law is (then
        T1_j ≤ 0); warns for the units that reach δ once the units are no longer small
        (``regime("escape_time", delta=δ, unit=j)``)."""
        for j in range(self.problem.units):
            self.regime("escape_time", delta=delta, unit=j).enforce()
        return self.escape.time_to(delta)

    def u_escape(self, t) -> np.ndarray:
        """U(t) ≈ C_j e^{ρ_j t} (len(t), p, k), up to T1_j."""
        return self.escape.u(t)

    def regime(self, law: str, delta: float = DEFAULTS.delta, unit: int = 0) -> Regime:
        """Where ``law`` (one of :data:`NETWORK_LAWS`) holds for unit ``unit`` at the
        threshold ``delta``: not past δ at t = 0 and T1_j > 0 (required for escape_time),
        and every unit still small at T1_j (the window)."""
        if law not in NETWORK_LAWS:
            return Regime(f"{law} for a network", (Condition(
                "derived for networks", "a law derived for two-layer networks", False,
                f"p = {self.problem.units}, k = {self.problem.teacher_units}",
                f"{law} is not derived for networks; derived: {', '.join(NETWORK_LAWS)}",
                kind="required"),))
        p, esc = self.problem, self.escape
        j = int(unit)
        if not 0 <= j < p.units:
            raise ValueError(f"unit must be in [0, {p.units}), got {unit}")
        start = self._start_size(j)
        size = float(esc.size()[j])
        timed = "required" if law == "escape_time" else "window"
        conds = [
            Condition("not yet escaped", "max_l |U_jl(0)|/S*_ll < delta", start < delta,
                      f"{start:.3g} for unit {j}, delta = {delta:g}",
                      "the unit starts past the threshold: there is no escape to predict",
                      kind=timed),
            Condition("a positive escape time", "max_l |C_jl|/S*_ll < delta", size < delta,
                      f"{size:.3g} for unit {j}", "the law is already above delta at t = 0, "
                      "so log(delta/|C_j|)/rho_j <= 0 is no escape time", kind=timed)]
        if size < delta and start < delta:
            crossing, drift = self._linear(delta)
            t1 = float(esc.time_to(delta)[j])
            off = abs(t1 / crossing[j] - 1.0) if 0 < crossing[j] < np.inf else np.inf
            conds += [
                Condition("exponential mode dominant",
                          f"T1_j within {100 * MODE_DOMINANCE:g} % of the whole linearised "
                          "dynamics' crossing", off <= MODE_DOMINANCE, f"{100 * off:.3g} % off",
                          "the other modes of the linearised flow (near the poles "
                          "4 s̄* a_j lambda_i) still matter at T1_j, so C_j e^(rho_j t) is not "
                          "yet U_j (few coordinates, or delta close to the start)"),
                Condition("every unit still small at T1_j",
                          f"(tr D_a S + 2 mu_max(D_a^1/2 S D_a^1/2))/s̄* <= {UNITS_SMALL:g} at "
                          "T1_j (linearised dynamics)", drift[j] <= UNITS_SMALL,
                          f"{drift[j]:.3g}", "by T1_j the units have grown enough to lower "
                          "the growth rate (a unit that escaped earlier slows this one): T1_j "
                          "is underestimated")]
        return Regime(f"Phase I of the quadratic network ({law}, unit {j})", tuple(conds),
                      ESCAPE_ACCURACY)

    def _start_size(self, j: int) -> float:
        """max_l |U_jl(0)|/S*_ll of unit j."""
        p = self.problem
        u0 = (p.eigenvalues * p.w0[:, j]) @ p.w_star
        return float(np.max(np.abs(u0) / self.escape.level))

    def _linear(self, delta: float) -> tuple[np.ndarray, np.ndarray]:
        """(the whole linearised dynamics' crossing of δ per unit, the change
        (tr D_a S + 2 μ_max(D_a^½ S D_a^½))/s̄* of its S at each T1_j), cached per δ."""
        key = ("linear", float(delta))
        if key not in self._cache:
            p, esc = self.problem, self.escape
            t1 = esc.time_to(delta)
            t_max = 2.0 * float(np.max(t1[np.isfinite(t1) & (t1 > 0)], initial=1.0 / esc.base_rate))
            crossing, s_at = linear_escape(p, esc, delta, t_max)
            half = np.sqrt(np.asarray(p.readout, dtype=np.float64))
            m = half[None, :, None] * s_at * half[None, None, :]
            drift = (np.trace(m, axis1=1, axis2=2) + 2.0 * np.linalg.eigvalsh(m)[:, -1]) \
                / p.s_star
            self._cache[key] = (crossing, drift)
        return self._cache[key]

    def summary(self, delta: float = DEFAULTS.delta) -> dict:
        """The scalar predictions per unit: ρ_j, max_l |C_jl|/S*_ll, T1_j(δ) (None where
        refused) and each T1_j's regime; with what is not derived."""
        units = []
        for j in range(self.problem.units):
            reg = self.regime("escape_time", delta=delta, unit=j)
            units.append({"unit": j, "escape_rate": float(self.escape.rate[j]),
                          "escape_size": float(self.escape.size()[j]),
                          "T1": None if reg.refused else float(self.escape.time_to(delta)[j]),
                          "T1_regime": reg.summary()})
        return {"d": self.problem.d, "a": self.a, "p": self.problem.units,
                "k": self.problem.teacher_units, "delta": float(delta),
                "base_rate": self.escape.base_rate, "units": units,
                "not_derived": list(self.not_derived)}

    def __repr__(self) -> str:
        t1 = self.escape.time_to(DEFAULTS.delta)
        rho = np.array2string(self.escape.rate, precision=6)
        return (f"NetworkPrediction(d={self.problem.d}, p={self.problem.units}, "
                f"k={self.problem.teacher_units}, rho={rho}, "
                f"T1(0.05)={np.array2string(t1, precision=6)})")


def predict_network(problem: Problem, a: Optional[float], a_source: str) -> NetworkPrediction:
    """The :class:`NetworkPrediction` of a quadratic network (others refused in one
    sentence, :func:`require_network_theory`)."""
    require_network_theory(problem)
    return NetworkPrediction(problem, network_escape_law(problem), a, a_source)
