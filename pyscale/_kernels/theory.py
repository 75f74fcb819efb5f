"""Numba kernels for the theory's O(d) sums (model page: Phases).

Every kernel is a plain loop over the stored coordinates, compiled once
(``@njit(cache=True)``) and never inside a hot loop. Conventions shared by all of them:

* ``lam`` — the eigenvalues λ_i of Q (> 0), ``w_star`` — w*, ``w0`` — w(0);
* ``mu_i = 4 s* λ_i`` — the growth rate of coordinate i while Θ(t) = s* t (model page: Escape);
* ``c_i = (λ_i w*_i)^2`` and ``b_i = λ_i w_i(0) w*_i`` — the Volterra kernel and forcing
  weights (model page: Gradient flow): u(t) = Σ b_i e^{4λ_iΘ(t)} + 8 ∫ Σ c_i e^{4λ_i(Θ(t)−Θ(τ))}
  u(τ) dτ.

Long sums are accumulated in blocks of ``_BLOCK`` terms whose partial sums are added in a
second level, so the rounding error grows like (block + n/block) ε rather than n ε.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["dispersion_terms", "escape_root", "weighted_exp_sums", "volterra_march",
           "tail_cutoff", "phi_weights", "cauchy_bin_bounds"]

_BLOCK = 1024


@njit(cache=True)
def dispersion_terms(lam, w_star, w0, rate_scale, mu_top, x):
    """The three Phase I sums at p = mu_top + x (model page: Escape), with μ_i = rate_scale λ_i
    (the square: 4 s* λ_i; a link pair: c0⁰ λ_i, links page: Escape) and
    p − μ_i formed as x + (mu_top − μ_i) so that the gap to the top pole keeps full relative
    precision:

        K(p)  = Σ c_i / (p − μ_i),        (dispersion: D(p) = 1 − κ K(p), the square: κ = 8)
        K'(p) = Σ c_i / (p − μ_i)^2,      (D'(p) = κ K'(p))
        â(p)  = Σ b_i / (p − μ_i).

    Coordinates with c_i = 0 (w*_i = 0) contribute nothing and are skipped, so p may sit
    on their poles.
    """
    n = lam.size
    k_tot = 0.0
    kp_tot = 0.0
    a_tot = 0.0
    start = 0
    while start < n:
        stop = min(start + _BLOCK, n)
        k_blk = 0.0
        kp_blk = 0.0
        a_blk = 0.0
        for i in range(start, stop):
            ws = w_star[i]
            if ws == 0.0:
                continue
            li = lam[i]
            gap = x + (mu_top - rate_scale * li)
            inv = 1.0 / gap
            lw = li * ws
            ci = lw * lw
            k_blk += ci * inv
            kp_blk += ci * inv * inv
            a_blk += lw * w0[i] * inv
        k_tot += k_blk
        kp_tot += kp_blk
        a_tot += a_blk
        start = stop
    return k_tot, kp_tot, a_tot


@njit(cache=True)
def escape_root(lam, w_star, w0, rate_scale, coupling, rtol, max_iter):
    """The escape rate ρ (model page: Escape): the unique root above the top pole of

        D(p) = 1 − κ Σ_i c_i / (p − μ_i) = 0,     μ_i = rate_scale λ_i, κ = ``coupling``

    (the square: rate_scale = 4 s*, κ = 8; links page: Escape), the top pole
    being μ_top = max{μ_i : w*_i ≠ 0}. For κ > 0, on (μ_top, ∞) the map p ↦ κ K(p)
    decreases from +∞ to 0, so the root is unique and bracketed by x = p − μ_top ∈
    (0, κ Σ c_i]. Newton's method is applied to h(x) = 1/(κ K) − 1, which is nearly linear
    near the pole (h ≈ x / (κ c_top)), and replaced by bisection whenever a step would leave
    the bracket.

    Returns (ρ, x = ρ − μ_top, K'(ρ), â(ρ), iterations, converged).
    """
    n = lam.size
    lam_top = 0.0 if rate_scale >= 0.0 else np.inf
    c_sum = 0.0
    for i in range(n):
        if w_star[i] != 0.0:
            # the top pole: the largest λ when μ_i grows with λ, the smallest otherwise
            if (lam[i] > lam_top) if rate_scale >= 0.0 else (lam[i] < lam_top):
                lam_top = lam[i]
            lw = lam[i] * w_star[i]
            c_sum += lw * lw
    mu_top = rate_scale * lam_top
    lo = 0.0
    hi = coupling * c_sum  # κ K(mu_top + hi) <= κ c_sum / hi = 1
    x = 0.5 * hi
    converged = False
    it = 0
    k, kp, ahat = dispersion_terms(lam, w_star, w0, rate_scale, mu_top, x)
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is read after the loop)
        g = coupling * k - 1.0
        if g > 0.0:
            lo = x
        elif g < 0.0:
            hi = x
        else:
            converged = True
            break
        # Newton on h = 1/(κK) − 1: h' = −K'/(κK^2), step = −h/h' = (κK − 1) K / K'.
        step = g * k / kp
        x_new = x + step
        if not (x_new > lo and x_new < hi):
            x_new = 0.5 * (lo + hi)
        done = abs(x_new - x) <= rtol * abs(mu_top + x_new)
        x = x_new
        k, kp, ahat = dispersion_terms(lam, w_star, w0, rate_scale, mu_top, x)
        if done or hi - lo <= rtol * abs(mu_top + lo):
            converged = True
            break
    return mu_top + x, x, kp, ahat, it, converged


# Cody–Waite split of ln 2 (the high part has 32 significant bits, so m * _LN2_HI is
# exact for |m| < 2^20) and 1/k! for the degree-12 Taylor polynomial of e^r on
# |r| <= ln(2)/2, whose truncation error r^13/13! is < 2e-16 relative.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LOG2_E = 1.4426950408889634
_EXP_UNDERFLOW = -708.0  # below, e^x is sub-normal (< 3.3e-308) and taken as 0


@njit(cache=True, fastmath={"contract"})
def _exp_neg_block(scale, lam, start, stop, mantissa, exponent_bits):
    """e^{scale λ_j} (scale <= 0) for j in [start, stop) as mantissa * 2^m, the power of
    two written straight into the exponent field of a float64 (``exponent_bits`` viewed
    as float64). Branch-free, so LLVM vectorises it (NumPy's SIMD exp is otherwise
    faster than numba's scalar libm call). Relative error < 3e-16 for x >= -708;
    0 below (sub-normal results)."""
    for j in range(stop - start):
        x = scale * lam[start + j]
        keep = x > _EXP_UNDERFLOW
        x = max(x, _EXP_UNDERFLOW)
        m = math.floor(x * _LOG2_E + 0.5)
        r = (x - m * _LN2_HI) - m * _LN2_LO
        poly = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
            1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
                1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800
                                                         + r / 479001600)))))))))))
        mantissa[j] = poly if keep else 0.0
        exponent_bits[j] = (np.int64(m) + 1023) << 52


@njit(cache=True, fastmath={"reassoc", "contract"})
def _weighted_block_sum(weights, start, stop, mantissa, powers):
    """Σ_j weights[start + j] mantissa[j] powers[j] — a block of ``_BLOCK`` positive
    terms, reassociated for SIMD (the error stays ~ block ε)."""
    total = 0.0
    for j in range(stop - start):
        total += weights[start + j] * mantissa[j] * powers[j]
    return total


@njit(cache=True, parallel=True)
def weighted_exp_sums(lam, weights, rate, taus, out):
    """out[k] = Σ_i weights_i exp(−rate λ_i τ_k) for every τ_k (model page: Phase III):
    with weights = counts and rate = 16 this is d · S_d(τ); with weights = e_i(T2)^2 and
    rate = 16 s* it is Σ_j e_j^2 · Ŝ_d(τ). Cost O(d) per τ, in cache-sized blocks with
    a vectorised exponential (:func:`_exp_neg_block`); relative error ~1e-15 for
    non-negative weights."""
    n = lam.size
    # One τ per thread: each sum is computed by one thread in a fixed order, so the result
    # does not depend on the number of threads.
    for k in prange(taus.size):
        mantissa = np.empty(_BLOCK)
        exponent_bits = np.empty(_BLOCK, dtype=np.int64)
        powers = exponent_bits.view(np.float64)
        scale = -rate * taus[k]
        total = 0.0
        start = 0
        while start < n:
            stop = min(start + _BLOCK, n)
            _exp_neg_block(scale, lam, start, stop, mantissa, exponent_bits)
            total += _weighted_block_sum(weights, start, stop, mantissa, powers)
            start = stop
        out[k] = total
    return out


@njit(cache=True)
def phi_weights(x):
    """Product-integration weights over one step of length h for e^{r(h−σ)} against the
    hat functions of linear interpolation, in units of h (x = r h):

        W0(x) = ∫_0^1 s e^{x s} ds = (e^x (x − 1) + 1) / x^2   (weight of u_n),
        W1(x) = ∫_0^1 (1 − s) e^{x s} ds = (e^x − 1)/x − W0   (weight of u_{n+1}),

    with Taylor series for |x| < 1e-2 to avoid cancellation. Returns (e^x, W0, W1).
    """
    ex = math.exp(x)
    if abs(x) < 1e-2:
        # W0 = Σ x^k / (k! (k+2)),  φ1 = (e^x − 1)/x = Σ x^k / (k+1)!
        w0 = 0.5 + x * (1.0 / 3.0 + x * (1.0 / 8.0 + x * (1.0 / 30.0 + x * (1.0 / 144.0
                                                                              + x / 840.0))))
        phi1 = 1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0
                                                                          + x / 720.0))))
    else:
        w0 = (ex * (x - 1.0) + 1.0) / (x * x)
        phi1 = math.expm1(x) / x
    return ex, w0, phi1 - w0


@njit(cache=True)
def volterra_march(lam, w_star, w0, lengths, rates, n_sub, coupling, out):
    """Solve the Volterra equation for u (model page: Gradient flow) by exponential product
    integration.

    With p_i(t) = λ_i w*_i w_i(t) the equation is u(t) = Σ_i p_i(t), where
    p_i(t) = b_i e^{4λ_iΘ(t)} + κ c_i ∫_0^t e^{4λ_i(Θ(t)−Θ(τ))} u(τ) dτ, κ = ``coupling``
    (the square: 8; another link pair's linear start: its κ with Θ' = c0⁰/4, links page:
    Escape). Over a step of length h on which Θ' = θ is constant (r_i = 4 λ_i θ), the kernel
    is integrated exactly against u interpolated linearly between u_n and u_{n+1}:

        p_i^{n+1} = e^{r_i h} p_i^n + κ c_i h (W0(r_i h) u_n + W1(r_i h) u_{n+1}),
        u_{n+1} = Σ_i p_i^{n+1}    — a linear equation for u_{n+1}, solved exactly.

    Interval j (length lengths[j], rate Θ' = rates[j]) is covered by n_sub[j] equal steps;
    the weights are computed once per interval (one exponential per coordinate) and each
    step then costs two passes without transcendental functions. Second order in h.
    out[j] receives u at the end of interval j; out has len(lengths) entries.
    Returns the final p (length n).
    """
    n = lam.size
    p = np.empty(n)
    c8h = np.empty(n)
    ex = np.empty(n)
    wa = np.empty(n)
    wb = np.empty(n)
    u = 0.0
    for i in range(n):
        p[i] = lam[i] * w_star[i] * w0[i]
        u += p[i]
    for j in range(lengths.size):
        m = n_sub[j]
        h = lengths[j] / m
        s_wa = 0.0
        s_wb = 0.0
        for i in range(n):
            lw = lam[i] * w_star[i]
            e_i, a_i, b_i = phi_weights(4.0 * lam[i] * rates[j] * h)
            ex[i] = e_i
            c8h[i] = coupling * lw * lw * h
            wa[i] = a_i
            wb[i] = b_i
            s_wa += c8h[i] * a_i
            s_wb += c8h[i] * b_i
        for _ in range(m):
            free = 0.0
            for i in range(n):
                free += ex[i] * p[i]
            u_new = (free + s_wa * u) / (1.0 - s_wb)
            for i in range(n):
                p[i] = ex[i] * p[i] + c8h[i] * (wa[i] * u + wb[i] * u_new)
            u = u_new
        out[j] = u
    return p


@njit(cache=True)
def tail_cutoff(lam_desc, w_star, w, threshold):
    """The cutoff of Corollary 1 (model page: Phases) on eigenvalues sorted decreasingly:
    the largest eigenvalue λ_ε with tail mass

        T(λ_ε) = Σ_{λ_i < λ_ε} λ_i (w*_i)^2  ≤  threshold,

    and the head alignment S≥(λ_ε) = Σ_{λ_i ≥ λ_ε} λ_i w*_i w_i. Ties (equal eigenvalues)
    are kept together: T counts strictly smaller eigenvalues only. One pass from the
    bottom of the spectrum. Returns (index of λ_ε in lam_desc — the first of its ties —,
    T(λ_ε), S≥(λ_ε)).
    """
    n = lam_desc.size
    total_align = 0.0
    for i in range(n):
        total_align += lam_desc[i] * w_star[i] * w[i]
    tail = 0.0        # Σ over eigenvalues strictly below the current group
    below_align = 0.0
    best = n - 1
    best_tail = 0.0
    best_below_align = 0.0
    i = n - 1
    while i >= 0:
        # group of equal eigenvalues [g, i]
        g = i
        while g > 0 and lam_desc[g - 1] == lam_desc[i]:
            g -= 1
        if tail <= threshold:
            best = g
            best_tail = tail
            best_below_align = below_align
        else:
            break
        for k in range(g, i + 1):
            tail += lam_desc[k] * w_star[k] * w_star[k]
            below_align += lam_desc[k] * w_star[k] * w[k]
        i = g - 1
    return best, best_tail, total_align - best_below_align


@njit(cache=True)
def cauchy_bin_bounds(lam, lo, hi, weight, a, b, out):
    """out[k] ≥ Σ_j v_j² / (a (λ_k + λ_j) − b λ_k λ_j) with the λ_j grouped into bins
    (lo_m ≤ λ_j ≤ hi_m, weight_m = Σ_{j in bin m} v_j²): per bin the largest of the two
    end values (the denominator is linear in λ_j and positive on the bin, so 1/denominator
    is monotone there) times the bin's weight (model page: SGD floor, the stability bound).
    Exact for bins of one value. O(len(lam) · bins)."""
    for k in range(lam.size):
        lk = lam[k]
        total = 0.0
        for m in range(weight.size):
            d_lo = a * (lk + lo[m]) - b * lk * lo[m]
            d_hi = a * (lk + hi[m]) - b * lk * hi[m]
            total += weight[m] * max(1.0 / d_lo, 1.0 / d_hi)
        out[k] = total
    return out
