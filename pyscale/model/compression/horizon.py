"""What a horizon resolves (model page: Compression, Horizon-aware grouping): each mode's
tolerance sized by how far its coordinates can move before the run ends.

Every coordinate obeys ẇ_i = λ_i (c0(t) w_i + c1(t) w*_i) (model page: Gradient flow), with
two scalar coefficients common to all coordinates — for phase retrieval c0 = 4(s* − 3s),
c1 = 8u. Let K bound |c0| + |c1| over the run and T be its horizon. A coordinate with
K λ T ≤ 1 moves by at most a factor e of K λ T (|w_i(0)| + |w*_i|), and its sensitivity to
its own eigenvalue is bounded the same way:

    |∂w_i(t)/∂λ| ≤ e² K T (|w_i(0)| + |w*_i|)   for t ≤ T, K λ T ≤ 1

(Grönwall on v = ∂w_i/∂λ, v̇ = λ c0 v + c0 w_i + c1 w*_i, v(0) = 0). Grouping such coordinates
into a mode of eigenvalue spread Δλ therefore errs by at most e² δ (|w_i(0)| + |w*_i|) per
coordinate as long as Δλ ≤ δ / (K T): an *absolute* spread, where the uniform grouping asks
for the relative spread Δλ ≤ δ λ. So a mode whose largest eigenvalue is λ_m may span

    largest / smallest ≤ 1 + δ_m,    δ_m = δ / min(1, λ_m / λ_*),   λ_* ≤ 1/(K T)

(then λ_m − λ_smallest ≤ δ λ_* wherever λ_m < λ_*, and the rule is the uniform one
elsewhere; :func:`resolved_eigenvalue` also caps λ_* by √(Σλ_i²/d), which keeps the law of
the static sums such as u(0) as close as the uniform rule does). Below λ_* the modes stop
narrowing with λ: a power law needs the uniform grouping's modes above λ_*, about 1/δ more
between λ_* and δ λ_*, and O(log log d) below — a count that does not grow with d while
d ≤ (K T)² Σλ_i².

The bound K is a property of the link pair (through c0, c1) and of the start: for the square
link along the gradient flow the loss never increases, and L ≥ 3 (s − s*)² (from u² ≤ s s*),
so s ≤ s_max = s* + √(L(0)/3), |u| ≤ √(s_max s*) and
K = max(4 s*, 4 (3 s_max − s*)) + 8 √(s_max s*) (:func:`flow_rate_bound`; 31.3 s* from a
small start). Online SGD and GD follow the same coefficients in expectation; the engines
check each run's records against K (:func:`rate_of`).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

__all__ = ["flow_rate_bound", "rate_of", "resolved_eigenvalue", "mode_tolerance",
           "check_horizon_args"]


def flow_rate_bound(s_star: float, s0: float, u0: float) -> float:
    """K ≥ sup_t |c0| + |c1| along the gradient flow of the square link from a start with
    statistics (s0, u0): c0 = 4(s* − 3s), c1 = 8u, s ≤ s_max = s* + √(L(0)/3), |u| ≤
    √(s_max s*), L(0) = 3 s0² + 3 s*² − 4 u0² − 2 s* s0 (model page: Compression)."""
    loss0 = max(3.0 * s0 * s0 + 3.0 * s_star * s_star - 4.0 * u0 * u0 - 2.0 * s_star * s0, 0.0)
    s_max = s_star + math.sqrt(loss0 / 3.0)
    return max(4.0 * s_star, 4.0 * (3.0 * s_max - s_star)) + 8.0 * math.sqrt(s_max * s_star)


def rate_of(s_star: float, s: np.ndarray, u: np.ndarray) -> float:
    """max over records of |c0| + |c1| for the square link: what :func:`flow_rate_bound`
    bounds, measured on a run."""
    s = np.asarray(s, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if s.size == 0:
        return 0.0
    return float(np.max(np.abs(4.0 * (s_star - 3.0 * s)) + np.abs(8.0 * u)))


def resolved_eigenvalue(horizon: float, rate: float, mean_square: float) -> float:
    """λ_* = min(1/(K T), √(Σλ_i²/d)): below it a mode's eigenvalues may spread by δ λ_*
    absolutely. The first term is what the dynamics up to T resolve; the second keeps the
    grouping's effect on the law of the static sums (u(0) = Σ λ_i w_i(0) w*_i, s(0), ...),
    Σ_m n_m Var_m(λ) ≤ d (δ λ_*)², within the uniform rule's δ² Σ λ_i² at any d (it binds
    only for d > (K T)² Σ λ_i²). ``mean_square`` = Σλ_i²/d over physical coordinates."""
    return min(1.0 / (float(rate) * float(horizon)), math.sqrt(float(mean_square)))


def mode_tolerance(lam_first: np.ndarray, rtol: float, lam_star: Optional[float]) -> np.ndarray:
    """δ_m = δ / min(1, λ_m / λ_*) for modes whose largest eigenvalue is λ_m (δ where there
    is no horizon, ``lam_star`` None; :func:`resolved_eigenvalue`): the largest/smallest
    eigenvalue ratio a mode may span is 1 + δ_m."""
    lam_first = np.asarray(lam_first, dtype=np.float64)
    if lam_star is None:
        return np.full(lam_first.shape, rtol)
    reach = np.minimum(1.0, lam_first / float(lam_star))
    with np.errstate(divide="ignore"):
        return np.where(reach > 0, rtol / np.where(reach > 0, reach, 1.0), np.inf)


def check_horizon_args(horizon: Optional[float],
                       rate: Optional[float]) -> Optional[Tuple[float, float]]:
    """(T, K) as floats, or None for neither: both or neither, both finite and > 0 (the
    callers validate user input first)."""
    if horizon is None and rate is None:
        return None
    if horizon is None or rate is None:
        raise ValueError("horizon and rate go together")
    T, K = float(horizon), float(rate)
    if not (T > 0 and K > 0 and math.isfinite(T) and math.isfinite(K)):
        raise ValueError(f"horizon and rate must be finite and > 0, got {horizon!r}, {rate!r}")
    return T, K
