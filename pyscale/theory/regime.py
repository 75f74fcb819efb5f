"""Where a law holds: its regime of validity, checked for one problem and state (docs: Theory
and its regimes).

Every law of :class:`~pyscale.theory.Prediction` states the conditions its derivation or
its measured accuracy needs as a :class:`Regime` — a tuple of :class:`Condition` s, each
with whether it holds for the problem and state at hand and, when not, one sentence saying
why the law is off there. Two kinds of condition, one rule for all laws:

* ``"required"``: without it the law is not defined or its derivation does not apply (a
  power-law asymptotic at a ≤ 1, an SGD floor at an unstable step). Outside, the law
  **refuses**: :meth:`Regime.enforce` raises :class:`RegimeError` (a ``ValueError``) with
  the reason, and comparisons show no number.
* ``"window"``: the law is defined but its accuracy was measured only inside a window
  (say, "within 3 % when MSE(T2) ≥ 0.15 σ*²"). Outside, the law **warns**
  (:class:`RegimeWarning`, the number is still returned) and comparisons mark the row.

A condition that cannot be decided from what was given (no state yet) has ``holds=None``
and neither refuses nor warns. The mechanism knows nothing about phase retrieval: any law
(other links, other models) builds its Regime from Conditions the same way.

Example::

    pred = pyscale.predict(problem)
    reg = pred.regime("tail_mse", w_at_T2=w)
    reg.holds, reg.reason          # False, "MSE(T2) = 0.04 σ*² ...: the frozen rates ..."
    print(reg)                     # one line per condition
"""
from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from types import FrameType
from typing import Optional

__all__ = ["Condition", "Regime", "RegimeWarning", "RegimeError", "KINDS"]

#: The kinds of condition: outside a "required" one a law refuses, outside a "window" it warns.
KINDS = ("required", "window")


@dataclass(frozen=True)
class Condition:
    """One condition of a law's regime.

    name : short label ("near the minimum").
    requirement : the condition itself, in words and symbols ("|u|, s ∈ [1 − ε, 1] s*").
    holds : whether it holds for this problem and state (None: not decidable here).
    value : what was measured on this problem/state ("u = 0.967 s*, s = 0.95 s*").
    reason : when it does not hold, one sentence: why the law is off, and by how much.
    kind : "required" (refuse outside) or "window" (warn outside).
    """
    name: str
    requirement: str
    holds: Optional[bool]
    value: str = ""
    reason: str = ""
    kind: str = "window"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.holds is not None:
            object.__setattr__(self, "holds", bool(self.holds))

    def line(self) -> str:
        """'[holds] name: requirement (value)' with the reason when it fails."""
        mark = {True: "holds", False: "FAILS", None: "unknown"}[self.holds]
        text = f"[{mark}] {self.name}: {self.requirement}"
        if self.value:
            text += f" ({self.value})"
        if self.holds is False and self.reason:
            text += f" — {self.reason}"
        return text


@dataclass(frozen=True)
class Regime:
    """The regime of validity of one law for one problem and state.

    law : the law's name ("Phase III, frozen (tail_mse)").
    conditions : the :class:`Condition` s it needs.
    accuracy : what was measured inside the window, and where (a docs section).
    """
    law: str
    conditions: tuple = field(default_factory=tuple)
    accuracy: str = ""

    @property
    def failed(self) -> tuple:
        """The conditions that do not hold (holds is False)."""
        return tuple(c for c in self.conditions if c.holds is False)

    @property
    def holds(self) -> Optional[bool]:
        """False if a condition fails, None if none fails but one is undecided, else True."""
        if self.failed:
            return False
        return None if any(c.holds is None for c in self.conditions) else True

    @property
    def refused(self) -> bool:
        """True when a "required" condition fails: the law gives no number."""
        return any(c.kind == "required" for c in self.failed)

    @property
    def reason(self) -> str:
        """The failing conditions' reasons, joined ('' when nothing fails)."""
        return _reasons(self.failed)

    @property
    def status(self) -> str:
        """'holds', 'outside its window', 'refused' or 'unknown' (a condition undecided)."""
        if self.refused:
            return "refused"
        if self.failed:
            return "outside its window"
        return "holds" if self.holds else "unknown"

    def summary(self) -> str:
        """One line: the status, and the reason where it does not hold."""
        return self.status if not self.failed else f"{self.status}: {self.reason}"

    def enforce(self) -> "Regime":
        """Refuse (raise :class:`RegimeError`) outside a required condition, warn
        (:class:`RegimeWarning`, attributed to the first caller outside pyscale) outside a
        window; return self."""
        if self.refused:
            raise RegimeError(self)
        if self.failed:
            warnings.warn(RegimeWarning(self), stacklevel=_caller_level())
        return self

    def to_dict(self) -> dict:
        """Plain data: law, status, reason, accuracy and the conditions as dicts."""
        return {"law": self.law, "status": self.status, "reason": self.reason,
                "accuracy": self.accuracy,
                "conditions": [dict(name=c.name, requirement=c.requirement, holds=c.holds,
                                    value=c.value, reason=c.reason, kind=c.kind)
                               for c in self.conditions]}

    def __str__(self) -> str:
        lines = [f"{self.law}: {self.status}"] + ["  " + c.line() for c in self.conditions]
        if self.accuracy:
            lines.append(f"  accuracy: {self.accuracy}")
        return "\n".join(lines)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_level() -> int:
    """The stacklevel of the first frame outside the pyscale package, counted from
    :meth:`Regime.enforce` (the frame that called into pyscale sees the warning)."""
    frame: Optional[FrameType] = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def _reasons(conditions) -> str:
    return " ".join(f"{c.name}: {c.reason or 'needs ' + c.requirement}." for c in conditions)


class RegimeWarning(UserWarning):
    """A law used outside its measured window; ``regime`` says which condition and why."""

    def __init__(self, regime: Regime):
        super().__init__(f"{regime.law} is outside its measured window: "
                         + _reasons(c for c in regime.failed if c.kind == "window")
                         + (f" Measured: {regime.accuracy}." if regime.accuracy else ""))
        self.regime = regime

    def __reduce__(self):
        return type(self), (self.regime,)


class RegimeError(ValueError):
    """A law refused outside a condition its derivation needs; ``regime`` says which."""

    def __init__(self, regime: Regime):
        super().__init__(f"{regime.law} does not apply here: "
                         + _reasons(c for c in regime.failed if c.kind == "required"))
        self.regime = regime

    def __reduce__(self):
        return type(self), (self.regime,)
