"""Figure 9: two-layer networks at d = 10⁹ — the population flow of a quadratic network
(σ = τ = z², p = k = 4, readouts 1/4: f(x) = xᵀ(WWᵀ/4)x) and of an erf committee
(σ = τ = erf(z/√2), Saad and Solla's soft committee machine, p = k = 4, readouts 1/4) on
power-law data (model page: Data model) at a ∈ {1.5, 2, 3}, compressed
(``Problem.power_law(10⁹, a, units=4, teacher_units=4, compress=δ)``: each mode's
(p + k) × (p + k) Gram matrix drawn exactly, an O(δ) grouping error; networks page:
Compression). Random teachers of unit Q-norm, student units uniform on
the unit sphere, the same seed for every panel. Not in the paper: its closing "phase
decompositions in wider networks" (networks page: What the dynamics look like).

Rows, one column per exponent: (1) the quadratic network's excess risk L − σ²; (2) its
per-unit cosines; (3), (4) the same for the erf committee. A unit's cosine is its best
one, max_l |cos_jl| = max_l |U_jl|/√(S_jj S*_ll) (one colour per student unit); the black
dashed line is the mean student–student |cosine| |S_jl|/√(S_jj S_ll), j ≠ l, near 1 while
the units move together (the symmetric plateau). Cosines are O(1) from the start on power-law
data (the Q inner product is dominated by the head of the spectrum): escapes are measured on
the overlaps U. Measured times (:mod:`pyscale.results.network_times`, on the record grid,
log-spaced: within a factor 1.05), in the panel titles and as vertical lines:

* quadratic network — T1 (dashed grey): the first unit with max_l |U_jl| ≥ δ = 0.1 (the
  escape of the symmetric small start); T_c (dotted black): the first t at which the c-th
  eigenvalue of S/4 reaches half its target, the c-th of S*/4 — the components of WWᵀ/4
  learned one at a time, each a step of the loss. Its units are not identifiable (f depends
  on W only through WWᵀ): their cosines settle at unit-dependent values, not at 1;
* erf committee — no escape plateau (information exponent 1: the loss falls from t ≈ 1);
  the end of the symmetric plateau (dash-dot black): the time after which the mean
  student–student cosine stays below 0.9; a unit's specialisation (dotted, its colour): the
  time after which its best cosine stays ≥ 0.9.

Compression: δ = 0.1 gives 2125, 2777 and 4066 modes (a = 1.5, 2, 3). Against δ = 0.05
(3977 and 5206 modes at a = 1.5, 2; measured once) every marked time is the same record or
the next one (a factor 1.08) and the loss agrees within 0.5 %. Cost: a flow pass costs
O(modes · (p + k)²) whatever d, and a flow to t = 10⁶ takes about 1600 (erf) to 2700
(quadratic) RODAS4 steps: the full figure takes 35 s on two idle cores (the gallery's
manifest records it), ``--quick`` (d = 10⁶, a = 2, t ≤ 10⁴) 14–21 s on a loaded machine.
"""
from __future__ import annotations

from pathlib import Path

from ...model.problem import Problem
from ...results import network_times as times
from ._dimension import power_of_ten
from ._plot import Runs, figure_legend, log_axes, log_times, new_figure, palette, positive, save

TITLE = "Two-layer networks at d = 10^9"

#: label -> link of each network (σ = τ)
NETWORKS = {"quadratic network": "square", "erf committee": "erf"}

PARAMS = {
    "full": {"d": 10 ** 9, "a": (1.5, 2.0, 3.0), "units": 4, "teacher_units": 4,
             "compress": 1e-1, "t": 1e6, "records": 240, "delta": 0.1, "level": 0.9,
             "fraction": 0.5, "seed": 0},
    "quick": {"d": 10 ** 6, "a": (2.0,), "units": 4, "teacher_units": 4, "compress": 1e-1,
              "t": 1e4, "records": 120, "delta": 0.1, "level": 0.9, "fraction": 0.5,
              "seed": 0},
}


def _problem(link: str, a: float, p: dict) -> Problem:
    return Problem.power_law(p["d"], a, seed=p["seed"], link=link, units=p["units"],
                             teacher_units=p["teacher_units"], compress=p["compress"])


def make(out: Path, quick: bool = False, progress: bool | None = None) -> Path:
    p = PARAMS["quick" if quick else "full"]
    n = len(p["a"])
    fig, axes = new_figure(n, 2 * len(NETWORKS), panel=(4.4 if n > 1 else 6.4, 3.1),
                           title=f"Two-layer networks, population flow: d = "
                                 f"{power_of_ten(p['d'])} (compressed, δ = {p['compress']:g})"
                                 f"\np = {p['units']} student and k = {p['teacher_units']} "
                                 f"teacher units, readouts 1/p, 1/k")
    times_grid = log_times(p["t"], p["records"])
    colors = palette(p["units"])
    drawn: set = set()
    with Runs(n * len(NETWORKS), "figure 9", progress) as runs:
        for row, (label, link) in enumerate(NETWORKS.items()):
            for col, a in enumerate(p["a"]):
                traj = runs.simulate(_problem(link, a, p), "flow", desc=f"flow {label} a={a:g}",
                                     t=times_grid)
                risk_ax, cos_ax = axes[2 * row * n + col], axes[(2 * row + 1) * n + col]
                _curves(risk_ax, cos_ax, traj, colors)
                marks = _quadratic_marks if link == "square" else _committee_marks
                note = marks(risk_ax, cos_ax, traj, colors, p, drawn)
                log_axes(risk_ax, "time t", "excess risk L − σ²",
                         f"{label}, a = {a:g}\n{note}")
                log_axes(cos_ax, "time t", "cosine", f"{label}, a = {a:g}: cosines", y="linear")
                cos_ax.set_ylim(0.0, 1.03)
    _legend_proxies(axes[0], colors, drawn, p)
    figure_legend(fig, axes, ncol=3 if n > 1 else 2)
    return save(fig, out)


def _curves(risk_ax, cos_ax, traj, colors) -> None:
    """The excess risk; each unit's best cosine and the mean student–student cosine."""
    risk_ax.plot(*positive(traj.t, traj.excess_risk), color="C0")
    best = times.best_cosines(traj)
    keep = traj.t > 0
    for j, color in enumerate(colors):
        cos_ax.plot(traj.t[keep], best[keep, j], color=color)
    cos_ax.plot(traj.t[keep], times.mean_student_cosine(traj)[keep], color="k",
                linestyle="--", linewidth=1.1)


def _sci(t) -> str:
    return "—" if t is None else f"{t:.3g}"


def _vlines(axes, ts, kind: str, drawn: set, **style) -> None:
    """Vertical lines at the times ``ts`` (None: not measured) on ``axes``; ``kind`` goes
    into ``drawn`` when one is drawn (its legend entry is shown only then)."""
    for t in ts:
        if t is not None and t > 0:
            drawn.add(kind)
            for ax in axes:
                ax.axvline(t, linewidth=1.0, **style)


def _quadratic_marks(risk_ax, cos_ax, traj, colors, p: dict, drawn: set) -> str:
    """T1 (first unit escapes) and the component times T_c; the title's line."""
    t1 = [t for t in times.escape_times(traj, p["delta"]) if t is not None]
    first = min(t1) if t1 else None
    comps = times.component_times(traj, p["fraction"])
    _vlines((risk_ax, cos_ax), [first], "T1", drawn, color="0.45", linestyle="--")
    _vlines((risk_ax, cos_ax), comps, "Tc", drawn, color="k", linestyle=":")
    return f"T1 = {_sci(first)}; T_c = {', '.join(_sci(t) for t in comps)}"


def _committee_marks(risk_ax, cos_ax, traj, colors, p: dict, drawn: set) -> str:
    """The end of the symmetric plateau and each unit's specialisation; the title's line."""
    end = times.plateau_end(traj, p["level"])
    spec = times.specialisation_times(traj, p["level"])
    _vlines((risk_ax, cos_ax), [end], "plateau", drawn, color="k", linestyle="-.")
    for t, color in zip(spec, colors):
        _vlines((risk_ax, cos_ax), [t], "special", drawn, color=color, linestyle=":")
    done = sorted(t for t in spec if t is not None)
    return (f"plateau ends {_sci(end)}\n{len(done)}/{len(spec)} units specialised"
            + (f", by {_sci(done[-1])}" if done else ""))


#: kind of mark -> its legend entry's (colour, line style, label; filled from PARAMS)
MARKS = {"T1": ("0.45", "--", "T1: first unit at max_l |U_jl| ≥ {delta:g} (quadratic)"),
         "Tc": ("k", ":", "T_c: component c at {fraction:g} × target (quadratic)"),
         "plateau": ("k", "-.", "plateau ends: mean |cosine| < {level:g} (erf)"),
         "special": ("0.45", ":", "unit specialised: cosine ≥ {level:g} on (erf)")}


def _legend_proxies(ax, colors, drawn: set, p: dict) -> None:
    """Legend entries for the curves (the colours are the student units) and for the
    marks that were drawn."""
    for j, color in enumerate(colors):
        ax.plot([], [], color=color, label=f"unit {j + 1}: max_l |cos_jl|")
    ax.plot([], [], color="k", linestyle="--", linewidth=1.1,
            label="mean student–student |cosine|")
    for kind, (color, style, label) in MARKS.items():
        if kind in drawn:
            ax.plot([], [], color=color, linestyle=style, linewidth=1.0,
                    label=label.format(**p))
