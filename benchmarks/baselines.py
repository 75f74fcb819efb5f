"""The NumPy loops a researcher would write, the baselines of every speed claim."""
import numpy as np


def numpy_gd(lam, w_star, w, s_star, lr, steps):
    """Population GD (model page: Gradient flow), one step = s, u, gradient, update."""
    lam_w_star = lam * w_star
    for _ in range(steps):
        lw = lam * w
        s = lw @ w
        u = lw @ w_star
        w = w - lr * ((12.0 * s - 4.0 * s_star) * lw - 8.0 * u * lam_w_star)
    return w


def numpy_link_gd(lam, w_star, w, s_star, coefficients, lr, steps):
    """Population GD for a link pair (links page: Engines): the NumPy loop with the pair's
    flow coefficients (c0, c1) = coefficients(s, u, s*), w <- w + lr (c0 Q w + c1 Q w*)."""
    lam_w_star = lam * w_star
    for _ in range(steps):
        lw = lam * w
        c0, c1 = coefficients(lw @ w, lw @ w_star, s_star)
        w = w + lr * (c0 * lw + c1 * lam_w_star)
    return w


def numpy_link_sgd(sqrt_lam, w_star, w, sigma, sigma_prime, tau, lr, steps, seed=0):
    """Online SGD for a link pair, batch 1, noise-free labels y = τ(x·w*): the NumPy loop,
    w <- w − lr 2 (σ(p) − y) σ'(p) x with p = x·w."""
    rng = np.random.default_rng(seed)
    d = sqrt_lam.size
    for _ in range(steps):
        x = sqrt_lam * rng.standard_normal(d)
        p = x @ w
        r = sigma(p) - tau(x @ w_star)
        w -= (lr * 2.0 * r * sigma_prime(p)) * x
    return w
