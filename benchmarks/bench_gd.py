"""Population GD per step: pyscale's fused C++ pass vs the NumPy loop (issue 2).

Both sides run the same number of steps per call, so the ratio of the two timings is the
speed-up per step. One memory pass per step is the limit: the fused step reads lambda, w*,
w and writes w (32 bytes per coordinate); ``track_bytes_per_step`` reports it.
"""
import numpy as np

import pyscale

from .baselines import numpy_gd

STEPS = {1_000: 20_000, 1_000_000: 20}


class GDStep:
    params = [1_000, 1_000_000]
    param_names = ["d"]
    timeout = 300

    def setup(self, d):
        self.problem = pyscale.Problem.power_law(d, 2.0, seed=0)
        self.steps = STEPS[d]
        pyscale.simulate(self.problem, "gd", lr=1e-2, steps=1, record=[0, 1])

    def time_pyscale(self, d):
        pyscale.simulate(self.problem, "gd", lr=1e-2, steps=self.steps, record=[0, self.steps],
                         threads=1)

    def time_pyscale_threads2(self, d):
        pyscale.simulate(self.problem, "gd", lr=1e-2, steps=self.steps, record=[0, self.steps],
                         threads=2)

    def time_numpy(self, d):
        p = self.problem
        numpy_gd(p.eigenvalues, p.w_star, p.w0.copy(), p.s_star, 1e-2, self.steps)

    def time_memory_pass_limit(self, d):
        # What one pass over the same bytes costs: read three arrays, write one.
        p = self.problem
        w = p.w0.copy()
        for _ in range(self.steps):
            np.multiply(p.eigenvalues, p.w_star, out=w)

    def track_bytes_per_step(self, d):
        return 32 * d
    track_bytes_per_step.unit = "bytes"
