"""The figures (pyscale.figures): every figure draws in quick mode and writes a PNG; the
command line reaches them; the panels and labels say what they show (phases, mean or
median and the band's quantiles, the Phase IIb fit window, figure 7's floor and law), no
legend covers a curve; figures 1 and 5 at any d (--d, the mode chain above 10^4), and
diverged seeds are counted, never averaged in nor dropped silently."""
import numpy as np
import pytest
from matplotlib.lines import Line2D
from scipy.special import zeta

import pyscale
from pyscale.app.cli import main
from pyscale.app.figures import FIGURES, _dimension, _plot, figure1, make_all, make_figure
from pyscale.app.figures._plot import completed_members
from pyscale.app.figures._theory import phase2b_window
from pyscale.app.figures.figure6 import PARAMS as PARAMS6
from pyscale.app.figures.figure6 import law_fit

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
        make_figure(10, tmp_path / "x.png")
    with pytest.raises(ValueError, match="give a directory"):
        next(make_all(tmp_path / "all.png", quick=True))
    assert main(["figure", "2", "--out", str(tmp_path / "f2.txt")]) == 2  # bad usage
    assert "--out: must end in .png" in capsys.readouterr().err


def test_figure_into_a_gallery_directory(tmp_path, capsys, monkeypatch):
    import json

    import pyscale.app.figures as figures
    assert main(["figure", "3", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "figure3.png").read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "manifest.json").exists()  # quick figures are not the gallery's

    def drawn(number, out, quick=False, progress=None):
        out.write_bytes(PNG_MAGIC)
        return out
    monkeypatch.setattr(figures, "make_figure", drawn)
    path, seconds = figures.make_into(tmp_path, 7)
    entry = json.loads((tmp_path / "manifest.json").read_text())["figure7"]
    assert path == tmp_path / "figure7.png" and entry["file"] == "figure7.png"
    assert entry["params"] == json.loads(json.dumps(figures.figure7.PARAMS["full"],
                                                    default=list))
    assert entry["seconds"] == round(seconds, 1)
    capsys.readouterr()
    assert main(["figure", "1", "--d", "1e5", "--out", str(tmp_path)]) == 2
    assert "--d: --out" in capsys.readouterr().err


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


# ---------------------------------------------------------------------------- any d


def _kept(module, monkeypatch):
    """Make module.make keep its figure open: returns the list it lands in."""
    kept = []

    def keep(fig, path):
        fig.savefig(path)
        kept.append(fig)
        return path
    monkeypatch.setattr(module, "save", keep)
    return kept


def titles(fig):
    return [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]


@pytest.mark.parametrize("number", [1, 5])
def test_figure_at_d_1e9_runs_on_the_mode_chain(tmp_path, capsys, monkeypatch, number):
    module = FIGURES[number]
    kept = _kept(module, monkeypatch)
    out = tmp_path / f"f{number}.png"
    assert main(["figure", str(number), "--quick", "--d", "1e9", "--out", str(out),
                 "--no-progress"]) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)
    fig = kept[0]
    assert any("d = 10^9 (mode chain, δ = 10^-2)" in t for t in titles(fig))
    if number == 1:  # the MSE stays on its plateau: the learned part is shown beside it
        assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "MSE(0) − MSE(t)"
    assert points_under_legends(fig) == 0


def test_default_d_keeps_the_figure_as_it_was(quick_figures):
    fig = quick_figures[1][0]
    assert len(fig.axes) == 1
    assert any(f"d = {FIGURES[1].PARAMS['quick']['d']}, lr" in t for t in titles(fig))


@pytest.mark.parametrize("d, err, needle", [
    (0, ValueError, r"d must be an integer in \[2, 10\*\*12\], got 0"),
    (1, ValueError, "got 1"), (-3, ValueError, "got -3"), (1.5, ValueError, "got 1.5"),
    (float("nan"), ValueError, "got nan"), (10 ** 13, ValueError, "got 10000000000000"),
    ("1e9", TypeError, "got '1e9'"), (True, TypeError, "got True"), (None, None, None)])
def test_make_figure_checks_d(tmp_path, d, err, needle):
    if err is None:  # None is the default dimension: nothing to refuse (not run here)
        return
    with pytest.raises(err, match=needle):
        make_figure(1, tmp_path / "x.png", quick=True, d=d)
    assert list(tmp_path.iterdir()) == []


def test_make_figure_refuses_d_for_fixed_dimension_figures(tmp_path):
    for number in (2, 3, 4, 6, 7):
        with pytest.raises(ValueError, match=f"figure {number} has a fixed dimension"):
            make_figure(number, tmp_path / "x.png", quick=True, d=10 ** 9)
    assert list(tmp_path.iterdir()) == []


def test_compression_starts_above_1e4_and_titles_say_so():
    assert not _dimension.build_problem(10 ** 4, 2.0, 100.0).is_compressed
    p = _dimension.build_problem(10 ** 4 + 1, 2.0, 100.0)
    assert p.is_compressed and p.d == 10 ** 4 + 1
    assert p.info["compressed"]["rtol"] == _dimension.COMPRESS == 1e-2
    # sized for the figure's horizon (model page: Compression, Horizon-aware grouping)
    assert p.info["compressed"]["horizon"] == 100.0
    big = _dimension.build_problem(10 ** 9, 2.0, 1e4)
    assert big.n_modes < 0.2 * pyscale.Problem.power_law(10 ** 9, 2.0, compress=1e-2).n_modes
    assert _dimension.describe(1000) == "d = 1000"
    assert _dimension.describe(10 ** 4) == "d = 10000"
    assert _dimension.describe(10 ** 9) == "d = 10^9 (mode chain, δ = 10^-2)"
    assert _dimension.describe(2 * 10 ** 4) == "d = 2·10^4 (mode chain, δ = 10^-2)"
    assert _dimension.describe(123_456_789).startswith("d = 123456789 (mode chain")


# ---------------------------------------------------------------------------- divergence
def _diverging_ensemble():
    """d = 50, a = 2, lr = 0.02, 6 seeds: 2 of them blow up (t = 8.5 and 48.5)."""
    problem = pyscale.Problem.power_law(50, 2.0, seed=0, noise=0.05)
    with pytest.raises(pyscale.DivergenceError) as info:
        pyscale.simulate_many(problem, seeds=6, lr=0.02, steps=3000, record=30, threads=1)
    return info.value.trajectory


def test_completed_members_keep_the_survivors_and_count_the_rest():
    ens = _diverging_ensemble()
    status = ens.meta["member_status"]
    done = [i for i, s in enumerate(status) if s == "completed"]
    gone = [i for i, s in enumerate(status) if s == "diverged"]
    assert len(done) >= 2 and len(gone) >= 1
    members = completed_members(ens)
    sub = members.ensemble
    assert members.total == 6 and members.n_completed == len(done) == len(sub)
    np.testing.assert_array_equal(sub.seeds, ens.seeds[done])
    np.testing.assert_array_equal(sub.mse, ens.mse[done])
    np.testing.assert_array_equal(sub.w, ens.w[done])
    # the statistics are over the completed members only, by a plain loop
    by_hand = [sum(ens.mse[i, k] for i in done) / len(done) for k in range(ens.t.size)]
    np.testing.assert_allclose(sub.mean_mse, by_hand, rtol=1e-14)
    assert np.all(np.isfinite(sub.mse))
    expected = sorted(ens.meta["diverged_at_step"][i] * 0.02 for i in gone)
    assert members.diverged_t == pytest.approx(expected, rel=1e-12)
    note = members.note()
    assert note.startswith(f" ({len(done)} of 6 seeds; {len(gone)} diverged, at t = ")
    assert note.count(",") == len(gone)


def test_a_figure_whose_seeds_diverge_says_so(tmp_path, monkeypatch):
    """Figure 1 with some seeds diverging: the legend counts them, the curve is the mean of
    the others; with every seed diverging the figure is still drawn and says so."""
    base = dict(figure1.PARAMS["quick"])
    cases = [dict(base, d=50, a=(2.0,), lr=0.1, steps=3000, seeds=6),
             dict(base, d=50, a=(0.0, 2.0), lr=1.0, steps=200, seeds=3)]
    for params in cases:
        kept = _kept(figure1, monkeypatch)
        monkeypatch.setitem(figure1.PARAMS, "quick", params)
        problem = _dimension.build_problem(50, 2.0, params["steps"] * params["lr"], seed=0,
                                           target="norm_d", noise=0.05)
        try:
            ens = pyscale.simulate_many(problem, seeds=params["seeds"], lr=params["lr"],
                                        steps=params["steps"],
                                        record=_plot.log_records(params["steps"], 150))
        except pyscale.DivergenceError as err:
            ens = err.trajectory
        expected = completed_members(ens).note()
        assert expected  # the case does diverge
        make_figure(1, tmp_path / "f.png", quick=True, progress=False)
        texts = legend_texts(kept[-1])
        assert any(t.endswith(f"a = 2{expected}") for t in texts), (texts, expected)
    assert any("all 3 seeds diverged" in t for t in texts)


# ---------------------------------------------------------------------------- figure 7
def test_figure7_draws_the_floor_and_the_law_from_t2(quick_figures):
    fig = quick_figures[7][0]
    p = FIGURES[7].PARAMS["quick"]
    n = len(p["a"])
    assert len(fig.axes) == 2 * n
    for j, (a, lr, horizon) in enumerate(zip(p["a"], p["lr"], p["t"])):
        problem = _dimension.build_problem(p["d"], a, horizon, seed=p["seed"],
                                           noise=p["noise"])
        assert problem.is_compressed
        floor = pyscale.theory.sgd_floor(problem, lr, 1).floor
        bound = pyscale.theory.max_stable_lr(problem, 1)
        top, bottom = fig.axes[j], fig.axes[n + j]
        flat = [ln for ln in top.get_lines() if len(ln.get_ydata()) and
                np.allclose(np.asarray(ln.get_ydata(), float), floor, rtol=1e-12, atol=0)]
        assert len(flat) == 1                                  # the floor, horizontal
        assert f"lr = {lr:g} = {lr / bound:.2f}× max stable lr" in top.get_title()
        # the floor's reach from the true λ_d, not from the last (spread) mode's
        lam_d = pyscale.Problem.power_law(p["d"], a, seed=p["seed"]).eigenvalues[-1]
        reach = _dimension.power_of_ten(10.0 ** round(np.log10(1 / (16 * lam_d))))
        assert f"1/(16 s* λ_d) ≈ {reach}" in top.get_title()
        assert lr / bound < 0.7                                 # stable with a margin
        law = [ln for ln in top.get_lines() if ln.get_linestyle() == "--"
               and ln.get_color() == "k" and len(ln.get_xdata()) > 2]
        mean = [ln for ln in top.get_lines() if ln.get_linestyle() == "-"
                and len(ln.get_xdata()) > 2]
        assert len(law) == 1 and len(mean) == 1
        # the law starts at T2 from the members' states there: at the ensemble's mean
        t_law, y_law = law[0].get_xdata(), law[0].get_ydata()
        t_mean, y_mean = mean[0].get_xdata(), mean[0].get_ydata()
        k = int(np.flatnonzero(t_mean == t_law[0])[0])
        assert y_law[0] == pytest.approx(y_mean[k], rel=1e-12)
        assert "law vs mean after T2" in bottom.get_title()
    texts = " ".join(legend_texts(fig))
    for needle in ("SGD floor", "SGD Phase III law", "10–90 % quantiles", "T1", "T2"):
        assert needle in texts


@pytest.mark.parametrize("j", range(3))
def test_figure7_full_runs_fit_their_problems_horizon(j):
    # steps · lr can exceed the panel's t by rounding (5000.004 for t = 5000, lr = 0.009);
    # a problem sized for t itself is refused by the engine before the first step
    p = FIGURES[7].PARAMS["full"]
    a, lr, t = p["a"][j], p["lr"][j], p["t"][j]
    problem, steps = FIGURES[7].panel_problem(p, a, lr, t)
    assert problem.is_compressed and steps == round(t / lr)
    with pytest.raises(pyscale.Interrupted):  # the horizon check passed: the run started
        pyscale.simulate(problem, "sgd", lr=lr, steps=steps, record=np.array([0, steps]),
                         progress=lambda t, k: False, progress_every=64)


def test_figure8_marks_t1_only_where_the_theory_gives_one(quick_figures):
    """The predicted T1 for the two pairs with a linear small start, the reason for each
    other pair in the legend, both panels on log axes."""
    fig = quick_figures[8][0]
    risk, cosine = fig.axes[:2]
    assert risk.get_xscale() == risk.get_yscale() == cosine.get_xscale() == "log"
    vertical = [line for line in risk.get_lines()
                if np.size(line.get_xdata()) and len(set(np.atleast_1d(line.get_xdata()))) == 1]
    assert len(vertical) == 2
    texts = " ".join(_plot.figure_texts(fig))
    for reason in ("k* = 1: no escape plateau", "kinked start: not linear",
                   "k* ≥ 3: polynomial escape"):
        assert reason in texts
    assert texts.count("T1 = ") == 2


# ---------------------------------------------------------------------------- figure 9
def test_figure9_marks_what_it_measured(quick_figures):
    """Four rows per exponent (risk and cosines of each network); the titles give the
    measured times of the runs they show, and every time marked in the titles is drawn."""
    from pyscale.app.figures import figure9
    fig = quick_figures[9][0]
    n = len(figure9.PARAMS["quick"]["a"])
    assert len(fig.axes) == 4 * n
    quad, quad_cos, erf, erf_cos = fig.axes[:4 * n:n]
    assert quad.get_xscale() == quad.get_yscale() == "log" and quad_cos.get_yscale() == "linear"
    assert "T1 = " in quad.get_title() and "T_c = " in quad.get_title()
    assert "plateau ends" in erf.get_title() and "specialised" in erf.get_title()
    # one cosine curve per student unit and the mean student-student |cosine|
    curves = [line for line in erf_cos.get_lines() if len(set(line.get_xdata())) > 1]
    assert len(curves) == figure9.PARAMS["quick"]["units"] + 1
    t1 = float(quad.get_title().split("T1 = ")[1].split(";")[0])
    vertical = {float(line.get_xdata()[0]) for line in quad.get_lines()
                if len(set(line.get_xdata())) == 1}
    assert any(abs(v - t1) <= 5e-3 * t1 for v in vertical)
    texts = " ".join(_plot.figure_texts(fig))
    for needle in ("mean student–student |cosine|", "unit 4: max_l |cos_jl|"):
        assert needle in texts


def test_an_sgd_run_that_leaves_its_bound_is_rerun_on_resized_modes():
    """Online SGD at σ² = 1, lr = 0.05 (1 of 4 seeds completes) leaves the flow's K = 31.3
    (records ≈ 50): the rule
    rebuilds the problem with bound = 1.25 × the largest |c0| + |c1| seen and reruns it,
    and the rerun's records stay inside its K; only the run that was redone is silent."""
    import warnings

    def build(bound):
        return _dimension.build_problem(10**5, 2.0, 20.0, bound=bound, noise=1.0)

    runs = _plot.Runs(4, "bound", enabled=False)

    def run(problem):  # as the figures run it: the members that did not diverge
        return runs.sgd_members(problem, 4, lr=0.05, steps=400,
                                record=np.linspace(0, 400, 21).astype(int))

    first = build(None)
    with pytest.warns(RuntimeWarning, match="reached"):  # the engine's own warning
        once = run(first).ensemble
    seen = _dimension.rate_seen(first, once)
    assert seen > first.info["compressed"]["rate"]
    assert _dimension.bound_to_resize(first, once) == pytest.approx(1.25 * seen)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        problem, members, rounds = _dimension.sgd_within_bound(build, run)
    assert rounds >= 1
    assert problem.info["compressed"]["rate"] >= 1.25 * seen
    assert _dimension.bound_to_resize(problem, members.ensemble) is None
    explicit = pyscale.Problem.power_law(1000, 2.0)  # exact at any coefficients
    assert _dimension.bound_to_resize(explicit, members.ensemble) is None


def test_the_bound_rule_stops_after_its_rounds():
    """A run that always leaves K is redone BOUND_ROUNDS times, each on 1.25× what the
    last one reached, then kept (its engine's warning is not silenced)."""
    asked = []

    class Records:  # |c0| + |c1| = |4(1 − 3s)| + 0 = 4 (3s − 1) at u = 0
        def __init__(self, rate):
            self.s, self.u = np.array([[(rate / 4.0 + 1.0) / 3.0]]), np.zeros((1, 1))

    def build(bound):
        asked.append(bound)
        return _dimension.build_problem(10**5, 2.0, 10.0, bound=bound)

    def run(problem):
        return _plot.Members(Records(2.0 * problem.info["compressed"]["rate"]), 1, ())

    problem, members, rounds = _dimension.sgd_within_bound(build, run)
    assert rounds == _dimension.BOUND_ROUNDS == len(asked) - 1
    assert asked[0] is None
    for before, after in zip(asked[1:], asked[2:]):
        assert after == pytest.approx(1.25 * 2.0 * before)
    assert problem.info["compressed"]["rate"] == asked[-1]
