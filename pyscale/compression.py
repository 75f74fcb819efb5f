"""Spectral compression (model page: Gradient flow, Compression): the dynamics at d = 10^9 and
beyond in O(number of modes) memory and time, exact in distribution up to an O(δ) grouping error.

Why it works. Given the two scalar functions s(t), u(t), every coordinate evolves
linearly (model page: Gradient flow):

    w_i(t) = A(λ_i, t) w_i(0) + B(λ_i, t) w*_i.

Coordinates that share one eigenvalue λ (a *mode*) therefore share (A, B), and every
quantity an engine needs (s, u, s^(k), u^(k), ||w ∓ w*||², the loss) is, per mode, a
quadratic form in (w(0), w*) with the mode's coefficients. A mode of n coordinates is thus
completely described by n and its Gram matrix

    G = [[S00, S01], [S01, S11]],   S00 = Σ w0_i²,  S01 = Σ w0_i w*_i,  S11 = Σ w*_i²,

and it can be *stored* as (at most) two virtual coordinates with the mode's eigenvalue whose
inner products reproduce G exactly — the Cholesky factor: w*-values (√S11, 0), w(0)-values
(S01/√S11, √(S00 − S01²/S11)). The flow and GD engines, which only ever form inner products
within a coordinate's own eigenvalue, run unchanged on such a problem (the full problem is
the case of one coordinate per mode); ``Problem.d`` keeps the true dimension (MSE
normalisation) and ``Problem.counts`` the physical coordinates behind each stored one.

Two ways in:

* :func:`group` (behind ``Problem.compress``) groups an explicit problem's eigenvalues —
  greedily, from the largest, every run whose largest/smallest ratio is ≤ 1 + δ — and sums
  its vectors exactly per mode. Where neighbouring eigenvalues differ by more than the
  factor 1 + δ (the head of a power law) every coordinate stays its own mode, exactly.
* :func:`draw_power_law` (behind ``Problem.power_law(..., compress=δ)``) never allocates a
  length-d vector: the groups of a power law are index ranges, their eigenvalue sums come
  from exact head sums plus Euler–Maclaurin, and each mode's Gram matrix of n i.i.d.
  standard Gaussian pairs (g_i, h_i) — a Wishart_2(n, I) matrix — is drawn exactly with the
  Bartlett decomposition, without drawing the n entries.

For a power law λ_i ∝ i^(-a) the head up to i ≈ a/δ stays exact and the tail needs
≈ (a/δ) ln(δ d / a) modes: d = 10^9, a = 2, δ = 10^-3 is ~2.8·10^4 modes.

The grouping error is O(δ) and is estimated a posteriori by
:func:`pyscale.compression_error.compression_error` (the same realisation compressed at δ
and δ/2).

Reading a problem's stored coordinates back as modes: :func:`eigenspaces` groups the stored
coordinates of one eigenvalue (an eigenspace of Q, whatever the layout: a physical problem's
repeated eigenvalues too) with its physical size n and target norm r — what the SGD theory
needs; :func:`mode_layout` checks the layout compression produces (a mode as one stored
coordinate, or two with target (r, 0)) and says where each mode's two numbers are — what the
mode chain needs.

This module is part of the model: arrays in, arrays out (:class:`Modes`,
:class:`Eigenspaces`, :class:`ModeLayout`); it never builds a :class:`~pyscale.Problem` nor
runs an engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

import numpy as np

from . import _validate as check

__all__ = ["Modes", "group", "draw_power_law", "power_law_normaliser", "power_law_modes",
           "mode_power_sums", "sample_mode_grams", "REPRESENTATIVES", "Eigenspaces",
           "eigenspaces", "ModeLayout", "mode_layout"]

#: How a mode's eigenvalue is chosen from its members (see :func:`compress`).
REPRESENTATIVES = ("target", "count")

# Sums of i^(-a) over indices below this are added term by term; above it the
# Euler–Maclaurin formula with Bernoulli terms through B_10 is accurate to rounding
# (its remainder is ~ 2 (a)_10 / (2π i)^10 relative, < 1e-17 for a ≤ 10 at i ≥ 256).
_DIRECT_BELOW = 256
# B_2k / (2k)! for k = 1..5.
_EM_COEFFS = (1.0 / 12.0, -1.0 / 720.0, 1.0 / 30240.0, -1.0 / 1209600.0,
              1.0 / 47900160.0)


@dataclass(frozen=True)
class Modes:
    """A grouped problem's stored coordinates: ≤ 2 virtual coordinates per mode, with the
    mode's eigenvalue, and the physical coordinates each stands for (``counts``)."""
    eigenvalues: np.ndarray
    w_star: np.ndarray
    w0: np.ndarray
    counts: np.ndarray
    n_modes: int
    info: Dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- power sums
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


# ---------------------------------------------------------------------------- grouping
def power_law_modes(d: int, a: float, rtol: float) -> Tuple[np.ndarray, np.ndarray]:
    """Index ranges [first_k, last_k] (1-based) grouping λ_i = i^(-a)/H_{d,a} into modes
    whose largest/smallest eigenvalue ratio (last/first)^a is ≤ 1 + δ (model page: Compression).

    Greedy from the top, the same rule as :func:`compress`: a mode starting at p ends at
    q = floor(p (1+δ)^(1/a)). For p < 1/((1+δ)^(1/a) − 1) this is q = p: the head, where
    neighbouring eigenvalues differ by more than 1 + δ, is one coordinate per mode. Beyond
    it the widths grow geometrically, so there are ≈ (a/δ)(1 + ln(δ d / a)) modes.
    Cost O(number of modes).
    """
    d = check.dimension(d)
    a = check.exponent(a)
    rtol = check.grouping_tolerance(rtol)
    if a == 0.0:  # isotropic: every eigenvalue equal, one mode
        return np.array([1], dtype=np.int64), np.array([d], dtype=np.int64)
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


def _greedy_groups(lam_desc: np.ndarray, rtol: float) -> np.ndarray:
    """Start indices of the greedy grouping of decreasing eigenvalues: each group is the
    longest run from its first element λ_j with λ_j ≤ (1 + δ) λ_k for all members k."""
    ascending = -lam_desc  # increasing, for searchsorted
    n = lam_desc.size
    starts = []
    j = 0
    while j < n:
        starts.append(j)
        # first k with λ_k < λ_j / (1 + δ)
        j = int(np.searchsorted(ascending, -lam_desc[j] / (1.0 + rtol), side="right"))
    return np.asarray(starts, dtype=np.int64)


# ---------------------------------------------------------------------------- virtual coords
def _assemble(lam_mode, count_mode, single, single_w_star, single_w0, s11, s01, resid2):
    """Stored coordinates from per-mode data, modes kept in the given (decreasing λ) order.

    A single-coordinate mode keeps its values. Otherwise the Cholesky factor of
    G = [[S00, S01], [S01, S11]]: w* → (√S11, 0), w(0) → (S01/√S11, √resid2) with
    resid2 = S00 − S01²/S11 (computed by the caller without cancellation). Rank-one modes
    (resid2 = 0, or S11 = 0 where w(0) → (√S00)) need only one coordinate.
    Counts: the mode's count, split evenly over its stored coordinates.
    """
    n_modes = lam_mode.size
    w_star_1 = np.where(single, single_w_star, np.sqrt(s11))
    with np.errstate(invalid="ignore", divide="ignore"):
        w0_1 = np.where(single, single_w0,
                        np.where(s11 > 0, s01 / np.sqrt(np.where(s11 > 0, s11, 1.0)),
                                 np.sqrt(resid2)))
    two = (~single) & (s11 > 0) & (resid2 > 0)
    width = np.where(two, 2, 1)
    offset = np.concatenate([[0], np.cumsum(width)[:-1]])
    n_stored = int(width.sum())
    eig = np.repeat(lam_mode, width)
    counts = np.repeat(count_mode / width, width)
    w_star = np.zeros(n_stored)
    w0 = np.zeros(n_stored)
    w_star[offset] = w_star_1
    w0[offset] = w0_1
    w0[offset[two] + 1] = np.sqrt(resid2[two])
    return eig, w_star, w0, counts, n_modes


def group(eigenvalues: np.ndarray, w_star: np.ndarray, w0: np.ndarray, counts: np.ndarray,
          rtol: float, representative: str = "target") -> Modes:
    """Group a problem's (nearly) equal eigenvalues into modes (model page: Compression).

    Eigenvalues are sorted decreasingly and grouped greedily from the largest: a mode is
    the longest run whose largest/smallest ratio is ≤ 1 + δ (δ = ``rtol``). Each mode's
    Gram matrix of (w(0), w*) is summed exactly and stored as ≤ 2 virtual coordinates
    (see the module docstring); a mode of one stored coordinate is kept as it is, so the
    head of a power law (neighbour ratios > 1 + δ) is untouched. Works on already
    compressed problems too (their virtual coordinates are inner-product data as well).

    ``representative`` — the eigenvalue given to a mode. Replacing λ_i by one λ̄ changes a
    mode's contribution Σ f(λ_i) x_i to any engine quantity (x_i = w0_i², w0_i w*_i or
    w*_i²; f built from the Duhamel coefficients A, B) by f'(λ̄) Σ (λ_i − λ̄) x_i + O(δ²):

    * ``"target"`` (default): the w*²-weighted mean Σ λ_i w*_i² / Σ w*_i². It keeps
      s* = Σ λ_i w*_i² exactly for this realisation and cancels the first-order error of
      every w*²-weighted term — those that dominate u, s and the MSE once w ≈ ±w*, and
      the whole Phase III decay Σ e_i² e^(−16 λ_i τ) with e_i ≈ −w*_i in the unlearned
      tail (model page: Phase III). The w(0)-terms (weights w0_i w*_i, w0_i², which drive the
      escape) keep a zero-mean first-order error. Falls back to "count" where w* vanishes.
    * ``"count"``: the count-weighted mean λ̄ = Σ c_i λ_i / Σ c_i. It preserves
      tr Q = Σ_i λ_i exactly; for i.i.d. entries the first-order error of every quadratic
      form has mean zero, leaving O(δ²) plus a zero-mean fluctuation per mode. It is the
      only choice that needs no entries, hence the one :func:`compressed_power_law` uses.

    Measured on an explicit problem (d = 10^4, a = 2, seed 1, flow to t = 10^6, rtol 1e-10):
    max |Δu| at δ = 0.04 / 0.01 / 0.001 is 9.2e-7 / 4.6e-8 / 4.9e-10 with "target" against
    2.5e-5 / 4.6e-7 / 7.9e-9 with "count", and the relative MSE error 1.5e-5 / 8.5e-7 /
    1.6e-8 against 8.6e-5 / 6.0e-6 / 2.7e-6: "target" is 10–100× more accurate path by path.

    Raises ValueError for rtol outside (0, 1), or an unknown representative.
    """
    rtol = check.grouping_tolerance(rtol)
    check.choice("representative", representative, REPRESENTATIVES)
    order = np.argsort(-eigenvalues, kind="stable")
    lam = eigenvalues[order]
    source_n = int(lam.size)
    w_star = w_star[order]
    w0 = w0[order]
    cnt = counts[order]
    starts = _greedy_groups(lam, rtol)
    sizes = np.diff(np.append(starts, lam.size))
    single = sizes == 1

    s11 = np.add.reduceat(w_star * w_star, starts)
    s01 = np.add.reduceat(w0 * w_star, starts)
    count_mode = np.add.reduceat(cnt, starts)
    # Residual of w(0) after projecting out w* within each mode (Gram–Schmidt, a second
    # pass): S00 − S01²/S11 formed this way does not cancel when w(0) is nearly ∥ w*.
    with np.errstate(invalid="ignore", divide="ignore"):
        proj = np.where(s11 > 0, s01 / np.where(s11 > 0, s11, 1.0), 0.0)
    resid = w0 - np.repeat(proj, sizes) * w_star
    resid2 = np.add.reduceat(resid * resid, starts)

    counted_mean = np.add.reduceat(cnt * lam, starts)
    plain_mean = np.add.reduceat(lam, starts) / sizes
    with np.errstate(invalid="ignore", divide="ignore"):
        lam_mode = np.where(count_mode > 0, counted_mean / np.where(count_mode > 0,
                                                                    count_mode, 1.0),
                            plain_mean)
        if representative == "target":
            lam_target = np.add.reduceat(lam * w_star * w_star, starts) / np.where(
                s11 > 0, s11, 1.0)
            lam_mode = np.where(s11 > 0, lam_target, lam_mode)
    # Rounding must not push a mean outside its group's range.
    lam_mode = np.clip(lam_mode, lam[starts + sizes - 1], lam[starts])
    lam_mode = np.where(single, lam[starts], lam_mode)

    eig, ws_v, w0_v, counts_v, n_modes = _assemble(
        lam_mode, count_mode, single, w_star[starts], w0[starts], s11, s01, resid2)
    info = {"rtol": rtol, "representative": representative, "n_modes": int(n_modes),
            "source_n_coords": source_n}
    return Modes(eig, ws_v, w0_v, counts_v, int(n_modes), info)


# ---------------------------------------------------------------------------- sampling
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
                   rtol: float = 1e-3) -> Modes:
    """The paper's problem (model page: Data model) at dimension d, compressed at tolerance δ = rtol
    (model page: Compression), in O(number of modes) time and memory — no length-d vector.

    * Modes: :func:`power_law_modes`; eigenvalue of mode [p, q]: the count-weighted mean
      (1/n) Σ_{i=p}^{q} i^(-a) / H_{d,a} (see :func:`compress`, "count"), with
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
    first, last = power_law_modes(d, a, rtol)
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
    # (c2 hs)² — passed so that _assemble reproduces (c1, 0), (z, c2) up to the scales.
    s11 = s_gg * g_scale ** 2
    s01 = g1 * h1 * g_scale * h_scale
    resid2 = (h2 * h_scale) ** 2
    eig, ws_v, w0_v, counts_v, n_modes = _assemble(
        lam_mode, sizes.astype(np.float64), single, g1 * g_scale, h1 * h_scale,
        np.where(single, zeros, s11), np.where(single, zeros, s01),
        np.where(single, zeros, resid2))
    info = {"rtol": rtol, "representative": "count", "n_modes": int(n_modes)}
    return Modes(eig, ws_v, w0_v, counts_v, int(n_modes), info)


# ---------------------------------------------------------------------------- reading modes back
@dataclass(frozen=True)
class Eigenspaces:
    """The stored coordinates grouped by eigenvalue: eigenspace k is every stored coordinate
    with eigenvalue ``lam[k]`` (exact equality), in order of first appearance.

    Attributes
    ----------
    lam : (m,) eigenvalue of each eigenspace.
    count : (m,) its physical coordinates n (Σ ``counts`` over its stored coordinates).
    r : (m,) the target's norm on it, r = sqrt(Σ w*_i²) ≥ 0.
    n_stored : (m,) its stored coordinates.
    index : (n_coords,) the eigenspace of each stored coordinate.
    direction : (n_coords,) the unit vector ŵ = W*/r of each eigenspace on its stored
        coordinates (where r = 0: its first stored coordinate).

    Stored coordinates reproduce a mode's inner products (module docstring), so ŵ·e and
    Σ e_i² over an eigenspace's stored coordinates are the physical ones for any vector e of
    the problem's span (w*, w(0), an engine's state)."""
    lam: np.ndarray
    count: np.ndarray
    r: np.ndarray
    n_stored: np.ndarray
    index: np.ndarray
    direction: np.ndarray

    @property
    def size(self) -> int:
        return int(self.lam.size)

    def along(self, e: np.ndarray) -> np.ndarray:
        """(m,) ŵ·e per eigenspace, e a stored vector."""
        return np.bincount(self.index, weights=self.direction * e, minlength=self.size)

    def energy(self, e: np.ndarray) -> np.ndarray:
        """(m,) Σ e_i² per eigenspace, e a stored vector."""
        return np.bincount(self.index, weights=e * e, minlength=self.size)


def eigenspaces(eigenvalues: np.ndarray, w_star: np.ndarray, counts: np.ndarray
                ) -> Eigenspaces:
    """Group a problem's stored coordinates by (exactly) equal eigenvalue (model page:
    Compression): for a compressed problem the modes, for a physical one its eigenspaces
    (one coordinate each where the eigenvalues are distinct). O(n_coords log n_coords).

    Raises ValueError where an eigenspace's summed ``counts`` is not a whole number ≥ 1."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    ws = np.asarray(w_star, dtype=np.float64)
    uniq, first, inverse = np.unique(lam, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")          # first appearance, e.g. decreasing λ
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    index = rank[inverse.ravel()]
    m = order.size
    total = np.bincount(index, weights=np.asarray(counts, dtype=np.float64), minlength=m)
    count = np.rint(total)
    bad = (count < 1) | (np.abs(total - count) > 1e-9 * np.maximum(1.0, total))
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"the stored coordinates at eigenvalue {uniq[order][k]:.6g} stand for "
                         f"{total[k]:.6g} physical coordinates (summed counts): a mode needs a "
                         f"whole number >= 1")
    r = np.sqrt(np.bincount(index, weights=ws * ws, minlength=m))
    r_of = r[index]
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = np.where(r_of > 0, ws / np.where(r_of > 0, r_of, 1.0), 0.0)
    empty = np.flatnonzero(r == 0)
    direction[first[order][empty]] = 1.0
    return Eigenspaces(lam=uniq[order], count=count, r=r,
                       n_stored=np.bincount(index, minlength=m), index=index,
                       direction=direction)


@dataclass(frozen=True)
class ModeLayout:
    """Where the modes of a compressed problem are stored (the layout :func:`group` and
    :func:`draw_power_law` produce), in stored order.

    Attributes
    ----------
    lam : (m,) eigenvalue of each mode.
    count : (m,) physical coordinates n of each mode (whole numbers ≥ 1, as floats).
    r : (m,) the target's value on the mode's first stored coordinate: ||W*|| for a mode
        of two stored coordinates, the signed coordinate for a mode of one.
    first, second : (m,) stored index of each mode's coordinates (second = −1: none).
    n_coords : number of stored coordinates.
    """
    lam: np.ndarray
    count: np.ndarray
    r: np.ndarray
    first: np.ndarray
    second: np.ndarray
    n_coords: int

    @property
    def size(self) -> int:
        return int(self.lam.size)

    def state(self, w: np.ndarray):
        """(c1, c2) of the stored vector w: c1 = w[first], c2 = |w[second]| (0 if none).

        The sign of c2 is a reflection across the target's direction, under which the data
        are invariant, so dropping it changes neither the law nor s, u or the MSE."""
        w = np.asarray(w, dtype=np.float64)
        c1 = w[self.first].copy()
        has = self.second >= 0
        c2 = np.zeros(self.size)
        c2[has] = np.abs(w[self.second[has]])
        return c1, c2

    def to_w(self, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """The stored vector of the state (c1, c2): the inverse of :meth:`state`."""
        w = np.zeros(self.n_coords)
        w[self.first] = c1
        has = self.second >= 0
        w[self.second[has]] = c2[has]
        return w


def mode_layout(eigenvalues: np.ndarray, w_star: np.ndarray, counts: np.ndarray
                ) -> ModeLayout:
    """The modes (:func:`eigenspaces`) of a compressed problem as stored by compression: each
    a single coordinate or two consecutive ones whose second target value is 0. n = the
    mode's total ``counts``. Raises ValueError for another layout, or for counts that do
    not sum to whole numbers per mode."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    w_star = np.asarray(w_star, dtype=np.float64)
    spaces = eigenspaces(lam, w_star, counts)
    first = np.flatnonzero(np.r_[True, spaces.index[1:] != spaces.index[:-1]])
    sizes = np.diff(np.r_[first, lam.size])
    if (first.size != spaces.size or np.any(sizes > 2)
            or np.any(w_star[first[sizes == 2] + 1] != 0.0)):
        raise ValueError(
            "the mode chain needs each mode stored as one coordinate or two with the target "
            "(r, 0), as problem.compress(rtol) stores them; recompress this problem")
    second = np.where(sizes == 2, first + 1, -1)
    return ModeLayout(lam=spaces.lam.copy(), count=spaces.count, r=w_star[first].copy(),
                      first=first, second=second, n_coords=int(lam.size))
