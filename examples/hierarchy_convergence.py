"""Validity horizon of the truncated hierarchy (model page: Moment hierarchy) against the exact
flow, with the phase times (model page: Phases): the numbers behind docs/hierarchy.md.

    python examples/hierarchy_convergence.py            # a = 1.5, 2, 3; d = 1000; seed 0
    python examples/hierarchy_convergence.py --a 2 --seed 1 --horizon 1e5
"""
import argparse
import time

import numpy as np

import pyscale
from pyscale.engines.hierarchy import convergence_study


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=float, nargs="+", default=[1.5, 2.0, 3.0])
    parser.add_argument("--d", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--orders", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--horizon", type=float, default=1e5)
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args(argv)
    times = np.concatenate([[0.0], np.geomspace(1e-2, args.horizon, args.records)])
    for a in args.a:
        problem = pyscale.Problem.power_law(args.d, a, seed=args.seed)
        start = time.perf_counter()
        study = convergence_study(problem, orders=args.orders, t=times)
        print(f"\n### a = {a:g}, d = {args.d}, seed = {args.seed} "
              f"(orders 1–3 of s and u, absolute error; {time.perf_counter() - start:.1f} s)\n")
        print(study.table())


if __name__ == "__main__":
    main()
