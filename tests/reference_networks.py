"""Independent references for two-layer networks (networks page), in plain NumPy/SciPy.

Nothing here imports pyscale: these are the yardsticks the networks engines are held against.

Model (networks page: The model): ``x ~ N(0, Q)``, ``Q = diag(λ)``; student
``f(x) = Σ_j a_j σ(x·w_j)`` (W: d × p), teacher ``f*(x) = Σ_l a*_l τ(x·w*_l)`` (W*: d × k),
``y = f*(x) + ξ``, loss ``L = E[(f − y)²]`` (no ½). Overlaps ``S = WᵀQW``, ``U = WᵀQW*``,
``S* = W*ᵀQW*``. The flow is ``Ẇ = Q (W A + W* Bᵀ)``, row by row ``Ẇ_i = λ_i (W_i A + W*_i Bᵀ)``.

What is here, each written once and independently of the others where they are compared:

* kernels: the closed-form Gaussian kernels κ(v1, v2, c) = E[f(z1) g(z2)] of the square and of
  erf(z/√2), with their first and second partial derivatives;
* ``coefficients`` (A, B from the kernels: what an engine computes) and
  ``quadrature_coefficients`` (A, B from Stein's lemma by 2-D Gauss–Hermite: no closed form);
* the quadratic network in d × d matrix form (``quadratic_loss_matrix``,
  ``quadratic_gradient_matrix``: the gradient by hand, no overlaps) and in overlaps
  (``quadratic_loss``);
* ``solve_flow`` (SciPy DOP853 on any right-hand side), ``jacobian_apply``, ``stage_solve``
  (the Woodbury solve of a Rosenbrock stage) and ``rodas4`` (a plain Rosenbrock integrator
  that uses it, to count passes);
* compression: ``group_modes``, ``mode_grams``, ``bartlett_factor``, ``draw_compressed``,
  ``virtual_network``, ``gram_flow`` (the flow written on the per-mode Gram matrices);
* ``numpy_sgd`` (online SGD, p + k projections per sample, vectorised over seeds) and
  ``chain_sgd`` (the compressed SGD chain: per-mode frames updated by a Wishart draw);
* ``quadratic_escape`` (the small-start escape of the quadratic network: rate, prefactors, T1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from scipy.special import erf

SQRT_2_PI = np.sqrt(2.0 / np.pi)


# --------------------------------------------------------------------------------------------
# Links and their Gaussian kernels
# --------------------------------------------------------------------------------------------

def link_functions(name: str) -> Tuple[Callable, Callable, Callable]:
    """σ, σ', σ'' of a link: "square" (z²) or "erf" (erf(z/√2))."""
    if name == "square":
        return (lambda z: z * z, lambda z: 2.0 * z, lambda z: 2.0 + 0.0 * z)
    if name == "erf":
        return (lambda z: erf(z / np.sqrt(2.0)),
                lambda z: SQRT_2_PI * np.exp(-0.5 * z * z),
                lambda z: -z * SQRT_2_PI * np.exp(-0.5 * z * z))
    raise ValueError(f"unknown link {name!r}")


def kernel(name: str, v1, v2, c, order: int = 0):
    """Closed-form kernel κ(v1, v2, c) = E[f(z1) f(z2)] of one link with itself.

    order 0: κ; order 1: (κ_1, κ_2, κ_c); order 2: (κ_11, κ_12, κ_1c, κ_22, κ_2c, κ_cc),
    subscripts 1, 2, c for ∂/∂v1, ∂/∂v2, ∂/∂c. Square: κ = v1 v2 + 2c² (Isserlis).
    erf(z/√2): κ = (2/π) arcsin(c / √((1 + v1)(1 + v2))).
    """
    v1, v2, c = np.broadcast_arrays(*(np.asarray(x) + 0.0 for x in (v1, v2, c)))  # complex ok
    if name == "square":
        one, zero = np.ones_like(v1), np.zeros_like(v1)
        return ((v1 * v2 + 2 * c * c), (v2, v1, 4 * c),
                (zero, one, zero, zero, zero, 4 * one))[order]
    if name != "erf":
        raise ValueError(f"no closed-form kernel for {name!r}")
    p1, p2 = 1.0 + v1, 1.0 + v2
    det = p1 * p2 - c * c
    if order == 0:
        return (2 / np.pi) * np.arcsin(c / np.sqrt(p1 * p2))
    r = 1.0 / np.sqrt(det)
    if order == 1:
        return (-c * r / (np.pi * p1), -c * r / (np.pi * p2), (2 / np.pi) * r)
    r3 = r ** 3
    k11 = c * r / (np.pi * p1 ** 2) + c * p2 * r3 / (2 * np.pi * p1)
    k22 = c * r / (np.pi * p2 ** 2) + c * p1 * r3 / (2 * np.pi * p2)
    k12 = c * r3 / (2 * np.pi)
    k1c = -p2 * r3 / np.pi
    k2c = -p1 * r3 / np.pi
    kcc = (2 / np.pi) * c * r3
    return (k11, k12, k1c, k22, k2c, kcc)


def gauss_hermite_pair(f: Callable, g: Callable, v1, v2, c, nodes: int = 60) -> np.ndarray:
    """E[f(z1) g(z2)] for centred Gaussians (var v1, v2, cov c) by a nodes × nodes
    Gauss–Hermite rule: z1 = √v1 x, z2 = (c/√v1) x + √(v2 − c²/v1) y, x, y ~ N(0, 1)."""
    x, wts = np.polynomial.hermite_e.hermegauss(nodes)
    wts = wts / np.sqrt(2.0 * np.pi)
    v1, v2, c = (np.asarray(t, dtype=float)[..., None, None] for t in (v1, v2, c))
    sd1 = np.sqrt(v1)
    slope = np.where(sd1 > 0, c / np.where(sd1 > 0, sd1, 1.0), 0.0)
    rest = np.sqrt(np.maximum(v2 - slope * slope, 0.0))
    z1 = sd1 * x[:, None]
    z2 = slope * x[:, None] + rest * x[None, :]
    return np.einsum("...ab,a,b->...", f(z1) * g(z2), wts, wts)


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Network:
    """A two-layer network problem: eigenvalues λ (d,), teacher W* (d, k), start W0 (d, p),
    readouts a (p,), a* (k,), links, label-noise variance."""

    lam: np.ndarray
    w_star: np.ndarray
    w0: np.ndarray
    a: np.ndarray
    a_star: np.ndarray
    student: str = "square"
    teacher: str = "square"
    noise: float = 0.0

    @property
    def d(self) -> int:
        return int(self.lam.size)

    @property
    def p(self) -> int:
        return int(self.w0.shape[1])

    @property
    def k(self) -> int:
        return int(self.w_star.shape[1])


def power_law_eigenvalues(d: int, a: float) -> np.ndarray:
    """λ_i = i^(−a) / Σ_j j^(−a): tr Q = 1."""
    lam = np.arange(1, d + 1, dtype=float) ** (-float(a))
    return lam / lam.sum()


def q_orthonormalise(lam: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Columns made Q-orthonormal by Gram–Schmidt (w ← w R⁻¹ with RᵀR = wᵀQw, R upper)."""
    r = np.linalg.cholesky(w.T @ (lam[:, None] * w)).T
    return np.linalg.solve(r.T, w.T).T


def draw_network(lam: np.ndarray, p: int, k: int, seed: int, student: str = "square",
                 teacher: Optional[str] = None, orthonormal_teacher: bool = False,
                 readout=None, teacher_readout=None, noise: float = 0.0) -> Network:
    """Teacher columns g/‖Q^{1/2} g‖ (S*_ll = 1; Q-orthonormal when asked: S* = I), student
    columns uniform on the unit sphere; readouts default to 1/p and 1/k."""
    rng = np.random.default_rng(seed)
    w_star = rng.standard_normal((lam.size, k))
    w0 = rng.standard_normal((lam.size, p))
    w0 /= np.linalg.norm(w0, axis=0)
    if orthonormal_teacher:
        w_star = q_orthonormalise(lam, w_star)
    else:
        w_star /= np.sqrt(np.einsum("i,il->l", lam, w_star ** 2))
    a = np.full(p, 1.0 / p) if readout is None else np.asarray(readout, dtype=float)
    a_star = (np.full(k, 1.0 / k) if teacher_readout is None
              else np.asarray(teacher_readout, dtype=float))
    return Network(lam, w_star, w0, a, a_star, student, teacher or student, noise)


def overlaps(lam: np.ndarray, w: np.ndarray, w_star: np.ndarray):
    """S = WᵀQW (p×p), U = WᵀQW* (p×k), S* = W*ᵀQW* (k×k)."""
    qw = lam[:, None] * w
    return w.T @ qw, qw.T @ w_star, w_star.T @ (lam[:, None] * w_star)


# --------------------------------------------------------------------------------------------
# Loss and the coefficients A, B (kernel form)
# --------------------------------------------------------------------------------------------

def _pair_args(S, U, Sstar):
    ds, dstar = np.diag(S), np.diag(Sstar)
    return ((ds[:, None], ds[None, :], S), (ds[:, None], dstar[None, :], U),
            (dstar[:, None], dstar[None, :], Sstar))


def loss(net: Network, S, U, Sstar) -> float:
    """ℓ = Σ a_j a_l κσσ(S_jj, S_ll, S_jl) − 2 Σ a_j a*_l κστ(S_jj, S*_ll, U_jl)
    + Σ a*_l a*_m κττ(S*_ll, S*_mm, S*_lm) + σ²  (σ = τ: one closed-form kernel)."""
    _same_link(net)
    ss, su, tt = _pair_args(S, U, Sstar)
    a, b = net.a, net.a_star
    return float(a @ kernel(net.student, *ss) @ a - 2 * a @ kernel(net.student, *su) @ b
                 + b @ kernel(net.student, *tt) @ b + net.noise)


def _same_link(net: Network) -> None:
    if net.student != net.teacher:
        raise ValueError("the closed-form path needs σ = τ; use the quadrature path")


def coefficients(net: Network, S, U, Sstar):
    """A (p×p, symmetric) and B (p×k) of −∂L/∂w_j = Σ_l A_jl Q w_l + Σ_l B_jl Q w*_l:

    A_jl = −2 a_j a_l κσσ_c(S_jj, S_ll, S_jl)                                  (j ≠ l)
    A_jj = −2 a_j² e'(S_jj) − 4 a_j Σ_{l≠j} a_l κσσ_1(S_jj, S_ll, S_jl)
           + 4 a_j Σ_l a*_l κστ_1(S_jj, S*_ll, U_jl),      e(v) = κσσ(v, v, v)
    B_jl = 2 a_j a*_l κστ_c(S_jj, S*_ll, U_jl).
    """
    _same_link(net)
    a, b = net.a, net.a_star
    ss, su, _ = _pair_args(S, U, Sstar)
    k1, _, kc = kernel(net.student, *ss, order=1)
    m1, _, mc = kernel(net.student, *su, order=1)
    A = -2.0 * np.outer(a, a) * kc
    e_prime = 2 * np.diag(k1) + np.diag(kc)  # d/dv κ(v, v, v) for a symmetric kernel
    off = (k1 * a[None, :]).sum(axis=1) - np.diag(k1) * a
    A[np.diag_indices_from(A)] = (-2 * a * a * e_prime - 4 * a * off + 4 * a * (m1 @ b))
    B = 2.0 * np.outer(a, b) * mc
    return A, B


def coefficient_derivatives(net: Network, S, U, Sstar, dS, dU):
    """Directional derivatives (dA, dB) of the coefficients along (dS, dU) (dS symmetric),
    from the kernels' second derivatives (networks page: The flow's Jacobian)."""
    return derivative_map(net, S, U, Sstar)(dS, dU)


def derivative_map(net: Network, S, U, Sstar) -> Callable:
    """(dS, dU) ↦ (dA, dB) at (S, U), the kernels' second derivatives evaluated once:

    dA_jl = −2 a_j a_l [κ_1c dS_jj + κ_2c dS_ll + κ_cc dS_jl]                      (j ≠ l)
    dA_jj = −2 a_j² e''(S_jj) dS_jj − 4 a_j Σ_{l≠j} a_l [κ_11 dS_jj + κ_12 dS_ll + κ_1c dS_jl]
            + 4 a_j Σ_l a*_l [κ'_11 dS_jj + κ'_1c dU_jl]
    dB_jl = 2 a_j a*_l [κ'_1c dS_jj + κ'_cc dU_jl]
    (κ = κσσ at (S_jj, S_ll, S_jl), κ' = κστ at (S_jj, S*_ll, U_jl),
    e'' = κ_11 + 2κ_12 + κ_22 + 2κ_1c + 2κ_2c + κ_cc at (v, v, v)).
    """
    a, b = net.a, net.a_star
    ss, su, _ = _pair_args(S, U, Sstar)
    k11, k12, k1c, k22, k2c, kcc = kernel(net.student, *ss, order=2)
    m11, _, m1c, _, _, mcc = kernel(net.student, *su, order=2)
    aa, ab = np.outer(a, a), np.outer(a, b)
    e2 = (np.diag(k11) + 2 * np.diag(k12) + np.diag(k22) + 2 * np.diag(k1c)
          + 2 * np.diag(k2c) + np.diag(kcc))
    diag = np.diag_indices(a.size)

    def apply(dS, dU):
        dd = np.diag(dS)
        dA = -2 * aa * (k1c * dd[:, None] + k2c * dd[None, :] + kcc * dS)
        cross = (k11 * dd[:, None] + k12 * dd[None, :] + k1c * dS) * a[None, :]
        off = cross.sum(axis=1) - np.diag(cross)
        teach = ((m11 * dd[:, None] + m1c * dU) * b[None, :]).sum(axis=1)
        dA[diag] = -2 * a * a * e2 * dd - 4 * a * off + 4 * a * teach
        return dA, 2 * ab * (m1c * dd[:, None] + mcc * dU)

    return apply


def flow_rhs(net: Network, w: np.ndarray, coef: Callable = coefficients) -> np.ndarray:
    """Ẇ = −∇L = Q (W A + W* Bᵀ)."""
    A, B = coef(net, *overlaps(net.lam, w, net.w_star))
    return net.lam[:, None] * (w @ A.T + net.w_star @ B.T)


# --------------------------------------------------------------------------------------------
# Quadrature (Stein) form: no closed-form kernel
# --------------------------------------------------------------------------------------------

def quadrature_coefficients(net: Network, S, U, Sstar, nodes: int = 60):
    """A, B from Stein's lemma, every expectation a 2-D Gauss–Hermite rule:

    A_jm = −2 a_j a_m E[σ'(h_j) σ'(h_m)] − 2 δ_jm a_j E[(f − y) σ''(h_j)],
    B_jl = 2 a_j a*_l E[σ'(h_j) τ'(h*_l)],
    E[(f − y) σ''(h_j)] = Σ_m a_m E[σ(h_m) σ''(h_j)] − Σ_l a*_l E[τ(h*_l) σ''(h_j)].
    """
    s0, s1, s2 = link_functions(net.student)
    t0, t1, _ = link_functions(net.teacher)
    a, b = net.a, net.a_star
    ss, su, _ = _pair_args(S, U, Sstar)
    e11 = gauss_hermite_pair(s1, s1, *ss, nodes=nodes)
    e20 = gauss_hermite_pair(s2, s0, *ss, nodes=nodes)       # E[σ''(h_j) σ(h_m)]
    f20 = gauss_hermite_pair(s2, t0, *su, nodes=nodes)       # E[σ''(h_j) τ(h*_l)]
    f11 = gauss_hermite_pair(s1, t1, *su, nodes=nodes)
    A = -2 * np.outer(a, a) * e11
    A[np.diag_indices_from(A)] -= 2 * a * (e20 @ a - f20 @ b)
    B = 2 * np.outer(a, b) * f11
    return A, B


def quadrature_loss(net: Network, S, U, Sstar, nodes: int = 60) -> float:
    """ℓ = E[(f − y)²] as sums of 2-D Gauss–Hermite pair expectations."""
    s0 = link_functions(net.student)[0]
    t0 = link_functions(net.teacher)[0]
    ss, su, tt = _pair_args(S, U, Sstar)
    a, b = net.a, net.a_star
    return float(a @ gauss_hermite_pair(s0, s0, *ss, nodes=nodes) @ a
                 - 2 * a @ gauss_hermite_pair(s0, t0, *su, nodes=nodes) @ b
                 + b @ gauss_hermite_pair(t0, t0, *tt, nodes=nodes) @ b + net.noise)


# --------------------------------------------------------------------------------------------
# The quadratic network, written without overlaps or kernels
# --------------------------------------------------------------------------------------------

def _delta(net: Network, w):
    return w @ (net.a[:, None] * w.T) - net.w_star @ (net.a_star[:, None] * net.w_star.T)


def quadratic_loss_matrix(net: Network, w) -> float:
    """f(x) − f*(x) = xᵀ Δ x with Δ = W D_a Wᵀ − W* D_a* W*ᵀ;
    L = (tr QΔ)² + 2 tr(QΔQΔ) + σ² (Isserlis)."""
    qd = net.lam[:, None] * _delta(net, w)
    return np.trace(qd) ** 2 + 2 * np.sum(qd * qd.T) + net.noise  # complex W: complex step


def quadratic_gradient_matrix(net: Network, w) -> np.ndarray:
    """−∂L/∂W = −4 tr(QΔ) Q W D_a − 8 Q Δ Q W D_a (by hand from the matrix form)."""
    lam = net.lam
    delta = _delta(net, w)
    qw = lam[:, None] * w
    tr = np.sum(lam * np.diag(delta))
    return (-4 * tr * qw - 8 * lam[:, None] * (delta @ qw)) * net.a[None, :]


def quadratic_loss(net: Network, S, U, Sstar) -> float:
    """L = (tr D_a S − tr D_a* S*)² + 2 [tr(D_a S D_a S) − 2 tr(D_a U D_a* Uᵀ)
    + tr(D_a* S* D_a* S*)] + σ²."""
    a, b = net.a, net.a_star
    sa, tb = a[:, None] * S, b[:, None] * Sstar
    return float((np.trace(sa) - np.trace(tb)) ** 2
                 + 2 * (np.sum(sa * sa.T) - 2 * np.einsum("j,jl,l,jl->", a, U, b, U)
                        + np.sum(tb * tb.T)) + net.noise)


def quadratic_coefficients(net: Network, S, U, Sstar):
    """A = −4 (tr D_a S − tr D_a* S*) D_a − 8 D_a S D_a,  B = 8 D_a U D_a*."""
    a, b = net.a, net.a_star
    gap = a @ np.diag(S) - b @ np.diag(Sstar)
    return (-4 * gap * np.diag(a) - 8 * a[:, None] * S * a[None, :],
            8 * a[:, None] * U * b[None, :])


# --------------------------------------------------------------------------------------------
# Solving the flow
# --------------------------------------------------------------------------------------------

def solve_flow(net: Network, times, rhs: Optional[Callable] = None, rtol: float = 1e-11,
               atol: float = 1e-13, w0: Optional[np.ndarray] = None) -> np.ndarray:
    """W(t) at `times` (T, d, p) by SciPy DOP853 on Ẇ = rhs(net, W) (default: flow_rhs)."""
    rhs = flow_rhs if rhs is None else rhs
    shape = (net.d, net.p)
    start = net.w0 if w0 is None else w0

    def f(_, y):
        return rhs(net, y.reshape(shape)).ravel()

    sol = solve_ivp(f, (0.0, float(times[-1])), start.ravel(), method="DOP853",
                    t_eval=np.asarray(times, dtype=float), rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(sol.message)
    return sol.y.T.reshape((len(times),) + shape)


def records(net: Network, ws: np.ndarray, loss_fn: Optional[Callable] = None) -> Dict:
    """Loss, S, U and the cosines U_jl / √(S_jj S*_ll) of each W in `ws` (T, d, p)."""
    loss_fn = loss if loss_fn is None else loss_fn
    S, U, Sstar = zip(*(overlaps(net.lam, w, net.w_star) for w in ws))
    S, U, Sstar = np.array(S), np.array(U), Sstar[0]
    cos = U / np.sqrt(np.einsum("tjj->tj", S)[:, :, None] * np.diag(Sstar)[None, None, :])
    return {"loss": np.array([loss_fn(net, s, u, Sstar) for s, u in zip(S, U)]),
            "S": S, "U": U, "cos": cos}


# --------------------------------------------------------------------------------------------
# The flow's Jacobian and the Rosenbrock stage solve
# --------------------------------------------------------------------------------------------

def jacobian_apply(net: Network, w, v):
    """J V = Q (V A + W dA + W* dBᵀ), (dS, dU) = (VᵀQW + WᵀQV, VᵀQW*): the per-coordinate
    blocks λ_i A plus a coupling of rank ≤ p (p + k)."""
    lam = net.lam
    S, U, Sstar = overlaps(lam, w, net.w_star)
    A, _ = coefficients(net, S, U, Sstar)
    t = w.T @ (lam[:, None] * v)
    dA, dB = coefficient_derivatives(net, S, U, Sstar, t + t.T,
                                     v.T @ (lam[:, None] * net.w_star))
    return lam[:, None] * (v @ A + w @ dA + net.w_star @ dB.T)


def _coupling_matrix(net: Network, S, U, Sstar) -> np.ndarray:
    """The inner map 𝒞: Y = [T; R] ((p+k)×p, T = WᵀQX, R = W*ᵀQX) ↦ [dA; dBᵀ], with
    dS = T + Tᵀ, dU = Rᵀ, as a matrix on vec(Y) (size p(p + k))."""
    p, k = net.p, net.k
    r = p * (p + k)
    apply = derivative_map(net, S, U, Sstar)
    C = np.empty((r, r))
    for col, y in enumerate(np.eye(r)):
        y = y.reshape(p + k, p)
        t, rr = y[:p], y[p:]
        dA, dB = apply(t + t.T, rr.T)
        C[:, col] = np.vstack([dA, dB.T]).ravel()
    return C


def stage_solver(net: Network, w, hg: float) -> Callable:
    """The solve X = (I − hγ J)⁻¹ R at W, prepared once per step (J the flow's Jacobian).

    D = I − hγ (Q ⊗ A) is inverted in the eigenbasis of A (A = E diag(μ) Eᵀ): coordinate i,
    rotated column n is divided by 1 − hγ λ_i μ_n. The coupling J − Q⊗A = P 𝒞 Pᵀ
    (PᵀX = VᵀQX, V = [W W*]) goes through the push-through form of Woodbury,
    (I − hγ 𝒢𝒞) Y = VᵀQ D⁻¹ R, 𝒢(Z) = VᵀQ D⁻¹ Q V Z, X = D⁻¹(R + hγ Q V 𝒞(Y)),
    valid for a singular or indefinite 𝒞. 𝒢 is block diagonal in the rotated column n:
    Γ_n = Σ_i λ_i² V_iᵀ V_i / (1 − hγ λ_i μ_n), p blocks of (p+k)², O(d p (p+k)²) once per
    step; each solve then costs O(d p (p + k)).
    """
    lam, p, k = net.lam, net.p, net.k
    S, U, Sstar = overlaps(lam, w, net.w_star)
    A, _ = coefficients(net, S, U, Sstar)
    mu, E = np.linalg.eigh(A)
    scale = 1.0 / (1.0 - hg * lam[:, None] * mu[None, :])         # (d, p)
    V = np.hstack([w, net.w_star])                                 # (d, p + k)

    def dinv(x):
        return ((x @ E) * scale) @ E.T

    gam = np.array([(V * (lam ** 2 * scale[:, n])[:, None]).T @ V for n in range(p)])
    C = _coupling_matrix(net, S, U, Sstar)
    r = p * (p + k)
    GC = np.empty((r, r))  # the matrix of 𝒢∘𝒞 on vec(Y)
    for col in range(r):
        ze = C[:, col].reshape(p + k, p) @ E
        GC[:, col] = (np.einsum("nab,bn->an", gam, ze) @ E.T).ravel()
    lu = np.eye(r) - hg * GC

    def solve(rhs):
        y0 = V.T @ (lam[:, None] * dinv(rhs))
        y = np.linalg.solve(lu, y0.ravel())
        z = (C @ y).reshape(p + k, p)
        return dinv(rhs + hg * lam[:, None] * (V @ z))

    return solve


def stage_solve(net: Network, w, hg: float, rhs: np.ndarray) -> np.ndarray:
    """X with (I − hγ J) X = rhs (see stage_solver)."""
    return stage_solver(net, w, hg)(rhs)


# RODAS4 (Hairer & Wanner, "method 1" of their code RODAS): K-increment form
#   (I − hγJ) K_i = hγ [f(Y_i) + Σ_{j<i} (C_ij / h) K_j],  Y_i = y + Σ_{j<i} A_ij K_j,
#   y_new = y + Σ M_j K_j,  err = K_6 (stiffly accurate).
_RODAS4_GAMMA = 0.25
_RODAS4_A = [[], [1.544], [0.9466785280815826, 0.2557011698983284],
             [3.314825187068521, 2.896124015972201, 0.9986419139977817],
             [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950],
             [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0]]
_RODAS4_C = [[], [-5.6688], [-2.430093356833875, -0.2063599157091915],
             [-0.1073529058151375, -9.594562251023355, -20.47028614809616],
             [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160],
             [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
              -6.058818238834054]]
_RODAS4_M = [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950,
             1.0, 1.0]


def _rodas4_step(net: Network, y, h: float):
    """One RODAS4 step: (y_new, error vector). One stage solver (one capacitance) per step."""
    solve = stage_solver(net, y, _RODAS4_GAMMA * h)
    ks = []
    for i in range(6):
        yi = y + sum(a * kj for a, kj in zip(_RODAS4_A[i], ks))
        rhs = flow_rhs(net, yi) + sum(c * kj for c, kj in zip(_RODAS4_C[i], ks)) / h
        ks.append(solve(_RODAS4_GAMMA * h * rhs))
    return y + sum(m * kj for m, kj in zip(_RODAS4_M, ks)), ks[-1]


def _step_error(net: Network, y, y_new, err, rtol: float, atol: float) -> float:
    """Scaled error: the first-order effect on S_jj within 10 rtol S_jj, on row j of U within
    10 rtol max_l |U_jl| (per unit: an entry passing through zero needs no relative accuracy;
    per-entry control costs about 1.8× the steps), and every entry of W within
    10³ (atol + rtol |W_ij|) (the single-index flow's rule, per unit)."""
    lam, ws = net.lam, net.w_star
    S, U, _ = overlaps(lam, y_new, ws)
    err_s = 2 * np.einsum("i,ij,ij->j", lam, np.abs(y_new), np.abs(err))
    err_u = np.einsum("i,il,ij->jl", lam, np.abs(ws), np.abs(err))
    floor_u = 1e-2 * np.einsum("i,ij,il->jl", lam, np.abs(y_new), np.abs(ws)).max(axis=1)
    scale_u = np.maximum(np.abs(U).max(axis=1), floor_u)[:, None]
    comp = np.abs(err) / (1e3 * (atol + rtol * np.maximum(np.abs(y), np.abs(y_new))))
    return float(max(np.max(err_s / (10 * rtol * np.diag(S) + 1e-300)),
                     np.max(err_u / (10 * rtol * scale_u + 1e-300)), np.max(comp)))


def rodas4(net: Network, times, rtol: float = 1e-9, max_steps: int = 200_000):
    """W at `times` (steps shortened onto each record time) by RODAS4 with the Woodbury stage
    solve; returns (W (T, d, p), counts: steps, rejected, rhs (f evaluations))."""
    times = np.asarray(times, dtype=float)
    atol = rtol * 1e-2 * np.sqrt(np.mean(net.w_star ** 2))
    y, t = net.w0.copy(), 0.0
    A0, _ = coefficients(net, *overlaps(net.lam, y, net.w_star))
    h = rtol ** 0.25 / (net.lam.max() * (np.abs(A0).max() + 1.0))
    out, counts, rejected_last = [], {"steps": 0, "rejected": 0, "rhs": 0}, False
    for target in times:
        while t < target * (1 - 1e-14):
            A, _ = coefficients(net, *overlaps(net.lam, y, net.w_star))
            growth = net.lam.max() * np.linalg.eigvalsh(A).max()
            hh = min(h, 0.5 / (_RODAS4_GAMMA * growth)) if growth > 0 else h
            land = t + hh >= target * (1 - 1e-14)
            step = target - t if land else hh
            y_new, err_vec = _rodas4_step(net, y, step)
            counts["rhs"] += 6
            err = _step_error(net, y, y_new, err_vec, rtol, atol)
            if not err <= 1.0:
                counts["rejected"] += 1
                h, rejected_last = step * max(0.2, 0.9 * err ** -0.25 if err == err else 0.2), True
                continue
            fac = min(5.0, max(0.2, 0.9 * max(err, 1e-10) ** -0.25))
            h_new = step * (min(fac, 1.0) if rejected_last else fac)
            h = max(h_new, min(hh, 5 * h_new)) if land else h_new
            y, t, rejected_last = y_new, t + step, False
            counts["steps"] += 1
            if counts["steps"] > max_steps:
                raise RuntimeError("too many steps")
        out.append(y.copy())
    return np.array(out), counts


# --------------------------------------------------------------------------------------------
# Compression: modes of equal eigenvalues, their Gram matrices, Bartlett draws
# --------------------------------------------------------------------------------------------

def group_modes(lam_desc: np.ndarray, rtol: float) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy grouping of decreasing eigenvalues: each mode is the longest run from its first
    λ_j with λ_j ≤ (1 + δ) λ_i for all members. Returns (starts, sizes)."""
    starts, j = [], 0
    while j < lam_desc.size:
        starts.append(j)
        j = int(np.searchsorted(-lam_desc, -lam_desc[j] / (1.0 + rtol), side="right"))
    starts = np.asarray(starts)
    return starts, np.diff(np.append(starts, lam_desc.size))


@dataclass(frozen=True)
class Compressed:
    """A compressed network: mode eigenvalues λ_m (M,), sizes n_m (M,), and per mode the
    coordinates X_m ((p+k) × (p+k), columns [W* W]) of its block in an orthonormal frame of
    its span: X_mᵀ X_m is the mode's Gram matrix. Modes with n_m < p + k hold their n_m real
    rows (the rest zero)."""

    lam: np.ndarray
    sizes: np.ndarray
    coords: np.ndarray
    a: np.ndarray
    a_star: np.ndarray
    student: str = "square"
    teacher: str = "square"
    noise: float = 0.0

    @property
    def p(self) -> int:
        return int(self.a.size)

    @property
    def k(self) -> int:
        return int(self.a_star.size)

    def rows(self) -> np.ndarray:
        """How many coordinate rows each mode uses: min(n_m, p + k)."""
        return np.minimum(self.sizes, self.p + self.k)


def _frame(block: np.ndarray, dim: int) -> np.ndarray:
    """(dim × dim) coordinates of a block's columns in an orthonormal frame of their span:
    the R of its QR (diagonal ≥ 0), or its own rows (zero-padded) when it has < dim rows."""
    if block.shape[0] < dim:
        return np.vstack([block, np.zeros((dim - block.shape[0], dim))])
    r = np.linalg.qr(block, mode="r")
    return r * np.where(np.diag(r) < 0, -1.0, 1.0)[:, None]


def compress(net: Network, rtol: float) -> Compressed:
    """Group an explicit network's eigenvalues (relative tolerance δ = rtol; mode eigenvalue =
    mean of its members) and keep per mode only the frame coordinates of [W* W(0)]."""
    order = np.argsort(-net.lam, kind="stable")
    lam = net.lam[order]
    block = np.hstack([net.w_star, net.w0])[order]
    starts, sizes = group_modes(lam, rtol)
    dim = net.p + net.k
    coords = np.array([_frame(block[s:s + n], dim) for s, n in zip(starts, sizes)])
    lam_m = np.add.reduceat(lam, starts) / sizes
    return Compressed(lam_m, sizes, coords, net.a, net.a_star, net.student, net.teacher,
                      net.noise)


def bartlett_factor(n, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Upper-triangular X (…, dim, dim) with XᵀX ~ Wishart_dim(n, I) for each n ≥ dim
    (Bartlett: X_ii = √χ²(n − i), X_ij ~ N(0, 1) above the diagonal, independent)."""
    n = np.asarray(n, dtype=float)
    x = np.triu(rng.standard_normal(n.shape + (dim, dim)), 1)
    df = n[..., None] - np.arange(dim)
    x[..., np.arange(dim), np.arange(dim)] = np.sqrt(rng.chisquare(df))
    return x


def draw_compressed(lam_m, sizes, p: int, k: int, seed: int, student: str = "square",
                    teacher: Optional[str] = None, orthonormal_teacher: bool = False,
                    noise: float = 0.0) -> Compressed:
    """The law of draw_network's problem with only modes given: per mode the Gram of
    n_m i.i.d. N(0, I_{p+k}) rows ([W* W(0)] before normalising) by Bartlett (n_m ≥ p + k)
    or its n_m rows (n_m < p + k), then the column normalisations (global sums)."""
    rng = np.random.default_rng(seed)
    lam_m, sizes = np.asarray(lam_m, dtype=float), np.asarray(sizes)
    dim = p + k
    coords = np.zeros((lam_m.size, dim, dim))
    big = sizes >= dim
    coords[big] = bartlett_factor(sizes[big], dim, rng)
    for m in np.flatnonzero(~big):
        coords[m, :sizes[m]] = rng.standard_normal((sizes[m], dim))
    gram_diag = np.einsum("mij,mij->mj", coords, coords)
    coords[..., k:] /= np.sqrt(gram_diag[:, k:].sum(axis=0))
    if orthonormal_teacher:
        sstar = np.einsum("m,mia,mib->ab", lam_m, coords[..., :k], coords[..., :k])
        r = np.linalg.cholesky(sstar).T
        coords[..., :k] = np.linalg.solve(r.T, coords[..., :k].transpose(0, 2, 1)) \
            .transpose(0, 2, 1)
    else:
        coords[..., :k] /= np.sqrt(lam_m @ gram_diag[:, :k])
    return Compressed(lam_m, sizes, coords, np.full(p, 1.0 / p), np.full(k, 1.0 / k),
                      student, teacher or student, noise)


def virtual_network(c: Compressed) -> Network:
    """The compressed problem as an explicit one: min(n_m, p + k) virtual rows per mode, each
    with the mode's eigenvalue (the flow on them is exact: rows are linear given S, U)."""
    keep = np.concatenate([np.arange(r) + m * (c.p + c.k) for m, r in enumerate(c.rows())])
    rows = c.coords.reshape(-1, c.p + c.k)[keep]
    lam = np.repeat(c.lam, c.rows())
    return Network(lam, rows[:, :c.k].copy(), rows[:, c.k:].copy(), c.a, c.a_star,
                   c.student, c.teacher, c.noise)


def gram_flow(c: Compressed, times, rtol: float = 1e-11, atol: float = 1e-14):
    """The flow on the per-mode Gram blocks S_m = Σ_{i∈m} W_iᵀW_i, U_m = Σ_{i∈m} W_iᵀW*_i:

    Ṡ_m = λ_m (A S_m + S_m A + B U_mᵀ + U_m Bᵀ),  U̇_m = λ_m (A U_m + B S*_m),
    S = Σ_m λ_m S_m, U = Σ_m λ_m U_m (S*_m fixed), by DOP853. Returns S(t), U(t)
    ((T, p, p), (T, p, k))."""
    p, k, lam = c.p, c.k, c.lam
    g0 = np.einsum("mia,mib->mab", c.coords, c.coords)
    sstar_m = g0[:, :k, :k]
    sstar = np.einsum("m,mab->ab", lam, sstar_m)
    net = Network(lam, np.zeros((lam.size, k)), np.zeros((lam.size, p)), c.a, c.a_star,
                  c.student, c.teacher, c.noise)
    n_s = lam.size * p * p

    def rhs(_, y):
        sm = y[:n_s].reshape(-1, p, p)
        um = y[n_s:].reshape(-1, p, k)
        A, B = coefficients(net, np.einsum("m,mab->ab", lam, sm),
                            np.einsum("m,mab->ab", lam, um), sstar)
        bu = B @ um.transpose(0, 2, 1)
        ds = lam[:, None, None] * (A @ sm + sm @ A + bu + bu.transpose(0, 2, 1))
        du = lam[:, None, None] * (A @ um + B @ sstar_m)
        return np.concatenate([ds.ravel(), du.ravel()])

    y0 = np.concatenate([g0[:, k:, k:].ravel(), g0[:, k:, :k].ravel()])
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, method="DOP853",
                    t_eval=np.asarray(times, dtype=float), rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(sol.message)
    sm = sol.y[:n_s].T.reshape(len(times), -1, p, p)
    um = sol.y[n_s:].T.reshape(len(times), -1, p, k)
    return np.einsum("m,tmab->tab", lam, sm), np.einsum("m,tmab->tab", lam, um)


# --------------------------------------------------------------------------------------------
# Online SGD: the full loop, and the compressed chain
# --------------------------------------------------------------------------------------------

def _sample_gradient_factors(net_like, h, hs, rng: np.random.Generator):
    """Per-sample g_j = 2 (f − y) a_j σ'(h_j) from the student projections h (…, p) and the
    teacher's hs (…, k); y = Σ a*_l τ(hs_l) + ξ."""
    s0, s1, _ = link_functions(net_like.student)
    t0 = link_functions(net_like.teacher)[0]
    y = t0(hs) @ net_like.a_star
    if net_like.noise > 0:
        y = y + np.sqrt(net_like.noise) * rng.standard_normal(y.shape)
    f = s0(h) @ net_like.a
    return 2.0 * (f - y)[..., None] * net_like.a * s1(h)


def numpy_sgd(net: Network, lr: float, steps: int, record, seeds: int, batch: int = 1,
              seed: int = 0):
    """Online SGD from net.w0 for `seeds` independent sample streams at once:
    W ← W − (lr / B) Σ_b x_b g_bᵀ, x_b = √λ ⊙ z_b (p + k projections per sample); time
    t = step · lr. Returns S (R, T, p, p), U (R, T, p, k) at the `record` steps."""
    rng = np.random.default_rng(seed)
    root = np.sqrt(net.lam)
    w = np.broadcast_to(net.w0, (seeds,) + net.w0.shape).copy()
    rec = set(int(r) for r in record)
    out_s, out_u = [], []
    for step in range(steps + 1):
        if step in rec:
            qw = net.lam[:, None] * w
            out_s.append(np.einsum("rip,riq->rpq", w, qw))
            out_u.append(np.einsum("rip,il->rpl", qw, net.w_star))
        if step == steps:
            break
        x = rng.standard_normal((seeds, batch, net.d)) * root
        h = x @ w
        g = _sample_gradient_factors(net, h, x @ net.w_star, rng)
        w -= (lr / batch) * np.einsum("rbi,rbp->rip", x, g)
    return np.stack(out_s, axis=1), np.stack(out_u, axis=1)


def complement_factor(nu: np.ndarray, p: int, shape, rng: np.random.Generator):
    """Ξ (…, M, p, p) with ΞᵀΞ ~ Wishart_p(ν_m, I): Bartlett (upper, √χ²(ν − i) on the
    diagonal) for ν_m ≥ p; ν_m Gaussian rows for 0 < ν_m < p; zero for ν_m = 0."""
    z = rng.standard_normal(shape + (nu.size, p, p))
    idx = np.arange(p)
    bart = np.triu(z, 1)
    bart[..., idx, idx] = np.sqrt(rng.chisquare(np.maximum(nu[:, None] - idx, 1.0),
                                                size=shape + (nu.size, p)))
    small = z * (idx[:, None] < nu[:, None, None])
    return np.where((nu >= p)[:, None, None], bart, small)


def chain_sgd(c: Compressed, lr: float, steps: int, record, seeds: int, batch: int = 1,
              seed: int = 0):
    """The compressed online-SGD chain (networks page: The mode chain).

    State per mode: X_m, the coordinates of [W* W] in an orthonormal frame of their span.
    One step: α_{bm} ~ N(0, I) on the mode's r_m = min(n_m, p + k) frame rows;
    h_b = Σ_m √λ_m X_m,Wᵀ α_bm, h*_b likewise; X_m,W ← X_m,W − κ_m Σ_b α_bm g_bᵀ
    (κ_m = (lr/B) √λ_m); the part of the samples off the frame adds N_m with
    N_mᵀN_m ~ Wishart_p(n_m − r_m, κ_m² Σ_b g_b g_bᵀ), folded back into p + k rows by a QR
    of [X_m; 0 R_N] (R_N = κ_m Ξ Lᵀ, L Lᵀ = Σ_b g_b g_bᵀ). Exact in law.
    Returns S (R, T, p, p), U (R, T, p, k) at the `record` steps.
    """
    rng = np.random.default_rng(seed)
    p, k, dim = c.p, c.k, c.p + c.k
    mask = (np.arange(dim)[None, :] < c.rows()[:, None]).astype(float)   # (M, dim)
    nu = (c.sizes - c.rows()).astype(float)
    root = np.sqrt(c.lam)
    kappa = (lr / batch) * root
    x = np.broadcast_to(c.coords, (seeds,) + c.coords.shape).copy()    # (R, M, dim, dim)
    rec = set(int(r) for r in record)
    out_s, out_u = [], []
    for step in range(steps + 1):
        if step in rec:
            xw = x[..., k:]
            out_s.append(np.einsum("m,rmip,rmiq->rpq", c.lam, xw, xw))
            out_u.append(np.einsum("m,rmip,rmil->rpl", c.lam, xw, x[..., :k]))
        if step == steps:
            break
        alpha = rng.standard_normal((seeds, batch) + mask.shape) * mask
        proj = np.einsum("rbmi,m,rmic->rbc", alpha, root, x)
        g = _sample_gradient_factors(c, proj[..., k:], proj[..., :k], rng)
        x[..., k:] -= np.einsum("m,rbmi,rbp->rmip", kappa, alpha, g)
        ev, evec = np.linalg.eigh(np.einsum("rbp,rbq->rpq", g, g))
        ell = evec * np.sqrt(np.maximum(ev, 0.0))[:, None, :]                 # L Lᵀ = Σ g gᵀ
        xi = complement_factor(nu, p, (seeds,), rng)
        r_n = kappa[:, None, None] * np.einsum("rmab,rcb->rmac", xi, ell)    # κ Ξ Lᵀ
        stacked = np.concatenate([x, np.concatenate(
            [np.zeros(r_n.shape[:-1] + (k,)), r_n], axis=-1)], axis=-2)
        r = np.linalg.qr(stacked, mode="r")
        r = r * np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)[..., None]
        x = np.where((nu > 0)[None, :, None, None], r, x)
    return np.stack(out_s, axis=1), np.stack(out_u, axis=1)


# --------------------------------------------------------------------------------------------
# The quadratic network's small-start escape
# --------------------------------------------------------------------------------------------

def quadratic_escape(net: Network, delta: float = 0.1) -> Dict[str, np.ndarray]:
    """Escape of the quadratic network from a small start (networks page: Escape).

    Linearised at W = 0 (A → 4 s̄* D_a, s̄* = Σ_l a*_l S*_ll; B = 8 D_a U D_a* is already
    linear), each unit is independent: ẇ_j = a_j (4 s̄* Q + 8 Q W* D_a* W*ᵀ Q) w_j. With
    c_i = 4 s̄* a_j λ_i, u_j = W*ᵀQ w_j (a k-vector) has the Laplace transform
    M_j(ρ) û_j = â_j(ρ), M_j(ρ) = I − 8 a_j R_j(ρ) D_a*, R_j(ρ) = Σ_i λ_i² W*_iᵀW*_i/(ρ − c_i),
    â_j(ρ) = Σ_i λ_i W*_iᵀ w_ij(0)/(ρ − c_i). The rate ρ_j is the largest root of
    det M_j(ρ) = 0 (above max_i c_i); u_j(t) ≈ C_j e^{ρ_j t} with
    C_j = v (yᵀ â_j(ρ_j)) / (yᵀ M_j'(ρ_j) v), v, y the right/left null vectors of M_j(ρ_j),
    M_j' = 8 a_j Σ_i λ_i² W*_iᵀW*_i D_a* / (ρ − c_i)². T1_j = log(δ / max_l |C_jl|) / ρ_j.
    Returns rate (p,), prefactor (p, k), T1 (p,).
    """
    lam, ws, b = net.lam, net.w_star, net.a_star
    sbar = b @ np.einsum("i,il->l", lam, ws ** 2)
    outer = np.einsum("i,ia,ib->iab", lam ** 2, ws, ws)
    rate, pref = np.empty(net.p), np.empty((net.p, net.k))
    for j, aj in enumerate(net.a):
        rate[j], pref[j] = _unit_escape(lam, ws, b, outer, 4 * sbar * aj * lam, aj,
                                        net.w0[:, j])
    return {"rate": rate, "prefactor": pref,
            "T1": np.log(delta / np.abs(pref).max(axis=1)) / rate}


def _unit_escape(lam, ws, b, outer, ci, aj, w0j):
    """(ρ_j, C_j) of one unit: the largest root of 8 a_j μ_max(D^{1/2} R_j(ρ) D^{1/2}) = 1
    (μ_max decreases from +∞ to 0 above max c_i), then the residue at it."""
    half = np.sqrt(b)

    def top(rho):
        kmat = half[:, None] * np.einsum("iab,i->ab", outer, 1 / (rho - ci)) * half
        ev, evec = np.linalg.eigh(kmat)
        return ev[-1], evec[:, -1]

    lo = ci.max() * (1 + 1e-15) + 1e-300
    hi = ci.max() + 8 * aj * b.max() * np.einsum("iaa->", outer) + 1e-12
    rho = brentq(lambda r: 8 * aj * top(r)[0] - 1.0, lo, hi, xtol=1e-300, rtol=1e-15)
    q = top(rho)[1]
    v, y = q / half, q * half
    dm = 8 * aj * np.einsum("iab,i->ab", outer, 1 / (rho - ci) ** 2) * b[None, :]
    ahat = np.einsum("i,il,i->l", lam, ws, w0j / (rho - ci))
    return rho, v * (y @ ahat) / (y @ dm @ v)
