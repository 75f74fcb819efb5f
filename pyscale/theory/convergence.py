"""Phase IIb and the plateau (model page: Phases): the explicit convergence time of Corollary 1, its
power-law asymptotic, and the plateau bound of Proposition 4.

Corollary 1. Let T1' be a time after which s ≥ 1/3 + s0 (s0 > 0). With the tail mass
T(λ) = Σ_{λ_i < λ} λ_i (w*_i)^2, pick λ_ε with T(λ_ε) ≤ min(ε/4, ε^2 / (16 s(T1'))); then
1 − u(t) ≤ ε for every

    t ≥ T2(ε) = T1' + log(4 S≥(λ_ε) / ε) / (4 s0 λ_ε),   S≥(λ) = Σ_{λ_i ≥ λ} λ_i w*_i w_i(T1').

The largest admissible λ_ε gives the smallest bound: T and S≥ are constant between
consecutive eigenvalues, so λ_ε is an eigenvalue, found in one O(d) pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._kernels.theory import tail_cutoff
from ..model.problem import Problem
from .state import state_vector

__all__ = ["PhaseIIbBound", "t2_bound", "t2_power_law", "plateau_excess_bound",
           "check_power_law_exponent"]


def check_power_law_exponent(a) -> float:
    """Power-law asymptotics need a > 1 (model page: Data model): below, Σ λ_i (w*_i)^2 is not
    dominated by the head and the tail mass does not vanish as the cutoff grows."""
    if a is None:
        raise ValueError("this prediction needs the power-law exponent a: the problem does "
                         "not carry one (pass a=... to predict())")
    a = float(a)
    if not np.isfinite(a) or a <= 1.0:
        raise ValueError(f"the power-law asymptotics need a > 1 (got a = {a:g}); the "
                         "simulations stay valid for any a >= 0, the asymptotic formulas "
                         "do not")
    return a


@dataclass(frozen=True)
class PhaseIIbBound:
    """Corollary 1 evaluated on a state at T1' (model page: Phases).

    T2: T1' + duration, the time after which 1 − u ≤ ε is guaranteed.
    duration: log(4 S≥(λ_ε)/ε) / (4 s0 λ_ε), clipped at 0 (S≥ ≤ ε/4 needs no wait).
    lambda_eps, index: the cutoff eigenvalue and its stored index in decreasing order.
    tail_mass: T(λ_ε); threshold: min(ε/4, ε^2/(16 s(T1'))); head_alignment: S≥(λ_ε).
    s_T1prime: s at T1' (after orienting w so that u(T1') ≥ 0, by the w ↦ −w symmetry).
    asymptotic: the power-law duration of :func:`t2_power_law` (None without a > 1).
    """
    T2: float
    duration: float
    lambda_eps: float
    index: int
    tail_mass: float
    threshold: float
    head_alignment: float
    s_T1prime: float
    eps: float
    s0: float
    t1_prime: float
    asymptotic: Optional[float] = None

    def __float__(self) -> float:
        return float(self.T2)


def t2_bound(problem: Problem, eps: float, state_at_T1prime, s0: float,
             t1_prime: float = 0.0, a: Optional[float] = None) -> PhaseIIbBound:
    """Corollary 1 (model page: Phases): T2(ε) from the state w(T1').

    ``state_at_T1prime``: w(T1') (stored coordinates of ``problem``), or a Trajectory that
    ends at T1' (its final state and final time are used; ``t1_prime`` is then ignored).
    ``s0``: the margin of the definition of T1' (s ≥ 1/3 + s0 after T1'), > 0.
    ``a``: if given (> 1), the power-law asymptotic is attached for comparison.
    Exact on compressed problems (T and S≥ are quadratic forms). O(d) if the eigenvalues
    are stored in decreasing order (as every constructor does), O(d log d) otherwise.
    """
    eps = float(eps)
    s0 = float(s0)
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    if not s0 > 0:
        raise ValueError(f"s0 (the margin above 1/3 after T1') must be > 0, got {s0}")
    if hasattr(state_at_T1prime, "w") and hasattr(state_at_T1prime, "t"):
        traj = state_at_T1prime
        if traj.w is None or len(traj) == 0:
            raise ValueError("the trajectory has no final state")
        w = state_vector(problem, traj.w, "the state w(T1')")
        t1_prime = float(traj.meta.get("t_reached", traj.t[-1]))
    else:
        w = state_vector(problem, state_at_T1prime, "the state w(T1')")
    lam, w_star = problem.eigenvalues, problem.w_star
    # L(w) = L(−w): orient the state so that u(T1') >= 0, as the corollary assumes.
    if np.dot(lam * w_star, w) < 0:
        w = -w
    s_t1p = float(np.dot(lam * w, w))
    threshold = min(eps / 4.0, eps * eps / (16.0 * s_t1p))
    if np.all(lam[:-1] >= lam[1:]):
        order = None
        lam_d, ws_d, w_d = lam, w_star, w
    else:
        order = np.argsort(-lam, kind="stable")
        lam_d, ws_d, w_d = lam[order], w_star[order], w[order]
    idx, tail, align = tail_cutoff(np.ascontiguousarray(lam_d), np.ascontiguousarray(ws_d),
                                   np.ascontiguousarray(w_d), threshold)
    lam_eps = float(lam_d[idx])
    if not align > 0:
        raise ValueError(
            f"the head alignment S>=(lambda_eps) = {align:.3g} is not positive: the state "
            "is not past the escape (T1'); Corollary 1 does not apply to it")
    duration = max(0.0, math.log(4.0 * align / eps) / (4.0 * s0 * lam_eps))
    asym = None
    if a is not None:
        asym = t2_power_law(eps, a, s0, d=problem.d, s_T1prime=s_t1p,
                            head_alignment=align,
                            star_mean2=problem.star_norm2 / problem.d)
    return PhaseIIbBound(T2=float(t1_prime) + duration, duration=duration,
                         lambda_eps=lam_eps,
                         index=int(idx if order is None else order[idx]),
                         tail_mass=float(tail), threshold=float(threshold),
                         head_alignment=float(align), s_T1prime=s_t1p, eps=eps, s0=s0,
                         t1_prime=float(t1_prime), asymptotic=asym)


def t2_power_law(eps, a: float, s0: float, d: Optional[int] = None,
                 s_T1prime: float = 1.0 / 3.0, head_alignment: float = 1.0,
                 star_mean2: float = 1.0):
    """Power-law form of Corollary 1 (model page: Phases): T2 − T1' = O(ε^{-2a/(a−1)} log(1/ε)).

    With λ_i = i^{-a}/H_{d,a} and (w*_i)^2 replaced by its mean ``star_mean2`` = σ*^2 =
    ||w*||^2/d (≈ s*/tr Q = 1 on average over targets, but of a random size for a > 1,
    where s* is dominated by a few head coordinates), the tail mass is, in the continuum,

        T(λ) = σ*^2 (k^{1−a} − d^{1−a}) / ((a − 1) H),   k = (λ H)^{-1/a},

    so T(λ_ε) = thr = min(ε/4, ε^2/(16 s(T1'))) gives
    k_ε^{1−a} = (a − 1) H thr / σ*^2 + d^{1−a},
    λ_ε = k_ε^{-a}/H and T2 − T1' = log(4 S≥/ε) / (4 s0 λ_ε) ∝ ε^{-2a/(a−1)} log(1/ε)
    for small ε (d = None: d = ∞, H = ζ(a)). Meaningful for ε ≳ d^{-(a−1)/2}, where
    k_ε ≲ d; beyond, λ_ε → λ_d and the bound saturates at log(4S/ε) H d^a / (4 s0).
    Vectorised over eps; a must be > 1 (ValueError otherwise).
    """
    a = check_power_law_exponent(a)
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(eps <= 0) or np.any(eps >= 1):
        raise ValueError("eps must lie in (0, 1)")
    if d is None:
        from scipy.special import zeta
        h = float(zeta(a))
        floor = 0.0
    else:
        from ..model.compression import power_law_normaliser
        h = power_law_normaliser(int(d), a)
        floor = float(d) ** (1.0 - a)
    threshold = np.minimum(eps / 4.0, eps * eps / (16.0 * s_T1prime)) / star_mean2
    k_eps = ((a - 1.0) * h * threshold + floor) ** (1.0 / (1.0 - a))
    if d is not None:
        k_eps = np.minimum(k_eps, float(d))
    lam_eps = k_eps ** (-a) / h
    out = np.maximum(0.0, np.log(4.0 * head_alignment / eps)) / (4.0 * s0 * lam_eps)
    return float(out) if out.ndim == 0 else out


def plateau_excess_bound(eps, a: float, d: int):
    """Proposition 4 (model page: Phases): MSE(T2) − σ*^2 ≲ (ε^{-a}/d)^{1/3} + (log d / d)^{1/3},
    σ*^2 = ||w*||^2/d, returned with constant 1 (the proposition fixes only the order).
    a must be > 1 (ValueError otherwise)."""
    a = check_power_law_exponent(a)
    eps = np.asarray(eps, dtype=np.float64)
    dim = float(d)
    out = (eps ** (-a) / dim) ** (1.0 / 3.0) + (math.log(dim) / dim) ** (1.0 / 3.0)
    return float(out) if out.ndim == 0 else out
