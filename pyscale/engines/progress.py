"""Progress bars (tqdm) fed by the engines' progress callback ``(t, steps) -> bool | None``.

Step engines (gd, sgd, erm) cost the same per step, so their bar is linear in t = step·lr.
The flow's step size grows with t (model page: Time and steps — about 10³ steps for the
whole horizon, spread roughly evenly in log t), so its bar is linear in log(1 + t).

``simulate(..., progress=True)`` and ``simulate_many(..., progress=True)`` build their bar
with :func:`make_progress` (``tqdm.auto``: a widget in Jupyter, text in a terminal).
"""
from __future__ import annotations

import math
import sys
from typing import Callable

import numpy as np

__all__ = ["EngineBar", "task_bar", "make_progress", "run_horizon", "run_with_progress"]


class EngineBar:
    """A tqdm bar from 0 to ``horizon`` (in time units t) to pass as ``progress=``.

    ``log_scale`` (default: True for the flow) places t at log(1+t)/log(1+horizon).
    ``enabled=False`` (or a non-terminal stderr with ``enabled=None``) shows nothing. Use it
    as a context manager so the bar is closed on Ctrl-C too. ``members=R`` spreads the bar
    over R runs that each report t from 0 to ``horizon`` one after the other (a drop in t
    starts the next run's share). ``leave``: keep the finished bar on screen.
    """

    RESOLUTION = 1000

    def __init__(self, method: str, horizon: float, desc: str = "",
                 enabled: bool | None = None, log_scale: bool | None = None,
                 members: int = 1, leave: bool = False):
        from tqdm.auto import tqdm
        self.horizon = float(horizon)
        self.log_scale = (method == "flow") if log_scale is None else bool(log_scale)
        self.members = max(1, int(members))
        self._member, self._last_t = 0, -math.inf
        disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self.bar = tqdm(total=self.RESOLUTION, desc=desc or method, disable=disable,
                        leave=leave, unit="‰",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                   "[{elapsed}<{remaining}{postfix}]")
        self._done = 0

    def _fraction(self, t: float) -> float:
        if not self.horizon > 0:  # unknown horizon: the bar fills on close(completed=True)
            return 0.0
        if self.log_scale:
            return math.log1p(max(t, 0.0)) / math.log1p(self.horizon)
        return t / self.horizon

    def __call__(self, t: float, steps: int) -> None:
        if t < self._last_t and self._member + 1 < self.members:
            self._member += 1  # the next member run started from t = 0
        self._last_t = t
        share = (self._member + min(1.0, self._fraction(t))) / self.members
        pos = min(self.RESOLUTION, int(self.RESOLUTION * share))
        if pos > self._done:
            self.bar.update(pos - self._done)
            self._done = pos
        self.bar.set_postfix_str(f"t={t:.4g}", refresh=False)
        return None

    def close(self, completed: bool = False) -> None:
        """Close the bar; ``completed=True`` first fills it (the run reached its horizon)."""
        if completed and self._done < self.RESOLUTION:
            self.bar.update(self.RESOLUTION - self._done)
            self._done = self.RESOLUTION
        self.bar.close()

    def __enter__(self) -> EngineBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def task_bar(total: int, desc: str, enabled: bool | None = None, initial: int = 0):
    """A tqdm bar counting finished tasks (sweeps, figure panels)."""
    from tqdm.auto import tqdm
    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, unit="task")


def run_horizon(method: str, options: dict) -> float | None:
    """The horizon in time units of an engine run: the last record time ``t`` of the flow,
    ``steps · lr`` of a step engine; None when the options do not say (the engine's own
    validation then reports what is missing)."""
    try:
        if method == "flow":
            t = [float(x) for x in _as_list(options["t"])]
            return t[-1] if t else None
        return float(options["steps"]) * float(options["lr"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _as_list(t):
    return np.ravel(np.asarray(t, dtype=np.float64)).tolist()


def _no_close(completed: bool = False) -> None:
    return None


def make_progress(progress, method: str, horizon: float | None,
                  members: int = 1) -> tuple[Callable | None, Callable[..., None]]:
    """The engines' progress callback for a ``progress=`` argument, and its closer.

    Parameters
    ----------
    progress : None, bool or callable
        None / False: no callback. True: a tqdm bar (``tqdm.auto``) from 0 to ``horizon``
        (linear in t for step engines, in log(1 + t) for the flow). A callable
        ``(t, steps) -> bool | None`` is passed through (returning False stops the run).
    method : str
        The engine ("flow", "gd", "sgd", "erm"): sets the bar's scale and label.
    horizon : float or None
        The run's final time (:func:`run_horizon`); None or ≤ 0: the bar fills at the end.
    members : int
        Runs reported one after the other through the same callback (ERM ensembles).

    Returns
    -------
    (callback, close)
        ``callback`` for the engine (None for no progress) and ``close(completed=False)``,
        to call once the run ends (``completed=True`` fills the bar first).

    Raises
    ------
    TypeError
        For anything else, naming the accepted values.
    """
    if progress is None or progress is False:
        return None, _no_close
    if progress is True:
        bar = EngineBar(method, 0.0 if horizon is None else horizon, desc=method,
                        enabled=True, members=members, leave=True)
        return bar, bar.close
    if callable(progress):
        return progress, _no_close
    raise TypeError(f"progress must be True, False, None or a callable (t, steps) -> "
                    f"bool | None, got {type(progress).__name__}")


def run_with_progress(run: Callable, problem, method: str, options: dict, members: int = 1):
    """``run(problem, **options)`` with ``progress=True`` turned into a bar by
    :func:`make_progress` (closed on any exit, filled first when the run completes); any
    other ``progress`` value passes through unchanged to the engine."""
    if options.get("progress") is not True:
        return run(problem, **options)
    hook, close = make_progress(True, method, run_horizon(method, options), members)
    try:
        result = run(problem, **{**options, "progress": hook})
    except BaseException:
        close()
        raise
    close(completed=True)
    return result
