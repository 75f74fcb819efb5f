"""The levels the phases are measured against, per link pair (model page: Phases for other
links).

Phase retrieval's stopping times use two levels of the loss landscape ℓ(s, u):

* the **equator's fixed point** s_e: on u = 0 the flow moves s alone, ṡ = 2 c0(s, 0) s, and
  s_e is where c0(s, 0) = −2 ℓ_s(s, 0) vanishes — the saddles {u = 0, s = s_e}. The square:
  c0 = 4 (s* − 3 s), s_e = s*/3. T1' is the time after which s stays above s_e + s0 s*.
  A pair whose c0(s, 0) keeps one sign has no saddle (None: T1' is not defined);
* the **minimum along the teacher's direction** w = α w*: s_m = α² s*, u_m = α s*, with α > 0
  the root of d/dα ℓ(α² s*, α s*) = s* (2 α ℓ_s + ℓ_u) = 0. For σ = τ it is w* itself
  (s_m = u_m = s*, exactly); T2(ε) is the first time |u| and s are within ε of u_m and s_m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .links import LinkPair

__all__ = ["PhaseLevels", "phase_levels"]

# Bracket of the searches, in units of s*: s_e in (0, 64 s*], α in (0, 8].
_S_MAX = 64.0
_ALPHA_MAX = 8.0
_XTOL = 1e-13


@dataclass(frozen=True)
class PhaseLevels:
    """``saddle_s`` = s_e (None: the pair has no saddle on the equator), ``target_s`` = s_m,
    ``target_u`` = u_m (links page: Phases)."""
    saddle_s: Optional[float]
    target_s: float
    target_u: float


def _root(f, lo: float, hi: float) -> Optional[float]:
    """A sign change of f on [lo, hi] refined by bisection to _XTOL relative (None: f keeps
    one sign at the 257 probes)."""
    import numpy as np
    grid = np.geomspace(lo, hi, 257)
    values = [f(x) for x in grid]
    for k in range(grid.size - 1):
        if values[k] == 0.0:
            return float(grid[k])
        if values[k] * values[k + 1] < 0.0:
            a, b, fa = float(grid[k]), float(grid[k + 1]), values[k]
            while b - a > _XTOL * b:
                m = 0.5 * (a + b)
                fm = f(m)
                if (fm < 0.0) == (fa < 0.0):
                    a, fa = m, fm
                else:
                    b = m
            return 0.5 * (a + b)
    return None


def phase_levels(link: LinkPair, s_star: float = 1.0) -> PhaseLevels:
    """The :class:`PhaseLevels` of ``link`` at s* (the square's: s*/3, s*, s*, as written)."""
    s_star = float(s_star)
    if link.is_square:
        return PhaseLevels(s_star / 3.0, s_star, s_star)
    saddle = _root(lambda s: link.loss_gradient(s * s_star, 0.0, s_star)[1],
                   1e-6, _S_MAX)
    if link.student == link.teacher:
        return PhaseLevels(None if saddle is None else saddle * s_star, s_star, s_star)

    def slope(alpha: float) -> float:
        _, ls, lu = link.loss_gradient(alpha * alpha * s_star, alpha * s_star, s_star)
        return 2.0 * alpha * ls + lu

    alpha = _root(slope, 1e-4, _ALPHA_MAX)
    if alpha is None or not math.isfinite(alpha):
        raise ValueError(f"link pair {link.identity!r}: the loss has no minimum along the "
                         f"teacher's direction for alpha in (0, {_ALPHA_MAX:g}]")
    return PhaseLevels(None if saddle is None else saddle * s_star, alpha * alpha * s_star,
                       alpha * s_star)
