"""The C++ core as a CMake package: configure, build and install it into a temporary prefix,
run its CTest suite, then build examples/cpp_consumer against it (find_package) and from the
source tree (add_subdirectory) and check the consumer's numbers against independent
references. Every build directory is temporary: nothing lands in the source tree.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import flow_reference

import pyscale

CMAKE = shutil.which("cmake")
pytestmark = pytest.mark.skipif(
    CMAKE is None, reason="cmake is not on PATH: the CMake package cannot be tested")

ROOT = Path(__file__).resolve().parents[1]
CONSUMER = ROOT / "examples" / "cpp_consumer"
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}
# -O2 keeps the C++ test program fast while compiling in a few seconds per file.
CONFIGURE = ["-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS_RELEASE=-O2",
             "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"]


def cmake(*args, cwd=None) -> str:
    """Runs cmake (or, with args[0] == 'ctest', ctest); returns stdout + stderr."""
    tool = shutil.which("ctest") if args[0] == "ctest" else CMAKE
    cmd = [tool, *map(str, args[1:] if args[0] == "ctest" else args)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=ENV, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res.stdout + res.stderr


def source_files() -> set:
    """Every path in the source tree outside the setuptools build/, environments and caches."""
    skip = {".git", "build", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache",
            ".mypy_cache", ".asv"}
    out = set()
    for path, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        out.update(os.path.relpath(os.path.join(path, f), ROOT) for f in files)
    return out


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The top-level project configured (examples and tests on, warnings as errors), built
    with -j2 and installed into a temporary prefix."""
    base = tmp_path_factory.mktemp("cmake")
    build, prefix = base / "build", base / "prefix"
    before = source_files()
    cmake("-S", ROOT, "-B", build, *CONFIGURE, "-DPYSCALE_WARNINGS_AS_ERRORS=ON")
    cmake("--build", build, "-j2")
    cmake("--install", build, "--prefix", prefix)
    return {"build": build, "prefix": prefix, "new_files": source_files() - before,
            "base": base}


def consumer(package, name: str, *options) -> tuple:
    """Configures and builds examples/cpp_consumer; returns (build dir, its output lines)."""
    build = package["base"] / name
    cmake("-S", CONSUMER, "-B", build, *CONFIGURE, *options)
    cmake("--build", build, "-j2")
    res = subprocess.run([str(build / "consumer")], capture_output=True, text=True,
                         timeout=60, env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    return build, res.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def installed_consumer(package):
    return consumer(package, "consumer_installed", f"-DCMAKE_PREFIX_PATH={package['prefix']}")


def pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^version *= *"([^"]+)"', text, re.M).group(1)


def test_ctest_runs_the_core_tests_and_every_example(package):
    out = cmake("ctest", "--output-on-failure", "-j2", cwd=package["build"])
    names = set(re.findall(r"Test +#\d+: (\S+) \.+ +Passed", out))
    assert {"test_core", "test_pairs", "example.flow_demo", "example.gd_demo", "example.sgd_demo",
            "example.ensemble_demo"} <= names, out
    assert "100% tests passed" in out
    # where the README says the examples are
    assert (package["build"] / "csrc" / "examples" / "flow_demo").is_file()


def test_build_and_install_leave_the_source_tree_untouched(package):
    assert package["new_files"] == set()


def test_install_tree_has_every_header_and_the_package_files(package):
    prefix = package["prefix"]
    src = ROOT / "csrc" / "include" / "pyscale"
    headers = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
    assert Path("pyscale.hpp") in headers
    for rel in headers:  # whole directory tree, so new headers need no CMake edit
        assert (prefix / "include" / "pyscale" / rel).read_bytes() == (src / rel).read_bytes()
    installed = {p.relative_to(prefix / "include" / "pyscale")
                 for p in (prefix / "include" / "pyscale").rglob("*") if p.is_file()}
    assert installed == set(headers)
    cmake_dir = prefix / "share" / "cmake" / "pyscale"
    for name in ("pyscaleConfig.cmake", "pyscaleConfigVersion.cmake", "pyscaleTargets.cmake"):
        assert (cmake_dir / name).is_file(), name


def find_package_probe(package, want: str) -> str:
    """Configures a one-line project calling find_package(pyscale <want> CONFIG)."""
    probe = package["base"] / f"probe_{want.replace('.', '_')}"
    probe.mkdir()
    (probe / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.15)\nproject(probe LANGUAGES CXX)\n"
        f"find_package(pyscale {want} CONFIG QUIET)\n"
        'message(STATUS "probe found=${pyscale_FOUND} version=${pyscale_VERSION}")\n')
    out = cmake("-S", probe, "-B", probe / "build", f"-DCMAKE_PREFIX_PATH={package['prefix']}")
    return re.search(r"probe (found=\S* version=\S*)", out).group(1)


def test_package_version_is_pyprojects_and_minor_versions_are_incompatible(package):
    version = pyproject_version()
    major, minor = (int(x) for x in version.split(".")[:2])
    assert find_package_probe(package, f"{major}.{minor}") == f"found=1 version={version}"
    assert find_package_probe(package, f"{major}.{minor + 1}").startswith("found=0")
    if minor > 0:  # an older minor version is refused too (same-major would accept it)
        assert find_package_probe(package, f"{major}.{minor - 1}").startswith("found=0")


def explicit_problem() -> pyscale.Problem:
    """examples/cpp_consumer/main.cpp's problem: λ_i = (i+1)^-1.5, w*_i = cos(i/2),
    w0_i = sin(i+1)/10, i = 0..63."""
    i = np.arange(64, dtype=np.float64)
    return pyscale.Problem((i + 1) ** -1.5, np.cos(0.5 * i), 0.1 * np.sin(i + 1))


def numbers(lines: list) -> dict:
    return {name: value for name, value in (line.split() for line in lines)}


def test_installed_consumer_matches_independent_references(installed_consumer):
    out = numbers(installed_consumer[1])
    assert out["flow_status"] == out["gd_status"] == "completed"
    assert out["bad_lr_rejected"] == "1"
    problem = explicit_problem()
    lam, w_star, s_star = problem.eigenvalues, problem.w_star, problem.s_star
    # s* = sum λ w*², to rounding (differently ordered sums of 64 positive terms).
    assert float(out["s_star"]) == pytest.approx(lam @ w_star**2, rel=1e-14)
    # Flow at rtol 1e-10 against SciPy's DOP853 at rtol 1e-11: agreement to 1e-8.
    w10 = flow_reference(problem, np.array([10.0]))[0]
    assert float(out["flow_u_t10"]) == pytest.approx(lam @ (w10 * w_star), abs=1e-8)
    assert float(out["flow_s_t10"]) == pytest.approx(lam @ w10**2, abs=1e-8)
    # GD: 500 steps of the plain NumPy iteration; rounding differences only (1e-12).
    w = problem.w0.copy()
    for _ in range(500):
        s, u = lam @ w**2, lam @ (w * w_star)
        w = w - 0.05 * lam * ((12 * s - 4 * s_star) * w - 8 * u * w_star)
    assert float(out["gd_u_500"]) == pytest.approx(lam @ (w * w_star), rel=1e-12)
    assert float(out["gd_w0_500"]) == pytest.approx(w[0], rel=1e-12)


def test_installed_consumer_matches_the_python_engines(installed_consumer):
    out = numbers(installed_consumer[1])
    problem = explicit_problem()
    # Same C++ engines on the same inputs (up to ulps of pow/sin/cos): 1e-12 relative.
    flow = pyscale.simulate(problem, "flow", t=[1.0, 10.0], rtol=1e-10, threads=1)
    assert float(out["flow_u_t10"]) == pytest.approx(flow.u[-1], rel=1e-12)
    gd = pyscale.simulate(problem, "gd", lr=0.05, steps=500, record=[500], threads=1)
    assert float(out["gd_u_500"]) == pytest.approx(gd.u[-1], rel=1e-12)


def compile_flags(build: Path) -> str:
    entries = json.loads((build / "compile_commands.json").read_text())
    (entry,) = [e for e in entries if e["file"].endswith("main.cpp")]
    return entry.get("command") or " ".join(entry["arguments"])


def test_add_subdirectory_without_openmp_gives_the_same_bits(package, installed_consumer):
    build, lines = consumer(package, "consumer_subdir", f"-DPYSCALE_SOURCE_DIR={ROOT}",
                            "-DPYSCALE_USE_OPENMP=OFF")
    assert lines == installed_consumer[1]  # %.17g: bitwise equal
    assert "openmp" not in compile_flags(build).lower()
    # As a subproject pyscale builds none of its own examples or tests.
    built = {p.name for p in build.rglob("*") if p.is_file()}
    assert not built & {"flow_demo", "gd_demo", "sgd_demo", "ensemble_demo", "test_core",
                        "test_pairs"}


def test_openmp_found_by_the_package_reaches_the_consumer(package, installed_consumer):
    config = (package["prefix"] / "share/cmake/pyscale/pyscaleConfig.cmake").read_text()
    flags = compile_flags(installed_consumer[0]).lower()
    if "set(pyscale_WITH_OPENMP ON)" in config:
        assert "openmp" in flags
    else:  # a compiler without OpenMP: the package must say so and add no OpenMP flag
        assert "set(pyscale_WITH_OPENMP OFF)" in config
        assert "openmp" not in flags
