"""What the ``pyscale`` command prints for a two-layer network (networks page: Using
networks): the rows of ``simulate`` and ``show`` for a network run, and of ``predict`` for
whatever :func:`pyscale.predict` returns for a network.

A row is ``(key, value, note)``, as for single-index runs; per-unit values are lists, one
entry per student unit. The measured times are those of
:mod:`pyscale.results.network_times`, read off the record grid.
"""
from __future__ import annotations

import dataclasses
from typing import Any, List

import numpy as np

from ..model.problem import Problem
from ..results import network_times as times

__all__ = ["network_run_rows", "network_prediction_rows", "predicted_escape_row",
           "NETWORK_LEVEL"]

#: The cosine level of the symmetric plateau's end and of a unit's specialisation.
NETWORK_LEVEL = 0.9


def _numbers(values) -> list:
    return [None if v is None else float(v) for v in values]


def network_run_rows(traj, delta: float) -> List[tuple]:
    """The widths, the measured escape, plateau and specialisation times and the last
    record's loss and best cosines of a network run."""
    last = len(traj) > 0
    level = NETWORK_LEVEL
    rows = [("units", traj.p, "p student units"), ("teacher_units", traj.k, "k teacher units"),
            ("readout", _numbers(traj.meta["readout"])),
            ("teacher_readout", _numbers(traj.meta["teacher_readout"])),
            ("T1_units", times.escape_times(traj, delta) if last else None,
             f"per unit: first max_l |U_jl|/sqrt(S*_ll) >= {delta:g}")]
    if traj.p > 1:
        rows.append(("plateau_end", times.plateau_end(traj, level) if last else None,
                     f"mean student-student |cosine| below {level:g} from then on"))
    rows += [("specialised_at", times.specialisation_times(traj, level) if last else None,
              f"per unit: max_l |cos_jl| >= {level:g} from then on"),
             ("final_loss", float(traj.loss[-1]) if last else None),
             ("final_excess_risk", float(traj.excess_risk[-1]) if last else None,
              "loss - sigma^2"),
             ("final_best_cosines", _numbers(times.best_cosines(traj)[-1]) if last else None,
              "per unit: max_l |cos_jl|")]
    return rows


#: The largest array a prediction row prints in full (a longer one, e.g. a direction in
#: R^d, is printed as its shape).
_SHOWN = 32


def _value(value: Any) -> Any:
    """A prediction's field as a printable value: numbers, strings, short lists."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object)
        if arr.size > _SHOWN:
            return f"array of shape {tuple(np.shape(value))}"
        return [_value(v) for v in value]
    return str(value)


def _flattened(name: str, value: Any) -> List[tuple]:
    """A list of per-unit tables ([{"T1": 1.2, ...}, ...]) as one row per key, its values a
    list over units; anything else as one row."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        keys = [k for k in value[0] if all(k in v for v in value)]
        return [(str(k), [_value(v[k]) for v in value]) for k in keys]
    return [(name, _value(value))]


def network_prediction_rows(prediction, delta: float, shown=()) -> List[tuple]:
    """The rows of whatever :func:`pyscale.predict` gives for a network: its ``summary``
    (``summary(delta)`` when it takes the threshold) or else its dataclass fields; a list
    of per-unit tables becomes one row per key (lists over units). Keys in ``shown`` (rows
    printed already) and the problem itself are left out."""
    summary = getattr(prediction, "summary", None)
    if callable(summary):
        try:
            table = summary(delta)
        except TypeError:  # a summary without the threshold
            table = summary()
        items = dict(table).items()
    elif dataclasses.is_dataclass(prediction):
        items = ((f.name, getattr(prediction, f.name))
                 for f in dataclasses.fields(prediction) if not f.name.startswith("_"))
    else:
        items = ((name, value) for name, value in vars(prediction).items()
                 if not name.startswith("_"))
    rows: List[tuple] = []
    for name, value in items:
        if not isinstance(value, Problem):  # the problem itself: in the title
            rows += _flattened(str(name), value)
    return [row for row in rows if row[0] not in shown]


def predicted_escape_row(prediction, delta: float) -> tuple:
    """The per-unit predicted T1(δ) of a network prediction with ``escape_time`` (a row
    for ``simulate``), or the row saying there is none."""
    escape = getattr(prediction, "escape_time", None)
    if prediction is None or not callable(escape):
        return ("T1_predicted", None, "none derived for this network (pyscale predict "
                                      "says why)")
    try:
        value = _value(escape(delta))
    except (ValueError, ArithmeticError) as err:  # a law refused outside its regime
        return ("T1_predicted", None, " ".join(str(err).split()))
    return ("T1_predicted", value, f"per unit, delta = {delta:g} (pyscale predict)")
