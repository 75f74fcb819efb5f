"""The paper's figures, one module per figure, each reproducible with one call
(or ``pyscale figure N --out FILE.png``):

====  =============================================================  ==================
 N    what                                                           module
====  =============================================================  ==================
 1    MSE under online SGD for several a, isotropic included         :mod:`.figure1`
 2    MSE, |u|, s under population GD, phases marked                 :mod:`.figure2`
 3    |u|(t) for several a, with the escape law C e^{ρt}             :mod:`.figure3`
 4    population MSE vs the frozen Phase III approximation           :mod:`.figure4`
 5    online SGD order parameters, a ∈ {0.5, 1, 1.5}, label noise    :mod:`.figure5`
 6    log(1 − |u|) vs log t, a ∈ {1.5, 2, 4}, d ∈ {500, 2000, 5000}  :mod:`.figure6`
====  =============================================================  ==================

Every module holds ``PARAMS = {"full": {...}, "quick": {...}}`` (the paper's parameters
where it gives them, documented choices where it does not; ``quick`` is a seconds-long
smoke test) and ``make(out, quick=False, progress=None) -> Path``.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from . import figure1, figure2, figure3, figure4, figure5, figure6

__all__ = ["FIGURES", "make_figure", "make_all"]

#: figure number -> module with PARAMS, TITLE and make(out, quick, progress)
FIGURES = {1: figure1, 2: figure2, 3: figure3, 4: figure4, 5: figure5, 6: figure6}


def make_figure(number: int, out, quick: bool = False,
                progress: bool | None = None) -> Path:
    """Draw figure ``number`` (1-6) of the paper into ``out`` (PNG, PDF or SVG)."""
    try:
        module = FIGURES[int(number)]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"figure number must be one of {sorted(FIGURES)}, got {number!r}") \
            from None
    return module.make(Path(out), quick=quick, progress=progress)


def make_all(directory, quick: bool = False,
             progress: bool | None = None) -> Iterator[tuple[int, Path, float]]:
    """Draw every figure into ``directory/figure{N}.png``; yields (N, path, seconds)."""
    directory = Path(directory)
    if directory.suffix.lower() in (".png", ".pdf", ".svg"):
        raise ValueError(f"'all' writes one file per figure: give a directory, got "
                         f"{str(directory)!r}")
    directory.mkdir(parents=True, exist_ok=True)
    for number in sorted(FIGURES):
        start = time.perf_counter()
        path = make_figure(number, directory / f"figure{number}.png", quick=quick,
                           progress=progress)
        yield number, path, time.perf_counter() - start
