"""pyscale.predict at d = 10^6 (issue 3): the escape law (ρ, C: a root search over O(d)
sums) and the Phase III curve on 100 τ values (100 O(d) exponential sums), each beside
the NumPy code a researcher would write for the same sums.

Run by hand: ``python -c "from benchmarks.bench_theory import *; b = PredictD1e6();
b.setup(); b.time_predict_escape(); b.time_numpy_escape()"``.
"""
import numpy as np
from scipy.optimize import brentq

import pyscale
from pyscale.theory import spectral_proxy

D = 1_000_000
TAUS = np.geomspace(1e-2, 1e12, 100)


def numpy_escape_law(lam, w_star, w0, s_star):
    """ρ by SciPy's brentq on the NumPy dispersion sum, then C = â(ρ)/D'(ρ) (model page: Escape)."""
    c = (lam * w_star) ** 2
    mu = 4.0 * s_star * lam
    top = mu.max()

    def f(p):
        return 8.0 * np.sum(c / (p - mu)) - 1.0
    rho = brentq(f, top * (1 + 1e-15), top + 8.0 * c.sum(), xtol=1e-300, rtol=1e-15)
    gap = rho - mu
    return rho, np.sum(lam * w0 * w_star / gap) / (8.0 * np.sum(c / gap ** 2))


def numpy_tail_curve(lam, e2, taus, rate=16.0):
    """Σ_i e_i^2 exp(−rate λ_i τ) for each τ, one NumPy exp per τ (model page: Phase III)."""
    return np.array([e2 @ np.exp(-rate * tau * lam) for tau in taus])


class PredictD1e6:
    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        self.problem = pyscale.Problem.power_law(D, 2.0, seed=0)
        # a Phase III state: w(T2) stand-in with the tail unlearned (e = −w* beyond 100)
        w = np.array(self.problem.w_star, copy=True)
        w[100:] = 0.0
        self.w_t2 = w
        self.e2 = (w - self.problem.w_star) ** 2
        pred = pyscale.predict(self.problem)  # compile / load the kernels once
        pred.tail_mse(TAUS[:2], self.w_t2)
        spectral_proxy(self.problem.eigenvalues[:10], TAUS[:2])

    def time_predict_escape(self):
        """ρ and C (predict() computes both)."""
        pyscale.predict(self.problem)

    def time_numpy_escape(self):
        p = self.problem
        numpy_escape_law(p.eigenvalues, p.w_star, p.w0, p.s_star)

    def time_tail_mse_100_taus(self):
        pyscale.predict(self.problem).tail_mse(TAUS, self.w_t2)

    def time_numpy_tail_100_taus(self):
        numpy_tail_curve(self.problem.eigenvalues, self.e2, TAUS)

    def time_spectral_proxy_100_taus(self):
        spectral_proxy(self.problem.eigenvalues, TAUS)

    def time_numpy_spectral_proxy_100_taus(self):
        lam = self.problem.eigenvalues
        np.array([np.exp(-16.0 * tau * lam).mean() for tau in TAUS])

    def time_predict_full(self):
        """predict + T1 + Phase III curve + the tail asymptotics: the issue's workload."""
        pred = pyscale.predict(self.problem)
        pred.escape_time(0.05)
        pred.tail_mse(TAUS, self.w_t2)
        pred.tail_asymptotics(TAUS)

    def track_root_iterations(self):
        return pyscale.predict(self.problem).escape.iterations
    track_root_iterations.unit = "O(d) passes"
