"""User events on the flow, located along its dense output (like SciPy's ``events``).

``simulate(P, "flow", t=..., events=[...])``. An event is

* a callable ``g(r)`` of a record ``r`` (attributes ``t, s, u, s2, u2, loss, mse,
  excess_risk, cosine``; no ``mse`` for a link pair without one), e.g.
  ``lambda r: abs(r.u) - 0.5``; optional attributes ``terminal`` (bool, default False)
  and ``direction`` (+1: g crosses upwards, −1: downwards, 0: either; default 0), as in
  :func:`scipy.integrate.solve_ivp`;
* or a tuple ``(field, level)`` / ``(field, level, direction, terminal)`` with field one of
  ``s, u, abs_u, s2, u2, loss, mse, excess_risk, cosine``: g = field − level.

Accuracy. Every record field is evaluated from the dense output (not from the records):
s and u are the solver's dense state's exact quadratic and linear forms, s2, u2 likewise,
loss = ℓ(s, u) + σ² for the run's link pair (the square: 3s² + 3s*² − 4u² − 2s*s + σ²),
mse the pair's recovery metric (the square: min ||w ∓ w*||²/d). Specs on ``s, u, abs_u, s2,
u2`` — and on ``loss, excess_risk`` for a polynomial link pair (square, polynomial, hermite)
— are polynomials in the step's θ and are located by exact polynomial root finding (every
crossing is found). Specs on ``mse``, ``cosine``, the loss of other pairs (abs, relu, erf,
tanh, user links) and callables are bracketed on 16 sub-intervals of every step, then
refined by Brent's method to machine precision: two crossings closer than 1/16 of a step
can be missed. The accuracy of an event time is that of the dense
output (order 3, the solver's rtol in the fields; see docs/engines_flow.md).

Results: ``traj.events``, one :class:`EventHits` per event (times and the records there).
A terminal event stops the run at its first occurrence: the trajectory's last record is
the state there, ``traj.w`` the dense state at that time, ``meta['stopped_by_event']``,
and the run's status is ``"event"`` (a success: ``traj.success``). Events are saved with
the trajectory (``pyscale.save_trajectory``) and read back by ``pyscale.load``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..model.links import LinkPair
from ..results.dense import DenseOutput, bernstein_range, roots_in_unit_interval

__all__ = ["Event", "EventHits", "parse_events", "locate_events", "terminal_observer"]

EVENT_FIELDS = ("s", "u", "abs_u", "s2", "u2", "loss", "mse", "excess_risk", "cosine")
_SUBINTERVALS = 16


class Record:
    """Record fields as attributes (arrays or floats), what an event callable receives."""

    def __init__(self, fields: dict[str, np.ndarray]):
        self.__dict__.update(fields)


@dataclass(frozen=True)
class Event:
    """One event: g(record) = 0, its direction (+1, −1, 0) and whether it is terminal."""
    function: Callable | None
    field: str | None
    level: float
    direction: int
    terminal: bool
    name: str

    @property
    def needs_all_fields(self) -> bool:
        """Whether it reads fields beyond s, u (then every dense row must hold them)."""
        return self.function is not None or self.field in ("s2", "u2", "mse")


@dataclass
class EventHits:
    """Where one event fired: ``times`` (increasing) and ``records`` (field -> array)."""
    name: str
    terminal: bool
    times: np.ndarray
    records: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.times.size)


def _direction(value) -> int:
    if value not in (-1, 0, 1):
        raise ValueError(f"an event's direction must be -1, 0 or +1, got {value!r}")
    return int(value)


def _parse_one(ev, index: int) -> Event:
    if callable(ev):
        name = getattr(ev, "__name__", f"event{index}")
        return Event(ev, None, 0.0, _direction(getattr(ev, "direction", 0)),
                     bool(getattr(ev, "terminal", False)), name)
    if isinstance(ev, (tuple, list)) and 2 <= len(ev) <= 4 and isinstance(ev[0], str):
        field = ev[0]
        if field not in EVENT_FIELDS:
            raise ValueError(f"event field must be one of {EVENT_FIELDS}, got {field!r}")
        level = float(ev[1])
        if not np.isfinite(level):
            raise ValueError(f"event level must be finite, got {ev[1]!r}")
        direction = _direction(ev[2]) if len(ev) > 2 else 0
        terminal = bool(ev[3]) if len(ev) > 3 else False
        return Event(None, field, level, direction, terminal, f"{field}={level:g}")
    raise TypeError(f"events[{index}] must be a callable g(record) or a (field, level"
                    f"[, direction, terminal]) tuple, got {ev!r}")


def parse_events(events) -> list[Event]:
    """Validates ``events`` (None, one event or a sequence of them) into Event objects."""
    if events is None:
        return []
    if callable(events) or (isinstance(events, tuple) and events and isinstance(events[0], str)):
        events = [events]
    if not isinstance(events, (list, tuple)):
        raise TypeError("events must be a callable, a (field, level) tuple or a list of them")
    return [_parse_one(ev, i) for i, ev in enumerate(events)]


def _crossings(g0: np.ndarray, g1: np.ndarray, direction: int) -> np.ndarray:
    up = (g0 < 0) & (g1 >= 0)
    down = (g0 > 0) & (g1 <= 0)
    return up if direction > 0 else down if direction < 0 else up | down


def _polynomial_roots(dense: DenseOutput, ev: Event) -> list[tuple]:
    assert ev.field is not None  # only field events have polynomial roots
    field = "u" if ev.field == "abs_u" else ev.field
    coef = dense.polynomial(field)
    signs = (1.0, -1.0) if ev.field == "abs_u" else (1.0,)
    lo, hi = bernstein_range(coef)
    hits = []
    for sign in signs:
        target = sign * ev.level
        for k in np.flatnonzero((lo <= target) & (hi >= target)):
            c = coef[k].copy()
            c[0] -= target
            for theta in roots_in_unit_interval(c):
                if theta > 0.0:  # a root at a step's start is the previous step's end
                    hits.append((int(k), float(theta)))
    return hits


def _value(dense: DenseOutput, ev: Event, step, theta) -> np.ndarray:
    f = dense.fields(step, theta)
    if ev.function is not None:
        return np.asarray(ev.function(Record(f)), dtype=float)
    assert ev.field is not None  # an event is a function or a field
    x = np.abs(f["u"]) if ev.field == "abs_u" else f[ev.field]
    return x - ev.level


def _bracketed_roots(dense: DenseOutput, ev: Event) -> list[tuple]:
    from scipy.optimize import brentq
    grid = np.linspace(0.0, 1.0, _SUBINTERVALS + 1)
    steps = np.repeat(np.arange(len(dense)), grid.size).reshape(len(dense), grid.size)
    try:
        g = _value(dense, ev, steps, np.broadcast_to(grid, steps.shape))
        if g.shape != steps.shape:
            raise ValueError
    except (TypeError, ValueError):  # not array-aware: one record at a time
        g = np.array([[float(_value(dense, ev, k, th)) for th in grid] for k in range(len(dense))])
    hits = []
    for k, j in zip(*np.nonzero(np.isfinite(g[:, :-1]) & np.isfinite(g[:, 1:]) &
                                ((g[:, :-1] < 0) != (g[:, 1:] < 0)))):
        a, b = grid[j], grid[j + 1]
        if g[k, j + 1] == 0.0:
            theta = b
        elif g[k, j] == 0.0:
            continue
        else:
            theta = brentq(lambda th, k=k: float(_value(dense, ev, k, th)), a, b,
                           xtol=1e-15, rtol=1e-15)
        hits.append((int(k), float(theta)))
    return hits


def _located(dense: DenseOutput, ev: Event) -> list[tuple]:
    """(step, θ) of every crossing of ``ev`` in the given direction, in time order."""
    poly = ev.function is None and dense.is_polynomial("u" if ev.field == "abs_u" else
                                                       str(ev.field))
    hits = sorted(_polynomial_roots(dense, ev) if poly else _bracketed_roots(dense, ev))
    out = []
    h = 1e-7
    for k, theta in hits:
        before = _value(dense, ev, k, max(theta - h, 0.0))
        after = _value(dense, ev, k, min(theta + h, 1.0))
        if _crossings(np.array([before]), np.array([after]), ev.direction)[0] or (
                ev.direction == 0):
            out.append((k, theta))
    return out


def locate_events(dense: DenseOutput, events: Sequence[Event]) -> list[EventHits]:
    """Every occurrence of each event along the dense output (terminal ones: the first)."""
    result = []
    for ev in events:
        hits = _located(dense, ev) if len(dense) else []
        if ev.terminal:
            hits = hits[:1]
        step = np.array([k for k, _ in hits], dtype=int)
        theta = np.array([th for _, th in hits], dtype=float)
        rec = dense.fields(step, theta) if hits else {
            name: np.zeros(0) for name in dense.fields(np.zeros(0, dtype=int), np.zeros(0))}
        result.append(EventHits(ev.name, ev.terminal, rec["t"], rec))
    return result


def terminal_observer(events: Sequence[Event], s_star: float, noise: float, dim: float,
                      link: Any = "square"):
    """The per-step observer for the core: θ of the earliest terminal event in the step
    (−1 when none fires there)."""
    terminal = [ev for ev in events if ev.terminal]
    if not terminal:
        return None
    pair = link if isinstance(link, LinkPair) else LinkPair(link)

    def observe(row: np.ndarray) -> float:
        dense = DenseOutput(row.reshape(1, -1), s_star, noise, dim, pair)
        thetas = [th for ev in terminal for _, th in _located(dense, ev)[:1]]
        return min(thetas) if thetas else -1.0
    return observe


def dense_completion(out: Any, problem: Any, events: Sequence[Event]):
    """For the flow runner: a function that gives a new trajectory segment its dense output
    and its events; a terminal event's record is appended as the segment's last row."""
    def complete(traj):
        dense = DenseOutput(out.dense, problem.s_star, problem.noise, problem.d, problem.link)
        traj.dense = dense
        if not events:
            return traj
        hits = locate_events(dense, events)
        t_stop = float(out.state.t) if out.stopped_by_event else np.inf
        for h in hits:  # occurrences after the stop (in its step) did not happen
            keep = h.times <= t_stop * (1 + 1e-14)
            h.times = h.times[keep]
            h.records = {k: v[keep] for k, v in h.records.items()}
            if h.terminal and h.times.size and out.stopped_by_event:
                # the core's time of the stop, to the last bit
                h.times[-1] = h.records["t"][-1] = t_stop
        traj.events = hits
        if out.stopped_by_event and (len(traj) == 0 or traj.t[-1] < t_stop):
            _append_record(traj, dense.at(np.array([t_stop])), t_stop)
        return traj
    return complete


def _append_record(traj, fields: dict[str, np.ndarray], t_stop: float):
    from ..results.columns import recorded
    for name in recorded(traj.meta):
        value = np.array([t_stop]) if name == "t" else fields[name]
        setattr(traj, name, np.concatenate([getattr(traj, name), value]))


def concat_dense(first, second):
    """Dense output and events of a resumed run: ``first``'s followed by ``second``'s."""
    a, b = getattr(first, "dense", None), getattr(second, "dense", None)
    # Without the first part's dense output the whole run has none (phases: record grid).
    dense = b if len(first) == 0 else None
    if a is not None and b is not None:
        dense = DenseOutput(np.concatenate([a.rows, b.rows]), b.s_star, b.noise, b.dim, b.link)
    ea, eb = getattr(first, "events", None), getattr(second, "events", None)
    events = eb
    if ea is not None and eb is not None and len(ea) == len(eb):
        events = [EventHits(y.name, y.terminal, np.concatenate([x.times, y.times]),
                            {k: np.concatenate([x.records[k], y.records[k]]) for k in y.records})
                  for x, y in zip(ea, eb)]
    return dense, events
