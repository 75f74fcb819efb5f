"""The linearised online-SGD chain near w* and its second-moment recursion: what the SGD
floor, the SGD Phase III law and the stability bound share (model page: SGD floor).

Near w*, with e = w − w*, q = x·w* and x ~ N(0, Q), the per-sample gradient is, to first
order in e, g = A e + c with A = 4 (2 q² − ξ) x xᵀ and c = −4 ξ q x; E[A] = H =
8 (s* Q + 2 v vᵀ), v = Q w*. One step of batch B moves S = E[e eᵀ] exactly by

    S ← S − η (H S + S H) + η² K(S) + (η²/B) 2σ² H,
    K(S) = (1 − 1/B) H S H + (16/B) W(S),   W(S) = E[(4 q⁴ + σ²)(xᵀ S x) x xᵀ].

This module holds the pieces: the Gaussian weights m_k (:func:`gaussian_moments`), the
closed Wick formula for W (:func:`wick_fourth`), the direction classes of the basis adapted
to w* (:func:`direction_classes`) and the input checks. Derivations: docs/theory_sgd.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.compression import Eigenspaces, eigenspaces
from ..model.network import require_single_index
from ..model.problem import Problem

__all__ = ["gaussian_moments", "wick_fourth", "DirectionClasses", "direction_classes",
           "checked_problem", "checked_batch", "noise_of", "positive", "inputs"]


# ---------------------------------------------------------------------------- validation
def checked_problem(problem: Problem) -> Problem:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    require_single_index("the SGD theory (step-size bound, floor, Phase III law)", problem)
    return problem


def positive(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return x


def checked_batch(batch) -> int:
    try:
        ok = not isinstance(batch, bool) and float(batch).is_integer() and int(batch) >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    return int(batch)


def noise_of(problem: Problem, noise) -> float:
    if noise is None:
        return float(problem.noise)
    return positive("noise", noise, allow_zero=True)


# ---------------------------------------------------------------------------- Gaussian algebra
def gaussian_moments(s_star: float, sigma2: float):
    """m_k = E[(4 q⁴ + σ²) q^k] for q ~ N(0, s*), k = 0, 2, 4: the weights of the
    multiplicative noise (model page: SGD floor). Returns (m0, m2, m4)."""
    s = float(s_star)
    return (12.0 * s ** 2 + sigma2, 60.0 * s ** 3 + sigma2 * s,
            420.0 * s ** 4 + 3.0 * sigma2 * s ** 2)


def wick_fourth(eigenvalues, w_star, S, sigma2: float) -> np.ndarray:
    """E[(4 q⁴ + σ²) (xᵀ S x) x xᵀ] for x ~ N(0, diag(λ)), q = x·w*, a dense (d, d) S
    (model page: SGD floor). With v = Q w*, P = Q − v vᵀ/s*, m_k from
    :func:`gaussian_moments`:

        (m4/s*⁴)(vᵀSv) v vᵀ + (m2/s*²)[(vᵀSv) P + tr(SP) v vᵀ + 2 (v (PSv)ᵀ + (PSv) vᵀ)]
        + m0 [tr(SP) P + 2 P S P].

    O(d³): the dense reference for the O(d) closure and for tests."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    ws = np.asarray(w_star, dtype=np.float64)
    s = float(lam @ (ws * ws))
    v = lam * ws
    P = np.diag(lam) - np.outer(v, v) / s
    m0, m2, m4 = gaussian_moments(s, sigma2)
    vSv = float(v @ S @ v)
    trSP = float(np.sum(S * P))
    PSv = P @ (S @ v)
    vv = np.outer(v, v)
    return (m4 / s ** 4 * vSv * vv
            + m2 / s ** 2 * (vSv * P + trSP * vv + 2.0 * (np.outer(v, PSv) + np.outer(PSv, v)))
            + m0 * (trSP * P + 2.0 * P @ S @ P))


# ---------------------------------------------------------------------------- direction classes
@dataclass(frozen=True)
class DirectionClasses:
    """The directions of the closure's basis, grouped into classes of equal D (model page:
    SGD floor; module docstring): per eigenspace k of Q (``spaces``), the class along
    ŵ_k = W*_k/r_k (v² = λ² r², weight 1) and, where n_k ≥ 2, right after it the class of
    its n_k − 1 complement directions (v = 0, weight n_k − 1). With distinct eigenvalues the
    classes are the coordinates, in stored order.

    lam, v2, weight : (c,) per class; space : (c,) its eigenspace; across : (c,) True for a
    complement class; along_index : (m,) the class along ŵ of each eigenspace."""
    lam: np.ndarray
    v2: np.ndarray
    weight: np.ndarray
    space: np.ndarray
    across: np.ndarray
    along_index: np.ndarray
    spaces: Eigenspaces

    def from_error(self, e: np.ndarray) -> np.ndarray:
        """(c,) per-direction E[e²] of each class from a stored error vector e: (ŵ·e)² along
        ŵ, (Σ e² − (ŵ·e)²)/(n − 1) in the complement (the complement's mean: the recursion
        is linear and rotation invariant there, so only its total matters)."""
        along = self.spaces.along(e)
        rest = np.maximum(self.spaces.energy(e) - along * along, 0.0)
        out = np.empty(self.lam.size)
        out[self.along_index] = along * along
        cross = np.flatnonzero(self.across)
        out[cross] = rest[self.space[cross]] / self.weight[cross]
        return out

    def to_stored(self, D: np.ndarray) -> np.ndarray:
        """(n_coords,) per stored coordinate i of eigenspace k: D_ŵ ŵ_i² + D_⊥ a_i, where the
        complement's n − 1 directions are spread over the stored coordinates in proportion to
        their share 1 − ŵ_i² of it, a_i = (1 − ŵ_i²)(n − 1)/(n_stored − 1) (all n − 1 on the
        single coordinate of a mode stored in one). Physical problem: E[e_i²] per coordinate;
        compressed: E[(c1 ∓ r)²] on a mode's first stored coordinate, E[c2²] on its second."""
        sp = self.spaces
        along = D[self.along_index]
        across = np.zeros(sp.size)
        cross = np.flatnonzero(self.across)
        across[self.space[cross]] = D[cross]
        u2 = sp.direction * sp.direction
        n, k = sp.count[sp.index], sp.n_stored[sp.index]
        share = np.where(k > 1, (1.0 - u2) * (n - 1.0) / np.maximum(k - 1.0, 1.0), n - 1.0)
        return along[sp.index] * u2 + across[sp.index] * share


def direction_classes(problem: Problem) -> DirectionClasses:
    """The closure's direction classes of ``problem`` (:class:`DirectionClasses`), from the
    eigenspaces of its stored coordinates (:func:`pyscale.model.compression.eigenspaces`).
    O(number of eigenspaces) after the grouping. Raises ValueError where an eigenspace has
    more stored coordinates than physical ones (they cannot be an isometric image)."""
    sp = eigenspaces(problem.eigenvalues, problem.w_star, problem.counts)
    if np.any(sp.n_stored > sp.count):
        k = int(np.flatnonzero(sp.n_stored > sp.count)[0])
        raise ValueError(f"the eigenvalue {sp.lam[k]:.6g} has {int(sp.n_stored[k])} stored "
                         f"coordinates for {int(sp.count[k])} physical ones")
    width = np.where(sp.count >= 2, 2, 1)
    along_index = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(np.int64)
    space = np.repeat(np.arange(sp.size), width)
    across = np.ones(space.size, dtype=bool)
    across[along_index] = False
    v_along = sp.lam * sp.r
    v2 = np.zeros(space.size)
    v2[along_index] = v_along * v_along
    weight = np.where(across, sp.count[space] - 1.0, 1.0)
    return DirectionClasses(lam=sp.lam[space], v2=v2, weight=weight, space=space,
                            across=across, along_index=along_index, spaces=sp)


def inputs(problem: Problem, batch, noise) -> tuple[Problem, int, float]:
    """(problem, batch, σ²) checked: a Problem, an integer batch >= 1, and σ² (``noise``,
    default ``problem.noise``) finite and >= 0."""
    problem = checked_problem(problem)
    return problem, checked_batch(batch), noise_of(problem, noise)
