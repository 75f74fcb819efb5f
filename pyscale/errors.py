"""Exceptions raised by pyscale runs; each carries what was computed before it stopped."""
from __future__ import annotations

from typing import Any

__all__ = ["DivergenceError", "DomainError", "Interrupted"]


class DivergenceError(RuntimeError):
    """A run diverged (non-finite or exploding iterate). ``step`` is the first bad step;
    ``trajectory`` holds everything recorded before it, from t = 0 (resumed runs
    included)."""

    def __init__(self, message: str, step: int, trajectory: Any = None):
        super().__init__(message)
        self.step = step
        self.trajectory = trajectory


class DomainError(RuntimeError):
    """A run left its link pair's domain: s = wᵀQw reached 0 with a kinked student (abs,
    relu), whose loss is not differentiable at w = 0 (links page: Kinks). ``t`` is where
    the run stopped; ``trajectory`` holds everything recorded before, from t = 0 (resumed
    runs included), and the state there."""

    def __init__(self, message: str, t: float, trajectory: Any = None):
        super().__init__(message)
        self.t = t
        self.trajectory = trajectory


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (``cause == "signal"``) or by its progress callback
    (``cause == "callback"``); ``trajectory`` holds the records so far and the state to
    resume from (``simulate(..., resume=err.trajectory)``)."""

    def __init__(self, message: str, trajectory: Any = None, cause: str = "callback"):
        super().__init__(message)
        self.trajectory = trajectory
        self.cause = cause
