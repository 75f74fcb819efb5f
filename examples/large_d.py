"""The paper's Figure 6 (log(1 − u) vs log t, a ∈ {1.5, 2, 4}) extended from d ≤ 5000 to
d ∈ {10^3, ..., 10^9}, and the MSE at d = 10^9 against the Phase III prediction (model page: Phase
III).

Every run is the population gradient flow on a spectrally compressed problem (model page:
Compression; ``Problem.power_law(d, a, compress=δ)``): the head (i ≲ a/δ) is exact, the tail is
grouped into modes of eigenvalue ratio ≤ 1 + δ, drawn exactly in distribution, so d = 10^9 costs
~3·10^4 modes instead of 10^9 coordinates.

Phase III (model page: Phase III): with u = s = s* = 1 frozen from T2 = T2(ε) on, e = w − w* obeys
e_i(T2 + τ) = e_i(T2) e^(−8 λ_i τ), so MSE(T2 + τ) ≈ MSE(T2) · Ŝ_d(τ),
Ŝ_d(τ) = Σ_i π_i e^(−16 λ_i τ), π_i = e_i(T2)² / Σ_j e_j(T2)². On a compressed problem the
sums over a mode's virtual coordinates are exactly the sums over its physical ones
(e is linear in (w(0), w*) within a mode), so π needs no count weighting; the uniform
proxy S_d(τ) = (1/d) Σ_i e^(−16 λ_i τ) does, and is weighted by ``counts``.

Run:  python examples/large_d.py            (writes docs/gallery/large_d.png; ~5-10 min)
      python examples/large_d.py --quick    (d ≤ 10^6, shorter horizon; ~1 min)
"""
from __future__ import annotations

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pyscale  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, os.pardir, "docs", "gallery", "large_d.png")


def record_times(horizon: float, per_decade: int = 16) -> np.ndarray:
    n = int(round(per_decade * np.log10(horizon / 1e-2))) + 1
    return np.concatenate([[0.0], np.geomspace(1e-2, horizon, n)])


def run_flow(problem, times, rtol):
    return pyscale.simulate(problem, "flow", t=times, rtol=rtol, threads=1)


def figure6_runs(a_values, d_values, horizon, delta, seed, rtol):
    """{(a, d): trajectory} of the compressed flow; prints 1 − |u| at a few times."""
    times = record_times(horizon)
    runs = {}
    for a in a_values:
        for d in d_values:
            problem = pyscale.Problem.power_law(d, a, seed=seed, compress=delta)
            start = time.perf_counter()
            traj = run_flow(problem, times, rtol)
            runs[(a, d)] = traj
            print(f"a={a:<4} d=1e{int(round(np.log10(d)))} modes={problem.n_modes:>6} "
                  f"steps={traj.meta['steps']:>6} wall={time.perf_counter() - start:6.1f}s  "
                  + "  ".join(f"1-|u|(1e{k})={_at(traj, 10.0**k):.3e}"
                              for k in (2, 4, 6, 8) if 10.0**k <= horizon), flush=True)
    return runs


def _at(traj, t):
    return float(np.interp(np.log(t), np.log(traj.t[1:]), 1.0 - np.abs(traj.u[1:])))


def fitted_slope(traj, t_lo, t_hi):
    """Least-squares slope of log(1 − |u|) against log t over [t_lo, t_hi]."""
    sel = (traj.t >= t_lo) & (traj.t <= t_hi)
    return float(np.polyfit(np.log(traj.t[sel]), np.log(1.0 - np.abs(traj.u[sel])), 1)[0])


def phase3_comparison(d, a, seed, delta, horizon, eps, rtol):
    """Flow to T2(ε), the frozen Phase III prediction from the state at T2, and the flow
    continued (exactly, by resume) to the horizon."""
    problem = pyscale.Problem.power_law(d, a, seed=seed, compress=delta)
    times = record_times(horizon, per_decade=24)
    probe = run_flow(problem, times[times <= 1e6], rtol)
    t2 = probe.phases(eps=eps).T2
    if t2 is None:
        raise RuntimeError(f"T2(eps={eps}) not reached by t = 1e6")
    head = run_flow(problem, times[times <= t2], rtol)
    w_t2 = head.w
    traj = pyscale.simulate(problem, "flow", t=times, rtol=rtol, threads=1, resume=head)
    sign = np.sign(head.u[-1])
    err = w_t2 - sign * problem.w_star
    pi = err * err / np.dot(err, err)
    mse_t2 = float(head.mse[-1])
    after = traj.t >= t2
    tau = traj.t[after] - t2
    decay = np.exp(-16.0 * np.outer(tau, problem.eigenvalues))
    s_hat = decay @ pi
    s_uniform = decay @ problem.counts / problem.d
    return {"problem": problem, "traj": traj, "T2": t2, "t": traj.t[after], "tau": tau,
            "mse": traj.mse[after], "pred": mse_t2 * s_hat, "proxy": mse_t2 * s_uniform,
            "mse_T2": mse_t2, "w_T2": w_t2}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="d <= 1e6, horizon 1e8")
    parser.add_argument("--delta", type=float, default=1e-3, help="compression tolerance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtol", type=float, default=1e-9, help="flow tolerance")
    parser.add_argument("--eps", type=float, default=0.01, help="T2(eps) for Phase III")
    args = parser.parse_args(argv)

    d_max = 6 if args.quick else 9
    d_values = [10**k for k in range(3, d_max + 1)]
    a_values = (1.5, 2.0, 4.0)
    horizon = 1e8 if args.quick else 1e12
    runs = figure6_runs(a_values, d_values, horizon, args.delta, args.seed, args.rtol)

    print("\nslope of log(1-|u|) vs log t over [1e3, 1e6] at the largest d "
          "(tail-mass argument: -(1 - 1/a)):")
    for a in a_values:
        print(f"  a={a}: {fitted_slope(runs[(a, d_values[-1])], 1e3, 1e6):+.3f}  "
              f"(-(1-1/a) = {-(1 - 1 / a):+.3f})")

    d_mse = d_values[-1]
    ph3 = phase3_comparison(d_mse, 2.0, args.seed, args.delta, 1e20 if not args.quick
                            else 1e14, args.eps, args.rtol)
    keep = ph3["pred"] > 1e-3 * ph3["mse_T2"]
    rel = np.abs(ph3["mse"][keep] / ph3["pred"][keep] - 1.0)
    print(f"\nPhase III at d=1e{int(np.log10(d_mse))}, a=2, eps={args.eps}: T2={ph3['T2']:.4g}, "
          f"MSE(T2)={ph3['mse_T2']:.6g}; max |MSE/prediction - 1| while the prediction "
          f"> 1e-3 MSE(T2): {rel.max():.3e}")
    for target in (1e4, 1e8, 1e12, 1e14, 1e16, 1e17, 1e18):
        if target <= ph3["t"][-1]:
            k = int(np.argmin(np.abs(np.log(ph3["t"] / target))))
            print(f"  t={ph3['t'][k]:.3e}: MSE={ph3['mse'][k]:.6e}  "
                  f"MSE(T2)*S_hat={ph3['pred'][k]:.6e}  MSE(T2)*S_d={ph3['proxy'][k]:.6e}")

    try:  # cross-check with the library's Phase III prediction where it is available
        from pyscale.theory import tail_mse
    except ImportError:
        tail_mse = None
    if tail_mse is not None:
        head_w = ph3["w_T2"]
        lib = np.asarray(tail_mse(ph3["problem"], ph3["tau"], head_w))
        sel = ph3["pred"] > 1e-3 * ph3["mse_T2"]
        print(f"  pyscale.theory.tail_mse vs this script: max relative difference "
              f"{np.max(np.abs(lib[sel] / ph3['pred'][sel] - 1.0)):.2e}")

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(d_values)))
    for ax, a in zip(axes[:3], a_values):
        for colour, d in zip(colours, d_values):
            traj = runs[(a, d)]
            sel = traj.t > 0
            ax.loglog(traj.t[sel], np.maximum(1.0 - np.abs(traj.u[sel]), 1e-16),
                      color=colour, label=f"d = 1e{int(round(np.log10(d)))}")
        ref_t = np.geomspace(1e2, 1e8, 20)
        ax.loglog(ref_t, 0.3 * (ref_t / 1e2) ** (-(1 - 1 / a)), "k--", lw=0.8,
                  label=r"$t^{-(1-1/a)}$")
        ax.set_title(f"a = {a}")
        ax.set_xlabel("t")
        ax.set_ylim(1e-12, 2)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("1 − |u(t)|")
    axes[0].legend(fontsize=7, loc="lower left")
    ax = axes[3]
    ax.loglog(ph3["t"], ph3["mse"], "C0", lw=2, label="flow (compressed)")
    ax.loglog(ph3["t"], ph3["pred"], "C3--", label=r"MSE($T_2$) $\hat S_d(\tau)$")
    ax.loglog(ph3["t"], ph3["proxy"], "C2:", label=r"MSE($T_2$) $S_d(\tau)$ (uniform)")
    ax.set_ylim(ph3["mse_T2"] * 1e-6, ph3["mse_T2"] * 2)
    twin = ax.twinx()
    rel_dev = np.abs(ph3["mse"] / np.where(ph3["pred"] > 0, ph3["pred"], np.nan) - 1.0)
    twin.loglog(ph3["t"], np.where(ph3["pred"] > 1e-6 * ph3["mse_T2"], rel_dev, np.nan),
                color="0.5", lw=0.8)
    twin.set_ylabel("|MSE / prediction − 1| (grey)", color="0.4")
    twin.set_ylim(1e-10, 1e-1)
    ax.set_title(f"MSE, d = 1e{int(np.log10(d_mse))}, a = 2 (T2 = {ph3['T2']:.3g})")
    ax.set_xlabel("t")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"Gradient flow on spectrally compressed problems (δ = {args.delta:g}), "
                 f"seed {args.seed}")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"\nwrote {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
