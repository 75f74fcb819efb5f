"""Stopping a command from outside: SIGTERM (what ``kill``, a batch scheduler or a
container runtime sends) is handled like Ctrl-C — the run stops at its next check, saves
what can be resumed, and the command ends in one line with status 128 + 15 = 143 — instead
of the process vanishing without a word (and a sweep leaking its workers).

Only the command line installs this (:func:`stop_on_sigterm`); the library leaves the
process's signal handling alone.
"""
from __future__ import annotations

import signal
from typing import Optional

__all__ = ["stop_on_sigterm", "received", "exit_status", "describe", "caused_by_ctrl_c"]

_received: dict = {"signal": None}


def _on_sigterm(signum, frame) -> None:
    _received["signal"] = signum
    raise KeyboardInterrupt  # the engines and sweeps stop on it exactly as on Ctrl-C


def stop_on_sigterm() -> None:
    """Turn SIGTERM into the Ctrl-C path (KeyboardInterrupt), remembering which it was."""
    _received["signal"] = None
    signal.signal(signal.SIGTERM, _on_sigterm)


def received() -> Optional[int]:
    """The signal that stopped the command (SIGTERM), or None (Ctrl-C, or none)."""
    return _received["signal"]


def exit_status() -> int:
    """130 after Ctrl-C (128 + SIGINT), 143 after SIGTERM (128 + SIGTERM)."""
    return 128 + int(received() or signal.SIGINT)


def describe() -> str:
    """How the command was stopped, for its one line: "interrupted" or "terminated
    (SIGTERM)"."""
    return "terminated (SIGTERM)" if received() == signal.SIGTERM else "interrupted"


def caused_by_ctrl_c(err: Optional[BaseException]) -> bool:
    """Whether ``err`` comes from Ctrl-C (or SIGTERM): a KeyboardInterrupt in its chain. A
    compiled module interrupted while it initialises reports ``ImportError: initialization
    failed``, a class body's ``__set_name__`` a RuntimeError, both raised from it."""
    for _ in range(32):  # a chain is short; the bound only guards against a cycle
        if err is None:
            return False
        if isinstance(err, KeyboardInterrupt):
            return True
        err = err.__cause__ or err.__context__
    return False
