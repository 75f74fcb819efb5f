"""Reproduce every figure of the paper (gallery: The paper's figures) into a directory, with
timings.

    python examples/reproduce_paper.py [OUT_DIR] [--quick]

The same as ``pyscale figure all --out OUT_DIR``; the parameters of each figure are in
``pyscale.app.figures.figureN.PARAMS`` (printed below) and documented in the module docstrings.
"""
import sys
import time

from pyscale.app.figures import FIGURES, make_all


def main(argv):
    quick = "--quick" in argv
    args = [a for a in argv if a != "--quick"]
    out = args[0] if args else "figures"
    start = time.perf_counter()
    for number, path, seconds in make_all(out, quick=quick):
        params = FIGURES[number].PARAMS["quick" if quick else "full"]
        print(f"figure {number}: {path} ({seconds:.1f} s) {params}")
    print(f"all figures in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
