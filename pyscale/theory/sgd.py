"""Online SGD near the minimum: the noise floor, the stable step and an SGD Phase III law
(model page: SGD floor).

Near w*, with e = w − w*, q = x·w*, r = x·e and x ~ N(0, Q), the per-sample gradient
4((x·w)² − y)(x·w) x is, to first order in e,

    g = A e + c,   A = 4 (2 q² − ξ) x xᵀ,   c = −4 ξ q x,

with E[A] = H = 8 (s* Q + 2 v vᵀ), v = Q w*, and E[c cᵀ] = 2 σ² H. One step of batch B,
e ← (I − η Ā) e − η c̄, moves the second moment S = E[e eᵀ] exactly by

    S ← S − η (H S + S H) + η² K(S) + (η²/B) 2σ² H,
    K(S) = (1 − 1/B) H S H + (16/B) E[(4 q⁴ + σ²) (xᵀ S x) x xᵀ].

The Gaussian expectation is a closed formula in Q, v and S (Wick's theorem with x split
into its part along v, which carries q, and an independent part of covariance
P = Q − v vᵀ/s*; see :func:`wick_fourth`). Its fixed point is S = (η σ²/B) I to first
order in η (the OU floor), and the O(η) relative correction is

    tr S / d = (η σ²/B) [1 + η c₁ + O(η²)],   c₁ = tr(H⁻¹ K(I)) / (2 d),

exact, O(d) by Sherman–Morrison (H⁻¹ = (Q⁻¹ − (2/3s*) w* w*ᵀ) / (8 s*)). At the paper's step
the series converges slowly (η c₁ ≈ 0.26 isotropic, larger for steep spectra, where the top
direction feeds the multiplicative noise back into itself), so the floor resums it: S is
projected on matrices D diagonal in an eigenbasis of Q (below), which closes the recursion
through two scalars α_v = Σ v_i² D_i and α_λ = Σ λ_i D_i (a 2 × 2 linear system), and the
exact c₁ is restored on top. The largest stable step is the linearised chain's exact
mean-square bound or a certified closure below it (:mod:`.stability`); the diagonal closure's
own threshold lies above the exact bound (it drops the off-diagonal part of S along v) and is
not used as one.

The nonlinear terms of the gradient (3 q r², r³) shift the mean of e by O(η σ²/B) and
change the floor by a relative O(η σ²/B) (the size of r² = eᵀ Q e): not kept; the mean
shift is reported as :attr:`SgdFloor.mean_shift_mse`.

The basis of the closure (compressed problems, repeated eigenvalues). The data are invariant
under rotations within an eigenspace of Q, so the recursion may be written in any
orthonormal basis of eigenvectors. The closure uses the one adapted to w*: per eigenspace
(n physical coordinates with one λ, target block norm r;
:func:`pyscale.model.compression.eigenspaces`) the direction ŵ = W*/r (v² = λ² r², weight 1)
and its complement (v = 0, n − 1 directions that share one D by symmetry). The sums become
weighted sums over these *direction classes* (:func:`direction_classes`), O(number of
eigenspaces), so a compressed problem (each mode stored as (r, 0), the error as
(c1 ∓ r, c2)) and its physical original give the same numbers, and isotropic d = 10^12
takes milliseconds. With distinct eigenvalues every class is one coordinate (the coordinate
closure, bit for bit); for Q = λ I (one eigenspace) the exact fixed point S = α I + β ŵŵᵀ
is diagonal in this basis and the closure is exact. c₁ is a trace:
basis-independent. Derivation and checks: docs/theory_sgd.md, section 2b.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.problem import Problem
from .recursion import (
    DirectionClasses,
    checked_batch,
    checked_problem,
    direction_classes,
    gaussian_moments,
    noise_of,
    positive,
    wick_fourth,
)
from .regime import Regime
from .stability import max_stable_lr, stable_step
from .tail import aligned_error, shaped_like, tau_values
from .validity import sgd_floor_regime, sgd_tail_regime

__all__ = ["SgdFloor", "sgd_floor", "max_stable_lr", "sgd_relaxation_rates", "sgd_tail_mse",
           "linear_coefficient", "wick_fourth", "gaussian_moments", "DirectionClasses",
           "direction_classes"]


@dataclass(frozen=True)
class _Closure:
    """The diagonal projection of the second-moment recursion, per direction class:
    diag K(D) = k ∘ D + β α_v + γ α_λ, diag H = h, α_v = Σ w v² D, α_λ = Σ w λ D with the
    class weights w (model page: SGD floor)."""
    lam: np.ndarray
    v2: np.ndarray
    weight: np.ndarray
    wv2: np.ndarray
    wlam: np.ndarray
    h: np.ndarray
    k: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray


def _closure(problem: Problem, batch: int, sigma2: float,
             classes: DirectionClasses | None = None) -> _Closure:
    """Coefficients of diag K(D) for D diagonal in the adapted basis, per direction class:
    the diagonals of H D H and of the Wick formula (:func:`wick_fourth`) with S = D, split
    into the part local to the direction and the parts carried by α_v and α_λ. O(classes)."""
    cl = direction_classes(problem) if classes is None else classes
    lam, v2 = cl.lam, cl.v2
    s = problem.s_star
    p = lam - v2 / s                      # diag P
    m0, m2, m4 = gaussian_moments(s, sigma2)
    gd, mult = 1.0 - 1.0 / batch, 16.0 / batch
    h = 8.0 * (s * lam + 2.0 * v2)
    k = (gd * 64.0 * (s * s * lam * lam + 4.0 * s * lam * v2)
         + mult * (4.0 * m2 / s ** 2 * v2 * lam + 2.0 * m0 * (lam * lam - 2.0 * lam * v2 / s)))
    beta = (gd * 256.0 * v2
            + mult * (m4 / s ** 4 * v2 + m2 / s ** 2 * (p - 5.0 * v2 / s)
                      + m0 * (2.0 * v2 / s ** 2 - p / s)))
    gamma = mult * (m2 / s ** 2 * v2 + m0 * p)
    return _Closure(lam=lam, v2=v2, weight=cl.weight, wv2=cl.weight * v2,
                    wlam=cl.weight * lam, h=h, k=k, beta=beta, gamma=gamma)


def _fixed_point(c: _Closure, lr: float, batch: int, sigma2: float):
    """Stationary diagonal D of the closed recursion, or None where it does not contract.

    Stationarity: (2 h_i − η k_i) D_i = (2 η σ²/B) h_i + η (β_i α_v + γ_i α_λ); with
    D_i = f_i + g^β_i α_v + g^γ_i α_λ the two sums close into (I − M) α = b."""
    den = 2.0 * c.h - lr * c.k
    flip = 2.0 - 2.0 * lr * c.h + lr * lr * c.k          # 1 + ρ_i, ρ_i the per-step factor
    if np.any(den <= 0) or np.any(flip <= 0):
        return None
    f = 2.0 * lr * sigma2 / batch * c.h / den
    gb, gg = lr * c.beta / den, lr * c.gamma / den
    M = np.array([[c.wv2 @ gb, c.wv2 @ gg], [c.wlam @ gb, c.wlam @ gg]])
    if np.max(np.abs(np.linalg.eigvals(M))) >= 1.0:
        return None
    alpha = np.linalg.solve(np.eye(2) - M, np.array([c.wv2 @ f, c.wlam @ f]))
    return f + gb * alpha[0] + gg * alpha[1]


def linear_coefficient(problem: Problem, batch: int = 1, noise: float | None = None
                       ) -> float:
    """c₁ in tr S / d = (η σ²/B)(1 + η c₁ + O(η²)): the exact O(lr) relative correction of
    the linearised chain (model page: SGD floor).

    c₁ = tr(H⁻¹ K(I)) / (2d) = [(1 − 1/B) tr H + (16/B) tr(H⁻¹ W(I))] / (2d), with
    W(I) the Wick formula at S = I and H⁻¹ = (Q⁻¹ − (2/(3 s*)) w* w*ᵀ)/(8 s*)
    (Sherman–Morrison; Q⁻¹ v = w*, vᵀ Q⁻¹ v = s*, P w* = 0). A trace, so it is summed in
    any eigenbasis: over the direction classes with their weights, O(classes)."""
    problem = checked_problem(problem)
    batch = checked_batch(batch)
    sigma2 = noise_of(problem, noise)
    cl = direction_classes(problem)
    lam, v2, wt, s = cl.lam, cl.v2, cl.weight, problem.s_star
    nv = float(np.sum(wt * v2))
    tr_q = float(np.sum(wt * lam))
    tr_p = tr_q - nv / s
    p = lam - v2 / s
    m0, m2, m4 = gaussian_moments(s, sigma2)
    vpv = lam * v2 - v2 * nv / s                        # v_i (P v)_i
    p2 = lam * lam - 2.0 * lam * v2 / s + nv * v2 / s ** 2
    w_diag = (m4 / s ** 4 * nv * v2 + m2 / s ** 2 * (nv * p + tr_p * v2 + 4.0 * vpv)
              + m0 * (tr_p * p + 2.0 * p2))
    w_star_form = m4 * nv / s ** 2 + m2 * tr_p          # w*ᵀ W(I) w*
    tr_hinv_w = (float(np.sum(wt * (w_diag / lam))) - 2.0 / (3.0 * s) * w_star_form) / (8.0 * s)
    tr_h = 8.0 * (s * tr_q + 2.0 * nv)
    return ((1.0 - 1.0 / batch) * tr_h + 16.0 / batch * tr_hinv_w) / (2.0 * problem.d)


def _closure_coefficient(c: _Closure, d: int) -> float:
    """The closure's own O(η) coefficient, (1/d) Σ_classes w diag K(I) / (2 h)."""
    diag_k = c.k + c.beta * float(c.wv2.sum()) + c.gamma * float(c.wlam.sum())
    return float(np.sum(c.weight * (diag_k / (2.0 * c.h)))) / d


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SgdFloor:
    """The stationary E[MSE] of online SGD near w* (model page: SGD floor).

    floor: the prediction (diagonal closure, resummed, with the exact O(lr) term);
    first_order: η σ²/B (the OU floor); correction: floor − first_order;
    relative_correction: correction / first_order; linear_coefficient: c₁, so that
    floor = first_order (1 + η c₁ + O(η²)); linear_floor: first_order (1 + η c₁);
    max_stable_lr: the largest lr at which the linearised chain's second moment still
    contracts, safe (:func:`pyscale.theory.stable_step`: exact up to 64 directions ŵ, the
    certified closure at or below it beyond);
    stable: lr < max_stable_lr (otherwise floor, per_direction and per_class are inf);
    per_direction: stationary E[e_i²] per stored coordinate (length n_coords; physical
    problem: per coordinate; compressed: E[(c1 ∓ r)²] on a mode's first stored coordinate
    and the complement's total E[c2²] = (n − 1) D_⊥ on its second, or on its only one),
    so floor = Σ per_direction / d (:meth:`DirectionClasses.to_stored`);
    per_class: stationary E[e²] per direction of each class (:func:`direction_classes`);
    mean_shift_mse: |E e|²/d from the nonlinear gradient terms (not in floor: its relative
    size is O(lr σ²/B));
    regime: where the floor holds (:func:`pyscale.theory.validity.sgd_floor_regime`): refused
    (floor = inf) at or above the stable step, outside its window above 0.6 of it.
    """
    lr: float
    batch: int
    noise: float
    floor: float
    first_order: float
    correction: float
    relative_correction: float
    linear_coefficient: float
    linear_floor: float
    max_stable_lr: float
    stable: bool
    per_direction: np.ndarray
    mean_shift_mse: float
    per_class: np.ndarray
    regime: Regime

    def __repr__(self) -> str:
        return (f"SgdFloor(lr={self.lr:g}, batch={self.batch}, noise={self.noise:g}, "
                f"floor={self.floor:.6g}, first_order={self.first_order:.6g}, "
                f"relative_correction={self.relative_correction:.4g}, "
                f"max_stable_lr={self.max_stable_lr:.6g})")


def _mean_shift_mse(problem: Problem, alpha: float) -> float:
    """|E e|²/d with E e = −H⁻¹ · 12 (tr(QS) v + 2 Q S v) at S = α I: the mean shift from
    the gradient's 3 q r² term, −(α/s*)[(tr Q/2) w* + 3 v − 2 (|v|²/s*) w*] (in the span
    of w* and v, so the stored coordinates give its norm; tr Q = Σ counts λ)."""
    lam, ws, s = problem.eigenvalues, problem.w_star, problem.s_star
    v = lam * ws
    tr_q = float(np.sum(problem.counts * lam))
    shift = -(alpha / s) * ((0.5 * tr_q - 2.0 * (v @ v) / s) * ws + 3.0 * v)
    return float(shift @ shift) / problem.d


def _floor(problem: Problem, lr: float, batch: int, sigma2: float, cl: DirectionClasses
           ) -> tuple[SgdFloor, _Closure]:
    c = _closure(problem, batch, sigma2, cl)
    bound = stable_step(problem, batch, sigma2).lr
    first = lr * sigma2 / batch
    c1 = linear_coefficient(problem, batch, sigma2)
    regime = sgd_floor_regime(lr, bound)
    diag = _fixed_point(c, lr, batch, sigma2) if lr < bound else None
    if diag is None:
        inf = np.full(problem.n_coords, np.inf)
        return SgdFloor(lr, batch, sigma2, math.inf, first, math.inf, math.inf, c1,
                        first * (1 + lr * c1), bound, False, inf, math.nan,
                        np.full(cl.lam.size, np.inf), regime), c
    per_class = diag + first * lr * (c1 - _closure_coefficient(c, problem.d))
    floor = float(np.sum(c.weight * per_class)) / problem.d
    rel = (floor - first) / first if first > 0 else 0.0
    return SgdFloor(lr, batch, sigma2, floor, first, floor - first, rel, c1,
                    first * (1 + lr * c1), bound, True, cl.to_stored(per_class),
                    _mean_shift_mse(problem, first), per_class, regime), c


def sgd_floor(problem: Problem, lr: float, batch: int = 1, noise: float | None = None
              ) -> SgdFloor:
    """Stationary E[MSE] of online SGD near w* at step ``lr`` and batch ``batch``
    (model page: SGD floor); ``noise`` overrides ``problem.noise`` (σ²).

    floor = (1/d) Σ_classes w D + (η σ²/B) η (c₁ − c₁ᴰ): D the stationary point of the
    diagonally closed recursion in the basis adapted to w* (a 2 × 2 system, all orders in
    η; w the class weights, :func:`direction_classes`), c₁ the exact O(lr) coefficient
    (:func:`linear_coefficient`) and c₁ᴰ the closure's own, so that floor is exact to O(lr)
    relative and resummed beyond. Units: MSE = ||w ∓ w*||²/d. O(number of eigenspaces):
    compressed problems at any d. At or above the largest stable step the floor is refused
    (``stable`` False, ``floor`` inf, ``regime`` says why); above 0.6 of it the result
    warns that the closure is outside its measured window."""
    problem = checked_problem(problem)
    lr = positive("lr", lr)
    batch = checked_batch(batch)
    sigma2 = noise_of(problem, noise)
    fl = _floor(problem, lr, batch, sigma2, direction_classes(problem))[0]
    if not fl.regime.refused:           # refused: stable is False and the floor inf
        fl.regime.enforce()
    return fl


def sgd_relaxation_rates(problem: Problem, lr: float, batch: int = 1,
                         noise: float | None = None) -> np.ndarray:
    """κ_i = −ln ρ_i / η per unit time t = step · lr, ρ_i = 1 − 2η h_i + η² k_i the
    per-step factor of E[e²] in direction class i (:func:`direction_classes`: one per
    coordinate, in stored order, where the eigenvalues are distinct) (model page: SGD
    floor); κ_i → 16 (s* λ_i + 2 v_i²) as lr → 0 (16 s* λ_i for the tail and for every
    complement class, v = Q w*). noise enters k_i through m0, m2."""
    problem = checked_problem(problem)
    lr = positive("lr", lr)
    batch = checked_batch(batch)
    c = _closure(problem, batch, noise_of(problem, noise))
    rho = 1.0 - 2.0 * lr * c.h + lr * lr * c.k
    return -np.log(np.abs(rho)) / lr


def _closure_path(c: _Closure, D0: np.ndarray, fl: SgdFloor, taus: np.ndarray) -> np.ndarray:
    """E[e²](τ) per class of the closed recursion from D0, on the sorted grid ``taus``
    refined by a geometric grid (64 points per decade from one step): between grid points
    the scalars α_v, α_λ are taken as the mean of their two ends (one predictor–corrector
    pass), and each class is advanced exactly, D ← ρ^n D + (1 − ρ^n)/(1 − ρ) η² src over
    n steps."""
    lr, batch, sigma2 = fl.lr, fl.batch, fl.noise
    rho = 1.0 - 2.0 * lr * c.h + lr * lr * c.k
    # the exact O(lr) fix of the floor, spread evenly (see sgd_floor), as a constant source
    fix = fl.per_class - _fixed_point(c, lr, batch, sigma2)
    base = lr * lr * 2.0 * sigma2 / batch * c.h + (1.0 - rho) * fix

    def source(D):
        return base + lr * lr * (c.beta * (c.wv2 @ D) + c.gamma * (c.wlam @ D))

    t_max = float(taus.max()) if taus.size else 0.0
    grid = np.array([0.0])
    if t_max > 0:
        n = max(2, int(64 * math.log10(max(t_max / lr, 10.0))))
        grid = np.unique(np.concatenate([[0.0], np.geomspace(lr, t_max, n), taus]))
    out = np.empty((grid.size, D0.size))
    D = out[0] = D0
    for j in range(1, grid.size):
        n_steps = (grid[j] - grid[j - 1]) / lr
        decay = rho ** n_steps
        # (1 − ρⁿ)/(1 − ρ), and n where ρ = 1 to rounding (divided only where it is defined)
        gain = np.divide(1.0 - decay, 1.0 - rho, out=np.full(rho.shape, n_steps),
                         where=np.abs(1.0 - rho) > 1e-300)
        src0 = source(D)
        guess = decay * D + gain * src0
        D = out[j] = decay * D + gain * 0.5 * (src0 + source(guess))
    return out[np.searchsorted(grid, taus)]


def sgd_tail_mse(problem: Problem, tau, w_at_T2, lr: float, batch: int = 1,
                 noise: float | None = None, coupled: bool = True):
    """E MSE(T2 + τ) under online SGD from the state w(T2) (model page: SGD floor);
    ``w_at_T2`` is a stored vector (length ``problem.n_coords``, as a trajectory's ``w``).

    ``coupled=False``: the closed form, class by class (:func:`direction_classes`),

        (1/d) Σ_i w_i [E_i e^{−κ_i τ} + F_i (1 − e^{−κ_i τ})],

    e = w(T2) ∓ w*, E_i its per-direction square in class i (:meth:`DirectionClasses.
    from_error`: (ŵ·e)² along ŵ, the complement's |e|² − (ŵ·e)² over n − 1; physical,
    distinct eigenvalues: e_i²), κ_i from :func:`sgd_relaxation_rates`, F_i the per-class
    floor of :func:`sgd_floor`: as lr → 0 it is MSE(T2) Ŝ_d(τ) + floor · (1 − S_d(τ)),
    with the Phase III rates 16 s* λ_i in the tail. ``coupled=True`` (default) also keeps
    the multiplicative noise that the remaining error injects while it decays (every
    direction receives η² γ_i eᵀQe per step, eᵀQe ≫ its stationary value early in
    Phase III): the closed recursion of :func:`sgd_floor` integrated from D = E, O(classes)
    per grid point.

    Its regime (:func:`pyscale.theory.validity.sgd_tail_regime`): refused
    (:class:`~pyscale.theory.regime.RegimeError`, a ValueError) at lr >= max_stable_lr;
    outside its measured window (a :class:`~pyscale.theory.regime.RegimeWarning`) when lr
    exceeds 0.6 of the bound, or when w(T2) is not near the minimum or not on the plateau
    (the coupling the frozen rates drop; docs/theory_sgd.md, section 4)."""
    problem = checked_problem(problem)
    lr = positive("lr", lr)
    batch = checked_batch(batch)
    cl = direction_classes(problem)
    fl, c = _floor(problem, lr, batch, noise_of(problem, noise), cl)
    e_stored = aligned_error(problem, w_at_T2)
    sgd_tail_regime(problem, w_at_T2, lr, fl.max_stable_lr).enforce()
    e0 = cl.from_error(e_stored)
    taus = tau_values(tau)
    if coupled:
        order = np.argsort(taus, kind="stable")
        path = _closure_path(c, e0, fl, taus[order])
        out = np.empty(taus.size)
        out[order] = (path * c.weight).sum(axis=1) / problem.d
        return shaped_like(out, tau)
    rho = 1.0 - 2.0 * lr * c.h + lr * lr * c.k
    decay = np.exp(np.outer(taus, np.log(np.abs(rho)) / lr))     # e^{−κ τ}, (n_tau, c)
    out = (decay @ (c.weight * e0) + (1.0 - decay) @ (c.weight * fl.per_class)) / problem.d
    return shaped_like(out, tau)
