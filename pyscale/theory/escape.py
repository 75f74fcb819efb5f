"""Phase I, escape from the equator (model page: Escape): the dispersion relation, the exponential
law u(t) ≈ C e^{ρ t}, the predicted escape time, and the Volterra equation solved numerically.

While s(t) ≪ s*/3, Θ(t) = ∫_0^t (s* − 3 s) ≈ s* t and the Volterra equation (model page: Gradient
flow) is a convolution, u = a + 8 K * u with K(t) = Σ_i (w*_i)^2 λ_i^2 e^{4 s* λ_i t}. Its Laplace
transform û(p) = â(p) / D(p), D(p) = 1 − 8 Σ_i (w*_i)^2 λ_i^2 / (p − 4 s* λ_i), has its
rightmost pole at the root ρ > 4 s* λ_1 of D, whose residue is C = â(ρ) / D'(ρ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .._kernels.theory import dispersion_terms, escape_root, volterra_march
from ..model.network import require_single_index
from ..model.problem import Problem

__all__ = ["escape_s", "volterra_escape_time", "EscapeLaw", "escape_law", "dispersion",
           "solve_volterra", "theta_path"]


@dataclass(frozen=True)
class EscapeLaw:
    """ρ, C and the by-products of the root search (model page: Escape).

    Attributes
    ----------
    rate : float
        ρ, the root of 1 = 8 Σ_i (w*_i)^2 λ_i^2 / (ρ − 4 s* λ_i) above the top pole.
    prefactor : float
        C = â(ρ) / D'(ρ), â(p) = Σ_i λ_i w_i(0) w*_i / (p − 4 s* λ_i),
        D'(ρ) = 8 Σ_i (w*_i)^2 λ_i^2 / (ρ − 4 s* λ_i)^2.
    top_pole : float
        4 s* max{λ_i : w*_i ≠ 0}.
    gap : float
        ρ − top_pole (kept to full relative precision).
    a_hat, d_prime : float
        â(ρ) and D'(ρ).
    iterations : int
        Evaluations of the O(d) sums.
    """
    rate: float
    prefactor: float
    top_pole: float
    gap: float
    a_hat: float
    d_prime: float
    iterations: int

    def time_to(self, delta: float) -> float:
        """T1(δ) ≈ log(δ / |C|) / ρ: the time at which |C| e^{ρ t} reaches δ (model page:
        Escape)."""
        delta = float(delta)
        if not delta > 0:
            raise ValueError(f"delta must be > 0, got {delta}")
        if self.prefactor == 0.0:
            return float("inf")
        return float(np.log(delta / abs(self.prefactor)) / self.rate)

    def u(self, t) -> np.ndarray:
        """The exponential law u(t) ≈ C e^{ρ t} (model page: Escape)."""
        return self.prefactor * np.exp(self.rate * np.asarray(t, dtype=np.float64))


def volterra_escape_time(problem: Problem, delta: float, t_max: float,
                         points: int = 400) -> float:
    """The first t ≤ t_max with |u(t)| ≥ δ on the Volterra solution with Θ = s* t
    (:func:`solve_volterra`; the linear theory whose rightmost mode is C e^{ρt}), by
    log-linear interpolation on ``points`` steps; inf if not reached (model page: Escape)."""
    t = np.linspace(0.0, float(t_max), int(points) + 1)
    u = np.abs(solve_volterra(problem, t))
    hit = np.flatnonzero(u >= delta)
    if hit.size == 0:
        return float("inf")
    k = int(hit[0])
    if k == 0 or u[k - 1] <= 0:
        return float(t[k])
    frac = (np.log(delta) - np.log(u[k - 1])) / (np.log(u[k]) - np.log(u[k - 1]))
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))


def escape_s(problem: Problem, law: EscapeLaw, t: float,
             start: Optional[Tuple[float, float]] = None) -> float:
    """s(t) = Σ λ_i w_i(t)² along the linear escape (model page: Escape): with Θ = s* t and
    u = C e^{ρt} in the Duhamel formula, w_i(t) = e^{μ_i t} w_i(0) + 8 λ_i w*_i C
    (e^{ρt} − e^{μ_i t})/(ρ − μ_i), μ_i = 4 s* λ_i. The escape law assumes s ≪ s*/3 up
    to T1; this is its own estimate of s there (exact on compressed problems: each stored
    coordinate is linear in w(0) and w*). ``start`` = (c0⁰, κ) puts another link pair's
    small-start coefficients in place of (4 s*, 8) (links page: Escape)."""
    lam, t = problem.eigenvalues, float(t)
    require_single_index("the escape law (escape_s)", problem)
    rate_scale, coupling = (4.0 * problem.s_star, 8.0) if start is None else start
    mu = rate_scale * lam
    grow = np.exp(mu * t)
    w = grow * problem.w0 + coupling * lam * problem.w_star * law.prefactor * \
        (np.exp(law.rate * t) - grow) / (law.rate - mu)
    return float(np.sum(lam * w * w))


def escape_law(problem: Problem, rtol: float = 1e-15, max_iter: int = 200,
               start: Optional[Tuple[float, float]] = None) -> EscapeLaw:
    """Compute ρ and C for any spectrum in O(d) per iteration (model page: Escape);
    ``start`` = (c0⁰, κ) solves another link pair's dispersion relation
    1 = κ Σ_i (w*_i)² λ_i² / (ρ − c0⁰ λ_i) instead of the square's (4 s*, 8) (links
    page: Escape).

    The root is found by safeguarded Newton iteration (see
    :func:`pyscale._kernels.theory.escape_root`); ``rtol`` is the relative step size at
    which it stops (the sums themselves are accurate to ~1e-15 relative, every term being
    positive). Exact on compressed problems: the sums are quadratic forms in (w0, w*).
    """
    require_single_index("the escape law (escape_law)", problem)
    rate_scale, coupling = (4.0 * problem.s_star, 8.0) if start is None else start
    rho, gap, k_prime, a_hat, iterations, ok = escape_root(
        problem.eigenvalues, problem.w_star, problem.w0, float(rate_scale), float(coupling),
        float(rtol), int(max_iter))
    if not ok:
        raise RuntimeError(f"the escape-rate root search did not converge in {max_iter} "
                           f"iterations (last ρ = {rho!r})")
    d_prime = coupling * k_prime
    return EscapeLaw(rate=float(rho), prefactor=float(a_hat / d_prime),
                     top_pole=float(rho - gap), gap=float(gap), a_hat=float(a_hat),
                     d_prime=float(d_prime), iterations=int(iterations))


def dispersion(problem: Problem, p, start: Optional[Tuple[float, float]] = None
               ) -> np.ndarray:
    """D(p) = 1 − 8 Σ_i (w*_i)^2 λ_i^2 / (p − 4 s* λ_i) at each p (model page: Escape);
    ``start`` = (c0⁰, κ): 1 − κ Σ_i (w*_i)² λ_i² / (p − c0⁰ λ_i) (another link pair)."""
    rate_scale, coupling = (4.0 * problem.s_star, 8.0) if start is None else start
    p = np.atleast_1d(np.asarray(p, dtype=np.float64))
    out = np.empty(p.size)
    for k, pk in enumerate(p):
        kk, _, _ = dispersion_terms(problem.eigenvalues, problem.w_star, problem.w0,
                                    float(rate_scale), 0.0, float(pk))
        out[k] = 1.0 - coupling * kk
    return out


def theta_path(t_grid, s_values, s_star: float) -> Tuple[np.ndarray, np.ndarray]:
    """Θ' = s* − 3 s on each interval of a recorded grid (trapezoidal mean of s):
    returns (interval lengths, Θ' per interval) for :func:`solve_volterra` (model page: Gradient
    flow)."""
    t_grid = np.asarray(t_grid, dtype=np.float64)
    s_values = np.asarray(s_values, dtype=np.float64)
    if t_grid.ndim != 1 or t_grid.shape != s_values.shape or t_grid.size < 2:
        raise ValueError("s_path must be two 1-D arrays (t, s) of one length >= 2")
    if np.any(np.diff(t_grid) <= 0):
        raise ValueError("the times of s_path must be strictly increasing")
    return np.diff(t_grid), s_star - 1.5 * (s_values[1:] + s_values[:-1])


#: Largest |u| the linearised (Θ = s* t) Volterra solution is computed to: beyond it the
#: solution overflows float64 long before it means anything (Phase I ends at |u| ~ δ).
_LINEAR_LIMIT = 1e300


def _check_linear_range(problem: Problem, t_last: float) -> None:
    """Refuse, before the march, times at which the linearised solution (≈ C e^{ρt}, the
    rightmost mode) exceeds :data:`_LINEAR_LIMIT`: it would end in inf after a long run."""
    law = escape_law(problem)
    size = max(abs(law.prefactor), abs(float(np.dot(problem.eigenvalues * problem.w_star,
                                                    problem.w0))), 1e-300)
    if np.log(size) + law.rate * t_last > np.log(_LINEAR_LIMIT):
        reach = (np.log(_LINEAR_LIMIT) - np.log(size)) / law.rate
        raise ValueError(
            f"u_volterra: t = {t_last:g} is past the range of the linearised equation "
            f"(Θ = s* t): its solution ~ C e^(ρt), ρ = {law.rate:.4g}, overflows float64 "
            f"beyond t ≈ {reach:.4g}. It describes Phase I only; for later times pass "
            f"s_path=(t, s) of a run (the exact equation)")


def solve_volterra(problem: Problem, t, s_path: Optional[Sequence[np.ndarray]] = None,
                   max_step: Optional[float] = None) -> np.ndarray:
    """u(t) from the Volterra equation (model page: Gradient flow), solved numerically in O(d) per
    step:

        u(t) = Σ_i λ_i w_i(0) w*_i e^{4 λ_i Θ(t)}
               + 8 ∫_0^t Σ_i (w*_i)^2 λ_i^2 e^{4 λ_i (Θ(t) − Θ(τ))} u(τ) dτ,

    with Θ(t) = s* t (the Phase I approximation, default) or, given ``s_path = (t_grid,
    s(t_grid))`` starting at t = 0 (e.g. a simulated trajectory's records), Θ' = s* − 3 s
    with s replaced by its mean between consecutive records (the knots are the union of
    the record times and ``t``) — then the equation is exact and its solution reproduces
    the simulated u up to this piecewise-constant Θ'.

    With Θ = s* t the solution is the linearised (s ≡ 0) dynamics; its rightmost mode is
    the exponential law C e^{ρt}, so comparing the three (law, Volterra, simulation) shows
    where the exponential law stops holding: it misses the sub-dominant modes early and
    the Volterra solution misses the growth of s late.

    ``max_step`` bounds the step of the second-order product integration (default
    0.005 / max(ρ, 4 s* λ_max), a relative error ~3e-6 per unit of ρ t). ``t`` must be
    sorted, >= 0; u(0) is returned at t = 0. Cost O(d) per step.
    """
    times = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if times.ndim != 1 or np.any(~np.isfinite(times)) or np.any(times < 0):
        raise ValueError("t must be finite and >= 0")
    if np.any(np.diff(times) < 0):
        raise ValueError("t must be sorted increasingly")
    s_star = problem.s_star
    if s_path is None:
        _check_linear_range(problem, float(times[-1]) if times.size else 0.0)
        knots = np.unique(np.concatenate([[0.0], times]))
        lengths = np.diff(knots)
        rates = np.full(lengths.size, s_star)
    else:
        grid, s_values = s_path
        grid = np.asarray(grid, dtype=np.float64)
        if grid[0] != 0.0:
            raise ValueError("s_path must start at t = 0")
        if times[-1] > grid[-1] * (1 + 1e-12):
            raise ValueError(f"t goes beyond the end of s_path ({grid[-1]})")
        s_values = np.asarray(s_values, dtype=np.float64)
        knots = np.unique(np.concatenate([grid, times]))
        knots = knots[knots <= max(times[-1], 0.0)]
        s_knots = np.interp(knots, grid, s_values)
        lengths, rates = theta_path(knots, s_knots, s_star) if knots.size > 1 else (
            np.zeros(0), np.zeros(0))
    if max_step is None:
        fastest = max(escape_law(problem).rate,
                      4.0 * problem.lambda_max * float(np.max(np.abs(rates), initial=s_star)))
        max_step = 0.005 / fastest
    max_step = float(max_step)
    if not max_step > 0:
        raise ValueError(f"max_step must be > 0, got {max_step}")
    n_sub = np.maximum(1, np.ceil(lengths / max_step)).astype(np.int64)
    u_knots = np.empty(lengths.size)
    volterra_march(problem.eigenvalues, problem.w_star, problem.w0,
                   np.ascontiguousarray(lengths), np.ascontiguousarray(rates), n_sub, 8.0,
                   u_knots)
    u0 = float(np.dot(problem.eigenvalues * problem.w_star, problem.w0))
    u_all = np.concatenate([[u0], u_knots])
    # Every requested time is a knot (knots[0] = 0): look each one up exactly.
    return u_all[np.searchsorted(knots, times)]
