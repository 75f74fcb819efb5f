"""The C++ core as a plain header library (``-I csrc/include``, no CMake, no Python).

Compiles the test program and every example with ``-Wall -Wextra -Werror`` into a temporary
directory (nothing lands in the repository), runs them, and checks the examples' tables
against independent references (SciPy, plain NumPy loops) and the Python engines.
"""
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import flow_reference, numpy_stats

import pyscale

ROOT = Path(__file__).resolve().parents[1]
CXX = os.environ.get("CXX", "g++")
PROGRAMS = {
    "test_core": "csrc/tests/test_core.cpp",
    "test_pairs": "csrc/tests/test_pairs.cpp",
    "flow_demo": "csrc/examples/flow_demo.cpp",
    "gd_demo": "csrc/examples/gd_demo.cpp",
    "sgd_demo": "csrc/examples/sgd_demo.cpp",
    "ensemble_demo": "csrc/examples/ensemble_demo.cpp",
}
# The programs print 10 significant digits (%.10f / %.10g): agreement to this relative
# tolerance is agreement to the printed precision, up to rounding of the last digit.
PRINTED = 1e-9
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}


def compile_program(source: str, out: Path) -> Path:
    """g++ -std=c++17 -O2 -Wall -Wextra -Werror -fopenmp -Icsrc/include source -o out."""
    cmd = [CXX, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fopenmp",
           f"-I{ROOT / 'csrc' / 'include'}", str(ROOT / source), "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=out.parent)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr}"
    return out


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """Every program compiled once, two compilers at a time, in a temporary directory."""
    if shutil.which(CXX) is None:
        pytest.fail(f"no C++ compiler ({CXX}) found: the C++ core must build without Python")
    out = tmp_path_factory.mktemp("cpp")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(compile_program, src, out / name)
                   for name, src in PROGRAMS.items()}
        return {name: f.result() for name, f in futures.items()}


def run(exe: Path, *args) -> list:
    """Runs a program; returns its output lines (it must exit 0)."""
    res = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                         timeout=120, env=ENV, cwd=exe.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip().splitlines()


def table(lines: list) -> tuple:
    """(header fields of line 0 as a dict, column name -> array) of an example's output."""
    head = dict(field.split("=", 1) for field in lines[0].split())
    names = lines[1].split()
    rows = np.array([[float(x) for x in line.split()] for line in lines[2:]])
    return head, {name: rows[:, j] for j, name in enumerate(names)}


def demo_problem(d: int, a: float) -> pyscale.Problem:
    """csrc/examples/demo_problem.hpp in NumPy: power-law λ, w* ∝ sin(1.7 i + 0.3) with
    s* = 1, w(0) ∝ cos(2.3 i + 1.1) on the unit sphere."""
    i = np.arange(d, dtype=np.float64)
    raw = (i + 1) ** -a
    lam = raw / np.sum(raw[::-1])  # H_{d,a} summed smallest term first, as the header does
    w_star = np.sin(1.7 * i + 0.3)
    w0 = np.cos(2.3 * i + 1.1)
    return pyscale.Problem(lam, w_star / np.sqrt(lam @ w_star**2), w0 / np.linalg.norm(w0))


def test_core_unit_tests_pass(programs):
    lines = run(programs["test_core"])
    assert lines[-1] == "0 failed" and not any(line.startswith("FAIL") for line in lines)


def test_link_pair_unit_tests_pass(programs):
    """The pair concept, the Woodbury solve for singular and indefinite C, and the engines
    on non-square pairs against independent references (csrc/tests/test_pairs.cpp)."""
    lines = run(programs["test_pairs"])
    assert lines[-1] == "0 failed" and not any(line.startswith("FAIL") for line in lines)
    assert sum(line.startswith("ok") for line in lines) >= 15


def test_flow_demo_matches_scipy_and_the_python_engine(programs):
    d = 300
    head, col = table(run(programs["flow_demo"], d, 2))
    assert head["status"] == "completed" and head["d"] == str(d)
    problem = demo_problem(d, 2.0)
    # Independent: DOP853 at rtol 1e-11 up to t = 100 (beyond, an explicit method needs too
    # many steps for a test); the demo runs at rtol 1e-9. Observed agreement ~1e-10 in s, u.
    early = col["t"] <= 100
    s, u, mse = numpy_stats(problem, flow_reference(problem, col["t"][early]))
    np.testing.assert_allclose(col["u"][early], u, rtol=0, atol=1e-8)
    np.testing.assert_allclose(col["s"][early], s, rtol=0, atol=1e-8)
    np.testing.assert_allclose(col["mse"][early], mse, rtol=1e-7)
    # All the way to t = 1e5: the Python engine with the demo's rtol, to the printed digits.
    tr = pyscale.simulate(problem, "flow", t=col["t"], rtol=1e-9, threads=1)
    np.testing.assert_allclose(col["u"], tr.u, rtol=0, atol=PRINTED)
    np.testing.assert_allclose(col["mse"], tr.mse, rtol=PRINTED)
    assert abs(abs(col["u"][-1]) - 1.0) < 1e-3  # t = 1e5 is deep in the convergence phase


def test_gd_demo_matches_a_numpy_loop(programs):
    d, a, lr, steps = 300, 2.0, 0.1, 2000
    head, col = table(run(programs["gd_demo"], d, a, lr, steps))
    assert head["status"] == "completed" and int(head["last_step"]) == steps
    problem = demo_problem(d, a)
    lam, w_star, s_star = problem.eigenvalues, problem.w_star, problem.s_star
    w, states = problem.w0.copy(), {0: problem.w0.copy()}
    for k in range(1, steps + 1):  # w <- w - lr ((12 s - 4 s*) Q w - 8 u Q w*)
        s, u = lam @ w**2, lam @ (w * w_star)
        w = w - lr * lam * ((12 * s - 4 * s_star) * w - 8 * u * w_star)
        states[k] = w
    rec = col["step"].astype(int)
    s, u, mse = numpy_stats(problem, np.array([states[k] for k in rec]))
    np.testing.assert_allclose(col["t"], rec * lr, rtol=1e-4)  # %.4g
    np.testing.assert_allclose(col["u"], u, rtol=0, atol=PRINTED)
    np.testing.assert_allclose(col["mse"], mse, rtol=PRINTED)


def sgd_engine(problem, lr, steps, seed, record):
    return pyscale.simulate(problem, "sgd", lr=lr, steps=steps, seed=seed, batch=1,
                            record=record, threads=1)


def test_sgd_demo_is_the_python_engine_with_the_same_seed(programs):
    d, a, lr, steps, seed = 400, 2.0, 0.01, 20000, 11
    head, col = table(run(programs["sgd_demo"], d, a, lr, steps, seed))
    assert head["status"] == "completed" and head["seed"] == str(seed)
    tr = sgd_engine(demo_problem(d, a), lr, steps, seed, col["step"].astype(int))
    # Same engine and seed: equal up to the printed digits (and ulps of sin/cos in w*, w0).
    np.testing.assert_allclose(col["u"], tr.u, rtol=0, atol=PRINTED)
    np.testing.assert_allclose(col["mse"], tr.mse, rtol=PRINTED)


def test_sgd_demo_deadline_stops_with_the_records_so_far(programs):
    d, a, lr, steps, seed = 400, 2.0, 0.01, 20000, 11
    _, full = table(run(programs["sgd_demo"], d, a, lr, steps, seed))
    head, cut = table(run(programs["sgd_demo"], d, a, lr, steps, seed, 0))  # deadline now
    assert head["status"] == "interrupted"
    stopped = int(head["last_step"])
    assert 0 < stopped < steps
    n = len(cut["step"])
    assert n >= 1 and cut["step"][-1] <= stopped < full["step"][n]
    for name in ("step", "u", "mse", "online_loss"):
        np.testing.assert_array_equal(cut[name], full[name][:n])


def test_ensemble_demo_mean_mse_matches_simulate_many(programs):
    d, a, members, lr, steps = 200, 2.0, 6, 0.01, 5000
    head, col = table(run(programs["ensemble_demo"], d, a, members, lr, steps, 2))
    assert head["members"] == str(members) and head["seeds"] == f"1..{members}"
    ens = pyscale.simulate_many(demo_problem(d, a), seeds=list(range(1, members + 1)),
                                lr=lr, steps=steps, record=col["step"].astype(int), threads=2)
    mse = np.asarray(ens.mse)
    assert mse.shape == (members, len(col["step"]))
    np.testing.assert_allclose(col["mean_mse"], mse.mean(axis=0), rtol=PRINTED)
    sem = mse.std(axis=0, ddof=1) / np.sqrt(members)
    np.testing.assert_allclose(col["stderr_mse"], sem, rtol=PRINTED, atol=1e-15)


def test_examples_report_bad_arguments_in_one_line(programs):
    for name, args, message in (("gd_demo", (300, 2, -1), "lr must be positive"),
                                ("flow_demo", (0,), "problem has no coordinates"),
                                ("sgd_demo", (300, 2, 0.01, -5), "step0 <= step_end"),
                                ("ensemble_demo", (100, 2, 1), "members must be >= 2")):
        res = subprocess.run([str(programs[name]), *map(str, args)], capture_output=True,
                             text=True, timeout=60, env=ENV)
        assert res.returncode == 2 and res.stdout == "", (name, res)
        assert len(res.stderr.splitlines()) == 1 and message in res.stderr, (name, res.stderr)


def test_cpp_page_snippets_compile(tmp_path):
    """Every ```cpp block of docs/cpp.md compiles against the headers, each in its own scope
    after a preamble giving the names the page assumes (d, w, p, steps, rec, hook)."""
    page = (ROOT / "docs" / "cpp.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```cpp[ \t]*\n(.*?)^```[ \t]*$", page, re.S | re.M)
    assert len(blocks) >= 6
    body = "\n".join("    {\n" + block + "    }" for block in blocks)
    source = tmp_path / "cpp_page.cpp"
    source.write_text(
        "#include <chrono>\n#include <cstdint>\n#include <functional>\n#include <vector>\n"
        "#include <pyscale/pyscale.hpp>\n\n"
        "void page(std::size_t d) {\n"
        "    std::vector<double> lambda(d, 1.0), w_star(d, 1.0), w(d, 0.1);\n"
        "    pyscale::ProblemView p = pyscale::make_problem_view(d, lambda.data(),\n"
        "                                                        w_star.data(), double(d));\n"
        "    std::vector<long long> steps = {0, 1};\n"
        "    std::vector<double> rec(steps.size() * pyscale::kRecordWidth);\n"
        "    pyscale::ProgressHook hook;\n"
        f"{body}\n}}\n")
    cmd = [CXX, "-std=c++17", "-fsyntax-only", "-fopenmp", f"-I{ROOT / 'csrc' / 'include'}",
           str(source)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]


#: The header folders, lowest layer first; a header includes only its own folder and lower
#: ones (flow/ and steps/ are siblings: neither includes the other).
HEADER_LAYERS = {"util": 0, "random": 1, "model": 2, "flow": 3, "steps": 3}


def test_header_folders_are_layers():
    include = ROOT / "csrc" / "include" / "pyscale"
    headers = sorted(include.rglob("*.hpp"))
    assert {h.parent.name for h in headers} - {"pyscale"} == set(HEADER_LAYERS)
    assert [h.name for h in headers if h.parent == include] == ["pyscale.hpp"]
    for header in headers:
        if header.parent == include:
            continue
        own = header.parent.name
        for target in re.findall(r'^#include "([^"]+)"', header.read_text(), re.M):
            folder = (header.parent / target).resolve().parent.name
            assert folder == own or HEADER_LAYERS[folder] < HEADER_LAYERS[own], \
                f"{header.relative_to(include)} includes {target}"


def test_numba_status_codes_are_the_core_run_status():
    """The hierarchy kernels return the C++ RunStatus codes (util/progress.hpp), named alike."""
    import importlib

    from pyscale._kernels import hierarchy as kern

    hierarchy = importlib.import_module("pyscale.engines.hierarchy")  # the module, not the function

    header = (ROOT / "csrc" / "include" / "pyscale" / "util" / "progress.hpp").read_text()
    body = re.search(r"enum class RunStatus : int \{(.*?)\};", header, re.S).group(1)
    codes = {re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower(): int(value)
             for name, value in re.findall(r"k(\w+) = (\d+)", body)}
    assert codes == {"completed": 0, "interrupted": 1, "diverged": 2, "step_limit": 3,
                     "out_of_domain": 4}
    # The hierarchy's kernels run the square's closure: no link domain to leave.
    for name in ("completed", "interrupted", "diverged", "step_limit"):
        assert getattr(kern, f"STATUS_{name.upper()}") == codes[name]
    assert hierarchy._STATUS == {value: name for name, value in codes.items()}
