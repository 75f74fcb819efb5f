"""Resource requests are estimated and refused up front, with the byte figure (as the
problem constructors already do): sweep grids, the moment hierarchy, ensembles."""
import re
import subprocess
import sys
import time

import pytest

import pyscale
from pyscale.app.config import parse_sweep

BYTES = re.compile(r"needs \d+ bytes")


def test_a_grid_too_large_for_memory_is_refused_before_it_is_built():
    huge = {"grid": {"a": [1.0 + i / 1000 for i in range(1000)], "d": list(range(2, 1002)),
                     "seed": list(range(1000))}, "flow": {"t": 10.0}}
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=BYTES) as info:
        parse_sweep(huge)
    assert time.perf_counter() - start < 5.0
    assert "1000000000 tasks" in str(info.value)


def test_the_cli_refuses_it_in_one_line(tmp_path):
    config = tmp_path / "huge.toml"
    config.write_text("[grid]\na = [" + ", ".join(str(1 + i / 1000) for i in range(1000))
                      + "]\nd = [" + ", ".join(map(str, range(2, 1002))) + "]\nseed = ["
                      + ", ".join(map(str, range(1000))) + "]\n[flow]\nt = 10.0\n")
    proc = subprocess.run([sys.executable, "-m", "pyscale", "sweep", str(config), "--out",
                           str(tmp_path / "out"), "--no-progress"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and BYTES.search(lines[0]) and "Traceback" not in proc.stderr


def test_a_moderate_grid_is_accepted_and_its_estimate_is_honest():
    import tracemalloc
    grid = {"grid": {"a": [1.5, 2.0, 2.5, 3.0], "d": list(range(10, 510)),
                     "seed": list(range(10))}, "flow": {"t": 10.0}}
    tracemalloc.start()
    config = parse_sweep(grid)
    from pyscale.app.sweep import tasks_of
    tasks = tasks_of(config)
    ids = [t.task_id for t in tasks]
    used = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(tasks) == len(set(ids)) == 20000
    from pyscale.app.config import sweep_bytes_per_task
    estimate = sweep_bytes_per_task() * len(tasks)
    assert used <= estimate <= 20 * used, (used, estimate)


def test_a_hierarchy_too_large_is_refused_with_the_bytes():
    problem = pyscale.Problem.power_law(100, 2.0, seed=0)
    import numpy as np
    times = np.linspace(0, 10, 2_000_000)
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=BYTES):
        pyscale.hierarchy(problem, order=1024, t=times, max_memory=2 ** 30)
    assert time.perf_counter() - start < 5.0


def test_an_ensemble_too_large_is_refused_with_the_bytes():
    problem = pyscale.Problem.power_law(10 ** 4, 2.0, seed=0)
    for method, options in (("sgd", {"lr": 1e-3, "steps": 10}),
                            ("erm", {"lr": 1e-3, "steps": 10, "n_samples": 10})):
        start = time.perf_counter()
        with pytest.raises(MemoryError, match=BYTES):
            pyscale.simulate_many(problem, seeds=10 ** 6, method=method, **options)
        assert time.perf_counter() - start < 5.0
    with pytest.raises(MemoryError, match=BYTES):
        pyscale.simulate_many(problem, seeds=1000, method="sgd", lr=1e-3, steps=10 ** 6,
                              record=10 ** 6)
