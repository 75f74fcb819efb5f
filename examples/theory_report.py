"""Predicted vs measured, for a grid of power laws (issue 3; model page: Phases).

For each a ∈ {1.5, 2, 3, 4} and d ∈ {10^3, 10^4, 10^5}: simulate the population flow to
t = 10^6 (log-spaced records) and print, from ``pyscale.compare``:

* rho: the escape rate ρ (root of the dispersion relation) vs the slope of log|u| fitted
  over the last e^2 before T1;
* T1: log(δ/|C|)/ρ vs the crossing time of |u| = δ (δ = 0.05);
* T2: the first time 1 − |u| <= ε (ε = 0.05) vs the Corollary 1 bound from w(T1')
  (s0 = 0.1) and its power-law form ε^{-2a/(a−1)} log(1/ε);
* 1/a: the log-log slope of 1 − MSE/σ*^2 on the mesoscopic window 10 <= x_d <= d/30
  vs 1/a (and vs the same fit of the exact sum 1 − S_d);
* III err: max relative error of MSE(T2) Ŝ_d(τ) (frozen Phase III) vs the simulated MSE;
* IIb: the log-log slope of 1 − |u| against Λ = Θ(T1') − Θ(t) on Λ ∈ [10, 0.1/λ_d] vs
  (a − 1)/a, from 1 − u ≈ T(1/Λ) ≍ Λ^{−(1 − 1/a)} (an earlier statement wrote Λ^{−1/a}; the two
  agree only at a = 2).

Usage: python examples/theory_report.py [--quick] [--seed N] [--plots DIR]
(--quick: d <= 10^4). Takes about two minutes on two cores.
"""
import argparse
import time

import numpy as np

import pyscale


def run_case(d, a, seed, horizon, threads, plot_dir=None):
    problem = pyscale.Problem.power_law(d, a, seed=seed)
    start = time.perf_counter()
    times = np.concatenate([[0.0], np.geomspace(1e-3, horizon, 1500)])
    traj = pyscale.simulate(problem, "flow", t=times, threads=threads)
    pred = pyscale.predict(problem)
    plot = None if plot_dir is None else f"{plot_dir}/compare_a{a:g}_d{d}.png"
    res = pyscale.compare(traj, pred, delta=0.05, eps=0.05, s0=0.1, plot=plot)
    return res, time.perf_counter() - start


def fmt(x, code=".3g"):
    return "-" if x is None else format(x, code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="d <= 1e4 only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--horizon", type=float, default=1e6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plots", default=None, help="directory for comparison figures")
    args = parser.parse_args()
    dims = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    header = (f"{'a':>4} {'d':>7} | {'rho pred':>9} {'rho fit':>9} | {'T1 pred':>8} "
              f"{'T1 sim':>8} | {'T2 sim':>8} {'T2 bound':>9} {'T2 asym':>9} | "
              f"{'1/a':>5} {'slope':>6} {'S_d fit':>7} {'clock window':>13} | "
              f"{'III err':>7} | {'(a-1)/a':>7} {'IIb':>5} | {'s':>5}")
    print(f"pyscale {pyscale.__version__}: theory vs flow, seed {args.seed}, "
          f"delta = eps = 0.05, s0 = 0.1, horizon t = {args.horizon:g}")
    print(header)
    print("-" * len(header))
    total = time.perf_counter()
    for a in (1.5, 2.0, 3.0, 4.0):
        for d in dims:
            res, wall = run_case(d, a, args.seed, args.horizon, args.threads, args.plots)
            rate = res.get("escape_rate", {})
            t2 = res.get("T2", {})
            tail = res.get("tail_exponent", {})
            iib = res.get("phase2b_exponent", {})
            window = ("-" if not tail else
                      f"{tail['window'][0]:.2g}-{tail['window'][1]:.2g}")
            print(f"{a:>4g} {d:>7d} | {fmt(rate.get('predicted'), '.5g'):>9} "
                  f"{fmt(rate.get('measured'), '.5g'):>9} | "
                  f"{fmt(res['T1']['predicted'], '.4g'):>8} "
                  f"{fmt(res['T1']['measured'], '.4g'):>8} | "
                  f"{fmt(t2.get('measured'), '.4g'):>8} {fmt(t2.get('predicted'), '.3g'):>9} "
                  f"{fmt(t2.get('asymptotic'), '.3g'):>9} | "
                  f"{1 / a:>5.3f} {fmt(tail.get('measured'), '.3f'):>6} "
                  f"{fmt(tail.get('proxy_exact_sum'), '.3f'):>7} {window:>13} | "
                  f"{fmt(res.get('phase3', {}).get('max_rel_error'), '.1e'):>7} | "
                  f"{(a - 1) / a:>7.3f} {fmt(iib.get('measured'), '.3f'):>5} | "
                  f"{wall:5.1f}", flush=True)
    print(f"total {time.perf_counter() - total:.0f} s. T2 sim: first record with "
          f"1 - |u| <= eps; T2 bound: Corollary 1 from w(T1'); clock window: the fit window "
          f"(10 <= x_d <= d/30) in the clock (Theta(T1') - Theta(t))/2.")


if __name__ == "__main__":
    main()
