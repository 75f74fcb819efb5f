"""Every mode count the documentation quotes is what the code gives now.

A count quoted as "N modes" is ``Problem.n_modes`` (groups of coordinates that share one
eigenvalue); ``Problem.n_coords`` counts the stored coordinates (up to two per mode), so it
is quoted only as "coordinates". Each case names the file, the words quoted there (with
any run of white space as one space) and the problem they count."""
import re
from pathlib import Path

import pytest

from pyscale import Problem
from pyscale.app.figures import figure7
from pyscale.app.figures._dimension import build_problem

ROOT = Path(__file__).resolve().parents[1]

UNIFORM = {"27,411": (10 ** 9, 2.0, 1e-3), "13,590": (10 ** 6, 2.0, 1e-3),
           "41,233": (10 ** 12, 2.0, 1e-3), "9,001": (10 ** 5, 2.0, 1e-3),
           "3,215": (10 ** 9, 2.0, 1e-2)}
HORIZON = {"8,362": (10 ** 6, 2.0, 1e-3, 1e8), "8,368": (10 ** 9, 2.0, 1e-3, 1e8),
           "1,036": (10 ** 9, 2.0, 1e-3, 1e4)}

# (file, quoted words, the count in them, its problem: (d, a, δ) or (d, a, δ, horizon))
CASES = [
    ("README.md", "compress=1e-3) # 27,411 modes", "27,411", UNIFORM["27,411"]),
    ("README.md", "27,411 modes at δ = 1e-3, a = 2", "27,411", UNIFORM["27,411"]),
    ("README.md", "δ = 1e-3 (9,001 modes)", "9,001", UNIFORM["9,001"]),
    ("README.md", "| 3,215 / 27,411 modes |", "3,215", UNIFORM["3,215"]),
    ("README.md", "13,590 / 27,411 / 41,233 modes", "13,590", UNIFORM["13,590"]),
    ("README.md", "13,590 / 27,411 / 41,233 modes", "41,233", UNIFORM["41,233"]),
    ("docs/engines.md", "27,411 modes at δ = 1e-3, a = 2", "27,411", UNIFORM["27,411"]),
    ("docs/engines.md", "δ = 1e-3 (9,001 modes)", "9,001", UNIFORM["9,001"]),
    ("docs/engines.md", "(13,590 / 27,411 / 41,233 modes)", "41,233", UNIFORM["41,233"]),
    ("docs/engines.md", "T = 10⁸ is 8,362 modes at d = 10⁶", "8,362", HORIZON["8,362"]),
    ("docs/engines.md", "and 8,368 at d = 10⁹ (uniform: 13,590", "8,368", HORIZON["8,368"]),
    ("docs/engines.md", "T = 10⁴ is 1,036 at d = 10⁹", "1,036", HORIZON["1,036"]),
    ("docs/model.md", "8,362 modes at $d = 10^6$", "8,362", HORIZON["8,362"]),
    ("docs/model.md", "8,368 at $d = 10^9$ for $T = 10^8$", "8,368", HORIZON["8,368"]),
    ("docs/model.md", "1,036 at $d = 10^9$ for $T = 10^4$", "1,036", HORIZON["1,036"]),
    ("docs/getting_started.md", "compress=1e-3)` is 27,411 modes", "27,411", UNIFORM["27,411"]),
    ("docs/chain.md", "δ = 10^-3 is 27 411 modes", "27 411", UNIFORM["27,411"]),
    ("docs/chain.md", "δ = 10^-3, 13 590 modes", "13 590", UNIFORM["13,590"]),
    ("docs/chain.md", "δ = 10^-2 uniform (3 215 modes)", "3 215", UNIFORM["3,215"]),
    ("docs/gallery.md", "δ = 10⁻², 3,215 modes", "3,215", UNIFORM["3,215"]),
    ("README.md", "link pairs at d = 10⁹ (3,215 modes)", "3,215", UNIFORM["3,215"]),
]


def _text(name: str) -> str:
    return re.sub(r"\s+", " ", (ROOT / name).read_text(encoding="utf-8"))


def _count(number: str) -> int:
    return int(re.sub(r"[ ,]", "", number))


@pytest.mark.parametrize("name, quote, number, spec", CASES)
def test_documented_mode_counts_are_the_codes(name, quote, number, spec):
    assert quote in _text(name), f"{name} no longer says {quote!r}"
    assert number in quote
    d, a, delta, *horizon = spec
    problem = Problem.power_law(d, a, seed=0, compress=delta,
                                **({"horizon": horizon[0]} if horizon else {}))
    assert problem.n_modes == _count(number), f"{name}: {quote!r}"


def test_figure_1_counts_in_its_dimension_module():
    import pyscale.app.figures._dimension as dimension
    text = re.sub(r"\s+", " ", dimension.__doc__)
    for d, modes, coords in ((10 ** 5, 411, 622), (10 ** 9, 413, 626)):
        problem = build_problem(d, 2.0, 1e4, seed=0, target="norm_d", noise=0.05)
        assert (problem.n_modes, problem.n_coords) == (modes, coords)
    assert "411 modes at d = 10⁵ and 413 at d = 10⁹" in text
    assert "622 and 626 coordinates" in text
    assert "needs 1,363 and 3,215" in text
    assert Problem.power_law(10 ** 5, 2.0, seed=0, compress=1e-2).n_modes == 1363


def _figure_7_bounds() -> list:
    """Per panel, the K its modes were sized with as the committed PNG's MSE title gives it
    (None: the flow's own K; a panel rerun on re-sized modes says so), and a check that
    each panel's records stayed inside it."""
    from pyscale.app.figures.gallery import png_texts
    titles = [t for t in png_texts(ROOT / "docs" / "gallery" / "figure7.png")
              if "max |c0| + |c1|" in t]
    assert len(titles) == len(figure7.PARAMS["full"]["a"])
    bounds = []
    for title in titles:
        found = re.search(r"max \|c0\| \+ \|c1\| = [0-9.]+ ≤ K = ([0-9.]+)", title)
        assert found, title  # the records stayed inside the K used
        bounds.append(float(found.group(1)) if "re-sized" in title else None)
    return bounds


def test_figure_7_counts_in_the_gallery_page_and_the_readme():
    p = figure7.PARAMS["full"]
    counts = [figure7.panel_problem(p, a, lr, t, bound)[0].n_modes
              for a, lr, t, bound in zip(p["a"], p["lr"], p["t"], _figure_7_bounds())]
    quoted = ", ".join(f"{n:,}" for n in counts[:-1]) + f" and {counts[-1]:,} modes"
    assert quoted in _text("docs/gallery.md")
    assert f"on {' / '.join(f'{n:,}' for n in counts)} modes" in _text("README.md")
