"""What the theory needs to know about a link pair (links page: Classification).

At u = 0 the two preactivations are independent, so the cross kernel's Taylor series in u is

    κ_στ(s, s*, u) = Σ_k (u^k / k!) A_k(s) B_k,   A_k(s) = E[σ^(k)(z)], B_k = E[τ^(k)(z*)],

(∂^k κ/∂c^k = κ_{σ^(k), τ^(k)}), with z ~ N(0, s), z* ~ N(0, s*). From a small start (s → 0)
A_k → σ^(k)(0) for a smooth student. Hence:

* the information exponent k* is the first k ≥ 1 with A_k(0⁺) B_k ≠ 0, and
  ℓ_u(0, 0) = −2 A_1 B_1, κ = −ℓ_uu(0, 0) = 2 A_2 B_2;
* c0⁰ = −2 ℓ_s(0, 0) = −2 [σ'(0)² + σ''(0) (σ(0) − E τ)] for a smooth student; a kinked one
  (σ = P + α|z|) has c0 ≈ 2α √(2/π) (E τ − σ(0)) / √s as s → 0, infinite unless E τ = σ(0);
* for σ = τ, Phase III's constant is c0* = −2 ℓ_s(s*, s*) (= −c1* since ∇L(w*) = 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .link_moments import derivative_means

__all__ = ["PairClass", "classify", "REGIMES"]

# Regimes of the small-start (escape) dynamics, each with the sentence the theory reports.
REGIMES = {
    "linear": "the small start is linear: u grows like C e^(rho t), rho the root above "
              "max_i c0_zero lambda_i of 1 = kappa sum_i w*_i^2 lambda_i^2 / (rho - c0_zero "
              "lambda_i)",
    "first_order": "l_u(0, 0) != 0 (information exponent 1): u is driven from the start, "
                   "there is no escape plateau",
    "kinked": "the kinked student's start is not linear (its flow coefficients diverge as "
              "s -> 0), so no escape law is derived for it",
    "higher_order": "the information exponent is at least 3: the escape is polynomial, not "
                    "exponential, and no escape law is derived for it",
    "no_escape": "kappa = -l_uu(0, 0) <= 0: u = 0 is stable from a small start",
    "no_signal": "the student cannot correlate with the teacher from a small start (every "
                 "d^k l / du^k (0, 0) checked vanishes)",
}


@dataclass(frozen=True)
class PairClass:
    """The classification of a link pair at s* (links page: Classification).

    ``information_exponent`` — first k with ∂^k ℓ/∂u^k(0⁺, 0) ≠ 0 (None: none up to
    ``orders_checked``); ``even`` — ℓ(s, −u) = ℓ(s, u) (σ or τ even: the sign of w* cannot be
    learned); ``kinked_start`` — the student has a kink (abs, relu); ``lu0`` = ℓ_u(0, 0);
    ``c0_zero`` = −2 ℓ_s(0⁺, 0) (±inf when it diverges); ``kappa`` = −ℓ_uu(0⁺, 0) (±inf likewise);
    ``c0_star`` = −2 ℓ_s(s*, s*) for σ = τ (None otherwise); ``regime`` — a key of
    :data:`REGIMES`, whose sentence :attr:`description` gives.
    """
    information_exponent: Optional[int]
    even: bool
    kinked_start: bool
    lu0: float
    c0_zero: float
    kappa: float
    c0_star: Optional[float]
    regime: str
    orders_checked: int

    @property
    def description(self) -> str:
        return REGIMES[self.regime]


def _nonzero(x: float, scale: float, tol: float) -> bool:
    return bool(np.isinf(x) or abs(x) > tol * max(scale, 1.0))


def _product(a: float, b: float) -> float:
    """a b with 0 × inf = 0 (a delta against a vanishing mean contributes nothing)."""
    return 0.0 if a == 0.0 or b == 0.0 else a * b


def _kinked_c0(student, b0: float) -> float:
    """lim c0(s, 0) for σ = P + α|z|: with z ~ N(0, s), ℓ_s(s, 0) = d/ds E[σ²] − E[σ''] E τ,
    E[σ''] = E[P''] + 2α/√(2πs) and E[σ²] = E[P²] + 2α a_0 E|z| + α² s + O(s^(3/2)), so
    c0 = 2α √(2/π) (E τ − a_0)/√s − 2 (a_1² + 2 a_0 a_2 + α² − 2 a_2 E τ) + O(√s)."""
    a, alpha = student.atoms.poly, student.atoms.abs_weight
    diverging = alpha * (b0 - a[0])
    if diverging != 0.0:
        return math.copysign(math.inf, diverging)
    a1 = a[1] if len(a) > 1 else 0.0
    a2 = a[2] if len(a) > 2 else 0.0
    return -2.0 * (a1 * a1 + 2.0 * a[0] * a2 + alpha * alpha - 2.0 * a2 * b0)


def classify(pair, s_star: float = 1.0) -> PairClass:
    """The :class:`PairClass` of a :class:`~pyscale.model.links.LinkPair` at s*."""
    if not (s_star > 0.0 and math.isfinite(s_star)):
        raise ValueError(f"s* must be positive and finite, got {s_star!r}")
    student, teacher = pair.student, pair.teacher
    user = "user" in (student.kind, teacher.kind)
    degrees = [len(x.atoms.poly) - 1 for x in (student, teacher) if not x.atoms.quadrature]
    closed_poly = all(x.kind in ("square", "polynomial", "hermite") for x in (student, teacher))
    orders = 4 if user else (max(degrees) if closed_poly else 8)
    tol = 1e-7 if user else 1e-10
    A = derivative_means(student, 0.0, max(orders, 2) + 1)
    B = derivative_means(teacher, s_star, max(orders, 2) + 1)
    scale_a = float(np.nanmax(np.abs(np.where(np.isinf(A), 0.0, A)))) if A.size else 1.0
    scale_b = float(np.max(np.abs(B))) if B.size else 1.0
    k_star = next((k for k in range(1, orders + 1)
                   if _nonzero(A[k], scale_a, tol) and _nonzero(B[k], scale_b, tol)), None)
    lu0 = -2.0 * _product(A[1], B[1]) if _nonzero(B[1], scale_b, tol) else 0.0
    kappa = 2.0 * _product(A[2], B[2]) if _nonzero(B[2], scale_b, tol) else 0.0
    b0 = float(B[0])
    if student.kinked:
        c0_zero = _kinked_c0(student, b0)
    else:
        c0_zero = -2.0 * (A[1] ** 2 + A[2] * (A[0] - b0))
    c0_star = None
    if student == teacher:
        c0_star = -2.0 * pair.loss_derivatives(s_star, s_star, s_star).ls
    if k_star == 1:
        regime = "first_order"
    elif student.kinked and (math.isinf(c0_zero) or math.isinf(kappa)):
        regime = "kinked"
    elif k_star is None:
        regime = "no_signal"
    elif k_star == 2:
        regime = "linear" if kappa > 0.0 and math.isfinite(c0_zero) else "no_escape"
    else:
        regime = "higher_order"
    return PairClass(k_star, bool(student.even or teacher.even), student.kinked, float(lu0),
                     float(c0_zero), float(kappa), c0_star, regime, orders)
