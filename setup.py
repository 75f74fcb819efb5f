"""Build the one pybind11 extension, ``pyscale._core``.

Its translation units are csrc/bindings/*.cpp (one per binding area), compiled in parallel
(``NPY_NUM_BUILD_JOBS`` jobs, default all cores). Portable flags only (``-O3``; no
``-march=native`` unless ``PYSCALE_NATIVE=1``). OpenMP is used when the compiler accepts
``-fopenmp``; otherwise the core runs serially with identical results (its reductions are
blocked deterministically).
"""
import glob
import os
import subprocess
import sys
import tempfile

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import setup


def _compiler_accepts_openmp() -> bool:
    if os.environ.get("PYSCALE_NO_OPENMP") == "1" or sys.platform == "win32":
        return False
    cxx = os.environ.get("CXX", "c++")
    src = "#include <omp.h>\nint main(){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "omp_check.cpp")
        with open(path, "w") as fh:
            fh.write(src)
        try:
            subprocess.run([cxx, "-fopenmp", path, "-o", os.path.join(tmp, "a.out")],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return False
    return True


compile_args = ["-O3"]
link_args = []
if os.environ.get("PYSCALE_NATIVE") == "1":
    compile_args.append("-march=native")
if _compiler_accepts_openmp():
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")

ParallelCompile("NPY_NUM_BUILD_JOBS").install()

ext = Pybind11Extension(
    "pyscale._core",
    sorted(glob.glob("csrc/bindings/*.cpp")),
    include_dirs=["csrc/include"],
    cxx_std=17,
    extra_compile_args=compile_args,
    extra_link_args=link_args,
    # Every header, at any depth: a change to any of them rebuilds the extension.
    depends=sorted(glob.glob("csrc/include/pyscale/**/*.hpp", recursive=True)
                   + glob.glob("csrc/bindings/*.hpp")),
)

setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})
