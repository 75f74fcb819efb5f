"""Phase I of the quadratic network (networks page: Escape of the quadratic network): the
small-start escape of f(x) = xᵀ W D_a Wᵀ x from W ≈ 0, per unit.

Linearised at W = 0 every unit moves on its own, ẇ_j = a_j 𝓛 w_j with the symmetric
operator 𝓛 = 4 s̄* Q + 8 Q W* D_a* W*ᵀ Q (s̄* = Σ_l a*_l S*_ll), diagonal plus rank k.
Its top eigenvalue ρ̃ is the largest root of det(I − 8 R(ρ) D_a*) = 0 above the top pole
4 s̄* λ_1, R(ρ) = Σ_i λ_i² W*_iᵀ W*_i / (ρ − 4 s̄* λ_i) (W*_i row i of W*); unit j grows at
ρ_j = a_j ρ̃, along the eigenvector v of ρ̃ for every unit.

The root is found with the single-index root finder: for a unit vector q ∈ R^k the scalar
function g_q(ρ) = 8 qᵀ D_a*^½ R(ρ) D_a*^½ q is the single-index dispersion sum of the
teacher w_q = W* D_a*^½ q, and ρ̃ = max_q root(g_q = 1), attained at the top eigenvector
q of D_a*^½ R(ρ̃) D_a*^½. Iterating q ← top eigenvector at root(g_q) increases the root
monotonically and converges quadratically (the root is stationary in q). At the optimum v
is also the top eigenvector of the single-index operator 4 s̄* Q + 8 Q w_q w_qᵀ Q, so the
single-index residue C_q,j = â_j(ρ̃)/D'(ρ̃) of w_j(0) along w_q gives the unit's
prefactor: U_j(t) ≈ C_q,j D_a*^{-½} q e^{ρ_j t}. For p = k = 1 with readouts 1, w_q = w*
and every number is the single-index escape law's, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernels.theory import dispersion_terms, escape_root
from ..model.network import gram
from ..model.problem import Problem

__all__ = ["NetworkEscape", "network_escape_law", "linear_escape"]


@dataclass(frozen=True)
class NetworkEscape:
    """The quadratic network's small-start escape (networks page: Escape of the quadratic
    network), per student unit j.

    Attributes
    ----------
    rate : (p,) array
        ρ_j = a_j ρ̃, the growth rate of unit j (units of 1/t).
    prefactor : (p, k) array
        C_j: U_j(t) ≈ C_j e^{ρ_j t} (the row j of U = WᵀQW*).
    base_rate : float
        ρ̃, the top eigenvalue of 𝓛 = 4 s̄* Q + 8 Q W* D_a* W*ᵀ Q (the rate at a_j = 1).
    top_pole, gap : float
        4 s̄* λ_top and ρ̃ − 4 s̄* λ_top (full relative precision).
    direction : (n,) array
        v, the unit eigenvector of 𝓛 for ρ̃ in the stored coordinates, signed so that
        v · Q W* D_a*^½ q > 0: every unit grows along v.
    teacher_direction : (k,) array
        D_a*^{-½} q, the common direction of the rows U_j at escape (C_j is a multiple).
    projection : (p,) array
        v · w_j(0): the part of each unit's start that grows.
    level : (k,) array
        S*_ll, the scale of U's column l in the escape criterion.
    iterations : int
        Root searches (outer iterations over q).
    """
    rate: np.ndarray
    prefactor: np.ndarray
    base_rate: float
    top_pole: float
    gap: float
    direction: np.ndarray
    teacher_direction: np.ndarray
    projection: np.ndarray
    level: np.ndarray
    iterations: int

    def size(self) -> np.ndarray:
        """max_l |C_jl| / S*_ll per unit (p,): the law's value of the escape criterion at
        t = 0."""
        return np.max(np.abs(self.prefactor) / self.level, axis=1)

    def time_to(self, delta: float) -> np.ndarray:
        """T1_j(δ) = log(δ / max_l |C_jl|/S*_ll) / ρ_j (p,): the time at which the law's
        unit j reaches max_l |U_jl|/S*_ll = δ (inf for a unit with C_j = 0)."""
        delta = float(delta)
        if not delta > 0:
            raise ValueError(f"delta must be > 0, got {delta}")
        size = self.size()
        with np.errstate(divide="ignore"):
            return np.where(size > 0, np.log(delta / size) / self.rate, np.inf)

    def u(self, t) -> np.ndarray:
        """U(t) ≈ C_j e^{ρ_j t} (len(t), p, k)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return self.prefactor[None] * np.exp(np.outer(t, self.rate))[:, :, None]


def _combine(w_star: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """W* weights, column by column in a fixed order (the same bits on any machine)."""
    out = w_star[:, 0] * weights[0]
    for col in range(1, w_star.shape[1]):
        out = out + w_star[:, col] * weights[col]
    return np.ascontiguousarray(out)


def _top(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    values, vectors = np.linalg.eigh(matrix)
    vec = vectors[:, -1]
    return float(values[-1]), vec * (1.0 if vec[np.argmax(np.abs(vec))] > 0 else -1.0)


def network_escape_law(problem: Problem, rtol: float = 1e-15, max_iter: int = 200,
                       outer: int = 50) -> NetworkEscape:
    """ρ_j, C_j and the escape direction of a quadratic network from its small start
    (networks page: Escape of the quadratic network), O(n k²) per outer iteration.

    The caller checks that the problem is a quadratic network with positive readouts
    (:func:`pyscale.theory.network.require_network_theory`). ``rtol``, ``max_iter``: the
    single-index root finder's (:func:`pyscale.theory.escape_law`); ``outer``: the most
    iterations over the teacher direction q (they stop when q moves by < 1e-13; two or
    three on power laws, one for k = 1).
    """
    lam, w_star = problem.eigenvalues, problem.w_star
    half = np.sqrt(np.asarray(problem.teacher_readout, dtype=np.float64))
    rate_scale = 4.0 * problem.s_star
    rows = np.any(w_star != 0.0, axis=1)
    lam_top = float(lam[rows].max())
    mu_top = rate_scale * lam_top       # as the root finder forms it: p − μ_i keeps its bits
    # start from the top pole's residue (q ∝ D^½ W*_topᵀ), so that w_q is nonzero there
    q = _top(half[:, None] * gram(lam * lam * (lam == lam_top), w_star, w_star)
             * half[None, :])[1]
    for iterations in range(1, outer + 1):  # noqa: B007 (the count is read after the loop)
        w_q = _combine(w_star, half * q)
        rho, gap, _, _, _, ok = escape_root(lam, w_q, np.zeros_like(lam), rate_scale, 8.0,
                                            float(rtol), int(max_iter))
        if not ok or float(lam[w_q != 0.0].max()) != lam_top:
            raise RuntimeError(f"the quadratic network's escape-rate search did not converge "
                               f"(last ρ = {rho!r})")
        inv = 1.0 / (gap + (mu_top - rate_scale * lam))
        q_new = _top(8.0 * half[:, None] * gram(lam * lam * inv, w_star, w_star)
                     * half[None, :])[1]
        moved = float(np.max(np.abs(q_new - q)))
        q = q_new
        if moved <= 1e-13:
            break
    else:
        raise RuntimeError(f"the quadratic network's escape direction did not settle in "
                           f"{outer} iterations")
    w_q = _combine(w_star, half * q)
    rho, gap, k_prime, _, _, _ = escape_root(lam, w_q, np.zeros_like(lam), rate_scale, 8.0,
                                             float(rtol), int(max_iter))
    a_hat = np.array([dispersion_terms(lam, w_q, np.ascontiguousarray(problem.w0[:, j]),
                                       rate_scale, mu_top, gap)[2]
                      for j in range(problem.units)])
    along = a_hat / (8.0 * k_prime)               # C_q,j: the residue along w_q
    v = lam * w_q / (gap + (mu_top - rate_scale * lam))
    v = v / np.sqrt(float(np.dot(v, v)))
    teacher_direction = q / half
    readout = np.asarray(problem.readout, dtype=np.float64)
    return NetworkEscape(
        rate=readout * rho, prefactor=along[:, None] * teacher_direction[None, :],
        base_rate=float(rho), top_pole=float(mu_top), gap=float(gap), direction=v,
        teacher_direction=teacher_direction, projection=problem.w0.T @ v,
        level=np.diag(problem.S_star).copy(), iterations=iterations)


def linear_escape(problem: Problem, law: NetworkEscape, delta: float, t_max: float,
                  points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The whole linearised dynamics ẇ_j = a_j 𝓛 w_j from W(0) (networks page: Escape of the
    quadratic network), every mode included, integrated to ``t_max`` (DOP853, rtol 1e-9;
    O(n p k) per evaluation): returns each unit's first crossing of max_l |U_jl|/S*_ll = δ
    (p,; log-interpolated on ``points`` steps, inf if not reached by t_max) and S(t) (p × p)
    of the linear dynamics at each unit's law time T1_j (p, p, p) — what the law's regime
    checks (the exponential mode dominant by T1_j; every unit still small there)."""
    from scipy.integrate import solve_ivp
    lam, w_star = problem.eigenvalues, problem.w_star
    n, p = problem.n_coords, problem.units
    readout = np.asarray(problem.readout, dtype=np.float64)
    drive = 8.0 * w_star * np.asarray(problem.teacher_readout, dtype=np.float64)[None, :]
    qws = lam[:, None] * w_star

    def rhs(_, y):
        w = y.reshape(n, p)
        return (lam[:, None] * (4.0 * problem.s_star * w + drive @ (qws.T @ w))
                * readout[None, :]).ravel()

    t1_law = law.time_to(delta)
    grid = np.linspace(0.0, float(t_max), int(points) + 1)
    sol = solve_ivp(rhs, (0.0, float(t_max)), np.ravel(problem.w0), method="DOP853",
                    rtol=1e-9, atol=1e-300, dense_output=True)
    ws = sol.sol(grid).T.reshape(-1, n, p)
    size = np.max(np.abs(np.einsum("tip,il->tpl", ws, qws)) / law.level, axis=-1)
    crossing = np.full(p, np.inf)
    for j in range(p):
        hit = np.flatnonzero(size[:, j] >= delta)
        if hit.size and hit[0] > 0:
            k = int(hit[0])
            lo, hi = np.log(size[k - 1, j]), np.log(size[k, j])
            crossing[j] = grid[k - 1] + (np.log(delta) - lo) / (hi - lo) * (grid[k] - grid[k - 1])
        elif hit.size:
            crossing[j] = 0.0
    s_at = np.empty((p, p, p))
    for j in range(p):
        w = sol.sol(min(float(t1_law[j]), float(t_max))).reshape(n, p) \
            if np.isfinite(t1_law[j]) and t1_law[j] > 0 else problem.w0
        s_at[j] = w.T @ (lam[:, None] * w)
    return crossing, s_at
