"""Power-law spectra compressed without a length-d vector (model page: Data model,
Compression): the modes as index ranges, their eigenvalue sums (exact head sums plus
Euler–Maclaurin), and each mode's Wishart Gram matrix drawn exactly (Bartlett)."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

import pyscale._validate as check

from .horizon import check_horizon_args, resolved_eigenvalue
from .modes import Modes, assemble_modes

__all__ = ["draw_power_law", "power_law_normaliser", "power_law_modes", "mode_power_sums",
           "sample_mode_grams"]

# Sums of i^(-a) over indices below this are added term by term; above it the
# Euler–Maclaurin formula with Bernoulli terms through B_10 is accurate to rounding
# (its remainder is ~ 2 (a)_10 / (2π i)^10 relative, < 1e-17 for a ≤ 10 at i ≥ 256).
_DIRECT_BELOW = 256
# B_2k / (2k)! for k = 1..5.
_EM_COEFFS = (1.0 / 12.0, -1.0 / 720.0, 1.0 / 30240.0, -1.0 / 1209600.0,
              1.0 / 47900160.0)



def _rising(a: float, m: int) -> float:
    """Pochhammer symbol (a)_m = a (a+1) ... (a+m-1)."""
    out = 1.0
    for k in range(m):
        out *= a + k
    return out


def _euler_maclaurin(lo: np.ndarray, hi: np.ndarray, a: float) -> np.ndarray:
    """Σ_{i=lo}^{hi} i^(-a) for lo ≥ _DIRECT_BELOW (arrays, lo ≤ hi), Euler–Maclaurin:

    ∫_lo^hi x^-a dx + (lo^-a + hi^-a)/2 + Σ_k B_2k/(2k)! (f^(2k-1)(hi) − f^(2k-1)(lo)),
    f^(m)(x) = (−1)^m (a)_m x^(−a−m).

    The integral is written as lo^(1−a) L expm1((1−a) L)/((1−a) L), L = log1p((hi−lo)/lo),
    so that it keeps full relative accuracy for narrow ranges (hi ≈ lo) and at a = 1.
    """
    lo = lo.astype(np.float64)
    hi = hi.astype(np.float64)
    log_ratio = np.log1p((hi - lo) / lo)
    z = (1.0 - a) * log_ratio
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(np.abs(z) > 1e-300, np.expm1(z) / np.where(z == 0, 1.0, z), 1.0)
    integral = lo ** (1.0 - a) * log_ratio * phi
    total = integral + 0.5 * (lo ** (-a) + hi ** (-a))
    for k, coeff in enumerate(_EM_COEFFS, start=1):
        m = 2 * k - 1
        # f^(m) with m odd is −(a)_m x^(−a−m).
        deriv_scale = -_rising(a, m)
        total += coeff * deriv_scale * (hi ** (-a - m) - lo ** (-a - m))
    return total


def mode_power_sums(first: np.ndarray, last: np.ndarray, a: float) -> np.ndarray:
    """Σ_{i=first_k}^{last_k} i^(-a) for disjoint index ranges (1-based, first ≤ last).

    Terms with i < 256 are summed one by one (smallest first); the rest of a range by
    Euler–Maclaurin (:func:`_euler_maclaurin`). Relative accuracy ~1e-15 for any a ≥ 0,
    any width, in O(number of ranges) — no length-d array. Used for H_{d,a} and for the
    count-weighted mean eigenvalue of each power-law mode (model page: Data model, Compression).
    """
    a = check.exponent(a)
    first = np.asarray(first, dtype=np.int64)
    last = np.asarray(last, dtype=np.int64)
    if first.shape != last.shape or np.any(first < 1) or np.any(last < first):
        raise ValueError("index ranges must satisfy 1 <= first <= last")
    sums = np.zeros(first.shape, dtype=np.float64)
    # Direct part: the ranges are disjoint, so at most _DIRECT_BELOW terms in all.
    direct = np.flatnonzero(first < _DIRECT_BELOW)
    for k in direct:
        top = min(int(last[k]), _DIRECT_BELOW - 1)
        terms = np.arange(top, int(first[k]) - 1, -1, dtype=np.float64) ** (-a)
        sums[k] = math.fsum(terms)
    em = last >= _DIRECT_BELOW
    if np.any(em):
        lo = np.maximum(first[em], _DIRECT_BELOW)
        sums[em] += _euler_maclaurin(lo, last[em], a)
    return sums


def power_law_normaliser(d: int, a: float) -> float:
    """H_{d,a} = Σ_{j≤d} j^(-a) (model page: Data model; so that tr Q = 1) without a length-d array.

    Exact partial sums for j < 256 plus Euler–Maclaurin for the rest (any a ≥ 0;
    for a > 1 this equals ζ(a) − ζ(a, d+1) and is checked against it in the tests).
    Relative accuracy ~1e-15.
    """
    d = check.dimension(d)
    return float(mode_power_sums(np.array([1]), np.array([d]), a)[0])


def power_law_modes(d: int, a: float, rtol: float, horizon: Optional[float] = None,
                    rate: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Index ranges [first_k, last_k] (1-based) grouping λ_i = i^(-a)/H_{d,a} into modes
    whose largest/smallest eigenvalue ratio (last/first)^a is ≤ 1 + δ (model page: Compression).

    Greedy from the top, the same rule as :func:`compress`: a mode starting at p ends at
    q = floor(p (1+δ)^(1/a)). For p < 1/((1+δ)^(1/a) − 1) this is q = p: the head, where
    neighbouring eigenvalues differ by more than 1 + δ, is one coordinate per mode. Beyond
    it the widths grow geometrically, so there are ≈ (a/δ)(1 + ln(δ d / a)) modes.

    With a ``horizon`` T and the coefficients' bound K = ``rate``, the mode starting at p may
    span 1 + δ_p, δ_p = δ / min(1, λ_p/λ_*), λ_* = min(1/(K T), √(Σλ_i²/d))
    (:func:`~.horizon.resolved_eigenvalue`; model page: Compression, Horizon-aware grouping):
    the uniform modes down to λ_*, then modes of absolute width ≤ δ λ_* — a count that does
    not grow with d (while d ≤ (K T)² Σλ_i²). Cost O(number of modes).
    """
    d = check.dimension(d)
    a = check.exponent(a)
    rtol = check.grouping_tolerance(rtol)
    sized = check_horizon_args(horizon, rate)
    if a == 0.0:  # isotropic: every eigenvalue equal, one mode
        return np.array([1], dtype=np.int64), np.array([d], dtype=np.int64)
    if sized is not None:
        normaliser = power_law_normaliser(d, a)
        mean_square = power_law_normaliser(d, 2.0 * a) / (normaliser * normaliser * d)
        return _horizon_modes(d, a, rtol, resolved_eigenvalue(*sized, mean_square))
    growth = math.exp(math.log1p(rtol) / a)  # (1+δ)^(1/a), the largest last/first ratio
    excess = math.expm1(math.log1p(rtol) / a)  # (1+δ)^(1/a) − 1 without cancellation
    # Singletons: p (r − 1) < 1. Computed in floats, then the boundary checked in the loop.
    n_head = min(d, int(math.ceil(1.0 / excess)) - 1) if excess > 0 else d
    n_head = max(n_head, 0)
    while n_head > 0 and math.floor(n_head * growth) > n_head:
        n_head -= 1  # rounding guard: keep only true singletons
    estimate = n_head + (math.log(max(d, 1) / max(n_head, 1)) / math.log(growth) + 1
                         if d > n_head else 0)
    if estimate > 2e8:
        raise ValueError(
            f"rtol={rtol:g} at d={d}, a={a:g} needs ~{estimate:.3g} modes; use a larger rtol "
            "(the head is exact anyway) or an explicit problem")
    firsts = [np.arange(1, n_head + 1, dtype=np.int64)]
    lasts = [firsts[0].copy()]
    tail_first, tail_last = [], []
    p = n_head + 1
    while p <= d:
        q = p * growth
        q = d if q >= d else max(p, int(math.floor(q)))
        tail_first.append(p)
        tail_last.append(q)
        p = q + 1
    firsts.append(np.asarray(tail_first, dtype=np.int64))
    lasts.append(np.asarray(tail_last, dtype=np.int64))
    return np.concatenate(firsts), np.concatenate(lasts)


def _horizon_modes(d: int, a: float, rtol: float,
                   lam_star: float) -> Tuple[np.ndarray, np.ndarray]:
    """The horizon-aware ranges of :func:`power_law_modes`: singletons while the uniform rule
    keeps them and λ_p ≥ λ_*, then greedy with δ_p = δ / min(1, λ_p/λ_*) from each first
    index p."""
    normaliser = power_law_normaliser(d, a)
    excess = math.expm1(math.log1p(rtol) / a)
    n_head = min(d, max(int(math.ceil(1.0 / excess)) - 1, 0))
    # λ_p ≥ λ_* ⟺ p ≤ (λ_* H)^(-1/a): there the tolerance is δ itself.
    p_reach = (lam_star * normaliser) ** (-1.0 / a)
    n_single = min(n_head, int(p_reach))
    growth = math.exp(math.log1p(rtol) / a)
    while n_single > 0 and math.floor(n_single * growth) > n_single:
        n_single -= 1  # rounding guard, as in the uniform rule
    first = list(range(1, n_single + 1))
    last = list(first)
    p = n_single + 1
    while p <= d:
        lam = float(p) ** (-a) / normaliser
        tol = rtol / min(1.0, lam / lam_star)
        q = p * math.exp(math.log1p(tol) / a)
        q = d if q >= d else max(p, int(math.floor(q)))
        first.append(p)
        last.append(q)
        p = q + 1
    return np.asarray(first, dtype=np.int64), np.asarray(last, dtype=np.int64)



def sample_mode_grams(sizes, rng: np.random.Generator):
    """Exact draw of each mode's Cholesky factor of the Gram matrix of n i.i.d. pairs
    (g_i, h_i) ~ N(0, I_2), i.e. of W ~ Wishart_2(n, I) (Bartlett decomposition):

        W = L Lᵀ,  L = [[c1, 0], [z, c2]],  c1² ~ χ²_n,  c2² ~ χ²_(n−1),  z ~ N(0, 1),

    all independent, so Σ g² = c1², Σ g h = c1 z, Σ h² = z² + c2². Returned as the
    virtual coordinates g → (c1, 0), h → (z, c2). For n = 1 plain Gaussians (g, h) are
    drawn instead (c2 = 0), so a size-one mode is exactly one coordinate of a full draw.

    Returns (g_first, h_first, h_second) arrays over modes (g_second is 0).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if np.any(sizes < 1):
        raise ValueError("mode sizes must be >= 1")
    single = sizes == 1
    g_first = np.empty(sizes.size)
    h_first = np.empty(sizes.size)
    h_second = np.zeros(sizes.size)
    k = int(single.sum())
    g_first[single] = rng.standard_normal(k)
    h_first[single] = rng.standard_normal(k)
    many = ~single
    n = sizes[many].astype(np.float64)
    g_first[many] = np.sqrt(rng.chisquare(n))
    h_first[many] = rng.standard_normal(n.size)
    h_second[many] = np.sqrt(rng.chisquare(n - 1.0))
    return g_first, h_first, h_second


def draw_power_law(d: int, a: float, seed: int = 0, target: str = "unit_q",
                   rtol: float = 1e-3, horizon: Optional[float] = None,
                   rate: Optional[float] = None) -> Modes:
    """The paper's problem (model page: Data model) at dimension d, compressed at tolerance δ = rtol
    (model page: Compression), in O(number of modes) time and memory — no length-d vector.

    * Modes: :func:`power_law_modes` (horizon-aware with ``horizon`` T and ``rate`` K,
      the bound on |c0| + |c1| the grouping assumes); eigenvalue of mode [p, q]: the
      count-weighted mean (1/n) Σ_{i=p}^{q} i^(-a) / H_{d,a} (see :func:`compress`, "count"), with
      H_{d,a} from :func:`power_law_normaliser` (~1e-15 relative), so tr Q = 1.
    * Vectors: g, h ~ N(0, I_d) i.i.d.; per mode the Gram matrix of (g, h) is drawn exactly
      (:func:`sample_mode_grams`; head modes of size one are plain Gaussians). Then exactly
      as the full constructor: w* = g / ||Q^(1/2) g|| (``target="unit_q"``, s* = 1) or
      g √d / ||g|| (``"norm_d"``), w(0) = h / ||h|| (uniform on the sphere), with the norms
      Σ_modes λ S_gg, Σ S_gg, Σ S_hh of the same draw — so u(0), of order d^(-1/2), which
      drives the escape, has its exact law for the grouped spectrum.

    Same seed → same problem; the stream differs from the uncompressed constructor's, so
    a compressed and a full problem of one seed agree in distribution, not draw by draw.
    The head's Gaussians are drawn first, so one seed gives the same head coordinates
    (i ≤ the head size, ≈ a/δ) for every d beyond it: a sweep over d at fixed seed uses
    common random numbers where the escape is decided.
    """
    d = check.dimension(d)
    a = check.exponent(a)
    rtol = check.grouping_tolerance(rtol)
    check.choice("target", target, ("unit_q", "norm_d"))
    first, last = power_law_modes(d, a, rtol, horizon, rate)
    sizes = last - first + 1
    normaliser = power_law_normaliser(d, a)
    if a == 0.0:
        lam_mode = np.full(first.size, 1.0 / d)
    else:
        lam_mode = mode_power_sums(first, last, a) / (sizes * normaliser)
    rng = np.random.default_rng(seed)
    g1, h1, h2 = sample_mode_grams(sizes, rng)
    s_gg = g1 * g1
    s_hh = h1 * h1 + h2 * h2
    if target == "unit_q":
        g_scale = 1.0 / math.sqrt(math.fsum(lam_mode * s_gg))
    else:
        g_scale = math.sqrt(d / math.fsum(s_gg))
    h_scale = 1.0 / math.sqrt(math.fsum(s_hh))
    single = sizes == 1
    zeros = np.zeros(sizes.size)
    # Cholesky data of the scaled Gram: S11 = (c1 gs)², S01 = c1 z gs hs, and the residual
    # (c2 hs)² — passed so that assemble_modes reproduces (c1, 0), (z, c2) up to the scales.
    s11 = s_gg * g_scale ** 2
    s01 = g1 * h1 * g_scale * h_scale
    resid2 = (h2 * h_scale) ** 2
    eig, ws_v, w0_v, counts_v, n_modes = assemble_modes(
        lam_mode, sizes.astype(np.float64), single, g1 * g_scale, h1 * h_scale,
        np.where(single, zeros, s11), np.where(single, zeros, s01),
        np.where(single, zeros, resid2))
    info = {"rtol": rtol, "representative": "count", "n_modes": int(n_modes)}
    sized = check_horizon_args(horizon, rate)
    if sized is not None:
        info.update(horizon=sized[0], rate=sized[1])
    return Modes(eig, ws_v, w0_v, counts_v, int(n_modes), info)

