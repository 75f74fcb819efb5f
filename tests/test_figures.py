"""The paper's figures (pyscale.figures): every figure draws in quick mode and writes a
PNG; the command line reaches them; the panels and labels say what they show (phases,
mean or median and the band's quantiles, the Phase IIb fit window), and no legend covers
a curve."""
import numpy as np
import pytest
from matplotlib.lines import Line2D
from scipy.special import zeta

import pyscale
from pyscale.cli import main
from pyscale.figures import FIGURES, _plot, make_all, make_figure
from pyscale.figures._theory import phase2b_window
from pyscale.figures.figure6 import PARAMS as PARAMS6
from pyscale.figures.figure6 import law_fit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("number", sorted(FIGURES))
def test_quick_figure_writes_a_png(quick_figures, number):
    data = quick_figures[number][1].read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_every_figure_documents_its_parameters():
    for number, module in FIGURES.items():
        assert set(module.PARAMS) == {"full", "quick"}, number
        assert module.__doc__ and f"Figure {number}" in module.__doc__
        assert "(model page: " in module.__doc__ and "§" not in module.__doc__


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


@pytest.fixture(scope="module")
def quick_figures(tmp_path_factory):
    """Every quick figure through make_figure, kept open: {number: (Figure, PNG path)}."""
    out, figures = tmp_path_factory.mktemp("figs"), {}

    def keep(fig, path):
        fig.savefig(path)
        figures[keep.number] = fig
        return path
    for number, module in FIGURES.items():
        keep.number = number
        module.save = keep  # the modules call save(fig, out) last: keep the figure open
        try:
            path = make_figure(number, out / f"figure{number}.png", quick=True,
                               progress=False)
        finally:
            module.save = _plot.save
        figures[number] = (figures[number], path)
    yield figures
    import matplotlib.pyplot as plt
    for fig, _ in figures.values():
        plt.close(fig)


def _inside(box, pts: np.ndarray) -> np.ndarray:
    return ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0)
            & (pts[:, 1] <= box.y1))


def legend_texts(fig):
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def points_under_legends(fig) -> int:
    """How many drawn curve points fall inside a legend box (in display coordinates)."""
    fig.canvas.draw()
    hidden = 0
    for ax in fig.axes:
        boxes = [legend.get_window_extent() for legend in
                 list(fig.legends) + ([ax.get_legend()] if ax.get_legend() else [])]
        frame = ax.get_window_extent()
        for line in ax.get_lines():
            x, y = line.get_xdata(orig=False), line.get_ydata(orig=False)
            if line.get_transform() != ax.transData or len(np.atleast_1d(x)) < 2:
                continue  # vertical / horizontal markers span the axes by construction
            pts = ax.transData.transform(np.column_stack([x, y]).astype(float))
            shown = np.all(np.isfinite(pts), axis=1) & _inside(frame, pts)
            for box in boxes:
                hidden += int(np.sum(_inside(box, pts) & shown))
    return hidden


@pytest.mark.parametrize("number", sorted(FIGURES))
def test_no_legend_covers_a_curve(quick_figures, number):
    assert points_under_legends(quick_figures[number][0]) == 0


def test_figure2_shades_and_names_the_phases(quick_figures):
    fig = quick_figures[2][0]
    for ax in fig.axes:
        names = [t.get_text() for t in ax.texts]
        assert names == ["I", "IIa", "IIb", "III"]
    texts = legend_texts(fig)
    for phase in ("Phase I:", "Phase IIa:", "Phase IIb:", "Phase III:"):
        assert sum(t.startswith(phase) for t in texts) == 1
    measured = [h for h in fig.legends[0].legend_handles
                if isinstance(h, Line2D) and h.get_label().startswith("T1 measured")]
    predicted = [h for h in fig.legends[0].legend_handles
                 if isinstance(h, Line2D) and h.get_label().startswith("T1 predicted")]
    assert len(measured) == len(predicted) == 1
    assert measured[0].get_linestyle() != predicted[0].get_linestyle()
    assert measured[0].get_color() != predicted[0].get_color()


def test_figure4_has_the_relative_error_panel(quick_figures):
    fig = quick_figures[4][0]
    n_a = len(FIGURES[4].PARAMS["quick"]["a"])
    assert len(fig.axes) == n_a + 1
    error = fig.axes[-1]
    assert "relative error" in error.get_title()
    assert error.get_ylabel().startswith("|frozen − MSE| / MSE")
    curves = [line for line in error.get_lines() if len(line.get_xdata()) > 2]
    assert len(curves) == 2 * n_a  # against the flow and against GD, per a
    for line in curves:
        y = np.asarray(line.get_ydata())
        assert np.all(y >= 0) and np.all(np.isfinite(y)) and np.max(y) < 1.0


@pytest.mark.parametrize("number, statistic", [(1, "mean"), (5, "median")])
def test_figures_1_and_5_say_the_statistic_and_the_band(quick_figures, number, statistic):
    fig = quick_figures[number][0]
    texts = legend_texts(fig)
    assert any(t.startswith(f"SGD {statistic}") for t in texts)
    assert any("10–90 % quantiles over" in t for t in texts)
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    assert any(f"{statistic} of" in t and "10–90 % quantiles" in t for t in titles)


def test_figure6_titles_give_the_fit_window(quick_figures):
    axes = quick_figures[6][0].axes
    a_values = FIGURES[6].PARAMS["quick"]["a"]
    d = FIGURES[6].PARAMS["quick"]["d"][-1]
    for ax, a in zip(axes, a_values):
        lo, hi = phase2b_window(d, a)
        if lo < hi and a == 4.0:
            assert f"fit on d = {d}, t ∈ [" in ax.get_title()
            assert f"law {-(a - 1) / a:.3f}" in ax.get_title()
        else:  # a = 1.5 at d = 300: fewer than 5 learned directions before the tail ends
            assert lo >= hi and "no window" in ax.get_title()
    legend = " ".join(legend_texts(quick_figures[6][0]))
    assert "−1/a" not in legend and "slope −(1−1/a)" not in legend


def test_phase2b_window_against_the_hurwitz_zeta():
    # H_{d,a} = ζ(a) − ζ(a, d + 1) (SciPy's Hurwitz zeta), an independent reference
    for d, a in ((5000, 1.5), (2000, 2.0), (500, 4.0)):
        harmonic = zeta(a) - zeta(a, d + 1)
        lo, hi = phase2b_window(d, a, min_learned=5.0, max_bias=0.1)
        assert lo == pytest.approx(harmonic * 5.0 ** a, rel=1e-12)
        assert hi == pytest.approx(harmonic * (d * 0.1 ** (1 / (a - 1))) ** a, rel=1e-12)
    with pytest.raises(ValueError, match="a > 1"):
        phase2b_window(100, 1.0)


@pytest.mark.parametrize("d, a", [(5000, 1.5), (2000, 2.0)])
def test_phase2b_fit_recovers_the_law(d, a):
    """On the theory window the fitted exponent is (a − 1)/a within 0.02 (the old fit on
    t ∈ [100, 10⁵] gave −0.65 at a = 1.5, d = 5000)."""
    p = PARAMS6["full"]
    traj = pyscale.simulate(pyscale.Problem.power_law(d, a, seed=0), "flow",
                            t=_plot.log_times(p["t"], 300), threads=1)
    fit = law_fit(traj, d, a, p)
    assert fit["law"] == -(a - 1) / a
    assert abs(fit["slope"] - fit["law"]) < 0.02
    assert fit["n"] >= 20 and fit["t_window"][0] > fit["T1_prime"]
