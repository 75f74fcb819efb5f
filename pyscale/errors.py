"""Exceptions raised by pyscale runs; each carries what was computed before it stopped."""
from __future__ import annotations

from typing import Any

__all__ = ["DivergenceError", "Interrupted"]


class DivergenceError(RuntimeError):
    """A run diverged (non-finite or exploding iterate). ``step`` is the first bad step;
    ``trajectory`` holds everything recorded before it, from t = 0 (resumed runs
    included)."""

    def __init__(self, message: str, step: int, trajectory: Any = None):
        super().__init__(message)
        self.step = step
        self.trajectory = trajectory


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (``cause == "signal"``) or by its progress callback
    (``cause == "callback"``); ``trajectory`` holds the records so far and the state to
    resume from (``simulate(..., resume=err.trajectory)``)."""

    def __init__(self, message: str, trajectory: Any = None, cause: str = "callback"):
        super().__init__(message)
        self.trajectory = trajectory
        self.cause = cause
