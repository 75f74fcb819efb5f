"""The paper's figures (pyscale.figures): every figure draws in quick mode and writes a
PNG; the command line reaches them."""
import pytest

from pyscale.cli import main
from pyscale.figures import FIGURES, make_all, make_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("number", sorted(FIGURES))
def test_quick_figure_writes_a_png(tmp_path, number):
    path = make_figure(number, tmp_path / f"figure{number}.png", quick=True, progress=False)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_every_figure_documents_its_parameters():
    for number, module in FIGURES.items():
        assert set(module.PARAMS) == {"full", "quick"}, number
        assert module.__doc__ and f"Figure {number}" in module.__doc__
        assert "SPEC §4" in module.__doc__


def test_figure_command(tmp_path, capsys):
    assert main(["figure", "6", "--quick", "--out", str(tmp_path / "f6.png"),
                 "--no-progress"]) == 0
    assert (tmp_path / "f6.png").read_bytes().startswith(PNG_MAGIC)
    assert "figure 6" in capsys.readouterr().out


def test_bad_figure_requests_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="figure number"):
        make_figure(9, tmp_path / "x.png")
    with pytest.raises(ValueError, match="give a directory"):
        next(make_all(tmp_path / "all.png", quick=True))
    assert main(["figure", "2", "--out", str(tmp_path / "f2.txt")]) == 2  # bad usage
    assert "--out: must end in .png" in capsys.readouterr().err
