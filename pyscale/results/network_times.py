"""Measured times of a two-layer network's run (networks page: What the dynamics look
like), read off its record grid — the network counterpart of the single-index phases
(:mod:`pyscale.results.phases`):

* ``escape_times(traj, δ)`` — per student unit j, the first t with
  max_l |U_jl| / √S*_ll ≥ δ: the unit leaves the small start. Escapes are detected on the
  overlaps, never on cosines, which are O(1) from the start on power-law data;
* ``plateau_end(traj, level)`` — the symmetric plateau: the time after which the mean
  student–student |cosine| |S_jl| / √(S_jj S_ll) (j ≠ l) stays below ``level`` (absolute
  values: an even link's units w_j and −w_j are one unit);
* ``specialisation_times(traj, level)`` — per unit j, the time after which its best
  cosine max_l |cos_jl| stays at or above ``level``: the unit has specialised;
* ``component_times(traj, fraction)`` — the quadratic network (units not identifiable):
  per component c, the first t at which the c-th eigenvalue of D_a^½ S D_a^½ reaches
  ``fraction`` of its target, the c-th eigenvalue of D_a*^½ S* D_a*^½.

Times are in the run's time unit (t = step · lr for the step engines); None where the
record grid does not show the event (not reached by the end, or never in the state it
ends). A record grid locates each time to its spacing: log-spaced records of ratio r give
it within a factor r.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

import pyscale._validate as check

__all__ = ["escape_times", "plateau_end", "specialisation_times", "component_times",
           "mean_student_cosine", "best_cosines"]


def _first(t: np.ndarray, mask: np.ndarray) -> Optional[float]:
    """The first time where ``mask`` holds (None if never)."""
    hit = np.flatnonzero(mask)
    return float(t[hit[0]]) if hit.size else None


def _from_then_on(t: np.ndarray, mask: np.ndarray) -> Optional[float]:
    """The first time from which ``mask`` holds to the last record (None if it does not
    hold at the last record)."""
    if mask.size == 0 or not mask[-1]:
        return None
    misses = np.flatnonzero(~mask)
    return float(t[misses[-1] + 1]) if misses.size else float(t[0])


def _level(value: float, name: str) -> float:
    return check.real(name, value, 0.0, 1.0, low_open=True, high_open=True)


def escape_times(traj, delta: float = 0.1) -> List[Optional[float]]:
    """Per student unit j, the first t with max_l |U_jl| / √S*_ll ≥ ``delta`` (in (0, 1))."""
    delta = _level(delta, "delta")
    scale = np.sqrt(np.diag(traj.s_star))
    reach = np.max(np.abs(traj.U) / scale, axis=-1)  # (T, p)
    return [_first(traj.t, reach[:, j] >= delta) for j in range(traj.p)]


def mean_student_cosine(traj) -> np.ndarray:
    """The mean over pairs j ≠ l of |S_jl| / √(S_jj S_ll), per record (T,); NaN for p = 1."""
    cos = traj.student_cos
    p = traj.p
    if p < 2:
        return np.full(traj.t.shape, np.nan)
    off = ~np.eye(p, dtype=bool)
    return np.mean(np.abs(cos[..., off]), axis=-1)


def best_cosines(traj) -> np.ndarray:
    """Per record and student unit, max_l |cos_jl| (T, p)."""
    return np.max(np.abs(traj.cos), axis=-1)


def plateau_end(traj, level: float = 0.9) -> Optional[float]:
    """The end of the symmetric plateau: the time after which the mean student–student
    |cosine| stays below ``level``; None when it never reaches ``level`` (no symmetric
    plateau) or is still at or above it at the last record."""
    level = _level(level, "level")
    mean = mean_student_cosine(traj)
    above = mean >= level
    if not above.any():
        return None
    return _from_then_on(traj.t, ~above)


def specialisation_times(traj, level: float = 0.9) -> List[Optional[float]]:
    """Per student unit j, the time after which max_l |cos_jl| stays ≥ ``level``."""
    level = _level(level, "level")
    best = best_cosines(traj)
    return [_from_then_on(traj.t, best[:, j] >= level) for j in range(traj.p)]


def component_times(traj, fraction: float = 0.5) -> List[Optional[float]]:
    """Per component c (decreasing order, up to min(p, k)), the first t at which the c-th
    eigenvalue of D_a^½ S D_a^½ reaches ``fraction`` of the c-th of D_a*^½ S* D_a*^½ (the
    quadratic network's learned components, networks page: The quadratic network)."""
    fraction = _level(fraction, "fraction")
    target = traj.teacher_components
    learned = traj.components
    n = min(traj.p, traj.k)
    return [_first(traj.t, learned[:, c] >= fraction * target[c]) for c in range(n)]
