"""Progress bars (tqdm) fed by the engines' progress callback ``(t, steps) -> bool | None``.

Step engines (gd, sgd, erm) cost the same per step, so their bar is linear in t = step·lr.
The flow's step size grows with t (SPEC §5: ~10³ steps for the whole horizon, spread
roughly evenly in log t), so its bar is linear in log(1 + t).
"""
from __future__ import annotations

import math
import sys
from typing import Optional

__all__ = ["EngineBar", "task_bar"]


class EngineBar:
    """A tqdm bar from 0 to ``horizon`` (in time units t) to pass as ``progress=``.

    ``log_scale`` (default: True for the flow) places t at log(1+t)/log(1+horizon).
    ``enabled=False`` (or a non-terminal stderr with ``enabled=None``) shows nothing. Use it
    as a context manager so the bar is closed on Ctrl-C too.
    """

    RESOLUTION = 1000

    def __init__(self, method: str, horizon: float, desc: str = "",
                 enabled: Optional[bool] = None, log_scale: Optional[bool] = None):
        from tqdm.auto import tqdm
        self.horizon = float(horizon)
        self.log_scale = (method == "flow") if log_scale is None else bool(log_scale)
        disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self.bar = tqdm(total=self.RESOLUTION, desc=desc or method, disable=disable,
                        leave=False, unit="‰",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                   "[{elapsed}<{remaining}{postfix}]")
        self._done = 0

    def _fraction(self, t: float) -> float:
        if self.horizon <= 0:
            return 1.0
        if self.log_scale:
            return math.log1p(max(t, 0.0)) / math.log1p(self.horizon)
        return t / self.horizon

    def __call__(self, t: float, steps: int) -> None:
        pos = min(self.RESOLUTION, int(self.RESOLUTION * self._fraction(t)))
        if pos > self._done:
            self.bar.update(pos - self._done)
            self._done = pos
        self.bar.set_postfix_str(f"t={t:.4g}", refresh=False)
        return None

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "EngineBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def task_bar(total: int, desc: str, enabled: Optional[bool] = None, initial: int = 0):
    """A tqdm bar counting finished tasks (sweeps, figure panels)."""
    from tqdm.auto import tqdm
    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, unit="task")
