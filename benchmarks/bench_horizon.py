"""What a horizon resolves, side by side (ratios): the flow's exponential scheme beside
RODAS4 and the NumPy pass a researcher would write, and the horizon-aware compression
beside the uniform one.

* ``FlowToHorizon``: the flow from t = 0 to 10^12 at d = 1000 (a ∈ {1.5, 2, 3}, rtol 1e-6 /
  1e-9), both schemes: ``track_passes`` (O(d) passes, exact counts), ``track_error_over_rtol``
  (the largest global error in s and u over 200 records against RODAS4 at rtol 1e-12,
  divided by rtol) and ``track_pass_over_numpy_pass``: the time of one of the scheme's passes
  over one NumPy pass forming s and u (``lw = lam * w; lw @ w; lw @ w_star``): how far a
  pass is from the cost of reading the state once.
* ``CompressedFlowScaling``: the compressed flow to t = 10^8 (a = 2, δ = 10^-3), uniform and
  horizon-aware (``horizon=1e8``), at d = 10^6 and 10^9: ``track_modes`` and
  ``track_cost_over_d1e6`` (this d's CPU time over d = 10^6's, same grouping).
"""
import time

import numpy as np

import pyscale

TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 1e12, 200)])


def _flow(problem, rtol, scheme):
    return pyscale.simulate(problem, "flow", t=TIMES, rtol=rtol, scheme=scheme, threads=1)


def _numpy_pass_seconds(problem, repeat=200):
    """The NumPy pass forming s and u, best of ``repeat``."""
    lam, ws, w = problem.eigenvalues, problem.w_star, problem.w0
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        lw = lam * w
        lw @ w, lw @ ws
        best = min(best, time.perf_counter() - t0)
    return best


class FlowToHorizon:
    params = ([1.5, 2.0, 3.0], [1e-6, 1e-9], ["rodas4", "exponential"])
    param_names = ["a", "rtol", "scheme"]
    timeout = 600
    number = 1
    repeat = 3

    def setup_cache(self):
        refs = {}
        for a in self.params[0]:
            ref = _flow(pyscale.Problem.power_law(1000, a, seed=0), 1e-12, "rodas4")
            refs[a] = (ref.s, ref.u)
        return refs

    def setup(self, refs, a, rtol, scheme):
        self.problem = pyscale.Problem.power_law(1000, a, seed=0)

    def time_flow(self, refs, a, rtol, scheme):
        _flow(self.problem, rtol, scheme)

    def track_passes(self, refs, a, rtol, scheme):
        return _flow(self.problem, rtol, scheme).meta["passes"]

    def track_error_over_rtol(self, refs, a, rtol, scheme):
        tr = _flow(self.problem, rtol, scheme)
        s, u = refs[a]
        return max(np.max(np.abs(tr.s - s)), np.max(np.abs(tr.u - u))) / rtol

    def track_pass_over_numpy_pass(self, refs, a, rtol, scheme):
        t0 = time.perf_counter()
        tr = _flow(self.problem, rtol, scheme)
        per_pass = (time.perf_counter() - t0) / tr.meta["passes"]
        return per_pass / _numpy_pass_seconds(self.problem)


class CompressedFlowScaling:
    params = ([1_000_000, 1_000_000_000], ["uniform", "horizon"])
    param_names = ["d", "grouping"]
    timeout = 600
    number = 1
    repeat = 1

    @staticmethod
    def _problem(d, grouping):
        return pyscale.Problem.power_law(d, 2.0, seed=0, compress=1e-3,
                                         horizon=1e8 if grouping == "horizon" else None)

    @staticmethod
    def _cpu(problem):
        t0 = time.process_time()
        pyscale.simulate(problem, "flow", t=1e8, rtol=1e-9, threads=1)
        return time.process_time() - t0

    def setup(self, d, grouping):
        self.problem = self._problem(d, grouping)

    def time_flow(self, d, grouping):
        pyscale.simulate(self.problem, "flow", t=1e8, rtol=1e-9, threads=1)

    def track_modes(self, d, grouping):
        return self.problem.n_coords

    def track_cost_over_d1e6(self, d, grouping):
        return self._cpu(self.problem) / self._cpu(self._problem(1_000_000, grouping))


if __name__ == "__main__":
    bench = FlowToHorizon()
    refs = bench.setup_cache()
    for a in bench.params[0]:
        for rtol in bench.params[1]:
            for scheme in bench.params[2]:
                bench.setup(refs, a, rtol, scheme)
                print(f"flow a={a} rtol={rtol:g} {scheme:11s}: passes "
                      f"{bench.track_passes(refs, a, rtol, scheme):6d}  error/rtol "
                      f"{bench.track_error_over_rtol(refs, a, rtol, scheme):.2f}  pass/NumPy "
                      f"pass {bench.track_pass_over_numpy_pass(refs, a, rtol, scheme):.1f}")
    comp = CompressedFlowScaling()
    for grouping in comp.params[1]:
        for d in comp.params[0]:
            comp.setup(d, grouping)
            print(f"compressed flow d={d:.0e} {grouping:8s}: modes {comp.track_modes(d, grouping)}"
                  f"  cost / d=1e6 {comp.track_cost_over_d1e6(d, grouping):.2f}")
