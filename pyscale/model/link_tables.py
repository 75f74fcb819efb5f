"""The precomputed tables of a link pair's Gaussian kernels (links page: The kernel),
packed into the float64 parameter array the numba twins read (layout:
:mod:`pyscale._kernels.links`).

A closed-form link is a sum of atoms — a polynomial ``Σ a_i z^i``, ``α |z|`` and
``β erf(z/√2)`` — and the kernel κ_{f,g}(v1, v2, c) = E[f(z1) g(z2)] is bilinear in them:

* polynomial × polynomial (Isserlis): E[z1^i z2^j] = Σ_k C(i,k) C(j,k) k! (i−k−1)!! (j−k−1)!!
  c^k v1^((i−k)/2) v2^((j−k)/2);
* polynomial × |z| (z1 given z2 is N(c z2/v2, v1 − c²/v2)): E[z1^i |z2|] = Σ_j C(i,j)
  (i−j−1)!! (c/v2)^j (v1 − c²/v2)^((i−j)/2) E|z2|^(j+1);
* polynomial × erf (Stein's recursion, the derivative of erf being Gaussian):
  E[z1^(2n+1) erf(z2/√2)] = √(2/π) Σ_k 2^(n−k) (n!/k!) (2k−1)!! c v1^(n−k) (1+v2)^(−1/2)
  (v1 − c²/(1+v2))^k;

each expanded into power terms ``coef c^k (v1+shift1)^(p2/2) (v2+shift2)^(q2/2)``; |z| × |z|
and erf × erf are closed arcsine forms and |z| × erf vanishes (even against odd). The
construction follows ``csrc/include/pyscale/model/gaussian_kernel.hpp`` step for step, so both
sides hold the same coefficients bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._kernels.links import FORMAT, HEADER, LINK_FIXED, USER_GROWTH

__all__ = ["Atoms", "binomial", "factorial", "double_factorial", "hermite_to_monomials",
           "monomials_to_hermite", "kernel_terms", "self_terms", "link_block", "pair_params",
           "SQRT2_OVER_PI"]

SQRT2_OVER_PI = 0.79788456080286535588
Term = tuple[float, int, int, int, int, int]   # coef, k, p2, q2, shift1, shift2
SelfTerm = tuple[float, int, int]               # coef, a2, b2


@dataclass(frozen=True)
class Atoms:
    """What the kernels need of one link: its kind code (as the C++ ``LinkKind``), the atoms of
    a closed-form link, and for a quadrature link (tanh, user) its analytic half-width and the
    addresses of its C functions σ, σ', ... (0 where absent)."""
    kind: int
    poly: tuple[float, ...] = (0.0,)
    abs_weight: float = 0.0
    erf_weight: float = 0.0
    quadrature: bool = False
    width: float = 0.0
    addresses: tuple[int, ...] = (0, 0, 0, 0, 0)
    even: bool = False  # declared evenness of a user link

    @property
    def kinked(self) -> bool:
        return self.abs_weight != 0.0

    @property
    def growth(self) -> int:
        """Polynomial growth assumed by the quadrature's step and range (2 for user links)."""
        if self.kind == 7:
            return USER_GROWTH
        return 0 if self.quadrature else len(self.poly) - 1

    @property
    def parity(self) -> int:
        """+1 even, −1 odd, 0 neither (as the C++ ``Link::parity``)."""
        if self.kind == 6:
            return -1
        if self.kind == 7:
            return 1 if self.even else 0
        ev, od = self.erf_weight == 0.0, self.abs_weight == 0.0
        for k, a in enumerate(self.poly):
            if a != 0.0:
                if k % 2:
                    ev = False
                else:
                    od = False
        return 1 if ev else (-1 if od else 0)


def binomial(n: int, k: int) -> float:
    if k < 0 or k > n:
        return 0.0
    r = 1.0
    for i in range(1, k + 1):
        r = r * (n - k + i) / i
    return r


def factorial(n: int) -> float:
    r = 1.0
    for i in range(2, n + 1):
        r *= i
    return r


def double_factorial(n: int) -> float:
    """n!! with (−1)!! = 0!! = 1."""
    r = 1.0
    i = n
    while i > 1:
        r *= i
        i -= 2
    return r


def hermite_to_monomials(c) -> list[float]:
    """Monomial coefficients of Σ c_n He_n(z): He_n = Σ_m (−1)^m n!/(2^m m! (n−2m)!) z^(n−2m)."""
    a = [0.0] * len(c)
    for n in range(len(c)):
        for m in range(n // 2 + 1):
            a[n - 2 * m] += c[n] * (-1.0 if m % 2 else 1.0) * factorial(n) / (
                math.ldexp(1.0, m) * factorial(m) * factorial(n - 2 * m))
    return a


def monomials_to_hermite(a, count: int) -> list[float]:
    """Hermite coefficients of Σ a_i z^i: z^i = Σ_m i!/(2^m m! (i−2m)!) He_(i−2m)."""
    c = [0.0] * count
    for i in range(len(a)):
        for m in range(i // 2 + 1):
            if i - 2 * m < count:
                c[i - 2 * m] += a[i] * factorial(i) / (
                    math.ldexp(1.0, m) * factorial(m) * factorial(i - 2 * m))
    return c


def _add(terms: list, key: tuple, coef: float) -> None:
    if coef == 0.0:
        return
    for t in terms:
        if t[1:] == key:
            t[0] += coef
            return
    terms.append([coef, *key])


def _abs_moment(j: int) -> float:
    """E|g|^(j+1) for even j: √(2/π) 2^(j/2) (j/2)!."""
    return SQRT2_OVER_PI * math.ldexp(1.0, j // 2) * factorial(j // 2)


def _poly_poly(a, b, out: list) -> None:
    for i in range(len(a)):
        for j in range(len(b)):
            if a[i] == 0.0 or b[j] == 0.0:
                continue
            for k in range(i % 2, min(i, j) + 1, 2):
                if (j - k) % 2:
                    continue
                coef = (a[i] * b[j] * binomial(i, k) * binomial(j, k) * factorial(k)
                        * double_factorial(i - k - 1) * double_factorial(j - k - 1))
                _add(out, (k, i - k, j - k, 0, 0), coef)


def _poly_abs(a, alpha: float, poly_first: bool, out: list) -> None:
    for i in range(0, len(a), 2):
        if a[i] == 0.0:
            continue
        for j in range(0, i + 1, 2):
            r = (i - j) // 2
            base = a[i] * alpha * binomial(i, j) * double_factorial(i - j - 1) * _abs_moment(j)
            for m in range(r + 1):
                coef = base * binomial(r, m) * (-1.0 if m % 2 else 1.0)
                x2, y2 = 2 * (r - m), 1 - j - 2 * m
                key = (j + 2 * m, x2, y2, 0, 0) if poly_first else (j + 2 * m, y2, x2, 0, 0)
                _add(out, key, coef)


def _poly_erf(a, beta: float, poly_first: bool, out: list) -> None:
    for i in range(1, len(a), 2):
        if a[i] == 0.0:
            continue
        n = (i - 1) // 2
        for k in range(n + 1):
            base = (a[i] * beta * SQRT2_OVER_PI * math.ldexp(1.0, n - k) * factorial(n)
                    / factorial(k) * double_factorial(2 * k - 1))
            for m in range(k + 1):
                coef = base * binomial(k, m) * (-1.0 if m % 2 else 1.0)
                x2, y2 = 2 * (n - m), -1 - 2 * m
                key = (1 + 2 * m, x2, y2, 0, 1) if poly_first else (1 + 2 * m, y2, x2, 1, 0)
                _add(out, key, coef)


def kernel_terms(f: Atoms, g: Atoms) -> tuple[list[Term], float, float]:
    """The power terms of κ_{f,g} and the weights of its |z|×|z| and erf×erf parts."""
    out: list = []
    _poly_poly(f.poly, g.poly, out)
    if g.abs_weight != 0.0:
        _poly_abs(f.poly, g.abs_weight, True, out)
    if f.abs_weight != 0.0:
        _poly_abs(g.poly, f.abs_weight, False, out)
    if g.erf_weight != 0.0:
        _poly_erf(f.poly, g.erf_weight, True, out)
    if f.erf_weight != 0.0:
        _poly_erf(g.poly, f.erf_weight, False, out)
    terms: list[Term] = [(float(c), int(k), int(p2), int(q2), int(s1), int(s2))
                         for c, k, p2, q2, s1, s2 in out]
    return terms, f.abs_weight * g.abs_weight, f.erf_weight * g.erf_weight


def self_terms(f: Atoms) -> tuple[list[SelfTerm], float]:
    """E[f(z)²] at variance s as Σ coef s^(a2/2) (1+s)^(b2/2), and the weight of
    (2/π) arcsin(s/(1+s)) (the erf × erf part)."""
    a, alpha, beta = f.poly, f.abs_weight, f.erf_weight
    out: list = []
    for i in range(len(a)):
        for j in range(len(a)):
            if (i + j) % 2 == 0:
                _add(out, (i + j, 0), a[i] * a[j] * double_factorial(i + j - 1))
    for i in range(0, len(a), 2):
        _add(out, (i + 1, 0), 2.0 * alpha * a[i] * _abs_moment(i))
    _add(out, (2, 0), alpha * alpha)
    for i in range(1, len(a), 2):
        n = (i - 1) // 2
        for k in range(n + 1):
            for m in range(k + 1):
                coef = (2.0 * beta * a[i] * SQRT2_OVER_PI * math.ldexp(1.0, n - k)
                        * factorial(n) / factorial(k) * double_factorial(2 * k - 1)
                        * binomial(k, m) * (-1.0 if m % 2 else 1.0))
                _add(out, (2 * (n + m + 1), -1 - 2 * m), coef)
    return [(float(t[0]), int(t[1]), int(t[2])) for t in out], beta * beta


def link_block(f: Atoms) -> np.ndarray:
    """The link block ``[kind, quadrature, kinked, width, abs, erf, growth, parity, d0..d4, n,
    a...]``."""
    for address in f.addresses:
        if address >= 2 ** 53:
            raise ValueError("a user link's function address does not fit a float64 exactly")
    head = [f.kind, float(f.quadrature), float(f.kinked), f.width, f.abs_weight, f.erf_weight,
            f.growth, f.parity, *map(float, f.addresses), len(f.poly)]
    assert len(head) == LINK_FIXED
    return np.array(head + list(f.poly), dtype=np.float64)


def pair_params(student: Atoms, teacher: Atoms) -> np.ndarray:
    """The pair's parameter array (header, link blocks, self and cross tables)."""
    blocks = [link_block(student), link_block(teacher)]
    selfs = []
    for f in (student, teacher):
        moments, arcsin = ([], 0.0) if f.quadrature else self_terms(f)
        selfs.append(np.array([len(moments), arcsin] + [x for t in moments for x in t], float))
    quadrature = student.quadrature or teacher.quadrature
    terms, abs_abs, erf_erf = ([], 0.0, 0.0) if quadrature else kernel_terms(student, teacher)
    cross = np.array([len(terms), abs_abs, erf_erf] + [x for t in terms for x in t], float)
    parts = [*blocks, *selfs, cross]
    offsets = np.cumsum([HEADER] + [len(b) for b in parts])
    square = float(student.kind == 0 and teacher.kind == 0)
    header = np.array([FORMAT, square, float(quadrature), *offsets[:5], offsets[5], 0.0])
    params = np.concatenate([header, *parts])
    params.setflags(write=False)
    return params
