"""Gaussian moments of one link (links page: Hermite coefficients): its Hermite
coefficients c_k (σ = Σ c_k He_k in L²(N(0, 1))) and the means E[σ^(k)(z)], z ~ N(0, v).

Both come from Gaussian integration by parts, E[f(z) He_k(z/√v)] = v^(k/2) E[f^(k)(z)]:

* polynomial atom: E[P^(k)] from the moments E[z^m] = (m−1)!! v^(m/2);
* |z|: |z|'' = 2δ and E[δ^(m)(z)] = v^(−(m+1)/2) He_m(0)/√(2π), so E|z| = √(2v/π),
  E[sign] = 0 and E[|z|^(k)] = 2 v^(−(k−1)/2) He_(k−2)(0)/√(2π) for k ≥ 2 (relu is z/2 + |z|/2);
* erf(z/√2): its derivative is 2φ(z), and E[He_m(z) φ(z)] = (−1/(1+v))^(m/2) (m−1)!!
  /√(2π(1+v)) for even m, so E[σ^(k)] = 2 (−1/(1+v))^((k−1)/2) (k−2)!! / √(2π(1+v)) for odd k;
* tanh and user links: the trapezoid rule of the kernels (``pyscale._kernels.links``).
"""
from __future__ import annotations

import math

import numpy as np

from .._kernels import links as kern
from .link_tables import double_factorial, factorial, monomials_to_hermite

__all__ = ["hermite_coefficients", "derivative_means", "loss_polynomial",
           "TANH_DERIVATIVES_AT_0"]

_INV_SQRT_2PI = 0.39894228040143267794
# tanh^(k)(0), k = 0..9: k! times the Taylor coefficients of tanh z = z − z³/3 + 2z⁵/15 − ...
TANH_DERIVATIVES_AT_0 = (0.0, 1.0, 0.0, -2.0, 0.0, 16.0, 0.0, -272.0, 0.0, 7936.0)


def _he_at_zero(m: int) -> float:
    """He_m(0): (−1)^(m/2) (m−1)!! for even m, 0 for odd m."""
    if m % 2:
        return 0.0
    return (-1.0 if (m // 2) % 2 else 1.0) * double_factorial(m - 1)


def _rule(link, v: float, degree: int):
    """Nodes x and weights of the trapezoid rule for E[f(√v x) × a polynomial of `degree`]
    (as ``Link::hermite_coefficients`` at v = 1)."""
    a = link.atoms
    reach = 0.75 * a.width / math.sqrt(v)
    total = degree + (a.growth if a.kind == 7 else 0)
    x, w = np.empty(1025), np.empty(1025)
    n = kern.rule_fill(kern.rule_step(reach, 1.0, total), kern.rule_extent(total), x, w)
    return x[:n], w[:n]


def hermite_coefficients(link, count: int) -> np.ndarray:
    """c_0..c_(count−1) of σ = Σ c_k He_k (as the C++ ``Link::hermite_coefficients``)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if link.kind == "hermite":
        c = np.zeros(count)
        given = link.coefficients[:count]
        c[:len(given)] = given
        return c
    a = link.atoms
    if not a.quadrature:
        c = np.array(monomials_to_hermite(a.poly, count), dtype=np.float64)
        for n in range(0, count, 2):
            if a.abs_weight == 0.0:
                break
            if n == 0:
                c[0] += a.abs_weight * 0.79788456080286535588
                continue
            c[n] += a.abs_weight * 2.0 * _he_at_zero(n - 2) * _INV_SQRT_2PI / factorial(n)
        for n in range(1, count, 2):
            if a.erf_weight == 0.0:
                break
            c[n] += (a.erf_weight * 0.56418958354775628695 * (-0.5) ** ((n - 1) // 2)
                     * double_factorial(n - 2) / factorial(n))
        return c
    x, w = _rule(link, 1.0, count)
    f = w * link(x)
    c = np.zeros(count)
    prev, cur = np.zeros_like(x), np.ones_like(x)
    for k in range(count):
        c[k] = np.sum(f * cur) / factorial(k)
        prev, cur = cur, x * cur - k * prev
    return c


def derivative_means(link, v: float, count: int) -> np.ndarray:
    """E[σ^(k)(z)], z ~ N(0, v), k = 0..count−1. At v = 0 these are σ^(k)(0) for smooth links
    (NaN past σ'''' for user links) and ±inf where a kink's delta diverges."""
    a = link.atoms
    out = np.zeros(count)
    if a.quadrature:
        if v > 0.0:
            x, w = _rule(link, v, count)
            f = w * link(math.sqrt(v) * x)
            prev, cur = np.zeros_like(x), np.ones_like(x)
            for k in range(count):
                out[k] = np.sum(f * cur) / v ** (k / 2)
                prev, cur = cur, x * cur - k * prev
            return out
        if link.kind == "tanh":
            out[:] = [TANH_DERIVATIVES_AT_0[k] if k < 10 else np.nan for k in range(count)]
            return out
        out[:] = np.nan
        top = min(count - 1, 4)
        out[:top + 1] = link.derivatives(0.0, top)
        return out
    for k in range(count):
        total = 0.0
        for i in range(k, len(a.poly)):
            m = i - k
            if m % 2 == 0:
                total += a.poly[i] * factorial(i) / factorial(m) * double_factorial(m - 1) \
                    * v ** (m // 2)
        if a.abs_weight != 0.0:
            if k == 0:
                total += a.abs_weight * math.sqrt(2.0 * v / math.pi)
            elif k >= 2:
                he = _he_at_zero(k - 2)
                if he != 0.0:
                    total += (2.0 * a.abs_weight * he * _INV_SQRT_2PI * v ** (-(k - 1) / 2)
                              if v > 0.0 else math.copysign(math.inf, a.abs_weight * he))
        if a.erf_weight != 0.0 and k % 2 == 1:
            m = k - 1
            total += (a.erf_weight * 2.0 * _INV_SQRT_2PI / math.sqrt(1.0 + v)
                      * (-1.0 / (1.0 + v)) ** (m // 2) * double_factorial(m - 1))
        out[k] = total
    return out


def _gaussian_moment(m: int) -> float:
    """E[g^m] / 1 for g ~ N(0, 1): (m−1)!! for even m, 0 for odd m."""
    return 0.0 if m % 2 else double_factorial(m - 1)


def loss_polynomial(student_poly, teacher_poly, s_star: float) -> np.ndarray:
    """A[m, k] with ℓ(s, u) = Σ A[m, k] s^m u^k at fixed s*, for polynomial links σ = Σ a_i z^i,
    τ = Σ b_j z^j (links page: Closed forms), by Isserlis' theorem:

        E[σ(z)²] = Σ_ij a_i a_j (i+j−1)!! s^((i+j)/2),
        E[σ(z) τ(z*)] = Σ_ij a_i b_j Σ_k C(i,k) C(j,k) k! (i−k−1)!! (j−k−1)!! u^k s^((i−k)/2)
                        s*^((j−k)/2),

    and ℓ = E[σ²] − 2 E[σ τ] + E[τ²] (label noise excluded)."""
    a, b = list(student_poly), list(teacher_poly)
    out = np.zeros((len(a), len(a)))
    for i, ai in enumerate(a):
        for j, aj in enumerate(a):
            if (i + j) % 2 == 0:
                out[(i + j) // 2, 0] += ai * aj * _gaussian_moment(i + j)
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            for k in range(i % 2, min(i, j) + 1, 2):
                if (j - k) % 2:
                    continue
                coef = (math.comb(i, k) * math.comb(j, k) * factorial(k) *
                        double_factorial(i - k - 1) * double_factorial(j - k - 1))
                out[(i - k) // 2, k] -= 2.0 * ai * bj * coef * s_star ** ((j - k) // 2)
    for i, bi in enumerate(b):
        for j, bj in enumerate(b):
            if (i + j) % 2 == 0:
                out[0, 0] += bi * bj * _gaussian_moment(i + j) * s_star ** ((i + j) // 2)
    return out
