"""Two-layer networks at d = 10^6 (networks page: Using networks, Costs): the cost of one
flow pass and of one online-SGD step against the number of units p = k ∈ {1, 2, 4, 8}
(erf committee), beside the NumPy loops a researcher would write and the O(d p (p + k))
model of a pass.

* one flow pass: a flow run to t = 0.2 over the passes it made; its NumPy counterpart is one
  population GD step W += lr Q (W A + W* Bᵀ) with (A, B) from the closed-form erf sums
  (networks page: The gradient) — the loop the flow replaces;
* one online-SGD step (batch 1, one thread; marginal cost); its NumPy counterpart draws
  x = √λ·N(0, I), the p + k projections, and updates W.

p = k = 1 with readouts 1 is the single-index model and runs on the single-index engines
(networks page: One unit on each side), so the p = 1 row is the single-index erf engine's cost.
Each is reported as seconds and as a ratio to p = 1, beside the model's ratio
p (p + k) / 2 for a pass and (p + k) / 2 for a step. ``python -m benchmarks.bench_networks``
prints the table (best of 3; on a shared machine the figures are provisional).
"""
import numpy as np
from scipy import special

import pyscale

from . import costs

D = 1_000_000
UNITS = [1, 2, 4, 8]
FLOW_T = [0.0, 0.05, 0.2]
SGD_STEPS = 20
LR = 1e-3
_DRAWN: dict = {}


def _problem(p):
    if p not in _DRAWN:
        _DRAWN[p] = pyscale.Problem.power_law(D, 2.0, units=p, teacher_units=p, seed=0,
                                              link="erf")
    return _DRAWN[p]


def erf_coefficients(S, U, s_star, a, b):
    """(A, B) of the erf committee in closed form (networks page: The gradient)."""
    ds, dstar = np.diag(S), np.diag(s_star)
    delta = (1 + ds[:, None]) * (1 + ds[None, :]) - S ** 2
    delta_t = (1 + ds[:, None]) * (1 + dstar[None, :]) - U ** 2
    A = -4 / np.pi * np.outer(a, a) / np.sqrt(delta)
    off = (a[None, :] * S / np.sqrt(delta)).sum(1) - a * ds / np.sqrt(np.diag(delta))
    diag = (-4 / np.pi * a ** 2 / ((1 + ds) * np.sqrt(1 + 2 * ds))
            + 4 / np.pi * a / (1 + ds) * (off - (b[None, :] * U / np.sqrt(delta_t)).sum(1)))
    A[np.diag_indices_from(A)] = diag
    return A, 4 / np.pi * np.outer(a, b) / np.sqrt(delta_t)


def numpy_gd(problem, steps=3, lr=1e-2):
    lam, ws, w = problem.eigenvalues, problem.w_star, problem.w0.copy()
    a, b, s_star = problem.readout, problem.teacher_readout, problem.S_star
    for _ in range(steps):
        qw = lam[:, None] * w
        A, B = erf_coefficients(w.T @ qw, qw.T @ ws, s_star, a, b)
        w += lr * lam[:, None] * (w @ A.T + ws @ B.T)
    return w


def numpy_sgd(problem, steps=SGD_STEPS, seed=0):
    rng = np.random.default_rng(seed)
    root, ws, w = np.sqrt(problem.eigenvalues), problem.w_star, problem.w0.copy()
    a, b = problem.readout, problem.teacher_readout
    for _ in range(steps):
        x = rng.standard_normal(root.size) * root
        h, hs = x @ w, x @ ws
        resid = special.erf(h / np.sqrt(2)) @ a - special.erf(hs / np.sqrt(2)) @ b
        g = 2 * resid * a * np.sqrt(2 / np.pi) * np.exp(-0.5 * h * h)
        w -= LR * np.outer(x, g)
    return w


def flow_seconds_per_pass(problem, repeat=3):
    return costs.flow_seconds_per_pass(problem, FLOW_T, repeat)


def sgd_seconds_per_step(problem, repeat=3):
    return costs.sgd_seconds_per_step(problem, LR, SGD_STEPS, repeat)


class _OverUnits:
    """asv's parameters shared by the network benchmarks: p = k over UNITS."""
    params = UNITS
    param_names = ["units"]
    timeout = 1200
    number = 1
    repeat = 3

    def setup(self, units):
        self.problem = _problem(units)


class NetworkFlowPass(_OverUnits):
    def time_flow_to_t02(self, units):
        pyscale.simulate(self.problem, "flow", t=FLOW_T, threads=1)

    def time_numpy_gd_step(self, units):
        numpy_gd(self.problem, steps=1)

    def track_pass_ratio_to_one_unit(self, units):
        return flow_seconds_per_pass(self.problem, 1) / flow_seconds_per_pass(_problem(1), 1)
    track_pass_ratio_to_one_unit.unit = "ratio"

    def track_numpy_step_over_pass(self, units):
        return (costs.best_of(lambda: numpy_gd(self.problem, 1), 1)
                / flow_seconds_per_pass(self.problem, 1))
    track_numpy_step_over_pass.unit = "ratio"


class NetworkSgdStep(_OverUnits):
    def time_sgd_20_steps(self, units):
        pyscale.simulate(self.problem, "sgd", lr=LR, steps=SGD_STEPS, record=[0, SGD_STEPS],
                         threads=1, seed=1)

    def time_numpy_sgd_20_steps(self, units):
        numpy_sgd(self.problem)

    def track_speedup_vs_numpy(self, units):
        numpy_step = costs.best_of(lambda: numpy_sgd(self.problem), 1) / SGD_STEPS
        return numpy_step / sgd_seconds_per_step(self.problem, 1)
    track_speedup_vs_numpy.unit = "ratio"


def main():
    print(f"d = {D}, erf committee p = k, one thread; ratios to p = 1 beside the model")
    print(f"{'p':>3s} {'flow pass':>10s} {'/p=1':>6s} {'model':>6s} {'NumPy GD':>10s} "
          f"{'SGD step':>10s} {'/p=1':>6s} {'model':>6s} {'NumPy SGD':>10s}")
    base_f = base_s = None
    for p in UNITS:
        prob = _problem(p)
        f, s = flow_seconds_per_pass(prob), sgd_seconds_per_step(prob)
        gd = costs.best_of(lambda q=prob: numpy_gd(q, 1))
        nps = costs.best_of(lambda q=prob: numpy_sgd(q)) / SGD_STEPS
        base_f, base_s = base_f or f, base_s or s
        print(f"{p:3d} {f * 1e3:7.2f} ms {f / base_f:6.2f} {p * 2 * p / 2:6.1f} "
              f"{gd * 1e3:7.2f} ms {s * 1e3:7.3f} ms {s / base_s:6.2f} {p:6.1f} "
              f"{nps * 1e3:7.3f} ms", flush=True)


if __name__ == "__main__":
    main()
