"""Independent references for the engines on link pairs other than the square (links page:
Flow coefficients): the flow coefficients c0 = -2 dl/ds, c1 = -dl/du of a few pairs written
out in plain NumPy from their closed forms (tanh by 2-D Gauss-Hermite quadrature of the Stein
forms), the links and their derivatives for per-sample gradients, and the plain loops built
on them: the flow's right-hand side for SciPy, explicit GD, online SGD over many seeds.

Nothing here calls pyscale's engines or its link kernels.
"""
import math

import numpy as np

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _relu(s, u, ss):
    # l = s/2 - 2 kappa(s, s*, u) + s*/2, kappa = sqrt(s s*)/(2 pi) (sin th + (pi - th) cos th)
    g = max(s * ss - u * u, 0.0)
    theta = math.acos(max(-1.0, min(1.0, u / math.sqrt(s * ss))))
    return -1.0 + math.sqrt(g) / (math.pi * s), (math.pi - theta) / math.pi


def _abs(s, u, ss):
    # l = s - 2 (2/pi) (sqrt(s s* - u^2) + u arcsin rho) + s*
    g = max(s * ss - u * u, 0.0)
    rho = max(-1.0, min(1.0, u / math.sqrt(s * ss)))
    return -2.0 + 4.0 / math.pi * math.sqrt(g) / s, 4.0 / math.pi * math.asin(rho)


def _erf(s, u, ss):
    # l = (2/pi) [arcsin(s/(1+s)) - 2 arcsin(x) + arcsin(s*/(1+s*))], x = u/sqrt((1+s)(1+s*))
    root = math.sqrt((1.0 + s) * (1.0 + ss))
    x = u / root
    q = math.sqrt(1.0 - x * x)
    ls = 2.0 / math.pi * (1.0 / ((1.0 + s) * math.sqrt(1.0 + 2.0 * s)) + x / ((1.0 + s) * q))
    lu = -4.0 / math.pi / (root * q)
    return -2.0 * ls, -lu


def _square_abs(s, u, ss):
    # E[z^2 |z*|] = sqrt(2/pi) (s sqrt(s*) + u^2 / sqrt(s*)): l = 3 s^2 - 2 E[z^2 |z*|] + s*
    return -12.0 * s + 4.0 * SQRT_2_OVER_PI * math.sqrt(ss), \
        4.0 * SQRT_2_OVER_PI * u / math.sqrt(ss)


_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(80)
_WEIGHTS = _WEIGHTS / math.sqrt(2.0 * math.pi)
_G1, _G2 = np.meshgrid(_NODES, _NODES, indexing="ij")
_W2 = np.outer(_WEIGHTS, _WEIGHTS)


def _tanh(s, u, ss):
    # Stein: c0 = -2 E[s'(z)^2 + (s(z) - t(z*)) s''(z)], c1 = 2 E[t'(z*) s'(z)], with
    # z* = sqrt(s*) g1, z = (u / sqrt(s*)) g1 + sqrt(s - u^2/s*) g2.
    zs = math.sqrt(ss) * _G1
    z = (u / math.sqrt(ss)) * _G1 + math.sqrt(max(s - u * u / ss, 0.0)) * _G2
    t, ts = np.tanh(z), np.tanh(zs)
    d1, d1s = 1.0 - t * t, 1.0 - ts * ts
    d2 = -2.0 * t * d1
    c0 = -2.0 * np.sum(_W2 * (d1 * d1 + (t - ts) * d2))
    c1 = 2.0 * np.sum(_W2 * d1s * d1)
    return float(c0), float(c1)


#: pair identity -> (c0, c1) as functions of (s, u, s*)
COEFFICIENTS = {"relu": _relu, "abs": _abs, "erf": _erf, "square,abs": _square_abs,
                "tanh": _tanh}

#: link name -> (sigma, sigma') on arrays
LINKS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "abs": (np.abs, np.sign),
    "square": (lambda z: z * z, lambda z: 2.0 * z),
}


def flow_rhs(lam, w_star, s_star, pair):
    """dw/dt = c0 Q w + c1 Q w* with the reference coefficients of ``pair``."""
    coefficients = COEFFICIENTS[pair]
    lam_w_star = lam * w_star

    def rhs(_, w):
        lw = lam * w
        c0, c1 = coefficients(float(lw @ w), float(lw @ w_star), s_star)
        return c0 * lw + c1 * lam_w_star
    return rhs


def flow_solution(problem, pair, times, rtol=1e-11, atol=1e-14):
    """SciPy's DOP853 on the full ODE: the states at ``times`` (rows)."""
    from scipy.integrate import solve_ivp

    rhs = flow_rhs(problem.eigenvalues, problem.w_star, problem.s_star, pair)
    sol = solve_ivp(rhs, (0.0, float(times[-1])), problem.w0, method="DOP853", t_eval=times,
                    rtol=rtol, atol=atol)
    assert sol.success, sol.message
    return sol.y.T


def gd_iteration(problem, pair, lr, steps):
    """Explicit GD w <- w + lr Q (c0 w + c1 w*): the state after each step 0..steps."""
    lam, w_star, s_star = problem.eigenvalues, problem.w_star, problem.s_star
    w = np.array(problem.w0, dtype=float)
    out = [w.copy()]
    for _ in range(steps):
        lw = lam * w
        c0, c1 = COEFFICIENTS[pair](float(lw @ w), float(lw @ w_star), s_star)
        w = w + lr * (c0 * lw + c1 * lam * w_star)
        out.append(w.copy())
    return np.array(out)


def sgd_many(problem, student, teacher, lr, batch, steps, record, members, noise, seed):
    """Online SGD over ``members`` independent runs at once (rows): per step and member,
    ``batch`` fresh x = sqrt(lambda) z, y = tau(x.w*) + xi, and
    w <- w - (lr / B) sum_b 2 (sigma(p_b) - y_b) sigma'(p_b) x_b. Returns (s, u) at the
    record steps, each (len(record), members)."""
    rng = np.random.default_rng(seed)
    sig, sig_prime = LINKS[student]
    tau = LINKS[teacher][0]
    lam, w_star = problem.eigenvalues, problem.w_star
    root = np.sqrt(lam)
    w = np.tile(problem.w0, (members, 1))
    s_out, u_out = [], []
    for k in range(steps + 1):
        if k in record:
            s_out.append((w * w) @ lam)
            u_out.append(w @ (lam * w_star))
        if k == steps:
            break
        x = root * rng.standard_normal((members, batch, lam.size))
        p = np.einsum("rbi,ri->rb", x, w)
        y = tau(x @ w_star) + math.sqrt(noise) * rng.standard_normal((members, batch))
        g = 2.0 * (sig(p) - y) * sig_prime(p)
        w = w - (lr / batch) * np.einsum("rb,rbi->ri", g, x)
    return np.array(s_out), np.array(u_out)
