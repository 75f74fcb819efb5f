"""The states the theory starts from (w(T1') for Corollary 1, w(T2) for Phase III):
validated once, so that no prediction is computed from a NaN, an infinite or a
wrong-length state."""
from __future__ import annotations

from typing import Any, Union

import numpy as np

import pyscale._validate as check

from ..model.problem import Problem

__all__ = ["state_vector", "tau_grid", "shaped"]


def state_vector(problem: Problem, w: Any, name: str) -> np.ndarray:
    """``w`` as a float64 vector of the problem's stored length with finite entries whose
    squared norm does not overflow; ValueError naming ``name`` otherwise."""
    w = check.vector(name, w, problem.n_coords, other="the problem's stored coordinates")
    with np.errstate(over="ignore"):
        norm2 = np.dot(w, w)
    if not np.isfinite(norm2):
        raise ValueError(f"{name} is too large: its squared norm overflows float64")
    return w


def tau_grid(tau) -> np.ndarray:
    """Times τ >= 0 after a phase's start (T2 for Phase III) as a finite 1-D array."""
    tau = np.atleast_1d(np.asarray(tau, dtype=np.float64))
    if tau.ndim != 1 or np.any(~np.isfinite(tau)) or np.any(tau < 0):
        raise ValueError("tau must be finite and >= 0")
    return np.ascontiguousarray(tau)


def shaped(values: np.ndarray, tau) -> Union[float, np.ndarray]:
    """Values on :func:`tau_grid` back in the shape of ``tau`` (a float for a scalar)."""
    return float(values[0]) if np.ndim(tau) == 0 else values
