"""Writes reference_runs.npz: small runs of every engine on explicit saved arrays.

The engine-layer rebuild must not change numerics: tests/test_reference_runs.py rebuilds
each run with the current package from the saved arrays and requires bitwise equality.
Run from the repository root with the package built in place:

    python tests/data/make_reference_runs.py

Regenerate only for a deliberate change of numerics, and say so in the commit.
"""
from pathlib import Path

import numpy as np

import pyscale

OUT = Path(__file__).with_name("reference_runs.npz")


def problems():
    full = pyscale.Problem.power_law(200, 2.0, seed=3)
    noisy = pyscale.Problem.power_law(120, 1.5, seed=5, noise=0.05)
    comp = pyscale.Problem.power_law(5000, 2.0, seed=7).compress(1e-2)
    return {"full": full, "noisy": noisy, "comp": comp}


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
}
ENSEMBLES = {
    "ens_sgd": ("noisy", "sgd", {"lr": 5e-3, "steps": 1000, "record": 15, "seeds": 4}),
    "ens_erm": ("noisy", "erm", {"lr": 5e-3, "steps": 300, "record": 10, "seeds": 2,
                                 "n_samples": 200}),
}
HIERARCHY = {
    "hier_gauss": ("full", {"order": 16, "t": np.geomspace(1e-2, 50, 30), "closure": "gauss"}),
}


def main():
    probs = problems()
    data = {}
    for key, p in probs.items():
        data[f"{key}/eigenvalues"] = p.eigenvalues
        data[f"{key}/w_star"] = p.w_star
        data[f"{key}/w0"] = p.w0
        data[f"{key}/counts"] = p.counts
        data[f"{key}/scalars"] = np.array([p.noise, p.d], dtype=np.float64)
    for name, (key, method, opts) in RUNS.items():
        traj = pyscale.simulate(probs[key], method, threads=1, **opts)
        for field in ("t", "s", "u", "s2", "u2", "loss", "mse"):
            data[f"{name}/{field}"] = getattr(traj, field)
        data[f"{name}/w"] = traj.w
    for name, (key, method, opts) in ENSEMBLES.items():
        ens = pyscale.simulate_many(probs[key], method=method, threads=1, **opts)
        for field in ("s", "u", "mse", "train_loss"):
            data[f"{name}/{field}"] = getattr(ens, field)
        data[f"{name}/w"] = ens.w
    for name, (key, opts) in HIERARCHY.items():
        res = pyscale.hierarchy(probs[key], **opts)
        data[f"{name}/s"] = res.s
        data[f"{name}/u"] = res.u
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({len(data)} arrays)")


if __name__ == "__main__":
    main()
