"""Exceptions raised by pyscale runs; each carries what was computed before it stopped."""
from __future__ import annotations

__all__ = ["DivergenceError", "Interrupted"]


class DivergenceError(RuntimeError):
    """A run diverged (non-finite or exploding iterate). ``step`` is the first bad step;
    ``trajectory`` holds everything recorded before it."""

    def __init__(self, message: str, step: int, trajectory=None):
        super().__init__(message)
        self.step = step
        self.trajectory = trajectory


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or by its progress callback; ``trajectory`` holds the records
    so far and the state to resume from (``simulate(..., resume=trajectory)``)."""

    def __init__(self, message: str, trajectory=None):
        super().__init__(message)
        self.trajectory = trajectory
