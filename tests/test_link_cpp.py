"""The C++ link pieces (``csrc/include/pyscale/model/``) as a plain header library, and their
numba twins (``pyscale._kernels.links``) held against them.

``csrc/tests/test_link.cpp`` (kernels against 2-D Gauss–Legendre quadrature, derivatives against
finite differences, the square's closed forms, user links through C function pointers) is
compiled with ``-Wall -Wextra -Werror`` and run; ``csrc/tests/link_shim.cpp`` is compiled into a
shared library that ctypes calls with the same pairs the numba twins evaluate — user links
included, whose numba cfuncs reach C++ as plain function pointers.
"""
import ctypes
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from numba import cfunc, types

from pyscale.model.links import Link, LinkPair

ROOT = Path(__file__).resolve().parents[1]
CXX = os.environ.get("CXX", "g++")
INCLUDE = f"-I{ROOT / 'csrc' / 'include'}"
# Closed forms run the same operations in C++ and numba; the quadrature rule sums the same
# nodes in the same order. What remains is libm (tanh, exp, erf) and compiler contraction.
TWIN = 1e-13

SIG = types.float64(types.float64)


@cfunc(SIG)
def algebraic(z):
    return z / math.sqrt(1.0 + z * z)


@cfunc(SIG)
def algebraic_prime(z):
    return (1.0 + z * z) ** -1.5


@cfunc(SIG)
def wave(z):
    return math.sin(z) + 0.5 * z


@cfunc(SIG)
def wave_prime(z):
    return math.cos(z) + 0.5


@cfunc(SIG)
def wave_second(z):
    return -math.sin(z)


def compile_cpp(source: str, out: Path, shared: bool = False) -> Path:
    cmd = [CXX, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", INCLUDE, str(ROOT / source),
           "-o", str(out)]
    if shared:
        cmd[1:1] = ["-shared", "-fPIC"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=out.parent)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr}"
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    if shutil.which(CXX) is None:
        pytest.fail(f"no C++ compiler ({CXX}) found: the C++ core must build without Python")
    out = tmp_path_factory.mktemp("links")
    return (compile_cpp("csrc/tests/test_link.cpp", out / "test_link"),
            compile_cpp("csrc/tests/link_shim.cpp", out / "link_shim.so", shared=True))


def test_cpp_link_tests_pass(build):
    res = subprocess.run([str(build[0])], capture_output=True, text=True, timeout=300)
    lines = res.stdout.strip().splitlines()
    assert res.returncode == 0 and lines[-1] == "0 failed", res.stdout + res.stderr
    assert sum(line.startswith("ok") for line in lines) >= 60


def describe(link: Link) -> list:
    """The shim's description of a link (see csrc/tests/link_shim.cpp)."""
    kinds = {"square": 0, "abs": 1, "relu": 2, "erf": 3, "polynomial": 4, "hermite": 5,
             "tanh": 6, "user": 7}
    funcs = [a for a in link.addresses if a]
    return [kinds[link.kind], float(link.even), link.atoms.width, len(funcs), *funcs,
            len(link.coefficients), *link.coefficients]


def cpp_eval(lib, pair: LinkPair, points: np.ndarray) -> np.ndarray:
    spec = np.array(describe(pair.student) + describe(pair.teacher), dtype=np.float64)
    pts = np.ascontiguousarray(points, dtype=np.float64)
    out = np.empty((len(pts), 10))
    err = ctypes.create_string_buffer(400)
    ptr = ctypes.POINTER(ctypes.c_double)
    rc = lib.pyscale_link_eval(spec.ctypes.data_as(ptr), pts.ctypes.data_as(ptr),
                               ctypes.c_int(len(pts)), out.ctypes.data_as(ptr), err,
                               ctypes.c_int(400))
    if rc:
        raise ValueError(err.value.decode())
    return out


PAIRS = [("square", None), ("square", "abs"), ("square", "relu"), ("relu", "erf"),
         ("abs", None), ("relu", None), ("erf", None), ("tanh", None), ("erf", "tanh"),
         ("hermite(0,0,0,1)", None), ("polynomial(0.2,1,-0.5,0.3)", "polynomial(-0.1,0.5,1)"),
         ("polynomial(0.1,0.4,-0.3,0.2,0.1)", "relu"), ("relu", "hermite(0,1,0,1)"),
         ("hermite(0.5,0,1)", "erf"), ("tanh", "polynomial(0,1,0,0.2)")]
POINTS = np.array([[1.0, 0.5, 1.0], [0.7, -0.3, 1.0], [0.05, 0.02, 1.0], [1.6, 1.1, 1.0],
                   [0.8, 0.95, 1.3], [1e-4, 1e-6, 1.0]])


def user_links():
    return [Link.user(wave, wave_prime, wave_second, analytic_width=2.0, name="wave"),
            Link.user(algebraic, algebraic_prime, analytic_width=1.0, name="algebraic")]


def twin(pair: LinkPair, points: np.ndarray) -> np.ndarray:
    rows = []
    for s, u, s_star in points:
        rows.append([*pair.loss_derivatives(s, u, s_star), pair.loss(s, u, s_star),
                     *pair.loss_gradient(s, u, s_star)])
    return np.array(rows)


def test_cpp_and_numba_twins_agree(build):
    lib = ctypes.CDLL(str(build[1]))
    wave_link = user_links()[0]
    pairs = [LinkPair(s, t) for s, t in PAIRS] + [LinkPair(wave_link),
                                                  LinkPair(wave_link, Link("tanh"))]
    worst = {}
    for pair in pairs:
        a, b = cpp_eval(lib, pair, POINTS), twin(pair, POINTS)
        scale = np.maximum(np.abs(a), 1e-3 * np.max(np.abs(a[:, 0])))
        worst[pair.identity] = float(np.max(np.abs(a - b) / scale))
    assert max(worst.values()) <= TWIN, worst


def test_cpp_and_numba_agree_on_a_user_link_without_sigma_second(build):
    """σ'' and above by central differences of σ', on both sides with the same stencils."""
    lib = ctypes.CDLL(str(build[1]))
    pair = LinkPair(user_links()[1])
    pts = POINTS[:5]
    a, b = cpp_eval(lib, pair, pts), twin(pair, pts)
    np.testing.assert_allclose(b, a, rtol=TWIN, atol=TWIN * np.max(np.abs(a)))


def test_cpp_refuses_a_kinked_student_at_s_zero_in_one_sentence(build):
    lib = ctypes.CDLL(str(build[1]))
    with pytest.raises(ValueError, match=r"^s = 0 with the kinked student 'relu': .*s > 0$"):
        cpp_eval(lib, LinkPair("relu"), np.array([[0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="kinked student"):
        LinkPair("relu").loss(0.0, 0.0)
