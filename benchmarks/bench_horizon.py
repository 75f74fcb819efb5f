"""What a horizon resolves, side by side (ratios): the flow's exponential scheme beside
RODAS4 and the NumPy pass a researcher would write, and the horizon-aware compression
beside the uniform one.

* ``FlowSchemes``: the flow from t = 0 to 10^12 at d = 1000 and 10^5 (a ∈ {1.5, 2, 3},
  rtol 1e-6 / 1e-9), RODAS4, the exponential scheme and ``scheme="auto"`` run side by side
  on one problem (one thread): the exponential scheme's O(d) passes and wall time over
  RODAS4's (``track_passes_exponential_over_rodas4``, ``track_time_exponential_over_rodas4``),
  auto's wall time over RODAS4's, each scheme's largest global error in s, u and the MSE
  over 200 records against RODAS4 at rtol 1e-12, over rtol, and the time of one exponential
  pass over one NumPy pass forming s and u (``lw = lam * w; lw @ w; lw @ w_star``).
  ``python benchmarks/bench_horizon.py [d ...]`` prints the table (with sizes given, only
  that table). RODAS4 at 1e-12 is the project's own solver: ``python
  benchmarks/bench_horizon.py --reference radau [d ...]`` (default d = 1000) prints the same
  schemes' errors against an independent reference, SciPy's Radau at rtol 1e-12 with the
  analytic Jacobian (tests/reference_flow.py; DOP853 cannot reach t = 10^12, its step being
  stability-limited to O(1)). Radau factors the dense d × d matrix thousands of times
  (tens of minutes at d = 1000 on a loaded 2-core machine), so it stays out of asv.
* ``CompressedFlowScaling``: the compressed flow to t = 10^8 (a = 2, δ = 10^-3), uniform and
  horizon-aware (``horizon=1e8``), at d = 10^6 and 10^9: ``track_modes`` and
  ``track_cost_over_d1e6`` (this d's CPU time over d = 10^6's, same grouping).
"""
import time

import numpy as np

import pyscale

TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 1e12, 200)])
SCHEMES = ("rodas4", "exponential", "auto")


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


def _measure(d, a, rtols, repeat):
    """At each rtol, each scheme's passes, best wall time of ``repeat`` runs and largest
    error in s, u and the MSE against RODAS4 at rtol 1e-12 (over rtol), run side by side on
    one problem."""
    problem = pyscale.Problem.power_law(d, a, seed=0)
    ref = _flow(problem, 1e-12, "rodas4")
    resolved = ref.mse > 1e-8 * ref.mse[0]
    numpy_pass = _numpy_pass_seconds(problem)
    runs = {}
    for rtol in rtols:
        out = {"numpy_pass": numpy_pass}
        for scheme in SCHEMES:
            best = np.inf
            for _ in range(repeat):
                t0 = time.perf_counter()
                tr = _flow(problem, rtol, scheme)
                best = min(best, time.perf_counter() - t0)
            err = max(np.max(np.abs(tr.s - ref.s)), np.max(np.abs(tr.u - ref.u)),
                      np.max(np.abs(tr.mse[resolved] / ref.mse[resolved] - 1)))
            out[scheme] = {"passes": tr.meta["passes"], "seconds": best, "error": err / rtol,
                           "chosen": tr.meta["scheme"]}
        runs[rtol] = out
    return runs


class FlowSchemes:
    """The flow to t = 10^12 (seed 0, 200 records), RODAS4 beside the exponential scheme
    and ``scheme="auto"``: passes and wall time as ratios to RODAS4's."""
    params = ([1000, 100_000], [1.5, 2.0, 3.0], [1e-6, 1e-9])
    param_names = ["d", "a", "rtol"]
    timeout = 1800
    number = 1
    repeat = 1

    def setup_cache(self):
        runs = {}
        for d in self.params[0]:
            for a in self.params[1]:
                for rtol, r in _measure(d, a, self.params[2], 3 if d <= 1000 else 1).items():
                    runs[d, a, rtol] = r
        return runs

    def track_passes_rodas4(self, runs, d, a, rtol):
        return runs[d, a, rtol]["rodas4"]["passes"]

    def track_passes_exponential_over_rodas4(self, runs, d, a, rtol):
        r = runs[d, a, rtol]
        return r["exponential"]["passes"] / r["rodas4"]["passes"]

    def track_time_exponential_over_rodas4(self, runs, d, a, rtol):
        r = runs[d, a, rtol]
        return r["exponential"]["seconds"] / r["rodas4"]["seconds"]

    def track_time_auto_over_rodas4(self, runs, d, a, rtol):
        r = runs[d, a, rtol]
        return r["auto"]["seconds"] / r["rodas4"]["seconds"]

    def track_error_over_rtol_rodas4(self, runs, d, a, rtol):
        return runs[d, a, rtol]["rodas4"]["error"]

    def track_error_over_rtol_exponential(self, runs, d, a, rtol):
        return runs[d, a, rtol]["exponential"]["error"]

    def track_exponential_pass_over_numpy_pass(self, runs, d, a, rtol):
        r = runs[d, a, rtol]
        e = r["exponential"]
        return e["seconds"] / e["passes"] / r["numpy_pass"]


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


def _radau_module():
    """tests/reference_flow.py (SciPy's Radau and DOP853 on the flow), loaded by path."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "tests" / "reference_flow.py"
    spec = importlib.util.spec_from_file_location("reference_flow", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def radau_table(d, a, rtols=(1e-6, 1e-9)):
    """Rows of the table against SciPy's Radau at rtol 1e-12 (tests/reference_flow.py): per
    rtol, each scheme's passes and wall time and its largest error in s, u and the relative
    MSE (where the MSE is above 10^-8 of its start) over rtol; and Radau's own cost."""
    ref_module = _radau_module()
    problem = pyscale.Problem.power_law(d, a, seed=0)
    t0 = time.perf_counter()
    s, u, mse, info = ref_module.radau_reference(problem, TIMES)
    info["seconds"] = time.perf_counter() - t0
    resolved = mse > 1e-8 * mse[0]
    rows = []
    for rtol in rtols:
        row = {"rtol": rtol}
        for scheme in ("rodas4", "exponential"):
            t0 = time.perf_counter()
            tr = _flow(problem, rtol, scheme)
            row[scheme] = {"passes": tr.meta["passes"], "seconds": time.perf_counter() - t0,
                           "s": np.max(np.abs(tr.s - s)) / rtol,
                           "u": np.max(np.abs(tr.u - u)) / rtol,
                           "mse": np.max(np.abs(tr.mse[resolved] / mse[resolved] - 1)) / rtol}
        rows.append(row)
    return rows, info


def _print_radau(sizes):
    print("against SciPy Radau (rtol 1e-12, analytic Jacobian), errors over rtol: "
          "s / u / relative MSE (MSE > 1e-8 of its start)")
    for d in sizes:
        for a in FlowSchemes.params[1]:
            rows, info = radau_table(d, a)
            print(f"d={d} a={a:g}: Radau {info['steps']} steps, {info['lu']} LU, "
                  f"{info['seconds']:.0f} s, in z = w - σw* from t = {info['t_switch']:.3g}",
                  flush=True)
            for r in rows:
                ro, ex = r["rodas4"], r["exponential"]
                print(f"  rtol={r['rtol']:g}: passes {ro['passes']} -> {ex['passes']}  "
                      f"wall exp/rodas4 {ex['seconds'] / ro['seconds']:.2f}  RODAS4 "
                      f"{ro['s']:.2f} / {ro['u']:.2f} / {ro['mse']:.1f}  exponential "
                      f"{ex['s']:.2f} / {ex['u']:.2f} / {ex['mse']:.2f}", flush=True)


if __name__ == "__main__":
    import sys
    if sys.argv[1:3] == ["--reference", "radau"]:
        _print_radau([int(float(v)) for v in sys.argv[3:]] or [1000])
        sys.exit(0)
    sizes = [int(float(v)) for v in sys.argv[1:]] or FlowSchemes.params[0]
    for d in sizes:
        for a in FlowSchemes.params[1]:
            for rtol, r in _measure(d, a, FlowSchemes.params[2], 3 if d <= 1000 else 1).items():
                ro, ex, au = r["rodas4"], r["exponential"], r["auto"]
                print(f"d={d:<6d} a={a:<3g} rtol={rtol:g}: passes {ro['passes']:6d} -> "
                      f"{ex['passes']:5d} ({ex['passes'] / ro['passes']:.3f})  seconds "
                      f"{ro['seconds']:.3f} -> {ex['seconds']:.3f} "
                      f"({ex['seconds'] / ro['seconds']:.2f})  auto={au['chosen']} "
                      f"({au['seconds'] / ro['seconds']:.2f})  error/rtol {ro['error']:.2f} "
                      f"/ {ex['error']:.2f}", flush=True)
    comp = CompressedFlowScaling()
    for grouping in comp.params[1] if len(sys.argv) == 1 else ():
        for d in comp.params[0]:
            comp.setup(d, grouping)
            print(f"compressed flow d={d:.0e} {grouping:8s}: modes {comp.track_modes(d, grouping)}"
                  f"  cost / d=1e6 {comp.track_cost_over_d1e6(d, grouping):.2f}")
