"""Online SGD per step: pyscale's fused C++ step vs the NumPy loop (issue 5).

Both sides run the same number of steps per call, so the ratio of the timings is the
speed-up per step. The NumPy baseline is what a researcher would write:
``x = sqrt(λ)·rng.standard_normal(d)``, two dot products, one update. Sampling the d
Gaussians is the bottleneck: ``time_sampling_limit`` runs the bare sampling loop of the same
generator (Philox4x32-10 + ziggurat, same blocks) and ``track_gaussians_per_second`` turns
it into a rate; ``track_*_speedup`` report the ratios directly. ``EnsembleThroughput``
measures simulate_many (R = 8 seeds) with one and two threads.

``python -m benchmarks.bench_sgd`` prints the same comparisons as a table (best of 7).
"""

import numpy as np

import pyscale
from pyscale import _core

from .costs import best_of as _best

STEPS = {1_000: 5_000, 100_000: 50}
LR = 1e-3


def numpy_sgd(sqrt_lam, w_star, w, lr, steps, seed=0):
    """Online SGD, batch 1, noise-free labels: the NumPy loop."""
    rng = np.random.default_rng(seed)
    d = sqrt_lam.size
    for _ in range(steps):
        x = sqrt_lam * rng.standard_normal(d)
        p = x @ w
        q = x @ w_star
        w -= (lr * 4.0 * (p * p - q * q) * p) * x
    return w


class SGDStep:
    params = [1_000, 100_000]
    param_names = ["d"]
    timeout = 600

    def setup(self, d):
        self.problem = pyscale.Problem.power_law(d, 1.5, seed=0)
        self.steps = STEPS[d]
        self.sqrt_lam = np.sqrt(self.problem.eigenvalues)
        pyscale.simulate(self.problem, "sgd", lr=LR, steps=1, record=[0, 1])

    def _pyscale(self, threads):
        pyscale.simulate(self.problem, "sgd", lr=LR, steps=self.steps, record=[0, self.steps],
                         seed=1, threads=threads)

    def _numpy(self):
        numpy_sgd(self.sqrt_lam, self.problem.w_star, self.problem.w0.copy(), LR, self.steps)

    def _limit(self):
        _core.testing.normal_sample_loop(1, self.problem.d, self.steps, 1)

    def time_pyscale(self, d):
        self._pyscale(1)

    def time_pyscale_threads2(self, d):
        self._pyscale(2)

    def time_numpy(self, d):
        self._numpy()

    def time_sampling_limit(self, d):
        # The bare sampling loop: the same Gaussians, nothing done with them.
        self._limit()

    def track_speedup_vs_numpy(self, d):
        return _best(self._numpy) / _best(lambda: self._pyscale(1))
    track_speedup_vs_numpy.unit = "x"

    def track_gaussians_per_second(self, d):
        return d * self.steps / _best(self._limit)
    track_gaussians_per_second.unit = "Gaussians/s"

    def track_sgd_fraction_of_sampling_limit(self, d):
        return _best(self._limit) / _best(lambda: self._pyscale(1))
    track_sgd_fraction_of_sampling_limit.unit = "fraction"


class EnsembleThroughput:
    params = [1, 2]
    param_names = ["threads"]
    timeout = 600
    R, D, STEPS = 8, 1_000, 2_000

    def setup(self, threads):
        self.problem = pyscale.Problem.power_law(self.D, 1.5, seed=0)

    def _run(self, threads):
        pyscale.simulate_many(self.problem, seeds=self.R, lr=LR, steps=self.STEPS,
                              record=[0, self.STEPS], threads=threads)

    def time_simulate_many(self, threads):
        self._run(threads)

    def track_member_steps_per_second(self, threads):
        return self.R * self.STEPS / _best(lambda: self._run(threads))
    track_member_steps_per_second.unit = "steps/s"


if __name__ == "__main__":
    # Best of 7 wall-clock timings; the machine may be shared, so best-of is the estimate.
    for d in SGDStep.params:
        b = SGDStep()
        b.setup(d)
        steps = b.steps
        tn = _best(b._numpy, 7) / steps
        t1 = _best(lambda b=b: b._pyscale(1), 7) / steps
        t2 = _best(lambda b=b: b._pyscale(2), 7) / steps
        tl = _best(b._limit, 7) / steps
        print(f"d = {d}: numpy {tn * 1e6:9.2f} us/step | pyscale 1 thread {t1 * 1e6:8.2f} "
              f"us/step ({tn / t1:.2f}x) | 2 threads {t2 * 1e6:8.2f} us/step ({tn / t2:.2f}x) | "
              f"bare sampling {tl * 1e6:8.2f} us/step = {d / tl / 1e6:.0f} M Gaussians/s "
              f"(SGD at {tl / t1:.0%} of it)")
    e = EnsembleThroughput()
    e.setup(1)
    for threads in EnsembleThroughput.params:
        t = _best(lambda n=threads: e._run(n), 7)
        print(f"simulate_many R = {e.R}, d = {e.D}, threads = {threads}: "
              f"{e.R * e.STEPS / t:,.0f} member-steps/s "
              f"({e.R * e.STEPS * e.D / t / 1e6:.0f} M Gaussians/s)")
