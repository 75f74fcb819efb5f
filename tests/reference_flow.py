"""SciPy references for the square link's population flow (model page: Gradient flow),
independent of the package's integrators: its right-hand side and Jacobian written plainly in
NumPy, DOP853 for horizons an explicit method can reach, and Radau (implicit, order 5) for
the long horizon.

ẇ_i = λ_i [4 (s* − 3 s) w_i + 8 u w*_i],  s = Σ λ_i w_i²,  u = Σ λ_i w_i w*_i,

J = 4 (s* − 3 s) diag(λ) − 24 (λ∘w)(λ∘w)ᵀ + 8 (λ∘w*)(λ∘w*)ᵀ  (diagonal + rank 2, formed
densely here: SciPy factors it as a full matrix).

DOP853 cannot reach t = 10^12: near the minimum the Jacobian's largest eigenvalue is about
−8 s* λ_1 (the flow is stiff), so an explicit step stays O(1 / λ_1) however slowly the
solution moves, and its step count grows linearly with the horizon (``dop853_late_steps``;
measured in tests/test_flow_radau.py: a mean step of 1.09 at d = 100, a = 2 from t = 10^3
to 10^4, ~10^12 steps to t = 10^12).

Late in Phase III the MSE is ||w ∓ w*||² / d with w → ±w*: integrated in w, a solver
controls each coordinate's error relative to |w_i| ≈ |w*_i|, not to |w_i ∓ w*_i|, so the
reference's relative MSE error would grow like |w*| / |w ∓ w*|. ``radau_reference``
therefore integrates w itself only until the MSE falls below a quarter of ||w*||² / d,
and the displacement z = w − σ w* (σ = the sign of u there) from then on: its error control
is relative to z, and the MSE is formed from z directly, without the cancellation of
w − σ w*.
"""
import numpy as np
from scipy.integrate import solve_ivp


def flow_rhs(problem):
    """f(t, w) = −∇L(w) of the square link (model page: Gradient flow)."""
    lam, w_star, s_star = problem.eigenvalues, problem.w_star, problem.s_star
    lam_w_star = lam * w_star

    def rhs(_, w):
        lw = lam * w
        return 4.0 * (s_star - 3.0 * (lw @ w)) * lw + 8.0 * (lw @ w_star) * lam_w_star
    return rhs


def flow_jacobian(problem):
    """∂f/∂w, dense: 4 (s* − 3 s) diag(λ) − 24 (λw)(λw)ᵀ + 8 (λw*)(λw*)ᵀ."""
    lam, w_star, s_star = problem.eigenvalues, problem.w_star, problem.s_star
    lam_w_star = lam * w_star
    teacher = 8.0 * np.outer(lam_w_star, lam_w_star)
    diag = np.arange(lam.size)

    def jac(_, w):
        lw = lam * w
        out = teacher - 24.0 * np.outer(lw, lw)
        out[diag, diag] += 4.0 * (s_star - 3.0 * (lw @ w)) * lam
        return out
    return jac


def displacement_rhs(problem, sigma):
    """f written for z = w − σ w* (σ = ±1), so that it vanishes exactly at z = 0: with
    S = Σ λ w*², a = Σ λ w* z, b = Σ λ z², s = S + 2σ a + b, u = σ S + a and

    ż = λ∘z · 4 (S − 3 s) − λ∘w* · (16 a + 12 σ b),

    the flow's f at w = z + σ w* with s* replaced by S (they agree to rounding, ≤ 1e-14
    relative: checked). Evaluated as f(z + σ w*) instead, rounding leaves a residual force
    ~1e-16 λ |w*| at the minimum that a tight relative tolerance on z would chase forever."""
    lam, w_star = problem.eigenvalues, problem.w_star
    lam_w_star = lam * w_star
    big_s = float(lam_w_star @ w_star)
    assert abs(problem.s_star - big_s) <= 1e-14 * big_s, (problem.s_star, big_s)

    def rhs(_, z):
        lz = lam * z
        a, b = float(lam_w_star @ z), float(lz @ z)
        s = big_s + 2.0 * sigma * a + b
        return 4.0 * (big_s - 3.0 * s) * lz - (16.0 * a + 12.0 * sigma * b) * lam_w_star
    return rhs


def flow_reference(problem, times, rtol=1e-11, atol=1e-13, method="DOP853"):
    """The flow's states at ``times`` by SciPy's ``method`` on ẇ = −∇L(w): (len(times), d)."""
    kwargs = {"jac": flow_jacobian(problem)} if method in ("Radau", "BDF", "LSODA") else {}
    sol = solve_ivp(flow_rhs(problem), (0.0, float(times[-1])), problem.w0, method=method,
                    t_eval=times, rtol=rtol, atol=atol, **kwargs)
    assert sol.success, sol.message
    return sol.y.T


def numpy_stats(problem, w):
    """s, u, mse of each row of w, computed plainly (model page: Statistics and loss)."""
    lam, w_star = problem.eigenvalues, problem.w_star
    s = np.einsum("ij,j,ij->i", w, lam, w)
    u = w @ (lam * w_star)
    minus = ((w - w_star) ** 2).sum(axis=1)
    plus = ((w + w_star) ** 2).sum(axis=1)
    return s, u, np.minimum(minus, plus) / problem.d


#: The long-horizon reference's tolerances. rtol: 1e-12 (1000 times below the tightest rtol
#: it checks). atol: the relative error of d·MSE = Σ z_i² from per-coordinate errors
#: atol + rtol |z_i| is at most 2 rtol + 2 atol / sqrt(MSE) (Cauchy–Schwarz), so an atol of
#: rtol · sqrt(MSE_FLOOR) keeps it within 4 rtol down to MSE = MSE_FLOOR (relative to the
#: start's MSE, about ||w*||²/d); a larger atol would hide the error of the small MSE.
RADAU_RTOL = 1e-12
MSE_FLOOR = 1e-12


def _shifted(jac, shift):
    """The Jacobian in y = w − shift."""
    return lambda t, y: jac(t, y + shift)


def radau_reference(problem, times, rtol=RADAU_RTOL, mse_floor=MSE_FLOOR):
    """s, u and the MSE at ``times`` (increasing, from 0) by SciPy's Radau with the analytic
    Jacobian, restarted on each record so that every record is a step end (Radau's dense
    output is only of order 3): w until the MSE at a record is below ||w*||² / (4 d), then
    z = w − σ w* (module docstring). Returns (s, u, mse, info); info: the record time the
    run went over to z, σ, the accepted steps and the LU decompositions."""
    times = np.asarray(times, dtype=float)
    w_star = problem.w_star
    atol = rtol * np.sqrt(mse_floor * float(w_star @ w_star) / problem.d)
    rhs, jac = flow_rhs(problem), flow_jacobian(problem)
    sigma, y = 0.0, np.asarray(problem.w0, dtype=float)  # σ = 0: y is w itself
    info = {"t_switch": None, "sigma": 0.0, "steps": 0, "lu": 0}
    w_rows, mse = np.empty((times.size, y.size)), np.empty(times.size)
    for k, t in enumerate(times):
        if k:
            fun = rhs if sigma == 0.0 else displacement_rhs(problem, sigma)
            sol = solve_ivp(fun, (times[k - 1], t), y, method="Radau",
                            jac=_shifted(jac, sigma * w_star), rtol=rtol, atol=atol)
            assert sol.success, sol.message
            y = sol.y[:, -1]
            info["steps"] += sol.t.size - 1
            info["lu"] += sol.nlu
        if sigma == 0.0:
            w_rows[k] = y
            mse[k] = numpy_stats(problem, y[None, :])[2][0]
            if mse[k] * problem.d < 0.25 * float(w_star @ w_star):
                sigma = 1.0 if float(y @ (problem.eigenvalues * w_star)) >= 0 else -1.0
                y = y - sigma * w_star  # from here on y is z = w − σ w*
                info["t_switch"], info["sigma"] = float(t), sigma
        else:
            w_rows[k] = y + sigma * w_star
            near, far = (y ** 2).sum(), ((y + 2.0 * sigma * w_star) ** 2).sum()
            mse[k] = min(near, far) / problem.d
    s, u, _ = numpy_stats(problem, w_rows)
    return s, u, mse, info


def dop853_late_steps(problem, t_from, t_to, rtol=RADAU_RTOL):
    """DOP853's accepted steps from ``t_from`` to ``t_to`` (started at the flow's state at
    ``t_from`` from Radau): the mean step (t_to − t_from) / steps is DOP853's stability
    limit late in the run, O(1 / (8 s* λ_1))."""
    w = flow_reference(problem, np.array([0.0, t_from]), rtol=rtol, atol=rtol * 1e-3,
                       method="Radau")[-1]
    sol = solve_ivp(flow_rhs(problem), (t_from, t_to), w, method="DOP853", rtol=rtol,
                    atol=rtol * 1e-3)
    assert sol.success, sol.message
    return sol.t.size - 1
