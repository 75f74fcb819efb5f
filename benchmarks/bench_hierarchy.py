"""The truncated hierarchy (model page: Moment hierarchy; pyscale.hierarchy) at K = 64 to t = 10, a
= 2, d = 1000.

``time_*`` exclude numba compilation (``setup`` runs the kernels once, and cache=True keeps
them on disk). ``track_compile_seconds`` measures the compilation on its own: a fresh Python
process with an empty numba cache directory times its first call. Runnable by hand:
``python -m benchmarks.bench_hierarchy``.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

import pyscale

HORIZON = 10.0
ORDER = 64

_FIRST_CALL = """
import time, numpy as np, pyscale
problem = pyscale.Problem.power_law(1000, 2.0, seed=0)
start = time.perf_counter()
pyscale.hierarchy(problem, order=8, t=[0.0, 0.1], closure="{closure}", error_estimate=False)
first = time.perf_counter() - start
start = time.perf_counter()
pyscale.hierarchy(problem, order=8, t=[0.0, 0.1], closure="{closure}", error_estimate=False)
print(first - (time.perf_counter() - start))
"""


def _compile_seconds(closure: str) -> float:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache,
                   PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(closure=closure)],
                             env=env, capture_output=True, text=True, check=True, cwd=repo)
    return float(out.stdout.strip().splitlines()[-1])


class HierarchyK64:
    params = (["gauss", "zero"],)
    param_names = ["closure"]
    number = 1
    repeat = 5

    def setup(self, closure):
        self.problem = pyscale.Problem.power_law(1000, 2.0, seed=0)
        self.times = np.linspace(0.0, HORIZON, 101)
        # compile (or load from the numba cache) outside the timed region
        pyscale.hierarchy(self.problem, order=4, t=[0.0, 0.1], closure=closure,
                          error_estimate=False, on_divergence="ignore")

    def time_hierarchy_to_t10(self, closure):
        pyscale.hierarchy(self.problem, order=ORDER, t=self.times, closure=closure,
                          error_estimate=False, on_divergence="ignore")

    def time_hierarchy_to_t10_with_error_estimate(self, closure):
        pyscale.hierarchy(self.problem, order=ORDER, t=self.times, closure=closure,
                          on_divergence="ignore")

    def track_steps_to_t10(self, closure):
        run = pyscale.hierarchy(self.problem, order=ORDER, t=self.times, closure=closure,
                                error_estimate=False, on_divergence="ignore")
        return run.steps
    track_steps_to_t10.unit = "steps"


class HierarchyCompile:
    """numba compilation of the hierarchy kernels (first call, empty cache, new process)."""
    number = 1
    repeat = 1
    timeout = 600

    def track_compile_seconds(self):
        return _compile_seconds("gauss")
    track_compile_seconds.unit = "seconds"


class ExactFlowSameWindow:
    """The C++ exact flow over the same window, for scale (it gives orders 1–2 only)."""
    number = 1
    repeat = 5

    def setup(self):
        self.problem = pyscale.Problem.power_law(1000, 2.0, seed=0)
        self.times = np.linspace(0.0, HORIZON, 101)

    def time_flow_to_t10(self):
        pyscale.simulate(self.problem, "flow", t=self.times, rtol=1e-10)


if __name__ == "__main__":
    import timeit
    for closure in ("gauss", "zero"):
        bench = HierarchyK64()
        bench.setup(closure)
        best = min(timeit.repeat(lambda c=closure, b=bench: b.time_hierarchy_to_t10(c), number=1,
                                 repeat=5))
        best_est = min(timeit.repeat(
            lambda c=closure, b=bench: b.time_hierarchy_to_t10_with_error_estimate(c), number=1,
            repeat=5))
        print(f"hierarchy K={ORDER} to t={HORIZON:g}, {closure}: {best * 1e3:.2f} ms "
              f"({bench.track_steps_to_t10(closure)} steps); with error estimate "
              f"{best_est * 1e3:.2f} ms")
    flow = ExactFlowSameWindow()
    flow.setup()
    best = min(timeit.repeat(flow.time_flow_to_t10, number=1, repeat=5))
    print(f"exact flow d=1000 to t={HORIZON:g}: {best * 1e3:.2f} ms")
    print(f"compile (fresh process, empty numba cache): "
          f"{HierarchyCompile().track_compile_seconds():.2f} s")
