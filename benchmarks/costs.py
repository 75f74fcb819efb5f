"""How the benchmarks turn wall times into costs: the best of a few runs, a flow run's time
per pass over the vectors, and the marginal time of one online-SGD step. One thread, so the
costs compare across engines and problem sizes; on a shared machine they are provisional."""
import time

import numpy as np

import pyscale


def best_of(fn, repeat=3, clock=time.perf_counter):
    """The shortest time of ``repeat`` calls of ``fn()`` on ``clock`` (wall time, or
    ``time.process_time`` for CPU time)."""
    best = np.inf
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def flow_seconds_per_pass(problem, t, repeat=3):
    """Best wall time of a flow run through the record times ``t`` divided by its passes
    over the vectors."""
    def run():
        return pyscale.simulate(problem, "flow", t=t, threads=1)
    return best_of(run, repeat) / run().meta["passes"]


def sgd_seconds_per_step(problem, lr, steps, repeat=3):
    """The marginal wall time of one online-SGD step (batch 1, one thread): best of a run of
    4 ``steps`` steps minus best of a run of ``steps``, over the 3 ``steps`` between (a run's
    O(d) set-up, √λ and the first moments, would otherwise count as steps)."""
    def run(n):
        return lambda: pyscale.simulate(problem, "sgd", lr=lr, steps=n, record=[0, n],
                                        threads=1, seed=1)
    return (best_of(run(4 * steps), repeat) - best_of(run(steps), repeat)) / (3 * steps)
