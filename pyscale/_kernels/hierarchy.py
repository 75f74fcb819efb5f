"""numba kernels for the truncated moment hierarchy (model page: Moment hierarchy).

Exact hierarchy (model page: Moment hierarchy), c = s* − 3 s:

    ṡ^(k) = 8 c s^(k+1) + 16 u u^(k+1),      u̇^(k) = 4 c u^(k+1) + 8 u s*^(k+1).

Orders 1..K are closed at order K+1 in one of two ways.

``ZERO`` (literal truncation): s^(K+1) = u^(K+1) = 0; s*^(K+1) is exact. The state is the
monomial moments scaled by λ_max^k, m_k = s^(k)/λ_max^k, n_k = u^(k)/λ_max^k, so that they stay
O(||w||²) at every order instead of underflowing like λ_max^k.

``GAUSS`` (realizable quadrature closure). Write s^(k) = ∫ x^(k−1) dσ(x) with the measure
σ = Σ_i λ_i w_i² δ_{λ_i} (u likewise with λ_i w_i w*_i). Let p_0, p_1, … be the orthonormal
polynomials of the reference measure μ = Σ_i c_i λ_i δ_{λ_i} (c_i = counts), with Jacobi matrix
J (x p_n = b_{n+1} p_{n+1} + a_n p_n + b_n p_{n−1}). In the modified moments
ŝ_n = ∫ p_n dσ (n < K, an invertible triangular recombination of s^(1..K)) the hierarchy reads
d/dt ŝ = λ_max J (8 c ŝ + 16 u û) and the only term reaching beyond order K is b_K ŝ_K. The
closure ŝ_K = û_K = 0 is the K-point Gauss quadrature of μ: in the eigenbasis of the truncated
J_K (nodes x_j = roots of p_K, i.e. the Gauss nodes) the system is diagonal,

    Ṡ_j = λ_max x_j (8 c S_j + 16 u U_j),     U̇_j = 4 λ_max x_j c U_j + 8 u H_j,
    s^(k) = λ_max^(k−1) Σ_j x_j^(k−1) S_j,    u^(k) = λ_max^(k−1) Σ_j x_j^(k−1) U_j,

where S_j(0), U_j(0), H_j are the projections, by the orthogonal polynomials, of the three
measures λ w0², λ w0 w*, λ² w*² onto the nodes (interpolatory weights): they reproduce every
initial moment s^(1..K)(0), u^(1..K)(0) and the exact source s*^(2..K+1). It is the flow of a
K-mode phase-retrieval problem, so the moments stay those of a (nearly) positive measure and
cannot blow up the way the literal truncation does.

The quadrature is built by orthogonal transformations only (the Gragg–Harrod / RKPW rotation
scheme, O(n K) time, O(K) memory, no Lanczos vectors stored); evaluating p_n pointwise by its
three-term recurrence or solving monomial (Vandermonde) systems is unstable for power-law
spectra and is never done. Every length is scaled by λ_max.
"""
from __future__ import annotations

import numpy as np
from numba import njit

import pyscale._core as _core

from .links import flow_coefficients

# Step-size controller: the rules and constants of the flow's StepController
# (csrc/include/pyscale/flow/controller.hpp), named the same; tests/test_dense.py checks that
# they agree with the core's. (numba freezes these at compile time.)
SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 5.0
MAX_FACTOR_AFTER_REJECT = 1.0
LANDING_RECOVERY = 5.0
ERROR_FLOOR = 1e-10
LANDING_SLACK = 4 * np.finfo(np.float64).eps
ERROR_ORDER = 8.0  # DOP853: min(order, embedded order) + 1 = 8 (scipy's exponent)

ZERO = 0
GAUSS = 1

# Run status codes, read from the core's RunStatus enum (csrc/include/pyscale/util/progress.hpp):
# a status code means the same thing whichever engine returns it. Module-level ints are
# compile-time constants to numba.
STATUS_COMPLETED = int(_core.RunStatus.completed)
STATUS_INTERRUPTED = int(_core.RunStatus.interrupted)
STATUS_DIVERGED = int(_core.RunStatus.diverged)
STATUS_STEP_LIMIT = int(_core.RunStatus.step_limit)


# ----------------------------------------------------------------------------- quadrature
@njit(cache=True)
def jacobi_and_projections(x, weight, values, kmax):
    """Jacobi matrix of μ = Σ_i weight_i δ_{x_i} and the modified moments
    Σ_i values[i, r] p_n(x_i), n < kmax, r < 3, of three measures (model page: Moment hierarchy).

    Points are added one at a time to the tridiagonal representation and the bulge is chased
    down with Givens rotations (Gragg & Harrod 1984); the carried vectors are rotated along,
    so p_n is never evaluated pointwise. Rotations below index kmax are skipped: they cannot
    change the leading block. ``x`` must hold distinct points.

    Returns (a, b, proj, m): a[n] = a_n, b[0] = sqrt(μ total mass), b[n] = b_n (n ≥ 1),
    proj[n, r] the modified moments, m = the dimension reached (≤ kmax, < kmax when μ has
    fewer than kmax support points).
    """
    n_points = values.shape[0]
    a = np.zeros(kmax)
    b = np.zeros(kmax + 1)
    proj = np.zeros((kmax, 3))
    m = 0
    for i in range(n_points):
        w = weight[i]
        if not (w > 0.0):
            continue
        root_w = np.sqrt(w)
        # rotated along with the new point: its three values / sqrt(weight)
        car0 = values[i, 0] / root_w
        car1 = values[i, 1] / root_w
        car2 = values[i, 2] / root_w
        # The new point e enters coupled only to the start vector ("φ_{-1}"): coupling beta to
        # φ_0, gamma to e; e has diagonal lam_e and coupling eps to φ_k.
        beta = b[0]
        gamma = root_w
        lam_e = x[i]
        eps = 0.0
        for k in range(kmax):
            if k >= m and gamma == 0.0:
                break
            # entries are O(1) (x <= 1, unit-scale weights): no overflow; an underflowing
            # square only drops a term far below the other one
            norm = np.sqrt(beta * beta + gamma * gamma)
            if norm == 0.0:
                break
            c = beta / norm
            s = gamma / norm
            b[k] = norm
            ak = a[k]
            cs = c * s
            a[k] = c * c * ak + 2.0 * cs * eps + s * s * lam_e
            new_lam_e = s * s * ak - 2.0 * cs * eps + c * c * lam_e
            gamma = cs * (lam_e - ak) + (c * c - s * s) * eps
            lam_e = new_lam_e
            beta = c * b[k + 1]
            eps = -s * b[k + 1]
            p0 = proj[k, 0]
            p1 = proj[k, 1]
            p2 = proj[k, 2]
            proj[k, 0] = c * p0 + s * car0
            proj[k, 1] = c * p1 + s * car1
            proj[k, 2] = c * p2 + s * car2
            car0 = c * car0 - s * p0
            car1 = c * car1 - s * p1
            car2 = c * car2 - s * p2
            if k >= m:
                m = k + 1
            if gamma == 0.0 and eps == 0.0:
                break
    return a, b, proj, m


@njit(cache=True)
def gauss_nodes(a, b, proj, m):
    """Gauss nodes x_j of the reference measure (eigenvalues of the m×m Jacobi matrix) and
    the interpolatory weights Σ_n V_nj V_0j sqrt(mass) proj[n, r] of each projected measure
    (model page: Moment hierarchy): node masses that reproduce moments 0..m−1 of each measure."""
    jac = np.zeros((m, m))
    for n in range(m):
        jac[n, n] = a[n]
        if n + 1 < m:
            jac[n, n + 1] = b[n + 1]
            jac[n + 1, n] = b[n + 1]
    nodes, vecs = np.linalg.eigh(jac)
    n_values = proj.shape[1]
    masses = np.zeros((m, n_values))
    for j in range(m):
        lead = b[0] * vecs[0, j]
        for r in range(n_values):
            acc = 0.0
            for n in range(m):
                acc += vecs[n, j] * proj[n, r]
            masses[j, r] = lead * acc
    return nodes, masses


@njit(cache=True)
def scaled_power_sums(x, coef, order):
    """Σ_i coef_i x_i^k for k = 1..order (x ≤ 1: no overflow; underflow only drops terms that
    are negligible against the head of the sum)."""
    out = np.zeros(order)
    for i in range(x.size):
        p = 1.0
        for k in range(order):
            p *= x[i]
            out[k] += coef[i] * p
    return out


# ----------------------------------------------------------------------------- dynamics
@njit(cache=True)
def hierarchy_rhs(kind, y, x, source, lam_max, s_star, pair, square, dy):
    """Right-hand side of the closed hierarchy (model page: Moment hierarchy), state y = [S; U] of
    length 2K.

    ZERO: y = scaled monomial moments (m_1..m_K, n_1..n_K); source = m*_k = s*^(k)/λ_max^k,
    k = 1..K+1. GAUSS: y = node masses (S_j, U_j); source = H_j; x = scaled Gauss nodes.
    ``square``: phase retrieval's closed forms as written; otherwise the link pair ``pair``
    (its ``params`` array) gives (c0, c1) at (s, u) (:func:`link_rhs`).
    """
    if not square:
        link_rhs(kind, y, x, source, lam_max, s_star, pair, dy)
        return
    order = y.size // 2
    if kind == ZERO:
        c = s_star - 3.0 * lam_max * y[0]
        u = lam_max * y[order]
        for k in range(order - 1):
            dy[k] = lam_max * (8.0 * c * y[k + 1] + 16.0 * u * y[order + k + 1])
            dy[order + k] = lam_max * (4.0 * c * y[order + k + 1] + 8.0 * u * source[k + 1])
        k = order - 1
        # Literal truncation: s^(K+1) = u^(K+1) = 0; s*^(K+1) is known exactly.
        dy[k] = 0.0
        dy[order + k] = lam_max * 8.0 * u * source[k + 1]
    else:
        s = 0.0
        u = 0.0
        for j in range(order):
            s += y[j]
            u += y[order + j]
        c = s_star - 3.0 * s
        for j in range(order):
            rate = lam_max * x[j]
            dy[j] = rate * (8.0 * c * y[j] + 16.0 * u * y[order + j])
            dy[order + j] = 4.0 * rate * c * y[order + j] + 8.0 * u * source[j]


@njit(cache=True, error_model="numpy")
def link_rhs(kind, y, x, source, lam_max, s_star, pair, dy):
    """The hierarchy of a link pair (links page: Moment hierarchy): with
    (c0, c1) = (−2 ℓ_s, −ℓ_u) at (s, u) = (s^(1), u^(1)),

        ṡ^(k) = 2 c0 s^(k+1) + 2 c1 u^(k+1),    u̇^(k) = c0 u^(k+1) + c1 s*^(k+1),

    closed as the square's (the closure does not depend on the pair). Outside the pair's
    domain (c0, c1) are NaN and the step is rejected."""
    order = y.size // 2
    s, u = _order_one(kind, y, lam_max)
    c0, c1 = flow_coefficients(pair, s, u, s_star)
    if kind == ZERO:
        for k in range(order - 1):
            dy[k] = lam_max * (2.0 * c0 * y[k + 1] + 2.0 * c1 * y[order + k + 1])
            dy[order + k] = lam_max * (c0 * y[order + k + 1] + c1 * source[k + 1])
        k = order - 1
        dy[k] = 0.0
        dy[order + k] = lam_max * c1 * source[k + 1]
    else:
        for j in range(order):
            rate = lam_max * x[j]
            dy[j] = rate * (2.0 * c0 * y[j] + 2.0 * c1 * y[order + j])
            dy[order + j] = rate * c0 * y[order + j] + c1 * source[j]


@njit(cache=True)
def _order_one(kind, y, lam_max):
    """(s, u) of the state (model page: Statistics and loss)."""
    order = y.size // 2
    if kind == ZERO:
        return lam_max * y[0], lam_max * y[order]
    s = 0.0
    u = 0.0
    for j in range(order):
        s += y[j]
        u += y[order + j]
    return s, u


@njit(cache=True)
def _error_norm(stages, e5, e3, h, y, y_new, rtol, atol):
    """scipy's DOP853 error norm (5th- and 3rd-order embedded estimates combined)."""
    n = y.size
    err5 = 0.0
    err3 = 0.0
    for i in range(n):
        scale = atol + rtol * max(abs(y[i]), abs(y_new[i]))
        d5 = 0.0
        d3 = 0.0
        for st in range(stages.shape[0]):
            d5 += e5[st] * stages[st, i]
            d3 += e3[st] * stages[st, i]
        err5 += (d5 / scale) ** 2
        err3 += (d3 / scale) ** 2
    if err5 == 0.0 and err3 == 0.0:
        return 0.0
    return abs(h) * err5 / np.sqrt((err5 + 0.01 * err3) * n)


@njit(cache=True)
def integrate(kind, y0, x, source, lam_max, s_star, pair, square, times, rtol, atol,
              max_steps, blowup, s_limit, tab_a, tab_b, tab_c, tab_e3, tab_e5):
    """Dormand–Prince 8(5,3) with error control, stepping exactly onto each record time
    (the hierarchy is autonomous, so the nodes ``tab_c`` are not needed).

    Returns (records (len(times), len(y0)), n_written, steps, rejected, rhs_evals, status,
    t_reached). status DIVERGED: a non-finite state, |y| > blowup, |s| or |u| beyond
    ``s_limit`` (the flow keeps s below s* + sqrt(L(0)/3); model page: Statistics and loss; u² <= s
    s*), or a step that shrank to rounding (finite-time blow-up of the truncated system); the
    records stop before it.
    """
    n = y0.size
    n_stages = tab_b.size
    records = np.full((times.size, n), np.nan)
    stages = np.zeros((n_stages + 1, n))
    y = y0.copy()
    y_stage = np.empty(n)
    y_new = np.empty(n)
    f = np.empty(n)
    t = 0.0
    steps = 0
    rejected = 0
    evals = 0
    status = STATUS_COMPLETED
    written = 0
    while written < times.size and times[written] <= 0.0:
        records[written, :] = y
        written += 1
    if written == times.size:
        return records, written, steps, rejected, evals, status, t
    hierarchy_rhs(kind, y, x, source, lam_max, s_star, pair, square, f)
    evals += 1
    h = min(1e-3 / max(lam_max, 1e-300), times[written])
    last_rejected = False
    while written < times.size:
        if steps >= max_steps:
            status = STATUS_STEP_LIMIT
            break
        target = times[written]
        if h <= 1e-14 * max(abs(t), 1.0):
            # the controller keeps shrinking the step: finite-time blow-up
            status = STATUS_DIVERGED
            break
        h_proposed = h
        landing = False
        if t + h >= target * (1.0 - LANDING_SLACK):
            h = target - t
            landing = True
        for i in range(n):
            stages[0, i] = f[i]
        for st in range(1, n_stages):
            for i in range(n):
                acc = 0.0
                for q in range(st):
                    acc += tab_a[st, q] * stages[q, i]
                y_stage[i] = y[i] + h * acc
            hierarchy_rhs(kind, y_stage, x, source, lam_max, s_star, pair, square, stages[st])
        for i in range(n):
            acc = 0.0
            for q in range(n_stages):
                acc += tab_b[q] * stages[q, i]
            y_new[i] = y[i] + h * acc
        hierarchy_rhs(kind, y_new, x, source, lam_max, s_star, pair, square,
                      stages[n_stages])
        evals += n_stages
        finite = True
        for i in range(n):
            if not np.isfinite(y_new[i]) or not np.isfinite(stages[n_stages, i]):
                finite = False
                break
        err = _error_norm(stages, tab_e5, tab_e3, h, y, y_new, rtol, atol) if finite else np.inf
        if err <= 1.0:
            t = target if landing else t + h
            steps += 1
            big = 0.0
            for i in range(n):
                y[i] = y_new[i]
                f[i] = stages[n_stages, i]
                big = max(big, abs(y[i]))
            s_now, u_now = _order_one(kind, y, lam_max)
            if big > blowup or abs(s_now) > s_limit or abs(u_now) > s_limit:
                status = STATUS_DIVERGED
                break
            if landing:
                records[written, :] = y
                written += 1
            factor = min(MAX_FACTOR, max(MIN_FACTOR,
                                         SAFETY * max(err, ERROR_FLOOR) ** (-1.0 / ERROR_ORDER)))
            if last_rejected:
                factor = min(factor, MAX_FACTOR_AFTER_REJECT)
            last_rejected = False
            h_new = h * factor
            # a step clipped onto a record time says little about the step size to come
            h = max(h_new, min(h_proposed, LANDING_RECOVERY * h_new)) if landing else h_new
        else:
            rejected += 1
            last_rejected = True
            if np.isfinite(err):
                h *= max(MIN_FACTOR, SAFETY * err ** (-1.0 / ERROR_ORDER))
            else:
                h *= MIN_FACTOR
    return records, written, steps, rejected, evals, status, t


@njit(cache=True)
def monomial_moments(kind, records, n_written, x, lam_max, order):
    """Scaled monomial moments s^(k)/λ_max^k, u^(k)/λ_max^k, k = 1..order, of each record
    (GAUSS: s^(k) = λ_max^(k−1) Σ_j x_j^(k−1) S_j, any number of nodes)."""
    n_rec = records.shape[0]
    half = records.shape[1] // 2
    s = np.full((n_rec, order), np.nan)
    u = np.full((n_rec, order), np.nan)
    for r in range(n_written):
        if kind == ZERO:
            for k in range(order):
                s[r, k] = records[r, k]
                u[r, k] = records[r, half + k]
        else:
            for k in range(order):
                s[r, k] = 0.0
                u[r, k] = 0.0
            for j in range(half):
                p = 1.0 / lam_max
                for k in range(order):
                    s[r, k] += p * records[r, j]
                    u[r, k] += p * records[r, half + j]
                    p *= x[j]
    return s, u
