"""Numba twins of the C++ link pair (links page): the loss l(s, u) of a student link σ
and a teacher link τ, its partial derivatives, and the links' derivatives, callable inside
njit code (the moment hierarchy, the theory's sums).

A pair travels as one float64 array ``params`` built by :mod:`pyscale.model.links`; every
function here reads it and allocates nothing on the closed-form path. The arithmetic follows
``csrc/include/pyscale/model/`` operation for operation, so the two agree to rounding (~1e-15
relative on closed forms; the quadrature rule is the same trapezoid rule with the same steps).

Every function uses ``error_model="numpy"``: division follows IEEE (x/0 = ±inf), as in C++.

Layout of ``params`` (offsets are stored as floats; every integer is exact in float64):

* header ``[FORMAT, square, quadrature, student, teacher, student_self, teacher_self, cross,
  length, 0]`` — ``square`` = 1 for the square pair (closed forms used as written in the
  engines), ``quadrature`` = 1 when the cross kernel uses the 2-D rule, then the offsets of the
  blocks below and the array's length;
* link block ``[kind, quadrature, kinked, width, abs_weight, erf_weight, growth, parity, d0,
  d1, d2, d3, d4, n, a_0, ..., a_(n-1)]`` — ``parity`` +1 (even), −1 (odd) or 0,
  ``d_k`` the addresses of a user link's C functions
  σ^(k) (0 when absent; user-space addresses are below 2^48, exact in float64), ``a`` the
  monomial coefficients of the polynomial atom;
* self block ``[n, arcsin, (coef, a2, b2) * n]`` — E[σ(z)^2] = Σ coef s^(a2/2) (1+s)^(b2/2)
  + arcsin · (2/π) asin(s/(1+s));
* cross block ``[n, abs_abs, erf_erf, (coef, k, p2, q2, shift1, shift2) * n]`` — κ_στ(v1, v2, c)
  = Σ coef c^k (v1+shift1)^(p2/2) (v2+shift2)^(q2/2) + abs_abs κ_|z|,|z| + erf_erf κ_erf,erf.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["FORMAT", "KIND_TANH", "KIND_USER", "HEADER", "LINK_FIXED", "USER_GROWTH",
           "call_address", "link_derivatives", "link_values", "loss", "loss_derivatives",
           "loss_gradient", "flow_coefficients", "kernel_jet", "moment_jet", "rule_step",
           "rule_extent", "rule_fill", "loss_many",
           "coefficient_sum_many"]

FORMAT = 1.0
HEADER = 10
LINK_FIXED = 14          # link block entries before the polynomial coefficients
USER_GROWTH = 2          # polynomial growth the rule assumes of a user link
KIND_SQUARE, KIND_TANH, KIND_USER = 0, 6, 7

_SQRT2_OVER_PI = 0.79788456080286535588
_INV_PI = 0.31830988618379067154
_TWO_OVER_PI = 0.63661977236758134308
_INV_SQRT2 = 0.70710678118654752440

# The trapezoid rule (links page: Quadrature); constants and step as in
# csrc/include/pyscale/model/gaussian_rule.hpp.
_LOG_TOL = 36.0
_POLE_MARGIN = 8.0
_WIDTH_FRACTION = 0.75
_MAX_HALF = 512
_PI = 3.14159265358979323846


@intrinsic
def call_address(typingctx, address, x):
    """f(x) for the C function ``double f(double)`` at integer ``address`` (a numba cfunc's
    ``.address``): the call compiles to a direct indirect call, no Python involved."""
    sig = types.float64(types.int64, types.float64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(fn, [args[1]])

    return sig, codegen


@njit(cache=True, error_model="numpy")
def rule_step(reach, growth, degree):
    """The trapezoid step for a dimension whose nearest pole is at reach/0.75 (inf: none),
    with Gaussian growth coefficient ``growth`` and polynomial ``degree``."""
    L = _LOG_TOL + 2.0 * degree + (_POLE_MARGIN if math.isfinite(reach) else 0.0)
    if reach >= math.sqrt(2.0 * L / growth):
        return _PI * math.sqrt(2.0 / (growth * L))
    return 2.0 * _PI * reach / (L + 0.5 * growth * reach * reach)


@njit(cache=True, error_model="numpy")
def rule_extent(degree):
    x = 8.9
    for _ in range(3):
        x = math.sqrt(2.0 * (39.0 + degree * math.log(max(x, 1.0))))
    return x


@njit(cache=True, error_model="numpy")
def rule_fill(h, x_max, x, w):
    """Nodes k h and weights h φ(k h), k = −m..m, into x and w; returns 2m + 1."""
    m = int(math.ceil(x_max / h))
    if m > _MAX_HALF:
        m = _MAX_HALF
        h = x_max / _MAX_HALF
    norm = h / math.sqrt(2.0 * _PI)
    for k in range(m + 1):
        xk = k * h
        wk = norm * math.exp(-0.5 * xk * xk)
        x[m + k] = xk
        x[m - k] = -xk
        w[m + k] = wk
        w[m - k] = wk
    return 2 * m + 1


@njit(cache=True, error_model="numpy")
def _user_derivatives(p, off, z, order, out):
    m = 0
    for k in range(order + 1):
        address = np.int64(p[off + 8 + k])
        if address == 0:
            break
        out[k] = call_address(address, z)
        m = k
    if m >= order:
        return
    g = np.int64(p[off + 8 + m])
    scale = max(1.0, abs(z))
    h = 5e-3 * scale
    p1 = call_address(g, z + h)
    n1 = call_address(g, z - h)
    p2 = call_address(g, z + 2 * h)
    n2 = call_address(g, z - 2 * h)
    p3 = call_address(g, z + 3 * h)
    n3 = call_address(g, z - 3 * h)
    out[m + 1] = (45.0 * (p1 - n1) - 9.0 * (p2 - n2) + (p3 - n3)) / (60.0 * h)
    if m + 2 > order:
        return
    out[m + 2] = ((270.0 * (p1 + n1) - 27.0 * (p2 + n2) + 2.0 * (p3 + n3) - 490.0 * out[m])
                  / (180.0 * h * h))
    if m + 3 > order:
        return
    H = 1e-2 * scale
    d1 = call_address(g, z + H) - call_address(g, z - H)
    d2 = call_address(g, z + 2 * H) - call_address(g, z - 2 * H)
    d3 = call_address(g, z + 3 * H) - call_address(g, z - 3 * H)
    d4 = call_address(g, z + 4 * H) - call_address(g, z - 4 * H)
    out[m + 3] = (-488.0 * d1 + 338.0 * d2 - 72.0 * d3 + 7.0 * d4) / (240.0 * H * H * H)


@njit(cache=True, error_model="numpy")
def link_derivatives(p, off, z, order, out):
    """σ^(k)(z), k = 0..order (≤ 4), of the link block at ``p[off:]`` into ``out``; kinked
    links give at 0 the mean of the one-sided derivatives for σ' and NaN for σ'' (a delta),
    as the C++ Link."""
    kind = int(p[off])
    if kind == KIND_TANH:
        t = math.tanh(z)
        out[0] = t
        if order < 1:
            return
        q = 1.0 - t * t
        out[1] = q
        if order >= 2:
            out[2] = -2.0 * t * q
        if order >= 3:
            out[3] = -2.0 * q * (1.0 - 3.0 * t * t)
        if order >= 4:
            out[4] = 8.0 * t * q * (2.0 - 3.0 * t * t)
        return
    if kind == KIND_USER:
        _user_derivatives(p, off, z, order, out)
        return
    # Horner with derivatives: r[j] = P^(j)(z) / j!
    n = int(p[off + LINK_FIXED - 1])
    deg = n - 1
    r0 = r1 = r2 = r3 = r4 = 0.0
    for i in range(deg, -1, -1):
        top = min(order, deg - i)
        if top >= 4:
            r4 = r4 * z + r3
        if top >= 3:
            r3 = r3 * z + r2
        if top >= 2:
            r2 = r2 * z + r1
        if top >= 1:
            r1 = r1 * z + r0
        r0 = r0 * z + p[off + LINK_FIXED + i]
    out[0] = r0
    if order >= 1:
        out[1] = r1
    if order >= 2:
        out[2] = r2 * 2.0
    if order >= 3:
        out[3] = r3 * 6.0
    if order >= 4:
        out[4] = r4 * 24.0
    alpha = p[off + 4]
    if alpha != 0.0:
        sign = 1.0 if z > 0.0 else (-1.0 if z < 0.0 else 0.0)
        out[0] += alpha * abs(z)
        if order >= 1:
            out[1] += alpha * sign
        for k in range(2, order + 1):
            if z == 0.0:
                out[k] = np.nan
    beta = p[off + 5]
    if beta != 0.0:
        out[0] += beta * math.erf(z * _INV_SQRT2)
        if order >= 1:
            g = beta * _SQRT2_OVER_PI * math.exp(-0.5 * z * z)
            out[1] += g
            if order >= 2:
                out[2] += -z * g
            if order >= 3:
                out[3] += (z * z - 1.0) * g
            if order >= 4:
                out[4] += (3.0 - z * z) * z * g


@njit(cache=True, error_model="numpy")
def link_values(p, off, z, order):
    """σ^(k)(z_i) for an array z: shape (len(z), order + 1)."""
    out = np.empty((z.size, order + 1))
    buf = np.empty(5)
    for i in range(z.size):
        link_derivatives(p, off, z[i], order, buf)
        for k in range(order + 1):
            out[i, k] = buf[k]
    return out


@njit(cache=True, error_model="numpy")
def _ipow(x, n):
    inverse = n < 0
    e = -n if inverse else n
    r = 1.0
    while e:
        if e & 1:
            r *= x
        x *= x
        e >>= 1
    return 1.0 / r if inverse else r


@njit(cache=True, error_model="numpy")
def _hpow(x, root, h2):
    if h2 & 1:
        return _ipow(x, (h2 - 1) // 2) * root
    return _ipow(x, h2 // 2)


@njit(cache=True, error_model="numpy")
def _power_jet(x, root, h2):
    p = 0.5 * h2
    v = _hpow(x, root, h2)
    d1 = 0.0 if h2 == 0 else p * _hpow(x, root, h2 - 2)
    d2 = 0.0 if (h2 == 0 or h2 == 2) else p * (p - 1.0) * _hpow(x, root, h2 - 4)
    return v, d1, d2


@njit(cache=True, error_model="numpy")
def _abs_abs(v1, v2, c):
    g = max(v1 * v2 - c * c, 0.0)
    rg = math.sqrt(g)
    rho = max(-1.0, min(1.0, c / math.sqrt(v1 * v2)))
    asin_rho = math.asin(rho)
    k = 2.0 * _INV_PI * (rg + c * asin_rho)
    kc = 2.0 * _INV_PI * asin_rho
    k1 = _INV_PI * rg / v1
    kcc = 2.0 * _INV_PI / rg  # infinite at |rho| = 1 (error_model="numpy": IEEE division)
    k1c = -_INV_PI * c / (v1 * rg)
    k11 = _INV_PI * (0.5 * v2 / (v1 * rg) - rg / (v1 * v1))
    return k, k1, kc, k11, k1c, kcc


@njit(cache=True, error_model="numpy")
def _erf_erf(v1, v2, c):
    p1 = 1.0 + v1
    p2 = 1.0 + v2
    g = p1 * p2 - c * c
    rg = math.sqrt(g)
    k = 2.0 * _INV_PI * math.asin(c / math.sqrt(p1 * p2))
    kc = 2.0 * _INV_PI / rg
    kcc = 2.0 * _INV_PI * c / (g * rg)
    k1 = -_INV_PI * c / (p1 * rg)
    k1c = -_INV_PI * p2 / (g * rg)
    k11 = _INV_PI * c * (1.0 / (p1 * p1 * rg) + 0.5 * p2 / (p1 * g * rg))
    return k, k1, kc, k11, k1c, kcc


@njit(cache=True, error_model="numpy")
def _closed_kernel(p, off, v1, v2, c, derivatives):
    n = int(p[off])
    b1_0, b1_1 = v1, 1.0 + v1
    b2_0, b2_1 = v2, 1.0 + v2
    r1_0, r1_1 = math.sqrt(v1), math.sqrt(1.0 + v1)
    r2_0, r2_1 = math.sqrt(v2), math.sqrt(1.0 + v2)
    k = k1 = kc = k11 = k1c = kcc = 0.0
    for t in range(n):
        q = off + 3 + 6 * t
        coef, kk, p2, q2 = p[q], int(p[q + 1]), int(p[q + 2]), int(p[q + 3])
        s1, s2 = int(p[q + 4]), int(p[q + 5])
        y = coef * (_hpow(b2_1, r2_1, q2) if s2 else _hpow(b2_0, r2_0, q2))
        cpow = _ipow(c, kk)
        x_base, x_root = (b1_1, r1_1) if s1 else (b1_0, r1_0)
        if not derivatives:
            k += cpow * _hpow(x_base, x_root, p2) * y
            continue
        xv, xd1, xd2 = _power_jet(x_base, x_root, p2)
        c1 = kk * _ipow(c, kk - 1) if kk else 0.0
        c2 = kk * (kk - 1.0) * _ipow(c, kk - 2) if kk >= 2 else 0.0
        k += cpow * xv * y
        k1 += cpow * xd1 * y
        kc += c1 * xv * y
        k11 += cpow * xd2 * y
        k1c += c1 * xd1 * y
        kcc += c2 * xv * y
    w = p[off + 1]
    if w != 0.0:
        a = _abs_abs(v1, v2, c)
        k += w * a[0]
        k1 += w * a[1]
        kc += w * a[2]
        k11 += w * a[3]
        k1c += w * a[4]
        kcc += w * a[5]
    w = p[off + 2]
    if w != 0.0:
        a = _erf_erf(v1, v2, c)
        k += w * a[0]
        k1 += w * a[1]
        kc += w * a[2]
        k11 += w * a[3]
        k1c += w * a[4]
        kcc += w * a[5]
    return k, k1, kc, k11, k1c, kcc


@njit(cache=True, error_model="numpy")
def _bound(p, off, scale, reach, growth, degree):
    """What the link at p[off:], evaluated at scale x, asks of the step: (reach, growth,
    degree) updated as ``StepBounds`` in gaussian_rule.hpp."""
    if p[off + 1] != 0.0 and scale > 0.0:
        reach = min(reach, _WIDTH_FRACTION * p[off + 3] / scale)
    if p[off + 5] != 0.0:
        growth += scale * scale
    return reach, growth, degree + int(p[off + 6])


@njit(cache=True, error_model="numpy")
def _rule_kernel(p, f_off, g_off, v1, v2, c, order):
    sym = int(p[f_off + 7]) * int(p[g_off + 7])
    if sym < 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    alpha = c / v2
    beta = math.sqrt(max(v1 - c * alpha, 0.0))
    r2 = math.sqrt(v2)
    a_scale = abs(alpha) * r2
    rx, gx, dx = _bound(p, g_off, r2, np.inf, 1.0, 0)
    rx, gx, dx = _bound(p, f_off, a_scale, rx, gx, dx)
    ry, gy, dy = _bound(p, f_off, beta, np.inf, 1.0, 0)
    hx = rule_step(rx, gx, dx)
    hy = rule_step(ry, gy, dy)
    ext = rule_extent(dx)
    size = 2 * _MAX_HALF + 1
    x = np.empty(size)
    wx = np.empty(size)
    y = np.empty(size)
    wy = np.empty(size)
    nx = rule_fill(hx, ext, x, wx)
    ny = rule_fill(hy, ext, y, wy)
    fo = 2 * order
    go = order
    my = ny // 2
    mx = nx // 2
    ey = y[ny - 1] / my
    gd = np.zeros(5)
    fd = np.zeros(5)
    F = np.zeros(5)
    a0 = a1 = a2 = a3 = a4 = a5 = 0.0
    for i in range(mx if sym > 0 else 0, nx):
        wi = 2.0 * wx[i] if (sym > 0 and i > mx) else wx[i]
        reach2 = ext * ext - x[i] * x[i]
        if reach2 < 0.0:
            continue
        lim = min(my, int(math.sqrt(reach2) / ey))
        F[:] = 0.0
        z2 = r2 * x[i]
        m = alpha * z2
        link_derivatives(p, g_off, z2, go, gd)
        for jy in range(my - lim, my + lim + 1):
            link_derivatives(p, f_off, m + beta * y[jy], fo, fd)
            for k in range(fo + 1):
                F[k] += wy[jy] * fd[k]
        a0 += wi * F[0] * gd[0]
        if order < 1:
            continue
        a1 += wi * F[2] * gd[0]
        a2 += wi * F[1] * gd[1]
        if order < 2:
            continue
        a3 += wi * F[4] * gd[0]
        a4 += wi * F[3] * gd[1]
        a5 += wi * F[2] * gd[2]
    return a0, 0.5 * a1, a2, 0.25 * a3, 0.5 * a4, a5


@njit(cache=True, error_model="numpy")
def kernel_jet(p, v1, v2, c, order):
    """(κ, ∂κ/∂v1, ∂κ/∂c, ∂²κ/∂v1², ∂²κ/∂v1∂c, ∂²κ/∂c²) of the pair's cross kernel
    κ_στ(v1, v2, c) = E[σ(z1) τ(z2)] (links page: The kernel); ``order`` 1 stops
    after ∂κ/∂c and 0 after κ (the rest 0) on quadrature pairs."""
    if p[2] != 0.0:
        return _rule_kernel(p, int(p[3]), int(p[4]), v1, v2, c, order)
    return _closed_kernel(p, int(p[7]), v1, v2, c, order > 0)


@njit(cache=True, error_model="numpy")
def _closed_moment(p, off, v, derivatives):
    n = int(p[off])
    rv = math.sqrt(v)
    t = 1.0 + v
    rt = math.sqrt(t)
    m = m1 = m2 = 0.0
    for i in range(n):
        q = off + 2 + 3 * i
        coef, a2, b2 = p[q], int(p[q + 1]), int(p[q + 2])
        if not derivatives:
            m += coef * _hpow(v, rv, a2) * _hpow(t, rt, b2)
            continue
        av, ad1, ad2 = _power_jet(v, rv, a2)
        bv, bd1, bd2 = _power_jet(t, rt, b2)
        m += coef * av * bv
        m1 += coef * (ad1 * bv + av * bd1)
        m2 += coef * (ad2 * bv + 2.0 * ad1 * bd1 + av * bd2)
    w = p[off + 1]
    if w != 0.0:
        q = 1.0 + 2.0 * v
        rq = math.sqrt(q)
        m += w * _TWO_OVER_PI * math.asin(v / t)
        if derivatives:
            m1 += w * _TWO_OVER_PI / (t * rq)
            m2 -= w * _TWO_OVER_PI * (1.0 / (t * t * rq) + 1.0 / (t * q * rq))
    return m, m1, m2


@njit(cache=True, error_model="numpy")
def _rule_moment(p, off, v, order):
    rv = math.sqrt(v)
    reach, growth, degree = _bound(p, off, rv, np.inf, 1.0, 0)
    degree *= 2
    size = 2 * _MAX_HALF + 1
    x = np.empty(size)
    w = np.empty(size)
    n = rule_fill(rule_step(reach, growth, degree), rule_extent(degree), x, w)
    f = np.zeros(5)
    m = m1 = m2 = 0.0
    for i in range(n):
        link_derivatives(p, off, rv * x[i], 2 * order, f)
        m += w[i] * f[0] * f[0]
        if order < 1:
            continue
        m1 += w[i] * (f[1] * f[1] + f[0] * f[2])
        if order < 2:
            continue
        m2 += w[i] * (2.0 * f[0] * f[4] + 8.0 * f[1] * f[3] + 6.0 * f[2] * f[2])
    return m, m1, 0.25 * m2


@njit(cache=True, error_model="numpy")
def moment_jet(p, which, v, order):
    """(m, m', m'') of m(v) = E[f(z)^2], z ~ N(0, v), for the student (which = 0) or the
    teacher (which = 1) of the pair; ``order`` as in :func:`kernel_jet`."""
    link = int(p[3 + which])
    if p[link + 1] != 0.0:
        return _rule_moment(p, link, v, order)
    return _closed_moment(p, int(p[5 + which]), v, order > 0)


@njit(cache=True, error_model="numpy")
def _check(p, s, s_star):
    if not s_star > 0.0:
        raise ValueError("s* must be positive")
    if s < 0.0:
        raise ValueError("s = w^T Q w must be >= 0")
    if s <= 0.0 and p[int(p[3]) + 2] != 0.0:
        raise ValueError("s = 0 with a kinked student: its loss is not differentiable at "
                         "w = 0 (c0 grows like sqrt(s*/s) as s -> 0), so start from s > 0")


@njit(cache=True, error_model="numpy")
def loss_derivatives(p, s, u, s_star):
    """(l, l_s, l_u, l_ss, l_su, l_uu) of l(s, u) = κ_σσ(s, s, s) − 2 κ_στ(s, s*, u) +
    κ_ττ(s*, s*, s*) (label noise excluded) at fixed s* (links page)."""
    _check(p, s, s_star)
    if p[1] != 0.0:
        return (3.0 * s * s + 3.0 * s_star * s_star - 4.0 * u * u - 2.0 * s_star * s,
                -2.0 * (s_star - 3.0 * s), -8.0 * u, 6.0, 0.0, -8.0)
    m, m1, m2 = moment_jet(p, 0, s, 2)
    k, k1, kc, k11, k1c, kcc = kernel_jet(p, s, s_star, u, 2)
    t = moment_jet(p, 1, s_star, 0)[0]
    return (m - 2.0 * k + t, m1 - 2.0 * k1, -2.0 * kc, m2 - 2.0 * k11, -2.0 * k1c, -2.0 * kcc)


@njit(cache=True, error_model="numpy")
def loss_gradient(p, s, u, s_star):
    """(l, l_s, l_u): what the flow's right-hand side needs, at half the cost of
    :func:`loss_derivatives` on quadrature pairs."""
    _check(p, s, s_star)
    if p[1] != 0.0:
        return (3.0 * s * s + 3.0 * s_star * s_star - 4.0 * u * u - 2.0 * s_star * s,
                -2.0 * (s_star - 3.0 * s), -8.0 * u)
    m, m1, _ = moment_jet(p, 0, s, 1)
    k, k1, kc, _, _, _ = kernel_jet(p, s, s_star, u, 1)
    t = moment_jet(p, 1, s_star, 0)[0]
    return m - 2.0 * k + t, m1 - 2.0 * k1, -2.0 * kc


@njit(cache=True, error_model="numpy")
def loss(p, s, u, s_star):
    """l(s, u) at fixed s*, label noise excluded (links page)."""
    _check(p, s, s_star)
    if p[1] != 0.0:
        return 3.0 * s * s + 3.0 * s_star * s_star - 4.0 * u * u - 2.0 * s_star * s
    return (moment_jet(p, 0, s, 0)[0] - 2.0 * kernel_jet(p, s, s_star, u, 0)[0]
            + moment_jet(p, 1, s_star, 0)[0])


@njit(cache=True, error_model="numpy")
def flow_coefficients(p, s, u, s_star):
    """(c0, c1) = (−2 l_s, −l_u): the flow is dw/dt = c0 Q w + c1 Q w* (links page)."""
    d = loss_gradient(p, s, u, s_star)
    return -2.0 * d[1], -d[2]


@njit(cache=True, error_model="numpy")
def _in_domain(p, s, s_star):
    """Per point, whether l(s_i, ·) is defined: s ≥ 0, s > 0 for a kinked student, s* > 0."""
    kinked = p[int(p[3]) + 2] != 0.0
    return (s >= 0.0) & ~((s <= 0.0) & kinked) & (s_star > 0.0)


@njit(cache=True, error_model="numpy")
def loss_many(p, s, u, s_star):
    """l(s_i, u_i) for arrays s, u (label noise excluded); NaN where the point is outside the
    pair's domain (s < 0, or s = 0 with a kinked student) instead of raising: the flow's dense
    output evaluates it along interpolated paths."""
    out = np.full(s.size, np.nan)
    for i in np.flatnonzero(_in_domain(p, s, s_star)):
        out[i] = loss(p, s[i], u[i], s_star)
    return out


@njit(cache=True, error_model="numpy")
def coefficient_sum_many(p, s, u, s_star):
    """(l(s_i, u_i), |c0| + |c1| at (s_i, u_i)) for arrays s, u; NaN outside the pair's domain
    (as :func:`loss_many`): what bounds a horizon-aware compression's error (model page:
    Compression, Horizon-aware grouping)."""
    value = np.full(s.size, np.nan)
    rate = np.full(s.size, np.nan)
    for i in np.flatnonzero(_in_domain(p, s, s_star)):
        d = loss_gradient(p, s[i], u[i], s_star)
        value[i] = d[0]
        rate[i] = abs(2.0 * d[1]) + abs(d[2])
    return value, rate
