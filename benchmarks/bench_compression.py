"""Spectral compression (model page: Compression): the flow to t = 1e8 costs O(number of modes), so
going from d = 10^6 to d = 10^9 (or 10^12) should cost only the ~ln d growth of the mode count,
a small factor, never the factor 1000 of d itself.

``time_flow_to_1e8`` times the compressed flow (δ = 1e-3, a = 2, rtol = 1e-9, one thread);
``time_build`` the construction of the compressed problem (Bartlett draws, no length-d
vector); ``track_modes`` the number of modes; ``track_steps`` the integrator's steps, which
do not grow with d.
"""
import numpy as np

import pyscale

HORIZON = 1e8
DELTA = 1e-3


class CompressedFlow:
    params = ([1_000_000, 1_000_000_000, 1_000_000_000_000], [2.0])
    param_names = ["d", "a"]
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, d, a):
        self.problem = pyscale.Problem.power_law(d, a, seed=0, compress=DELTA)
        self.times = np.concatenate([[0.0], np.geomspace(1e-2, HORIZON, 41)])

    def time_build(self, d, a):
        pyscale.Problem.power_law(d, a, seed=0, compress=DELTA)

    def time_flow_to_1e8(self, d, a):
        pyscale.simulate(self.problem, "flow", t=self.times, rtol=1e-9, threads=1)

    def track_modes(self, d, a):
        return self.problem.n_modes
    track_modes.unit = "modes"

    def track_steps(self, d, a):
        tr = pyscale.simulate(self.problem, "flow", t=self.times, rtol=1e-9, threads=1)
        return tr.meta["steps"]
    track_steps.unit = "steps"


class CompressExplicit:
    """Compressing an explicit d = 10^6 problem: one sort and a few reduceat passes."""
    timeout = 300
    number = 1
    repeat = 3

    def setup(self):
        self.problem = pyscale.Problem.power_law(1_000_000, 2.0, seed=0)

    def time_compress(self):
        self.problem.compress(DELTA)
