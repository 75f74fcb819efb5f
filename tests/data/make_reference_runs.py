"""Writes reference_runs.npz: small runs of every engine on explicit saved arrays.

The engine-layer rebuild must not change numerics: tests/test_reference_runs.py rebuilds
each run with the current package from the saved arrays and requires bitwise equality.
Run from the repository root with the package built in place:

    python tests/data/make_reference_runs.py [NAME ...]

Regenerate only for a deliberate change of numerics, and say so in the commit. With names
(e.g. ``chain chain_b4 ens_chain``) only those runs are recomputed; every other array is
copied from the saved file bit for bit.
"""
import sys
from pathlib import Path

import numpy as np

import pyscale

OUT = Path(__file__).with_name("reference_runs.npz")


def saved_problem(saved, key):
    """The problem `key` as saved in reference_runs.npz (its arrays, not a rebuild: the
    generators behind Problem.power_law have changed since the first references)."""
    noise, d = saved[f"{key}/scalars"]
    return pyscale.Problem(saved[f"{key}/eigenvalues"], saved[f"{key}/w_star"],
                           saved[f"{key}/w0"], noise=float(noise), d=int(d),
                           counts=saved[f"{key}/counts"])


def problems():
    """The reference problems: those already saved are read back, new ones are built."""
    built = new_problems()
    if not OUT.exists():
        return built
    saved = np.load(OUT)
    return {key: saved_problem(saved, key) if f"{key}/scalars" in saved.files else p
            for key, p in built.items()}


def new_problems():
    full = pyscale.Problem.power_law(200, 2.0, seed=3)
    noisy = pyscale.Problem.power_law(120, 1.5, seed=5, noise=0.05)
    comp = pyscale.Problem.power_law(5000, 2.0, seed=7).compress(1e-2)
    chain = pyscale.Problem.power_law(20000, 2.0, seed=9, noise=0.05, compress=1e-2)
    return {"full": full, "noisy": noisy, "comp": comp, "chain": chain}


# Options that select the numerics the first references were made with (test_reference_runs
# replays every run with them): the flow's records then landed a step on every record (now
# they are read off its dense output by default), and the seed streams were common across d
# (now independent by default).
ADAPT: dict = {"flow": {"record_mode": "step"}, "sgd": {"streams": "common"},
               "erm": {"streams": "common"}}

# name -> (problem key, method, options); kept in sync with test_reference_runs.RUNS
RUNS = {
    "flow_rodas4": ("full", "flow", {"t": np.geomspace(1e-2, 1e4, 60)}),
    "flow_ros4": ("full", "flow", {"t": np.geomspace(1e-2, 1e3, 40), "scheme": "ros4",
                                   "rtol": 1e-7}),
    "flow_comp": ("comp", "flow", {"t": np.geomspace(1e-2, 1e5, 50)}),
    "gd": ("full", "gd", {"lr": 1e-2, "steps": 3000, "record": 40}),
    "gd_comp": ("comp", "gd", {"lr": 1e-2, "steps": 2000, "record": 30}),
    "sgd": ("noisy", "sgd", {"lr": 5e-3, "steps": 3000, "record": 30, "seed": 11}),
    "sgd_b3_regen": ("noisy", "sgd", {"lr": 5e-3, "steps": 1500, "record": 20, "seed": 2,
                                      "batch": 3, "samples": "regenerate"}),
    "erm": ("noisy", "erm", {"lr": 5e-3, "steps": 800, "record": 20, "seed": 4,
                             "n_samples": 400}),
    # online SGD on a compressed problem: the mode chain
    "chain": ("chain", "sgd", {"lr": 5e-3, "steps": 3000, "record": 30, "seed": 11}),
    "chain_b4": ("chain", "sgd", {"lr": 5e-3, "steps": 1500, "record": 20, "seed": 2,
                                  "batch": 4}),
}
ENSEMBLES = {
    "ens_sgd": ("noisy", "sgd", {"lr": 5e-3, "steps": 1000, "record": 15, "seeds": 4}),
    "ens_erm": ("noisy", "erm", {"lr": 5e-3, "steps": 300, "record": 10, "seeds": 2,
                                 "n_samples": 200}),
    "ens_chain": ("chain", "sgd", {"lr": 5e-3, "steps": 1000, "record": 15, "seeds": 4}),
}
HIERARCHY = {
    "hier_gauss": ("full", {"order": 16, "t": np.geomspace(1e-2, 50, 30), "closure": "gauss"}),
}


def run_options(saved, name, opts):
    """A run's options with its record times read back from the file where saved: NumPy's
    geomspace can differ in the last bit between CPUs (its SIMD exp and log), and a record
    time one ulp off moves the flow's steps."""
    if "t" in opts and saved is not None and f"{name}/t_request" in saved.files:
        return {**opts, "t": saved[f"{name}/t_request"]}
    return opts


def main(only=()):
    probs = problems()
    saved = np.load(OUT) if OUT.exists() else None
    known = set(RUNS) | set(ENSEMBLES) | set(HIERARCHY)
    if only and (saved is None or not set(only) <= known):
        raise SystemExit(f"make_reference_runs: error: names must be among {sorted(known)}, "
                         f"with {OUT.name} present")
    keep = (lambda name: name not in only) if only else (lambda name: False)
    data = {k: saved[k] for k in saved.files if keep(k.split("/")[0])} if only else {}
    for key, p in probs.items():
        data[f"{key}/eigenvalues"] = p.eigenvalues
        data[f"{key}/w_star"] = p.w_star
        data[f"{key}/w0"] = p.w0
        data[f"{key}/counts"] = p.counts
        data[f"{key}/scalars"] = np.array([p.noise, p.d], dtype=np.float64)
    for name, (key, method, opts) in RUNS.items():
        if keep(name):
            continue
        opts = run_options(saved, name, opts)
        if "t" in opts:
            data[f"{name}/t_request"] = np.asarray(opts["t"], dtype=np.float64)
        traj = pyscale.simulate(probs[key], method, threads=1, **opts, **ADAPT.get(method, {}))
        for field in ("t", "s", "u", "s2", "u2", "loss", "mse"):
            data[f"{name}/{field}"] = getattr(traj, field)
        data[f"{name}/w"] = traj.w
    for name, (key, method, opts) in ENSEMBLES.items():
        if keep(name):
            continue
        ens = pyscale.simulate_many(probs[key], method=method, threads=1, **opts,
                                    **ADAPT.get(method, {}))
        for field in ("s", "u", "mse", "train_loss"):
            data[f"{name}/{field}"] = getattr(ens, field)
        data[f"{name}/w"] = ens.w
    for name, (key, opts) in HIERARCHY.items():
        if keep(name):
            continue
        res = pyscale.hierarchy(probs[key], **opts)
        data[f"{name}/s"] = res.s
        data[f"{name}/u"] = res.u
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({len(data)} arrays)")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
