"""The paper's figures, one module per figure, each reproducible with one call
(or ``pyscale figure N --out FILE.png``; ``--out DIR``: DIR/figureN.png, entered into DIR's
manifest like ``pyscale figure all``):

====  =============================================================  ==================
 N    what                                                           module
====  =============================================================  ==================
 1    MSE under online SGD for several a, isotropic included         :mod:`.figure1`
 2    MSE, |u|, s under population GD, phases marked                 :mod:`.figure2`
 3    |u|(t) for several a, with the escape law C e^{ρt}             :mod:`.figure3`
 4    population MSE vs the frozen Phase III approximation           :mod:`.figure4`
 5    online SGD order parameters, a ∈ {0.5, 1, 1.5}, label noise    :mod:`.figure5`
 6    log(1 − |u|) vs log t, a ∈ {1.5, 2, 4}, d ∈ {500, 2000, 5000}  :mod:`.figure6`
 7    online SGD at d = 10⁹ vs the SGD floor and Phase III law       :mod:`.figure7`
 8    link pairs side by side: the flow at d = 10⁹, predicted T1     :mod:`.figure8`
 9    two-layer networks at d = 10⁹: loss and per-unit cosines      :mod:`.figure9`
====  =============================================================  ==================

Every module holds ``PARAMS = {"full": {...}, "quick": {...}}`` (the paper's parameters
where it gives them, documented choices where it does not; ``quick`` is a seconds-long
smoke test) and ``make(out, quick=False, progress=None) -> Path``. Figures 1 and 5 also
take ``d=`` (``ANY_D = True``): their dimension, any d in [2, 10¹²], on the mode chain above
10⁴ (:mod:`pyscale.app.figures._dimension`). Figure 7 is not in the paper: online SGD at
d = 10⁹ on the mode chain against the SGD theory; Figure 8 neither: the flow of six link
pairs at d = 10⁹ against the theory for other links (links page: Predictions for a pair);
Figure 9 neither: the flow of a quadratic network and an erf committee (p = k = 4) at
d = 10⁹, the symmetric plateau and the units' specialisation (networks page).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from . import (
    figure1,
    figure2,
    figure3,
    figure4,
    figure5,
    figure6,
    figure7,
    figure8,
    figure9,
    gallery,
)
from ._dimension import check_dimension

__all__ = ["FIGURES", "ANY_D", "make_figure", "make_into", "make_all", "check_gallery"]

#: figure number -> module with PARAMS, TITLE and make(out, quick, progress)
FIGURES = {1: figure1, 2: figure2, 3: figure3, 4: figure4, 5: figure5, 6: figure6,
           7: figure7, 8: figure8, 9: figure9}
#: the figures whose make() takes d= (their dimension)
ANY_D = tuple(n for n, module in sorted(FIGURES.items()) if getattr(module, "ANY_D", False))


def make_figure(number: int, out, quick: bool = False,
                progress: bool | None = None, d: int | None = None) -> Path:
    """Draw figure ``number`` (1-9) into ``out`` (PNG, PDF or SVG); ``d`` replaces the
    dimension of figures 1 and 5 (an integer in [1, 10¹²]; compressed above 10⁴)."""
    try:
        module = FIGURES[int(number)]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"figure number must be one of {sorted(FIGURES)}, got {number!r}") \
            from None
    if d is None:
        return module.make(Path(out), quick=quick, progress=progress)
    if int(number) not in ANY_D:
        raise ValueError(f"d: figure {int(number)} has a fixed dimension; only figures "
                         f"{' and '.join(map(str, ANY_D))} take d")
    return module.make(Path(out), quick=quick, progress=progress, d=check_dimension(d))


def make_into(directory, number: int, quick: bool = False,
              progress: bool | None = None) -> tuple[Path, float]:
    """Draw figure ``number`` into ``directory/figure{N}.png``; returns (path, seconds). A
    full figure is entered into ``directory/manifest.json`` with the wall-clock seconds it
    took (:mod:`.gallery`), so one figure of a gallery can be redrawn on its own."""
    directory = Path(directory)
    start = time.perf_counter()
    path = make_figure(number, directory / f"figure{int(number)}.png", quick=quick,
                       progress=progress)
    seconds = time.perf_counter() - start
    if not quick:  # the manifest records full figures (gallery: what each was made of)
        gallery.record(directory, int(number), path, seconds,
                       FIGURES[int(number)].PARAMS["full"])
    return path, seconds


def make_all(directory, quick: bool = False,
             progress: bool | None = None) -> Iterator[tuple[int, Path, float]]:
    """Draw every figure into ``directory/figure{N}.png``; yields (N, path, seconds). Full
    figures are entered into ``directory/manifest.json`` (:mod:`.gallery`)."""
    directory = Path(directory)
    if directory.suffix.lower() in (".png", ".pdf", ".svg"):
        raise ValueError(f"'all' writes one file per figure: give a directory, got "
                         f"{str(directory)!r}")
    directory.mkdir(parents=True, exist_ok=True)
    for number in sorted(FIGURES):
        yield (number, *make_into(directory, number, quick=quick, progress=progress))


def check_gallery(directory, say=print) -> list:
    """Every way the gallery in ``directory`` is not what the code makes now (empty: it
    is current); see :mod:`.gallery`."""
    return gallery.check(directory, FIGURES,
                         lambda number, out: make_figure(number, out, progress=False), say=say)
