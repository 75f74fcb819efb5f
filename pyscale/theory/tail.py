"""Phase III, spectral-tail learning (model page: Phase III).

With u = s = s* frozen, the error e = w − w* obeys ė_i = −8 s* λ_i e_i, so

    MSE(T2 + τ) ≈ MSE(T2) · Ŝ_d(τ),   Ŝ_d(τ) = Σ_i π_i e^{−16 s* λ_i τ},   π_i ∝ e_i(T2)^2,

(the paper writes s* = 1). The uniform proxy S_d(τ) = (1/d) Σ_i e^{−16 λ_i τ} has, for the
power law (β_d = 16/H_{d,a}, x_d = (β_d τ)^{1/a}), three regimes:

    early        1 − 16 τ / d                 β_d τ ≪ 1,
    mesoscopic   1 − Γ(1 − 1/a) x_d / d       1 ≪ x_d ≪ d,
    late         ≤ exp(−β_d τ d^{−a})          x_d ≳ d.

About Γ(1 − 1/a) x_d directions are learned by time τ, so 1 − S_d ∝ τ^{1/a}: the tail
exponent 1/a.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from .._kernels.theory import weighted_exp_sums
from ..model.problem import Problem
from .convergence import check_power_law_exponent
from .state import state_vector
from .validity import phase3_regime

__all__ = ["spectral_proxy", "tail_profile", "tail_mse", "TailAsymptotics",
           "tail_asymptotics", "aligned_error"]


def tau_values(tau) -> np.ndarray:
    """The τ grid as a contiguous float64 1-D array (ValueError unless finite and >= 0)."""
    tau = np.atleast_1d(np.asarray(tau, dtype=np.float64))
    if tau.ndim != 1 or np.any(~np.isfinite(tau)) or np.any(tau < 0):
        raise ValueError("tau must be finite and >= 0")
    return np.ascontiguousarray(tau)


def shaped_like(values: np.ndarray, tau) -> Union[float, np.ndarray]:
    """``values`` as a float when ``tau`` was a scalar, else unchanged."""
    return float(values[0]) if np.ndim(tau) == 0 else values


def spectral_proxy(eigenvalues, tau, counts=None, d: Optional[int] = None,
                   s_star: float = 1.0):
    """S_d(τ) = (1/d) Σ_i exp(−16 s* λ_i τ) (model page: Phase III; s* = 1 by default).

    ``counts``/``d``: for a compressed spectrum, stored eigenvalue i stands for counts[i]
    physical ones and d = Σ counts (the default). O(d) per τ (numba).
    """
    lam = np.ascontiguousarray(np.asarray(eigenvalues, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError("eigenvalues must be a non-empty 1-D array")
    weights = (np.ones(lam.size) if counts is None
               else np.ascontiguousarray(np.asarray(counts, dtype=np.float64)))
    if weights.shape != lam.shape:
        raise ValueError("counts must have the length of eigenvalues")
    dim = float(weights.sum()) if d is None else float(d)
    taus = tau_values(tau)
    out = weighted_exp_sums(lam, weights, 16.0 * float(s_star), taus, np.empty(taus.size))
    return shaped_like(out / dim, tau)


def aligned_error(problem: Problem, w) -> np.ndarray:
    """e = w ∓ w*: the error against the nearer of ±w* (sign of w·w*), so that
    ||e||^2 / d is exactly the MSE (model page: Statistics and loss)."""
    w = state_vector(problem, w, "the state w(T2)")
    sign = 1.0 if np.dot(problem.w_star, w) >= 0 else -1.0
    return w - sign * problem.w_star


def tail_profile(problem: Problem, tau, w_at_T2):
    """Ŝ_d(τ) = Σ_i π_i e^{−16 s* λ_i τ}, π_i = e_i(T2)^2 / Σ_j e_j(T2)^2 (model page: Phase III).
    Exact on compressed problems (a quadratic form in e). Warns outside the frozen
    approximation's window (:func:`pyscale.theory.validity.phase3_regime`)."""
    e = aligned_error(problem, w_at_T2)
    phase3_regime(problem, w_at_T2, "Phase III (tail_profile)").enforce()
    e2 = np.ascontiguousarray(e * e)
    taus = tau_values(tau)
    out = weighted_exp_sums(problem.eigenvalues, e2, 16.0 * problem.s_star, taus,
                            np.empty(taus.size))
    return shaped_like(out / e2.sum(), tau)


def tail_mse(problem: Problem, tau, w_at_T2):
    """MSE(T2 + τ) ≈ MSE(T2) · Ŝ_d(τ) (model page: Phase III): the frozen (u = s = s*) Phase III
    prediction from the state w(T2). Equal to (1/d) Σ_i e_i(T2)^2 e^{−16 s* λ_i τ}.
    Its error is O(ε) relative plus O(ε^2 τ^2 s*^(2) / d) when w(T2) has |u|, s ∈ [1−ε, 1]
    and the state is on the plateau; off it (MSE(T2) ≪ σ*², as for a ≤ 1) the coupling
    through s(t), u(t) that the frozen rates drop is of the order of the error, and the law
    warns (:func:`pyscale.theory.validity.phase3_regime`; docs/theory_sgd.md, section 4)."""
    e = aligned_error(problem, w_at_T2)
    phase3_regime(problem, w_at_T2, "Phase III (tail_mse)").enforce()
    e2 = np.ascontiguousarray(e * e)
    taus = tau_values(tau)
    out = weighted_exp_sums(problem.eigenvalues, e2, 16.0 * problem.s_star, taus,
                            np.empty(taus.size))
    return shaped_like(out / problem.d, tau)


@dataclass(frozen=True)
class TailAsymptotics:
    """The three regimes of S_d(τ) for the power law (model page: Phase III), per τ.

    beta_d = 16/H_{d,a}; x_d = (β_d τ)^{1/a}; learned = Γ(1 − 1/a) x_d (directions learned
    by τ). early = 1 − 16τ/d; mesoscopic = 1 − Γ(1−1/a) x_d/d; late = exp(−β_d τ d^{−a})
    (an upper bound). regime: 'early' where x_d < 1 (β_d τ < 1), 'late' where x_d >= d,
    'mesoscopic' between; value: the formula of that regime (accurate well inside it:
    near the crossovers x_d ≈ 1 and x_d ≈ d no formula is).
    """
    tau: np.ndarray
    d: int
    a: float
    beta_d: float
    x_d: np.ndarray
    learned: np.ndarray
    early: np.ndarray
    mesoscopic: np.ndarray
    late: np.ndarray
    regime: np.ndarray
    value: np.ndarray

    @property
    def exponent(self) -> float:
        """The tail exponent 1/a: 1 − S_d ∝ τ^{1/a} in the mesoscopic regime."""
        return 1.0 / self.a


def tail_asymptotics(d: int, a: float, tau) -> TailAsymptotics:
    """Early / mesoscopic / late asymptotics of the uniform proxy S_d(τ) for
    λ_i = i^{-a}/H_{d,a} (model page: Phase III), and which one applies at each τ. a must be > 1
    (ValueError otherwise: Γ(1 − 1/a) x_d needs it). O(1) per τ (H_{d,a} without a
    length-d array)."""
    from ..model.compression import power_law_normaliser
    a = check_power_law_exponent(a)
    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    taus = tau_values(tau)
    beta = 16.0 / power_law_normaliser(d, a)
    x_d = (beta * taus) ** (1.0 / a)
    learned = math.gamma(1.0 - 1.0 / a) * x_d
    early = 1.0 - 16.0 * taus / d
    meso = 1.0 - learned / d
    late = np.exp(-beta * taus * float(d) ** (-a))
    regime = np.where(x_d < 1.0, "early", np.where(x_d >= d, "late", "mesoscopic"))
    value = np.where(regime == "early", early, np.where(regime == "late", late, meso))
    return TailAsymptotics(tau=taus, d=d, a=a, beta_d=beta, x_d=x_d, learned=learned,
                           early=early, mesoscopic=meso, late=late, regime=regime,
                           value=value)
