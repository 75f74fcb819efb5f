"""The gallery's manifest: what each committed figure was made from, and the check that
it is what the code makes now.

``pyscale figure all --out DIR`` writes ``DIR/figure{N}.png`` and ``DIR/manifest.json``:
per figure its file's SHA-256, the pyscale version, the figure's parameters
(``PARAMS["full"]``) and the seconds it took. Each PNG also carries what it says — its
titles, axis labels and legend entries, the numbers in them included
(:func:`pyscale.app.figures._plot.figure_texts`) — in its "Description".

``pyscale figure check --out DIR`` (what CI runs) refuses a gallery where a figure is
missing from the manifest, its file is not the one recorded, it was made by another
version or with other parameters than the code's, or — for every figure that took at most
:data:`CHEAP_SECONDS` to make — redrawing it now gives other texts (a stale number or
legend). The expensive figures (Figure 7: about 250 s of CPU) are held to their recorded
parameters and version; regenerate the gallery after changing them.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

__all__ = ["MANIFEST", "CHEAP_SECONDS", "record", "check", "png_texts"]

MANIFEST = "manifest.json"
#: Figures that took at most this long to make are redrawn by the check.
CHEAP_SECONDS = 120.0


def _params(params: dict) -> dict:
    """A figure's parameters as JSON gives them back (tuples become lists)."""
    return json.loads(json.dumps(params, default=list))


def png_texts(path: Path) -> List[str]:
    """The texts a figure's PNG carries (its "Description"), [] when it has none."""
    from PIL import Image
    with Image.open(path) as image:
        text = image.info.get("Description")
    return json.loads(text) if text else []


def _read(directory: Path) -> Dict[str, dict]:
    from ..io import read_json
    path = directory / MANIFEST
    return dict(read_json(path)) if path.is_file() else {}


def record(directory, number: int, path, seconds: float, params: dict) -> None:
    """Enter figure ``number`` (just written to ``path`` with ``params``, its
    ``PARAMS["full"]``) into the manifest of ``directory``."""
    from ..._version import __version__
    from ..io import write_json
    from ..io.files import file_sha256
    directory = Path(directory)
    manifest = _read(directory)
    manifest[f"figure{number}"] = {"file": Path(path).name, "sha256": file_sha256(path),
                                   "pyscale_version": __version__, "params": _params(params),
                                   "seconds": round(float(seconds), 1)}
    write_json(directory / MANIFEST, manifest)


def _problems(directory: Path, manifest: dict, number: int, params: dict) -> List[str]:
    """What is stale about figure ``number`` of the gallery, without redrawing it."""
    from ..._version import __version__
    from ..io.files import file_sha256
    entry = manifest.get(f"figure{number}")
    path = directory / f"figure{number}.png"
    if entry is None:
        return [f"figure {number} is not in {MANIFEST}"]
    out = []
    if not path.is_file():
        out.append(f"figure {number}: {path.name} is missing")
    elif file_sha256(path) != entry.get("sha256"):
        out.append(f"figure {number}: {path.name} is not the file the manifest records")
    if entry.get("pyscale_version") != __version__:
        out.append(f"figure {number} was made by pyscale {entry.get('pyscale_version')}, "
                   f"this is {__version__}")
    if entry.get("params") != _params(params):
        out.append(f"figure {number} was made with other parameters than PARAMS['full']")
    return out


def _redrawn(number: int, committed: Path, make: Callable) -> List[str]:
    """Figure ``number`` drawn now (``make(number, out)``): how its texts differ from the
    committed PNG's."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = make(number, Path(scratch) / committed.name)
        now, then = png_texts(fresh), png_texts(committed)
    if now == then:
        return []
    changed = [f"{a!r} -> {b!r}" for a, b in zip(then, now) if a != b]
    if len(now) != len(then):
        changed.append(f"{len(then)} texts -> {len(now)}")
    return [f"figure {number} says something else when drawn now: {changed[0]}"]


def check(directory, figures: Dict[int, Any], make: Callable, redraw: bool = True,
          budget: float = CHEAP_SECONDS, say: Callable = print) -> List[str]:
    """Every way the gallery in ``directory`` is not current (empty: it is). ``figures``:
    number → figure module (its ``PARAMS``); ``make(number, out)`` draws one."""
    directory = Path(directory)
    manifest = _read(directory)
    problems: List[str] = []
    for number in sorted(figures):
        found = _problems(directory, manifest, number, figures[number].PARAMS["full"])
        entry: Optional[dict] = manifest.get(f"figure{number}")
        if not found and redraw and entry is not None and entry.get("seconds", 1e9) <= budget:
            start = time.perf_counter()
            found = _redrawn(number, directory / entry["file"], make)
            say(f"figure {number}: redrawn in {time.perf_counter() - start:.1f} s"
                f"{'' if found else ', unchanged'}")
        elif not found:
            say(f"figure {number}: as recorded ({entry.get('seconds') if entry else '?'} s "
                f"to make: not redrawn)")
        problems += found
    return problems
