"""The population flow from t = 0 to t = 1e5 (the horizon of the paper's Figure 2, i.e.
1e7 GD steps at lr = 1e-2) against the NumPy GD loop that a researcher would run instead.

``time_numpy_gd_step`` times one NumPy GD step: the baseline for the whole horizon is
1e7 times it (running it would take minutes at d = 1e3 and a day at d = 1e6). The
``track_*`` benchmarks report the integrator's work per decade of t.
"""
import numpy as np

import pyscale

from .baselines import numpy_gd

HORIZON = 1e5
GD_STEPS_FOR_HORIZON = int(HORIZON / 1e-2)


class FlowToFigure2Horizon:
    params = ([1_000, 1_000_000], [1e-6, 1e-9])
    param_names = ["d", "rtol"]
    timeout = 2400
    number = 1
    repeat = 1

    def setup_cache(self):
        # the integrator's work per parameter, from one run each: the two track_*
        # benchmarks read it instead of running the flow again (a run at d = 1e6,
        # rtol = 1e-9 takes about a minute on 2 cores)
        work = {}
        for d in self.params[0]:
            problem = pyscale.Problem.power_law(d, 2.0, seed=0)
            for rtol in self.params[1]:
                tr = pyscale.simulate(problem, "flow", t=_times(), rtol=rtol)
                work[d, rtol] = (tr.meta["steps"], tr.meta["passes"])
        return work

    def setup(self, work, d, rtol):
        self.problem = pyscale.Problem.power_law(d, 2.0, seed=0)
        self.times = _times()

    def time_flow(self, work, d, rtol):
        pyscale.simulate(self.problem, "flow", t=self.times, rtol=rtol)

    def track_steps_per_decade(self, work, d, rtol):
        return work[d, rtol][0] / np.log10(HORIZON / 1e-2)

    def track_passes_per_decade(self, work, d, rtol):
        return work[d, rtol][1] / np.log10(HORIZON / 1e-2)


def _times() -> np.ndarray:
    """The records: t = 0 and 8 points log-spaced over [1e-2, HORIZON]."""
    return np.concatenate([[0.0], np.geomspace(1e-2, HORIZON, 8)])


class NumpyGDBaseline:
    """One NumPy GD step; x 1e7 = the NumPy cost of reaching t = 1e5 at lr = 1e-2."""
    params = [1_000, 1_000_000]
    param_names = ["d"]

    def setup(self, d):
        self.problem = pyscale.Problem.power_law(d, 2.0, seed=0)

    def time_numpy_gd_step(self, d):
        p = self.problem
        numpy_gd(p.eigenvalues, p.w_star, p.w0.copy(), p.s_star, 1e-2, 1)


class FlowMemory:
    """Peak memory of a flow run at d = 1e7: the problem (3 arrays) + state + 4 stage vectors."""
    timeout = 600

    def setup(self):
        self.problem = pyscale.Problem.power_law(10_000_000, 2.0, seed=0)

    def peakmem_flow_d1e7(self):
        pyscale.simulate(self.problem, "flow", t=[0.0, 1.0], rtol=1e-6)

    def track_workspace_arrays(self):
        return pyscale._core.flow.flow_workspace_bytes(10_000_000) / (8 * 10_000_000)
    track_workspace_arrays.unit = "arrays of length d"


class FlowDenseRecords:
    """Records read off the dense output cost no steps: 4001 records vs 41 at d = 2e4, to
    t = 1e6 (log-spaced from 1e-2, plus t = 0). ``record_mode="step"`` lands a step on
    every record instead (the previous behaviour), for comparison."""
    params = ([41, 4001], ["interpolate", "step"])
    param_names = ["records", "record_mode"]
    timeout = 600
    number = 1
    repeat = 3

    def setup(self, records, record_mode):
        self.problem = pyscale.Problem.power_law(20_000, 2.0, seed=0)
        self.times = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, records - 1)])

    def time_flow(self, records, record_mode):
        pyscale.simulate(self.problem, "flow", t=self.times, threads=1,
                         record_mode=record_mode)

    def track_steps(self, records, record_mode):
        tr = pyscale.simulate(self.problem, "flow", t=self.times, threads=1,
                              record_mode=record_mode)
        return tr.meta["steps"]


class FlowDenseRecordCostRatio:
    """CPU time of 4001 records over that of 41 (d = 2e4, t = 1e6; goal <= 1.3)."""
    timeout = 600

    def setup(self):
        self.problem = pyscale.Problem.power_law(20_000, 2.0, seed=0)

    def _cpu(self, records):
        import time
        times = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, records - 1)])
        best = np.inf
        for _ in range(2):
            start = time.process_time()
            pyscale.simulate(self.problem, "flow", t=times, threads=1)
            best = min(best, time.process_time() - start)
        return best

    def track_ratio_4001_vs_41(self):
        return self._cpu(4001) / self._cpu(41)
    track_ratio_4001_vs_41.unit = "ratio"
