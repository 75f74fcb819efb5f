"""A sweep over (a, d, seed, method) from Python: local processes, then the same sweep on a
Dask cluster, results as one tidy pandas table (also on disk as Parquet, resumable).

    python examples/run_sweep.py [OUT_DIR] [--dask local|tcp://scheduler:8786]
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


def main(argv):
    dask = argv[argv.index("--dask") + 1] if "--dask" in argv else None
    args = [a for a in argv if a not in ("--dask", dask)]
    out = args[0] if args else "sweep-results"
    result = run_sweep(parse_sweep(CONFIG), out, dask=dask)
    print(result)
    print(result.summary[["a", "d", "seed", "method", "T1", "T1_prime", "T2", "final_mse",
                          "escape_rate"]].to_string(index=False))
    # The tidy table: one row per (task, record time).
    late = result.records[result.records.t == result.records.t.max()]
    print(late.groupby(["a", "d", "method"]).mse.mean())


if __name__ == "__main__":
    main(sys.argv[1:])
