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
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "pyscale._core", "--allowlist", str(ALLOWLIST),
         "--mypy-config-file", str(CONFIG),
         # an entry newer mypy no longer needs (pybind11's metaclass) is not an error
         "--ignore-unused-allowlist"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)  # the installed package
    assert result.returncode == 0, result.stdout + result.stderr


def test_stubs_ship_with_the_package():
    here = Path(pyscale.__file__).parent
    assert (here / "py.typed").is_file()
    assert (here / "_core" / "__init__.pyi").is_file()
    assert (here / "_core" / "testing.pyi").is_file()
