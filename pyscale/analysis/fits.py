"""The fits and crossings read off recorded runs (model page: Phases): log-log slopes,
exponential rates and threshold crossings, shared by every comparison."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

__all__ = ["fit_loglog", "fit_exponential_rate", "crossing_time"]


def fit_loglog(x, y, window: Tuple[float, float]) -> Optional[dict]:
    """Least-squares slope of log y against log x over x ∈ [lo, hi] (points with x, y > 0).
    Returns {'slope', 'intercept', 'window', 'n'} or None with fewer than 3 points."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lo, hi = window
    m = (x >= lo) & (x <= hi) & (x > 0) & (y > 0) & np.isfinite(y)
    if m.sum() < 3:
        return None
    slope, intercept = np.polyfit(np.log(x[m]), np.log(y[m]), 1)
    return {"slope": float(slope), "intercept": float(intercept),
            "window": (float(x[m].min()), float(x[m].max())), "n": int(m.sum())}


def fit_exponential_rate(t, u, window: Tuple[float, float]) -> Optional[dict]:
    """Least-squares slope of log|u| against t over t ∈ [lo, hi] (u ≠ 0)."""
    t = np.asarray(t, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    m = (t >= window[0]) & (t <= window[1]) & (u != 0)
    if m.sum() < 3:
        return None
    rate, intercept = np.polyfit(t[m], np.log(np.abs(u[m])), 1)
    return {"rate": float(rate), "log_prefactor": float(intercept),
            "window": (float(t[m].min()), float(t[m].max())), "n": int(m.sum())}


def crossing_time(t, values, level: float) -> Optional[float]:
    """First t where values >= level, refined by linear interpolation of log(values)
    between the two bracketing records (values > 0); None if never reached."""
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    hit = np.flatnonzero(values >= level)
    if hit.size == 0:
        return None
    k = int(hit[0])
    if k == 0:
        return float(t[0])
    v0, v1 = values[k - 1], values[k]
    if v0 <= 0 or v1 <= 0:
        return float(t[k])
    frac = (math.log(level) - math.log(v0)) / (math.log(v1) - math.log(v0))
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))
