"""The flow's dense output: the record fields anywhere inside its accepted steps.

Inside a step from ``t0`` to ``t0 + h`` (θ = (t − t0)/h ∈ [0, 1]) the integrator's state is
``w(θ) = Σ_k b_k(θ) v_k`` with ``b = (1 − θ, θ, θ(1 − θ), θ²(1 − θ))`` and ``v = (y, y_new,
c2, c3)`` (RODAS4's continuous extension of order 3, or the cubic Hermite interpolant for
ROS4; model page: Gradient flow). The core stores, per step, the inner products of the
``v_k`` that the record fields need (one row of ``FLOW_DENSE_WIDTH`` doubles), so that

    u(θ) = Σ_k b_k U_k                 (a cubic in θ),
    s(θ) = Σ_jk b_j b_k S_jk           (a polynomial of degree 6),

and likewise s^(2), u^(2) and ||w ∓ w*||² (hence the MSE). This module evaluates these
fields and finds the roots of the polynomial ones exactly (companion-matrix roots, polished
by Newton's method), so that stopping times and events do not depend on the record grid.
"""
from __future__ import annotations

import numpy as np

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

#: Fields whose value along a step is a polynomial in θ (located by exact root finding).
POLYNOMIAL_FIELDS = ("s", "u", "s2", "u2", "loss")


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

    ``s_star``, ``noise`` and ``dim`` are the problem's (for the loss and the MSE). Fields
    s and u are available in every step; s2, u2 and the MSE only in steps whose row holds
    them (steps that contained a record, or all steps of a run with events).
    """

    #: The fields it evaluates (the record fields but the time), in the record order.
    FIELDS = ("s", "u", "s2", "u2", "loss", "mse")
    #: What calling it returns: the order parameters, held in every step.
    STATE = ("s", "u")

    def __init__(self, rows: np.ndarray, s_star: float, noise: float, dim: float):
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != _WIDTH:
            raise ValueError(f"dense rows must have shape (n, {_WIDTH}), got {rows.shape}")
        self.rows = rows
        self.s_star, self.noise, self.dim = float(s_star), float(noise), float(dim)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

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
        return DenseOutput(self.rows[index], self.s_star, self.noise, self.dim)

    def _step_of(self, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.t0, t, side="right") - 1
        return np.clip(k, 0, len(self) - 1)

    # ------------------------------------------------------------------ evaluation
    def fields(self, step: np.ndarray, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Record fields (t, s, u, s2, u2, loss, mse) at θ of the given steps (broadcast)."""
        step = np.asarray(step)
        theta = np.asarray(theta, dtype=float)
        rows = self.rows[step]
        one = 1.0 - theta
        b = np.stack([one, theta, theta * one, theta * theta * one], axis=-1)
        quad = np.stack([(1.0 if j == k else 2.0) * b[..., j] * b[..., k] for j, k in _PACKED],
                        axis=-1)
        s = np.sum(quad * rows[..., _S:_U], axis=-1)
        u = np.sum(b * rows[..., _U:_S2], axis=-1)
        minus = np.sum(quad * rows[..., _MINUS:_PLUS], axis=-1)
        plus = np.sum(quad * rows[..., _PLUS:_WIDTH], axis=-1)
        return {"t": rows[..., _T0] + theta * rows[..., _H], "s": s, "u": u,
                "s2": np.sum(quad * rows[..., _S2:_U2], axis=-1),
                "u2": np.sum(b * rows[..., _U2:_MINUS], axis=-1),
                "loss": 3 * s * s + 3 * self.s_star ** 2 - 4 * u * u - 2 * self.s_star * s
                + self.noise,
                "mse": np.minimum(minus, plus) / self.dim}

    def at(self, t, fields=None) -> dict[str, np.ndarray]:
        """Record fields at times t within [t0[0], t_end] (the step containing each):
        ``{"t": t, field: values}`` for each of ``fields`` (default :attr:`FIELDS`).

        Raises ValueError for a time outside the dense output, and for a field it does not
        hold there (s2, u2 and the MSE are kept only in steps that contain a record, or in
        every step of a run with events) — never a NaN in place of a value."""
        names = self.FIELDS if fields is None else tuple(fields)
        unknown = [f for f in names if f not in self.FIELDS]
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; the dense output has "
                             f"{', '.join(self.FIELDS)}")
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
    def polynomial(self, name: str, step: np.ndarray | None = None) -> np.ndarray:
        """Monomial coefficients in θ (rows: steps) of a field in POLYNOMIAL_FIELDS."""
        rows = self.rows if step is None else self.rows[step]
        if name == "s":
            return rows[:, _S:_U] @ _QUAD
        if name == "u":
            return rows[:, _U:_S2] @ _BASIS
        if name == "s2":
            return rows[:, _S2:_U2] @ _QUAD
        if name == "u2":
            return rows[:, _U2:_MINUS] @ _BASIS
        if name == "loss":
            s = self.polynomial("s", step)
            u = self.polynomial("u", step)
            out = np.zeros((rows.shape[0], 13))
            for i in range(rows.shape[0]):
                lo = (3 * np.convolve(s[i], s[i]) - 2 * self.s_star * np.pad(s[i], (0, 6)))
                lo[:7] -= 4 * np.convolve(u[i], u[i])
                lo[0] += 3 * self.s_star ** 2 + self.noise
                out[i] = lo
            return out
        raise ValueError(f"no polynomial form for field {name!r}; choose one of "
                         f"{POLYNOMIAL_FIELDS}")


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
