"""Same seed, same bits — whatever the BLAS/OpenMP thread count or the sweep backend.

A problem's defining reductions (the norms of its Gaussian draws, s*) go through the core's
fixed-block sum, not BLAS: at d = 60000, where OpenBLAS splits a dot product over threads,
numpy.dot gives other bits with 1 and 2 threads. So a problem built in a one-thread dask
worker equals the one built by a local process, and a checkpoint resumed elsewhere
continues with the same w*.
"""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd

import pyscale
from pyscale.app.config import parse_sweep
from pyscale.app.sweep import run_sweep

BUILD = ("import hashlib, pyscale; p = pyscale.Problem.power_law(60000, 2.0, seed=4); "
         "h = hashlib.sha256(); [h.update(x.tobytes()) for x in "
         "(p.eigenvalues, p.w_star, p.w0)]; print(h.hexdigest(), p.s_star.hex())")


def _built_with(threads: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    # Run outside the source tree, so that the installed package is the one imported.
    return subprocess.run([sys.executable, "-c", BUILD], env=env, capture_output=True,
                          text=True, timeout=120, check=True,
                          cwd=os.path.dirname(os.path.dirname(pyscale.__file__))
                          ).stdout.strip()


def test_problem_bits_do_not_depend_on_the_thread_count():
    assert _built_with(1) == _built_with(2)


def test_problem_bits_match_in_process():
    p = pyscale.Problem.power_law(60000, 2.0, seed=4)
    h = hashlib.sha256()
    for x in (p.eigenvalues, p.w_star, p.w0):
        h.update(np.ascontiguousarray(x).tobytes())
    assert _built_with(2) == f"{h.hexdigest()} {p.s_star.hex()}"


def test_dask_processes_give_the_local_table(tmp_path):
    config = parse_sweep({"grid": {"a": [2.0], "d": [60000], "seed": [0, 1],
                                   "method": ["flow"]},
                          "flow": {"t": 2.0, "records": 8, "rtol": 1e-6}})
    local = run_sweep(config, tmp_path / "local", workers=2, progress=False)
    dask = run_sweep(config, tmp_path / "dask", dask="local", dask_processes=True, workers=2,
                     progress=False)
    assert not local.failed and not dask.failed
    key = ["task_id", "t"]
    a = local.records.sort_values(key).reset_index(drop=True)
    b = dask.records.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
