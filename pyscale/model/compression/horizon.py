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

The bound K is a property of the link pair (through c0, c1) and of the start: along the
gradient flow the loss never increases, so (s, u) stays in the sublevel set
{ℓ(s, u) ≤ ℓ(s(0), u(0)), u² ≤ s s*}. For the square link L ≥ 3 (s − s*)² (from u² ≤ s s*),
so s ≤ s_max = s* + √(L(0)/3), |u| ≤ √(s_max s*) and
K = max(4 s*, 4 (3 s_max − s*)) + 8 √(s_max s*) (:func:`flow_rate_bound`; 31.3 s* from a
small start). For any other pair K is the supremum of |c0| + |c1| over that set, found on a
grid in (log s, u/√(s s*)) (:func:`sublevel_rate_bound`). Online SGD and GD follow the same
coefficients in expectation; the engines check each run's records against K (:func:`rate_of`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

if TYPE_CHECKING:
    from ..links import LinkPair

__all__ = ["flow_rate_bound", "sublevel_rate_bound", "horizon_supported", "rate_of",
           "resolved_eigenvalue", "mode_tolerance", "check_horizon_args"]

#: The grid of :func:`sublevel_rate_bound`: s/s* from 10^-12 to 10^8 at this many points a
#: decade, u/√(s s*) in [−1, 1] at this many points; then a finer grid around the maximum.
_S_DECADES = (-12.0, 8.0)
_S_PER_DECADE = 24
_RHO_POINTS = 121
_REFINE_POINTS = 41
#: What the grid's supremum is raised by: the refinement resolves the maximum to ~1e-3.
_GRID_MARGIN = 1.01


def flow_rate_bound(s_star: float, s0: float, u0: float,
                    pair: Optional["LinkPair"] = None) -> float:
    """K ≥ sup_t |c0| + |c1| along the gradient flow from a start with statistics (s0, u0)
    (model page: Compression, Horizon-aware grouping). The square link (``pair`` None or
    square): c0 = 4(s* − 3s), c1 = 8u, s ≤ s_max = s* + √(L(0)/3), |u| ≤ √(s_max s*),
    L(0) = 3 s0² + 3 s*² − 4 u0² − 2 s* s0. Any other pair: :func:`sublevel_rate_bound`."""
    if pair is not None and not pair.is_square:
        return sublevel_rate_bound(pair, float(s_star), float(s0), float(u0))
    loss0 = max(3.0 * s0 * s0 + 3.0 * s_star * s_star - 4.0 * u0 * u0 - 2.0 * s_star * s0, 0.0)
    s_max = s_star + math.sqrt(loss0 / 3.0)
    return max(4.0 * s_star, 4.0 * (3.0 * s_max - s_star)) + 8.0 * math.sqrt(s_max * s_star)


def rate_of(s_star: float, s: np.ndarray, u: np.ndarray,
            pair: Optional["LinkPair"] = None) -> float:
    """max over records of |c0| + |c1| (the square link when ``pair`` is None): what
    :func:`flow_rate_bound` bounds, measured on a run."""
    s = np.asarray(s, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if s.size == 0:
        return 0.0
    if pair is not None and not pair.is_square:
        return float(np.nanmax(pair.loss_and_rate(s, u, s_star)[1]))
    return float(np.max(np.abs(4.0 * (s_star - 3.0 * s)) + np.abs(8.0 * u)))


def horizon_supported(pair: "LinkPair") -> bool:
    """Whether a horizon-aware compression can bound the flow's coefficients for ``pair``:
    the square, and every pair whose kernel has a closed form (not tanh or a user's link,
    computed by quadrature: :func:`sublevel_rate_bound`)."""
    return not (pair.student.quadrature or pair.teacher.quadrature)


@lru_cache(maxsize=64)
def sublevel_rate_bound(pair: "LinkPair", s_star: float, s0: float, u0: float) -> float:
    """K = sup |c0| + |c1| over the sublevel set {ℓ(s, u) ≤ ℓ(s0, u0), u² ≤ s s*}, which the
    gradient flow from (s0, u0) never leaves (model page: Compression, Horizon-aware
    grouping). Computed on a grid in (log s, ρ = u/√(s s*)), s/s* over 10^-12 .. 10^8: the
    part of the set connected to the start (the flow is continuous), found with the set
    widened by one cell each way so that no part of it falls between grid points; then a grid
    20 times finer over the cells around the maximum, where the set is widened by one fine
    cell; the larger of the two maxima raised by 1 %. Refused where the supremum is not
    known to be finite: a kinked student whose set reaches s → 0 (c0 grows like √(s*/s)), a
    set that reaches s = 10^8 s* with coefficients above a tenth of their maximum, or a pair
    whose kernel is computed by quadrature (tanh, a user's link: too slow over the whole
    set)."""
    if not horizon_supported(pair):
        raise ValueError(
            f"horizon=: the kernel of link pair {pair.identity!r} is computed by quadrature, "
            f"too slowly to bound its flow's coefficients over the whole sublevel set of the "
            f"loss; compress without a horizon")
    level = float(pair.loss(s0, u0, s_star))
    s_grid = s_star * np.logspace(*_S_DECADES, int((_S_DECADES[1] - _S_DECADES[0])
                                                   * _S_PER_DECADE) + 1)
    rho = np.linspace(-1.0, 1.0, _RHO_POINTS)
    value, rate = _on_grid(pair, s_star, s_grid, rho)
    start = (int(np.argmin(np.abs(np.log(s_grid / max(s0, s_grid[0]))))),
             int(np.argmin(np.abs(rho - u0 / math.sqrt(max(s0, s_grid[0]) * s_star)))))
    below = value <= level * (1.0 + 1e-12) + 1e-300
    inside = _component(_widened(below), start)
    _check_finite(pair, inside, rate)
    k_grid = float(np.max(np.where(inside & below, rate, 0.0)))
    i, j = np.unravel_index(int(np.argmax(np.where(inside, rate, -1.0))), rate.shape)
    fine_s = np.geomspace(s_grid[max(i - 1, 0)], s_grid[min(i + 1, s_grid.size - 1)],
                          _REFINE_POINTS)
    fine_rho = np.linspace(rho[max(j - 1, 0)], rho[min(j + 1, rho.size - 1)], _REFINE_POINTS)
    fine_value, fine_rate = _on_grid(pair, s_star, fine_s, fine_rho)
    fine_inside = _widened(fine_value <= level * (1.0 + 1e-12) + 1e-300)
    k_fine = float(np.max(np.where(fine_inside, fine_rate, 0.0)))
    at_start = float(pair.loss_and_rate(s0, u0, s_star)[1])
    return _GRID_MARGIN * max(k_grid, k_fine, at_start)


def _on_grid(pair: "LinkPair", s_star: float, s: np.ndarray, rho: np.ndarray):
    """(ℓ, |c0| + |c1|) at u = ρ √(s s*), shape (len(s), len(rho)); NaN rates read as 0."""
    ss = np.repeat(s[:, None], rho.size, axis=1)
    uu = rho[None, :] * np.sqrt(ss * s_star)
    value, rate = pair.loss_and_rate(ss, uu, s_star)
    return np.where(np.isnan(value), np.inf, value), np.nan_to_num(rate, nan=0.0)


def _widened(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one grid cell along both axes (diagonals included)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown


def _component(mask: np.ndarray, start: Tuple[int, int]) -> np.ndarray:
    """The part of ``mask`` connected to the grid cell ``start`` (the flow is continuous, so
    it never reaches another part of the sublevel set); ``start`` is always in it."""
    from scipy import ndimage

    mask = mask.copy()
    mask[start] = True
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    return labels == labels[start]


def _check_finite(pair: "LinkPair", inside: np.ndarray, rate: np.ndarray) -> None:
    """Refuse a sublevel set on which |c0| + |c1| has no finite supremum on the grid."""
    if pair.student.kinked and inside[0].any():
        raise ValueError(
            f"horizon=: from this start the loss of link pair {pair.identity!r} allows s -> 0, "
            f"where the kinked student's c0 grows like sqrt(s*/s): no bound on the flow's "
            f"coefficients sizes the modes; compress without a horizon")
    top = float(np.max(np.where(inside[-1], rate[-1], 0.0)))
    if top > 0.1 * float(np.max(np.where(inside, rate, 0.0))):
        raise ValueError(
            f"horizon=: from this start the loss of link pair {pair.identity!r} allows s "
            f"beyond 1e8 s* with coefficients that do not die away: no bound on the flow's "
            f"coefficients sizes the modes; compress without a horizon")


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
