"""The C++ core as a library: compile the plain-C++ example and test program and run them."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CXX = os.environ.get("CXX", "g++")


def build(source: str, out: Path) -> Path:
    if shutil.which(CXX) is None:
        pytest.fail(f"no C++ compiler ({CXX}) found: the C++ core must build without Python")
    cmd = [CXX, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fopenmp",
           f"-I{ROOT / 'csrc' / 'include'}", str(ROOT / source), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def test_core_unit_tests_pass(tmp_path):
    exe = build("csrc/tests/test_core.cpp", tmp_path / "test_core")
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 failed" in res.stdout and "FAIL" not in res.stdout


def test_flow_demo_runs_without_python(tmp_path):
    exe = build("csrc/examples/flow_demo.cpp", tmp_path / "flow_demo")
    res = subprocess.run([str(exe), "1000", "2"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("d=1000 a=2 status=completed")
    u_final = float(lines[-1].split()[1])
    assert abs(abs(u_final) - 1.0) < 1e-2


def test_numba_status_codes_are_the_core_run_status():
    """The hierarchy kernels return the C++ RunStatus codes (progress.hpp), named alike."""
    import importlib
    import re

    from pyscale._kernels import hierarchy as kern

    hierarchy = importlib.import_module("pyscale.hierarchy")  # the module, not the function

    header = (ROOT / "csrc" / "include" / "pyscale" / "progress.hpp").read_text()
    body = re.search(r"enum class RunStatus : int \{(.*?)\};", header, re.S).group(1)
    codes = {re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower(): int(value)
             for name, value in re.findall(r"k(\w+) = (\d+)", body)}
    assert codes == {"completed": 0, "interrupted": 1, "diverged": 2, "step_limit": 3}
    for name, value in codes.items():
        assert getattr(kern, f"STATUS_{name.upper()}") == value
    assert hierarchy._STATUS == {value: name for name, value in codes.items()}
