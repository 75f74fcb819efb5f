"""The isotropic case Q = c I (model page: Moment hierarchy): the hierarchy closes to a 2-D ODE in
(s, u).

With Q = c I, s^(2) = c s, u^(2) = c u and s*^(2) = c s*, so

    ṡ = 8 c [ (s* − 3 s) s + 2 u^2 ],      u̇ = 12 c u (s* − s).

Its escape rate is 12 c s* (the dispersion relation (model page: Escape) with one eigenvalue:
1 = 8 c s* c / (ρ − 4 s* c)). Used as the reference an anisotropic problem is held
against: the isotropic problem with the same trace (c = tr Q / d) and the same s(0), u(0).
"""
from __future__ import annotations

import numpy as np

__all__ = ["isotropic_rhs", "isotropic_flow"]


def isotropic_rhs(s: float, u: float, s_star: float, c: float):
    """(ṡ, u̇) of the closed isotropic system (model page: Gradient flow)."""
    return (8.0 * c * ((s_star - 3.0 * s) * s + 2.0 * u * u),
            12.0 * c * u * (s_star - s))


def isotropic_flow(t, s0: float, u0: float, s_star: float = 1.0, c: float = 1.0,
                   rtol: float = 1e-10, atol: float = 1e-14) -> dict:
    """Solve the isotropic 2-D ODE from (s0, u0) at the sorted times t >= 0 (SciPy
    DOP853; the system is not stiff: both rates are O(c)). Returns a dict of arrays
    t, s, u and q_error = ||w ∓ w*||_Q^2 = s − 2|u| + s*; for Q = c I the MSE of
    the MSE (model page: Statistics and loss) is q_error / (c d)."""
    from scipy.integrate import solve_ivp
    times = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("t must be a sorted 1-D array of times >= 0")
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c}")

    def rhs(_, y):
        return isotropic_rhs(y[0], y[1], s_star, c)

    t_end = float(times[-1])
    if t_end == 0.0:
        s = np.full(times.size, float(s0))
        u = np.full(times.size, float(u0))
    else:
        sol = solve_ivp(rhs, (0.0, t_end), [float(s0), float(u0)], method="DOP853",
                        t_eval=times, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"the isotropic ODE failed: {sol.message}")
        s, u = sol.y
    return {"t": times, "s": s, "u": u, "q_error": s - 2.0 * np.abs(u) + s_star}
