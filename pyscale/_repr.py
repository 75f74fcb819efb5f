"""Compact text and HTML representations of Problem, Trajectory, Ensemble and Comparison.

Each class attaches ``__repr__ = repr_text`` and ``_repr_html_ = repr_html``: one summary
(a list of (label, value) rows) per class, rendered either as ``Name(label=value, ...)`` or
as a small HTML table (Jupyter). Numbers are shown with 4 significant digits.
"""
from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from typing import Callable

import numpy as np

__all__ = ["repr_text", "repr_html"]

Rows = list[tuple[str, str]]


def _fmt(value) -> str:
    """A short string for a number (4 significant digits), None (—) or anything else."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def _problem_rows(problem) -> Rows:
    info = problem.info
    rows = [("d", _fmt(problem.d)), ("a", _fmt(info.get("a"))),
            ("n_coords", _fmt(problem.n_coords))]
    if problem.is_compressed:
        rows.append(("modes", _fmt(problem.n_modes)))
    if problem.is_network:
        rows += [("units", _fmt(problem.units)), ("teacher_units", _fmt(problem.teacher_units))]
    rows += [("s*", _fmt(problem.s_star)), ("noise σ²", _fmt(problem.noise)),
             ("link", problem.link.identity)]
    for key in ("target", "seed", "constructor"):
        if key in info:
            rows.append((key, _fmt(info[key])))
    return rows


def _trajectory_rows(traj) -> Rows:
    meta = traj.meta
    rows = [("method", _fmt(meta.get("method"))), ("records", _fmt(len(traj)))]
    if len(traj):
        rows.append(("t", f"[{_fmt(traj.t[0])}, {_fmt(traj.t[-1])}]"))
    rows.append(("status", _fmt(traj.status)))
    rows.append(("link", _fmt(meta.get("link", "square"))))
    for key in ("lr", "batch", "seed", "n_samples", "rtol"):
        if key in meta:
            rows.append((key, _fmt(meta[key])))
    if len(traj):
        if "mse" in traj.columns:
            rows.append(("final mse", _fmt(traj.mse[-1])))
        rows += [("final excess risk", _fmt(traj.excess_risk[-1])),
                 ("final cosine", _fmt(traj.cosine[-1])), ("final |u|", _fmt(abs(traj.u[-1]))),
                 ("final s", _fmt(traj.s[-1]))]
    return rows


def _network_rows(res) -> Rows:
    """A network trajectory or ensemble: its method, sizes, records and final loss."""
    meta = res.meta
    rows = [("method", _fmt(meta.get("method"))), ("units", _fmt(res.p)),
            ("teacher_units", _fmt(res.k)), ("records", _fmt(res.t.size))]
    if hasattr(res, "seeds"):
        rows.insert(1, ("members", _fmt(len(res))))
    else:
        rows.append(("status", _fmt(res.status)))
    for key in ("lr", "batch", "seed", "n_samples", "rtol"):
        if key in meta:
            rows.append((key, _fmt(meta[key])))
    if res.t.size:
        rows.append(("t", f"[{_fmt(res.t[0])}, {_fmt(res.t[-1])}]"))
        final = np.nanmean(res.loss[..., -1]) if res.loss.size else None
        rows.append(("final loss", _fmt(final)))
    return rows


def _status_counts(statuses: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _final_stat(ens, name: str) -> str:
    """Mean and quantiles over seeds at the last record:
    'mean 0.12, q[0.1, 0.5, 0.9] = [0.1, 0.12, 0.15]'."""
    with warnings.catch_warnings():  # all-NaN columns (every member stopped) give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = ens.mean(name)[-1]
        band = ens.band(name)[:, -1]
    quantiles = ", ".join(_fmt(q) for q in ens.quantiles)
    return f"mean {_fmt(mean)}, q[{quantiles}] = [{', '.join(_fmt(v) for v in band)}]"


def _ensemble_rows(ens) -> Rows:
    meta = ens.meta
    status = meta.get("member_status") or ["completed"] * len(ens)
    rows = [("method", _fmt(meta.get("method"))), ("members", _fmt(len(ens))),
            ("records", _fmt(ens.t.size))]
    if ens.t.size:
        rows.append(("t", f"[{_fmt(ens.t[0])}, {_fmt(ens.t[-1])}]"))
    rows.append(("status", _status_counts(status)))
    rows.append(("link", _fmt(meta.get("link", "square"))))
    for key in ("lr", "batch", "n_samples"):
        if key in meta:
            rows.append((key, _fmt(meta[key])))
    if ens.t.size and len(ens):
        if "mse" in ens.columns:
            rows.append(("final mse", _final_stat(ens, "mse")))
        rows += [("final excess risk", _final_stat(ens, "excess_risk")),
                 ("final |u|", _final_stat(ens, "abs_u"))]
    return rows


def _comparison_rows(comparison) -> Rows:
    return [(key, _fmt(comparison.get(key))) for key in ("d", "a", "method", "delta", "eps")]


def _comparison_table(comparison) -> tuple[Sequence[str], list[Sequence[str]]]:
    header = ("quantity", "measured", "predicted", "predicted / measured")
    table = comparison.table()
    body: list[Sequence[str]] = [
        (str(row.description), _fmt(row.measured), _fmt(row.predicted),
         _fmt(row.predicted_over_measured)) for row in table.itertuples()]
    return header, body


_ROWS: dict[str, Callable[..., Rows]] = {
    "Problem": _problem_rows, "Trajectory": _trajectory_rows, "Ensemble": _ensemble_rows,
    "Comparison": _comparison_rows, "NetworkTrajectory": _network_rows,
    "NetworkEnsemble": _network_rows, "NetworkComparison": _comparison_rows}
_TABLES = {"Comparison": _comparison_table, "NetworkComparison": _comparison_table}


def _kind(obj) -> str:
    for cls in type(obj).__mro__:
        if cls.__name__ in _ROWS:
            return cls.__name__
    raise TypeError(f"no summary for {type(obj).__name__}")


def repr_text(obj) -> str:
    """``Name(label=value, ...)``; a Comparison adds one line per compared quantity."""
    kind = _kind(obj)
    text = f"{kind}(" + ", ".join(f"{k}={v}" for k, v in _ROWS[kind](obj)) + ")"
    table = _TABLES.get(kind)
    if table is not None:
        header, body = table(obj)
        widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
        for row in [header, *body]:
            text += "\n  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths))
    return text


def _html_rows(rows: Rows) -> str:
    return "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)


def _html_table(header: Sequence[str], body: list[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                    for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def repr_html(obj, title: str | None = None) -> str:
    """The summary as an HTML table (what Jupyter shows for ``_repr_html_``)."""
    kind = _kind(obj)
    out = (f"<div><strong>{html.escape(title or kind)}</strong>"
           f"<table>{_html_rows(_ROWS[kind](obj))}</table>")
    table = _TABLES.get(kind)
    if table is not None:
        out += _html_table(*table(obj))
    return out + "</div>"
