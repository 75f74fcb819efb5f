"""The NumPy loops a researcher would write, the baselines of every speed claim."""


def numpy_gd(lam, w_star, w, s_star, lr, steps):
    """Population GD (model page: Gradient flow), one step = s, u, gradient, update."""
    lam_w_star = lam * w_star
    for _ in range(steps):
        lw = lam * w
        s = lw @ w
        u = lw @ w_star
        w = w - lr * ((12.0 * s - 4.0 * s_star) * lw - 8.0 * u * lam_w_star)
    return w
