"""A sweep over (a, d, seed, method) from Python: local processes (or a Dask cluster),
results as one tidy pandas table (also on disk as Parquet, resumable).

    python examples/run_sweep.py [OUT_DIR] [--workers N] [--dask local|tcp://scheduler:8786]

The sweep starts under ``if __name__ == "__main__":``: its worker processes import this
script, and the guard keeps them from starting the sweep again.
"""
import sys

from pyscale.app.config import parse_sweep
from pyscale.app.sweep import run_sweep

CONFIG = {
    "grid": {"a": [1.5, 2.0, 3.0], "d": [300, 1000], "seed": [0, 1],
             "method": ["flow", "gd"]},
    "flow": {"t": 1e4, "records": 200},
    "gd": {"lr": 1e-2, "steps": 100_000, "records": 200},
}


def _option(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def main(argv):
    dask, workers = _option(argv, "--dask"), _option(argv, "--workers")
    args = [a for a in argv if a not in ("--dask", dask, "--workers", workers)]
    out = args[0] if args else "sweep-results"
    result = run_sweep(parse_sweep(CONFIG), out, dask=dask,
                       workers=None if workers is None else int(workers), progress=False)
    print(result)
    # The summary: one row per task, measured beside predicted.
    print(result.summary[["a", "d", "seed", "method", "T1_measured", "T1_predicted",
                          "T1_prime_measured", "T2_measured", "final_mse",
                          "escape_rate_predicted"]].to_string(index=False))
    # The tidy records: one row per (task, record time).
    late = result.records[result.records.t == result.records.t.max()]
    print(late.groupby(["a", "d", "method"]).mse.mean())


if __name__ == "__main__":
    main(sys.argv[1:])
