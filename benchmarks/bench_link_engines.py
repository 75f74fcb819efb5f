"""The engines on a link pair beside the square at d = 10^6 (links page: Engines), and beside
the NumPy loops a researcher would write for the same pair.

Two costs, each as a ratio to the square's on the same problem (goal <= 1.3: a pair's
coefficients cost O(1) per stage and its σ, σ' O(1) per sample, beside the O(d) passes):

* one flow pass: the wall time of a flow run to t = 0.2 over the passes over the vectors it
  made; its NumPy counterpart is one population GD step for the pair (two dot products and
  one update, with the pair's (c0, c1)), the loop that would replace the flow;
* one online-SGD step (batch 1, one thread; the marginal cost of a step); its NumPy
  counterpart draws x = √λ·N(0, I), evaluates σ(x·w), τ(x·w*), σ'(x·w) and updates w.

``python -m benchmarks.bench_link_engines`` prints the table (best of 5, each link measured in
alternation with the square; on a shared machine the figures are provisional).
"""
import numpy as np
from scipy import special

import pyscale

from . import costs
from .baselines import numpy_link_gd, numpy_link_sgd

D = 1_000_000
LINKS = ["square", "relu", "erf", "square,abs", "tanh"]
FLOW_T = [0.0, 0.05, 0.2]  # 100-700 passes: the cost per pass does not depend on t
SGD_STEPS = 40
LR = 1e-3
# link -> (σ, σ') as NumPy functions, for the researcher's loops
_NUMPY = {"square": (np.square, lambda z: 2.0 * z), "abs": (np.abs, np.sign),
          "relu": (lambda z: max(z, 0.0), lambda z: float(z > 0)),
          "erf": (lambda z: special.erf(z / np.sqrt(2.0)),
                  lambda z: np.sqrt(2.0 / np.pi) * np.exp(-0.5 * z * z)),
          "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2)}
_DRAWN: dict = {}


def _problem(link):
    """The same power law (a = 2, d = 10^6, drawn once) with the given link pair."""
    if "base" not in _DRAWN:
        _DRAWN["base"] = pyscale.Problem.power_law(D, 2.0, seed=0)
    base = _DRAWN["base"]
    return pyscale.Problem(base.eigenvalues, base.w_star, base.w0, link=link)


def _names(link):
    names = link.split(",")
    return names[0], names[-1]


def flow_seconds_per_pass(problem, repeat=3):
    """Best wall time of a flow run to t = 0.2 divided by its passes over the vectors."""
    return costs.flow_seconds_per_pass(problem, FLOW_T, repeat)


def sgd_seconds_per_step(problem, repeat=3):
    """The marginal wall time of one online-SGD step (batch 1, one thread)."""
    return costs.sgd_seconds_per_step(problem, LR, SGD_STEPS, repeat)


def numpy_gd_seconds_per_step(problem, repeat=3, steps=10):
    """The NumPy population-GD loop for the problem's pair, per step."""
    pair = pyscale.LinkPair(problem.link)
    run = lambda: numpy_link_gd(problem.eigenvalues, problem.w_star,  # noqa: E731
                                problem.w0.copy(), problem.s_star, pair.flow_coefficients,
                                1e-2, steps)
    return costs.best_of(run, repeat) / steps


def numpy_sgd_seconds_per_step(problem, link, repeat=3):
    """The NumPy online-SGD loop for the pair, per step."""
    student, teacher = _names(link)
    sigma, sigma_prime = _NUMPY[student]
    sqrt_lam = np.sqrt(problem.eigenvalues)
    run = lambda: numpy_link_sgd(sqrt_lam, problem.w_star, problem.w0.copy(),  # noqa: E731
                                 sigma, sigma_prime, _NUMPY[teacher][0], LR, SGD_STEPS)
    return costs.best_of(run, repeat) / SGD_STEPS


class LinkFlowPass:
    params = LINKS
    param_names = ["link"]
    timeout = 900
    number = 1
    repeat = 3

    def setup(self, link):
        self.problem = _problem(link)
        self.square = _problem("square")
        # the pair's numba kernels (the NumPy loop's coefficients), loaded outside the timing
        self.pair = pyscale.LinkPair(self.problem.link)
        self.pair.flow_coefficients(1.0, 0.1)

    def time_flow_to_t02(self, link):
        pyscale.simulate(self.problem, "flow", t=FLOW_T, threads=1)

    def time_numpy_gd_step(self, link):
        p = self.problem
        numpy_link_gd(p.eigenvalues, p.w_star, p.w0.copy(), p.s_star,
                      self.pair.flow_coefficients, 1e-2, 1)

    def track_pass_ratio_to_square(self, link):
        return flow_seconds_per_pass(self.problem, 1) / flow_seconds_per_pass(self.square, 1)
    track_pass_ratio_to_square.unit = "ratio"

    def track_numpy_step_over_pass(self, link):
        return numpy_gd_seconds_per_step(self.problem, 1) / flow_seconds_per_pass(self.problem, 1)
    track_numpy_step_over_pass.unit = "ratio"


class LinkSgdStep:
    params = LINKS
    param_names = ["link"]
    timeout = 900
    number = 1
    repeat = 3

    def setup(self, link):
        self.problem = _problem(link)
        self.square = _problem("square")

    def time_sgd_40_steps(self, link):
        pyscale.simulate(self.problem, "sgd", lr=LR, steps=SGD_STEPS, record=[0, SGD_STEPS],
                         threads=1, seed=1)

    def time_numpy_sgd_40_steps(self, link):
        numpy_sgd_seconds_per_step(self.problem, link, repeat=1)

    def track_step_ratio_to_square(self, link):
        return sgd_seconds_per_step(self.problem, 1) / sgd_seconds_per_step(self.square, 1)
    track_step_ratio_to_square.unit = "ratio"

    def track_speedup_vs_numpy(self, link):
        return (numpy_sgd_seconds_per_step(self.problem, link, 1)
                / sgd_seconds_per_step(self.problem, 1))
    track_speedup_vs_numpy.unit = "ratio"


def _paired(cost, problem, square, rounds=5):
    """(cost of problem, cost of square): the best of ``rounds`` measurements of each
    (``cost(problem, 1)``), taken in alternation so that a shared machine's load falls on
    both alike."""
    best, best_square = np.inf, np.inf
    for _ in range(rounds):
        best, best_square = min(best, cost(problem, 1)), min(best_square, cost(square, 1))
    return best, best_square


def main():
    square = _problem("square")
    print(f"d = {D}, one thread; flow to t = {FLOW_T[-1]:g}, online SGD batch 1 (its marginal "
          f"step); ratios to the square measured in alternation with it")
    print(f"{'link':12s} {'flow pass':>10s} {'/square':>8s} {'NumPy GD':>10s} "
          f"{'SGD step':>10s} {'/square':>8s} {'NumPy SGD':>10s}")
    for link in LINKS:
        p = _problem(link)
        f, f0 = _paired(flow_seconds_per_pass, p, square)
        s, s0 = _paired(sgd_seconds_per_step, p, square)
        gd, np_sgd = numpy_gd_seconds_per_step(p, 3), numpy_sgd_seconds_per_step(p, link, 3)
        print(f"{link:12s} {f * 1e3:7.3f} ms {f / f0:8.2f} {gd * 1e3:7.3f} ms "
              f"{s * 1e3:7.3f} ms {s / s0:8.2f} {np_sgd * 1e3:7.3f} ms", flush=True)


if __name__ == "__main__":
    main()
