"""The inputs of a comparison, checked before anything is computed: a prediction of the
right kind (or the Problem to predict it from) and a run of the right kind with enough
records; and the relative error every comparison row reports."""
from __future__ import annotations

from typing import Any, Optional, Sized, cast

from ..model.problem import Problem
from ..theory import predict

__all__ = ["checked_inputs", "rel_error"]


def checked_inputs(trajectory: Any, prediction: Any, prediction_type: type,
                   trajectory_type: type, kind: str, run: str) -> Any:
    """The prediction (``predict(prediction)`` when given the Problem), refused with one
    sentence unless it is a ``prediction_type`` (``kind`` names it) and ``trajectory`` a
    ``trajectory_type`` (``run`` names it) with at least 3 records."""
    if isinstance(prediction, Problem):
        prediction = predict(prediction)
    if not isinstance(prediction, prediction_type):
        raise TypeError(f"prediction must be the pyscale.predict of the run's problem "
                        f"({kind}), or that Problem")
    if not isinstance(trajectory, trajectory_type) or len(cast(Sized, trajectory)) < 3:
        raise ValueError(f"trajectory must be {run} with at least 3 records")
    return prediction


def rel_error(measured: Optional[float], predicted: Optional[float]) -> Optional[float]:
    """(predicted − measured)/|measured|; None where either is missing or measured is 0."""
    if measured is None or predicted is None or measured == 0:
        return None
    return float((predicted - measured) / abs(measured))
