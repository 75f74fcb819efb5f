"""The flow's dense output: the record fields anywhere inside its accepted steps.

Inside a step from ``t0`` to ``t0 + h`` (θ = (t − t0)/h ∈ [0, 1]) the integrator's state is
``w(θ) = Σ_k b_k(θ) v_k`` with ``b = (1 − θ, θ, θ(1 − θ), θ²(1 − θ))`` and ``v = (y, y_new,
c2, c3)`` (RODAS4's continuous extension of order 3, or the cubic Hermite interpolant for
ROS4; model page: Gradient flow). The core stores, per step, the inner products of the
``v_k`` that the record fields need (one row of ``FLOW_DENSE_WIDTH`` doubles), so that

    u(θ) = Σ_k b_k U_k                 (a cubic in θ),
    s(θ) = Σ_jk b_j b_k S_jk           (a polynomial of degree 6),

and likewise s^(2), u^(2) and ||w ∓ w*||² (hence the MSE). The loss is ℓ(s(θ), u(θ)) + σ²
for the run's link pair (links page: Engines): a polynomial in θ when the pair's links are
polynomials (the square: degree 12), and otherwise (abs, relu, erf, tanh, user links) the
pair's ℓ evaluated at the interpolated s and u — exact in the same sense, but not a
polynomial. The cosine u/√(s s*) is never one. This module evaluates these fields and finds
the roots of the polynomial ones exactly (companion-matrix roots, polished by Newton's
method), so that stopping times and events do not depend on the record grid.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..model.links import LinkPair
from .columns import no_mse_message

__all__ = ["DenseOutput", "POLYNOMIAL_FIELDS", "roots_in_unit_interval"]

# Row layout (the core's DenseField enum).
_T0, _H, _S, _U, _S2, _U2, _MINUS, _PLUS, _WIDTH = 0, 1, 2, 12, 16, 26, 30, 40, 50
_PACKED = [(j, k) for j in range(4) for k in range(j, 4)]
# Monomial coefficients (θ^0..θ^3) of the basis b_k.
_BASIS = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                   [0.0, 1.0, -1.0, 0.0], [0.0, 0.0, 1.0, -1.0]])


def _quadratic_monomials() -> np.ndarray:
    """(10, 7): monomial coefficients of (2 − δ_jk) b_j b_k for the packed pairs (j, k)."""
    out = np.zeros((len(_PACKED), 7))
    for p, (j, k) in enumerate(_PACKED):
        out[p] = (1.0 if j == k else 2.0) * np.convolve(_BASIS[j], _BASIS[k])
    return out


_QUAD = _quadratic_monomials()

#: Fields whose value along a step is a polynomial in θ for every link pair (located by exact
#: root finding); ``loss`` and ``excess_risk`` are too for polynomial pairs
#: (:meth:`DenseOutput.is_polynomial`).
POLYNOMIAL_FIELDS = ("s", "u", "s2", "u2")


def roots_in_unit_interval(coef: np.ndarray, slack: float = 1e-12) -> np.ndarray:
    """Real roots in [0, 1] of the polynomial Σ_k coef[k] θ^k, sorted.

    Companion-matrix roots, kept when within ``slack`` of the real axis and of [0, 1]
    (relative to the root's size), then polished by two Newton steps.
    """
    c = np.asarray(coef, dtype=float)
    nz = np.flatnonzero(c != 0.0)
    if nz.size == 0:
        return np.zeros(0)
    c = c[: nz[-1] + 1]
    if c.size == 1:
        return np.zeros(0)
    r = np.roots(c[::-1])
    r = r[np.abs(r.imag) <= 1e-7 * np.maximum(1.0, np.abs(r))].real
    r = r[(r >= -1e-9) & (r <= 1 + 1e-9)]
    if r.size == 0:
        return r
    dc = c[1:] * np.arange(1, c.size)
    for _ in range(2):
        f = np.polynomial.polynomial.polyval(r, c)
        df = np.polynomial.polynomial.polyval(r, dc)
        step = np.where(df != 0.0, f / np.where(df != 0.0, df, 1.0), 0.0)
        r = r - np.clip(step, -1e-6, 1e-6)
    return np.sort(np.clip(r, 0.0, 1.0))


class DenseOutput:
    """The dense output of one flow run: ``rows`` (n_steps, FLOW_DENSE_WIDTH) from the core.

    ``s_star``, ``noise``, ``dim`` and ``link`` (a :class:`~pyscale.LinkPair` or what makes
    one; default the square) are the problem's (for the loss and the MSE). Fields s, u, loss,
    excess_risk and cosine are available in every step; s2, u2 and the MSE only in steps
    whose row holds them (steps that contained a record, or all steps of a run with events).
    A pair without a recovery metric has no mse field.
    """

    #: The fields it evaluates (the record fields but the time, then the derived ones).
    FIELDS = ("s", "u", "s2", "u2", "loss", "mse", "excess_risk", "cosine")
    #: What calling it returns: the order parameters, held in every step.
    STATE = ("s", "u")

    def __init__(self, rows: np.ndarray, s_star: float, noise: float, dim: float,
                 link: Any = "square"):
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != _WIDTH:
            raise ValueError(f"dense rows must have shape (n, {_WIDTH}), got {rows.shape}")
        self.rows = rows
        self.s_star, self.noise, self.dim = float(s_star), float(noise), float(dim)
        self.link = link if isinstance(link, LinkPair) else LinkPair(link)
        self._loss_coef: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def held(self) -> tuple:
        """The fields of :meth:`at` for this run's pair: :attr:`FIELDS`, without mse for a
        pair whose student is not its teacher."""
        if self.link.mse_kind == "undefined":
            return tuple(f for f in self.FIELDS if f != "mse")
        return self.FIELDS

    @property
    def t0(self) -> np.ndarray:
        return self.rows[:, _T0]

    @property
    def h(self) -> np.ndarray:
        return self.rows[:, _H]

    @property
    def t_end(self) -> float:
        return float(self.rows[-1, _T0] + self.rows[-1, _H]) if len(self) else np.nan

    def subset(self, index) -> DenseOutput:
        return DenseOutput(self.rows[index], self.s_star, self.noise, self.dim, self.link)

    def _step_of(self, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.t0, t, side="right") - 1
        return np.clip(k, 0, len(self) - 1)

    # ------------------------------------------------------------------ evaluation
    def _loss(self, s: np.ndarray, u: np.ndarray) -> np.ndarray:
        """L = ℓ(s, u) + σ² (the square in the engines' own expression)."""
        if self.link.is_square:
            return 3 * s * s + 3 * self.s_star ** 2 - 4 * u * u - 2 * self.s_star * s \
                + self.noise
        return self.link.loss_many(s, u, self.s_star) + self.noise

    def _mse(self, minus: np.ndarray, plus: np.ndarray) -> Optional[np.ndarray]:
        """The pair's recovery metric from ||w ∓ w*||² (None: the pair has none)."""
        kind = self.link.mse_kind
        if kind == "undefined":
            return None
        return (np.minimum(minus, plus) if kind == "sign_invariant" else minus) / self.dim

    def fields(self, step: np.ndarray, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Record fields (t, s, u, s2, u2, loss, mse) and the derived excess_risk and cosine
        at θ of the given steps (broadcast); no mse for a pair without one."""
        step = np.asarray(step)
        theta = np.asarray(theta, dtype=float)
        rows = self.rows[step]
        one = 1.0 - theta
        b = np.stack([one, theta, theta * one, theta * theta * one], axis=-1)
        quad = np.stack([(1.0 if j == k else 2.0) * b[..., j] * b[..., k] for j, k in _PACKED],
                        axis=-1)
        s = np.sum(quad * rows[..., _S:_U], axis=-1)
        u = np.sum(b * rows[..., _U:_S2], axis=-1)
        loss = self._loss(s, u)
        out = {"t": rows[..., _T0] + theta * rows[..., _H], "s": s, "u": u,
               "s2": np.sum(quad * rows[..., _S2:_U2], axis=-1),
               "u2": np.sum(b * rows[..., _U2:_MINUS], axis=-1), "loss": loss}
        mse = self._mse(np.sum(quad * rows[..., _MINUS:_PLUS], axis=-1),
                        np.sum(quad * rows[..., _PLUS:_WIDTH], axis=-1))
        if mse is not None:
            out["mse"] = mse
        out["excess_risk"] = loss - self.noise
        with np.errstate(invalid="ignore", divide="ignore"):
            out["cosine"] = u / np.sqrt(s * self.s_star)
        return out

    def at(self, t, fields=None) -> dict[str, np.ndarray]:
        """Record fields at times t within [t0[0], t_end] (the step containing each):
        ``{"t": t, field: values}`` for each of ``fields`` (default :attr:`FIELDS`).

        Raises ValueError for a time outside the dense output, and for a field it does not
        hold there (s2, u2 and the MSE are kept only in steps that contain a record, or in
        every step of a run with events) — never a NaN in place of a value."""
        names = self.held if fields is None else tuple(fields)
        unknown = [f for f in names if f not in self.FIELDS]
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; the dense output has "
                             f"{', '.join(self.held)}")
        if "mse" in names and "mse" not in self.held:
            raise ValueError(no_mse_message(self.link.identity))
        t = np.asarray(t, dtype=float)
        if len(self) == 0:
            raise ValueError("the dense output is empty (the run took no step)")
        lo, hi = float(self.t0[0]), self.t_end
        slack = 1e-12 * max(abs(hi), 1.0)
        outside = ~((t >= lo - slack) & (t <= hi + slack))
        if np.any(outside):
            raise ValueError(f"t = {float(t[outside].flat[0])!r} lies outside the dense "
                             f"output, which covers [{lo:g}, {hi:g}]")
        k = self._step_of(t)
        values = self.fields(k, (t - self.t0[k]) / self.h[k])
        # A time on a step boundary is also the end (θ = 1) of the step before, whose row
        # may hold fields the next one does not (a record ends a step there).
        before = np.clip(np.searchsorted(self.t0, t, side="left") - 1, 0, len(self) - 1)
        edge = before != k
        if np.any(edge):
            ends = self.fields(before, (t - self.t0[before]) / self.h[before])
            for name in names:
                values[name] = np.where(edge & np.isnan(values[name]), ends[name],
                                        values[name])
        for name in names:
            missing = np.isnan(values[name])
            if np.any(missing):
                raise ValueError(
                    f"the dense output does not hold {name} at t = "
                    f"{float(t[missing].flat[0]):.6g}: s2, u2 and the MSE are kept only for "
                    f"steps that contain a record (or every step of a run with events); "
                    f"ask for fields=('s', 'u', 'loss'), or record there")
        return {"t": t, **{name: values[name] for name in names}}

    def __call__(self, t) -> np.ndarray:
        """The order parameters (s, u) at ``t``, stacked like SciPy's dense output
        ``sol(t)``: shape (2,) for a scalar t, (2, len(t)) for an array — the fields held in
        every step (the loss is 3s² + 3s*² − 4u² − 2s*s + σ²; s2, u2 and the MSE through
        :meth:`at`, where held). Refuses a time outside the run, as :meth:`at` does."""
        values = self.at(t, fields=self.STATE)
        return np.stack([values[name] for name in self.STATE])

    # ------------------------------------------------------------------ polynomials
    def is_polynomial(self, name: str) -> bool:
        """Whether field ``name`` is a polynomial in θ along each step: s, u, s2, u2 always;
        loss and excess_risk for polynomial link pairs (square, polynomial, hermite)."""
        return name in POLYNOMIAL_FIELDS or (name in ("loss", "excess_risk") and
                                             self.link.is_polynomial)

    def polynomial(self, name: str, step: np.ndarray | None = None) -> np.ndarray:
        """Monomial coefficients in θ (rows: steps) of a field that is a polynomial along
        each step (:meth:`is_polynomial`)."""
        rows = self.rows if step is None else self.rows[step]
        if name == "s":
            return rows[:, _S:_U] @ _QUAD
        if name == "u":
            return rows[:, _U:_S2] @ _BASIS
        if name == "s2":
            return rows[:, _S2:_U2] @ _QUAD
        if name == "u2":
            return rows[:, _U2:_MINUS] @ _BASIS
        if name in ("loss", "excess_risk") and not self.link.is_polynomial:
            raise ValueError(f"the {name} of link pair {self.link.identity!r} is not a "
                             f"polynomial in time along a step (a link of it is not a "
                             f"polynomial): read it with fields() or at(), which evaluate "
                             f"the pair's loss at the interpolated s and u")
        if name in ("loss", "excess_risk"):
            out = self._loss_polynomial(step)
            if name == "excess_risk":
                out[:, 0] -= self.noise
            return out
        raise ValueError(f"no polynomial form for field {name!r}; choose one of "
                         f"{POLYNOMIAL_FIELDS + ('loss', 'excess_risk')}")

    def _loss_polynomial(self, step: np.ndarray | None) -> np.ndarray:
        """L(θ) = ℓ(s(θ), u(θ)) + σ² as monomial coefficients, per step."""
        s = self.polynomial("s", step)
        u = self.polynomial("u", step)
        if self.link.is_square:  # the square's expression, as the engines write it
            out = np.zeros((s.shape[0], 13))
            for i in range(s.shape[0]):
                lo = (3 * np.convolve(s[i], s[i]) - 2 * self.s_star * np.pad(s[i], (0, 6)))
                lo[:7] -= 4 * np.convolve(u[i], u[i])
                lo[0] += 3 * self.s_star ** 2 + self.noise
                out[i] = lo
            return out
        if self._loss_coef is None:
            self._loss_coef = self.link.loss_polynomial(self.s_star)
        a = self._loss_coef
        degree = 6 * (a.shape[0] - 1) + 3 * (a.shape[1] - 1)
        out = np.zeros((s.shape[0], degree + 1))
        for i in range(s.shape[0]):
            s_pow, total = np.ones(1), np.zeros(degree + 1)
            for m in range(a.shape[0]):
                term = s_pow
                for k in range(a.shape[1]):
                    if a[m, k] != 0.0:
                        total[:term.size] += a[m, k] * term
                    term = np.convolve(term, u[i])
                s_pow = np.convolve(s_pow, s[i])
            total[0] += self.noise
            out[i] = total
        return out


def bernstein_range(coef: np.ndarray) -> tuple:
    """(min, max) over each row's Bernstein coefficients: a bound on the polynomial's range
    on [0, 1] (convex hull property), for every row of monomial coefficients ``coef``."""
    n = coef.shape[1] - 1
    from math import comb
    m = np.zeros((n + 1, n + 1))
    for k in range(n + 1):
        for i in range(k + 1):
            m[i, k] = comb(k, i) / comb(n, i)
    bern = coef @ m
    return bern.min(axis=1), bern.max(axis=1)
