"""Shared plotting and running helpers of the paper's figures: one style, log-log
axes, phase markers, and progress-tracked runs. Matplotlib runs with the Agg backend."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["new_figure", "log_axes", "mark_time", "save", "palette", "Runs", "positive",
           "figure_legend", "Members", "completed_members", "gapped", "cores",
           "run_concurrently"]

STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8,
         "xtick.labelsize": 9, "ytick.labelsize": 9, "lines.linewidth": 1.6,
         "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.6,
         "savefig.dpi": 130, "figure.dpi": 130}


def new_figure(ncols: int = 1, nrows: int = 1, title: str = "", panel=(4.6, 3.6)):
    """A figure with ``nrows × ncols`` panels (a flat array of axes) in the house style."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows),
                                 squeeze=False, constrained_layout=True)
    if title:
        fig.suptitle(title, fontsize=12)
    for ax in axes.flat:
        for _key, value in (("grid", True),):
            ax.grid(value, which="major", alpha=STYLE["grid.alpha"])
    return fig, axes.ravel()


def log_axes(ax, xlabel: str, ylabel: str, title: str = "", x: str = "log",
             y: str = "log") -> None:
    """Label an axis pair; both logarithmic unless told otherwise."""
    ax.set_xscale(x)
    ax.set_yscale(y)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def mark_time(ax, t: float | None, label: str, color: str = "0.3",
              style: Any = "--") -> None:
    """A vertical line at time t labelled in the legend (skipped when t is None)."""
    if t is None or not np.isfinite(t) or t <= 0:
        return
    ax.axvline(t, color=color, linestyle=style, linewidth=1.1, label=label)


def figure_legend(fig, axes, ncol: int = 0, fontsize: float = 8.5):
    """One legend for the whole figure, below the panels (clear of every curve): the
    labelled artists of all ``axes``, each label once, in order of appearance."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label and label not in labels:
                handles.append(handle)
                labels.append(label)
    return fig.legend(handles, labels, loc="outside lower center",
                      ncol=ncol or min(len(labels), 6), fontsize=fontsize, frameon=False)


def positive(x: np.ndarray, y: np.ndarray):
    """Points with x > 0 and y > 0 (what a log-log plot can show)."""
    x, y = np.asarray(x), np.asarray(y)
    keep = (x > 0) & (y > 0) & np.isfinite(y)
    return x[keep], y[keep]


def gapped(x: np.ndarray, y: np.ndarray):
    """Points with x > 0, y set to NaN where it is not > 0: on log axes the line breaks
    there instead of bridging the gap (what :func:`positive` does)."""
    x, y = np.asarray(x), np.asarray(y, dtype=float)
    keep = x > 0
    return x[keep], np.where(y[keep] > 0, y[keep], np.nan)


def palette(n: int) -> Sequence:
    """n distinguishable colours (viridis without its pale yellow end)."""
    return [plt.cm.viridis(v) for v in np.linspace(0.0, 0.85, max(n, 1))]


def figure_texts(fig) -> list:
    """What the figure says, in order: its title, each panel's title and axis labels, its
    annotations and every legend entry (the numbers a reader takes from it)."""
    texts = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) else []
    legends = list(fig.legends)
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        texts += [t.get_text() for t in ax.texts]
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for legend in legends:
        texts += [t.get_text() for t in legend.get_texts()]
    return [t for t in texts if t.strip()]


def _drawn_styles(fig) -> set:
    """(linestyle, marker) of every line that holds data."""
    return {(line.get_linestyle(), line.get_marker()) for ax in fig.axes
            for line in ax.get_lines() if len(line.get_xdata()) > 0}


def check_legends(fig) -> None:
    """Refuse a legend that misleads: a label listed twice, or a style key (a labelled
    empty line, drawn only for the legend) whose line style no curve of the figure has."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes
                                   if ax.get_legend() is not None]
    for legend in legends:
        labels = [t.get_text() for t in legend.get_texts()]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise ValueError(f"the legend lists {twice[0]!r} twice")
    shown = {t.get_text() for legend in legends for t in legend.get_texts()}
    drawn = _drawn_styles(fig)
    for ax in fig.axes:
        for line in ax.get_lines():
            label = str(line.get_label())
            if label not in shown or len(line.get_xdata()) > 0:
                continue
            style = (line.get_linestyle(), line.get_marker())
            text_only = style[0] in ("None", " ", "") and style[1] in ("None", " ", "")
            if not text_only and style not in drawn:
                raise ValueError(f"the legend entry {label!r} has a style no curve has")


def save(fig, out) -> Path:
    """Write the figure (format from the suffix) atomically and close it. Its legends are
    checked first (:func:`check_legends`); a PNG carries what the figure says
    (:func:`figure_texts`) in its "Description" (read back by the gallery's manifest)."""
    import json

    from ..io import atomic_path
    out = Path(out)
    check_legends(fig)
    metadata = None
    if out.suffix.lower() == ".png":
        metadata = {"Description": json.dumps(figure_texts(fig), ensure_ascii=True)}
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".").lower() or None, metadata=metadata)
    plt.close(fig)
    return out


class Runs:
    """Progress over a figure's runs: an outer bar counting runs and, per run, an engine
    bar fed by the engine's progress callback (:mod:`pyscale.engines.progress`)."""

    def __init__(self, total: int, desc: str, enabled: bool | None = None):
        from ...engines.progress import task_bar
        self.enabled = enabled
        self.bar = task_bar(total, desc, enabled=enabled)

    @contextlib.contextmanager
    def engine(self, method: str, horizon_t: float, desc: str) -> Iterator:
        from ...engines.progress import EngineBar
        with EngineBar(method, horizon_t, desc=desc, enabled=self.enabled) as bar:
            yield bar
        self.bar.update(1)

    def simulate(self, problem, method: str, desc: str = "", **options):
        """pyscale.simulate with a progress bar."""
        from ...engines import simulate
        with self.engine(method, _horizon(method, options), desc or method) as bar:
            return simulate(problem, method, progress=bar, **options)

    def simulate_many(self, problem, seeds, method: str = "sgd", desc: str = "", **options):
        """pyscale.simulate_many with a progress bar."""
        from ...engines import simulate_many
        with self.engine(method, _horizon(method, options), desc or method) as bar:
            return simulate_many(problem, seeds=seeds, method=method, progress=bar, **options)

    def sgd_members(self, problem, seeds, desc: str = "", **options) -> Members:
        """An online-SGD ensemble that may diverge: its completed members and when the
        others diverged (:func:`completed_members`), instead of a DivergenceError."""
        from ...errors import DivergenceError
        try:
            ens = self.simulate_many(problem, seeds, "sgd", desc=desc, **options)
        except DivergenceError as err:
            ens = err.trajectory
        return completed_members(ens)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Runs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_concurrently(jobs: Sequence[Callable[[], Any]], costs: Sequence[float],
                     workers: int | None = None) -> list:
    """``[job() for job in jobs]``, the jobs spread over ``workers`` threads (default
    :func:`cores`), the costliest first (``costs``: any measure proportional to each job's
    time). The engines release the GIL while they run, so one-thread jobs on separate
    threads use separate cores; a job's result does not depend on where it ran (the runs
    are deterministic per seed for any thread count). Only for one-thread jobs (engine
    option ``threads=1``): several multi-threaded runs side by side oversubscribe the cores."""
    workers = cores() if workers is None else int(workers)
    if workers <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -float(costs[i]))
    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)))
    try:
        futures = {i: pool.submit(jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]
    finally:  # a job that raised: the jobs not started yet are not started
        pool.shutdown(wait=True, cancel_futures=True)


def _horizon(method: str, options: dict) -> float:
    if method == "flow":
        t = np.asarray(options["t"], dtype=float)
        return float(t if t.ndim == 0 else t[-1])
    return float(options["steps"]) * float(options["lr"])


def log_records(steps: int, n: int = 300) -> np.ndarray:
    """0 and about n log-spaced step indices up to ``steps`` (for log-time plots)."""
    idx = np.unique(np.geomspace(1, steps, n).round().astype(np.int64))
    return np.unique(np.concatenate([[0], idx, [steps]]))


def log_times(horizon: float, n: int = 300, start: float = 1e-2) -> np.ndarray:
    """0 and n log-spaced times from ``start`` to ``horizon`` (flow record times)."""
    return np.concatenate([[0.0], np.geomspace(start, horizon, n)])


@dataclasses.dataclass(frozen=True)
class Members:
    """The members of an SGD ensemble that ran to the end (``ensemble``, None when none
    did), out of ``total``, and the time t = step · lr of each divergence (sorted)."""
    ensemble: object
    total: int
    diverged_t: tuple[float, ...]

    @property
    def n_completed(self) -> int:
        return self.total - len(self.diverged_t)

    def note(self) -> str:
        """'' when every member completed; else ' (2 of 3 seeds; 1 diverged, at t = 23.1)'
        or ' (all 3 seeds diverged, first at t = 12.3)' for a legend label."""
        k = len(self.diverged_t)
        if k == 0:
            return ""
        if self.ensemble is None:
            return f" (all {self.total} seeds diverged, first at t = {self.diverged_t[0]:.3g})"
        at = ", ".join(f"{t:.3g}" for t in self.diverged_t)
        return f" ({self.n_completed} of {self.total} seeds; {k} diverged, at t = {at})"


def completed_members(ens) -> Members:
    """The members of ``ens`` whose ``meta['member_status']`` is 'completed', as an
    Ensemble of their own (seeds, records and final states), with the divergence times of
    the others. A diverged member's records end in its blow-up: it is left out of the
    statistics, and said so (:meth:`Members.note`), never averaged in or dropped silently."""
    status = list(ens.meta.get("member_status", ["completed"] * len(ens)))
    keep = np.array([st == "completed" for st in status], dtype=bool)
    lr = float(ens.meta.get("lr", 1.0))
    diverged = tuple(sorted(float(k) * lr for st, k in
                            zip(status, ens.meta.get("diverged_at_step", [-1] * len(ens)))
                            if st == "diverged"))
    if any(st not in ("completed", "diverged") for st in status):
        raise RuntimeError(f"an ensemble member stopped early ({sorted(set(status))})")
    if not keep.any():
        return Members(None, len(ens), diverged)
    fields = {name: getattr(ens, name)[keep] for name in
              ("seeds", "s", "u", "s2", "u2", "loss", "mse", "train_loss")}
    meta = dict(ens.meta, member_status=[st for st in status if st == "completed"])
    sub = dataclasses.replace(ens, w=None if ens.w is None else ens.w[keep], meta=meta,
                              **fields)
    return Members(sub, len(ens), diverged)
