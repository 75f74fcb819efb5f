"""Link pairs (links page): the cost of ℓ(s, u) and its five partial derivatives per call, from
njit code (what the hierarchy and the theory call), beside the NumPy Monte Carlo estimate of the
same loss a researcher would write (10^6 samples: three digits, no derivatives).

Run by hand: ``python -c "from benchmarks.bench_links import *; b = LossDerivatives();
b.setup('relu'); b.time_pair_1000_calls('relu'); b.time_numpy_monte_carlo_loss('relu')"``.
"""
import numpy as np
from numba import njit
from scipy import special

from pyscale._kernels import links as kern
from pyscale.model.links import LinkPair

# pair -> (student, teacher) as NumPy functions, for the Monte Carlo baseline
PAIRS = {"square": (np.square, np.square), "square,abs": (np.square, np.abs),
         "relu": (lambda z: np.maximum(z, 0.0),) * 2,
         "erf": (lambda z: special.erf(z / np.sqrt(2.0)),) * 2, "tanh": (np.tanh, np.tanh)}


@njit(cache=True)
def _calls(params, n):
    acc = 0.0
    for i in range(n):
        d = kern.loss_derivatives(params, 0.7 + 1e-9 * i, 0.3, 1.0)
        acc += d[0] + d[3]
    return acc


def numpy_monte_carlo_loss(f, g, s, u, s_star, samples, rng):
    """E[(σ(z) − τ(z*))²] from `samples` Gaussian pairs (z, z*), covariance [[s, u], [u, s*]]."""
    x, y = rng.standard_normal(samples), rng.standard_normal(samples)
    z_star = np.sqrt(s_star) * x
    z = (u / s_star) * z_star + np.sqrt(s - u * u / s_star) * y
    return np.mean((f(z) - g(z_star)) ** 2)


class LossDerivatives:
    params = list(PAIRS)
    param_names = ["pair"]
    number = 1
    repeat = 5

    def setup(self, pair):
        self.pair = LinkPair(pair)
        self.calls = 10 if self.pair.params[2] else 1000  # quadrature pairs: 10 calls
        _calls(self.pair.params, 2)
        self.rng = np.random.default_rng(0)

    def time_pair_1000_calls(self, pair):
        """1000 calls of loss_derivatives (10 for tanh: multiply by 100)."""
        _calls(self.pair.params, self.calls)

    def time_numpy_monte_carlo_loss(self, pair):
        f, g = PAIRS[pair]
        numpy_monte_carlo_loss(f, g, 0.7, 0.3, 1.0, 1_000_000, self.rng)
