"""The shipped stubs of the compiled core (pyscale/_core/*.pyi) match the module: mypy's
stubtest compares every bound function's signature and every class attribute. The only
allowed differences are listed, with their reason, in tests/stubtest_allowlist.txt."""
import subprocess
import sys
from pathlib import Path

import pyscale

ALLOWLIST = Path(__file__).with_name("stubtest_allowlist.txt")
CONFIG = Path(__file__).parents[1] / "pyproject.toml"


def test_stubs_match_the_compiled_module(tmp_path):
    # The installed package's stubs: from an empty directory, or, for an editable install
    # (whose import hook mypy cannot follow), from the checkout that is the package.
    top = Path(pyscale.__file__).resolve().parents[1]
    cwd = top if (top / "pyproject.toml").is_file() else tmp_path
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "pyscale._core", "--allowlist", str(ALLOWLIST),
         "--mypy-config-file", str(CONFIG)],
        capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in 7 modules" in result.stdout, result.stdout  # _core and its six submodules


def test_stubs_ship_with_the_package():
    here = Path(pyscale.__file__).parent
    assert (here / "py.typed").is_file()
    for area in ("__init__", "model", "flow", "steps", "chain", "network", "testing"):
        assert (here / "_core" / f"{area}.pyi").is_file(), area
