"""Stopping times of the three phases (model page: Phases), and their one set of defaults.

T1(δ)    first t with |u| ≥ δ s*                            (end of the escape),
T1'(s0)  the time after which s stays ≥ s* (1/3 + s0)      (the last upward crossing),
T2(ε)    first t with |u|/s* and s/s* both in [1 − ε, 1].

For another link pair the levels are the pair's own (:mod:`pyscale.model.link_levels`;
links page: Phases): T1' uses the equator's fixed point s_e in place of
s*/3 (s ≥ s_e + s0 s*; no T1' for a pair without one), and T2 the minimum along w*'s
direction (s_m, u_m) in place of (s*, s*), in the two-sided band |u|/u_m, s/s_m ∈
[1 − ε, 1 + ε] (another pair's s and u need not approach from below).

On a flow trajectory with dense output these are located exactly along the solver's
dense output (roots of the per-step polynomials s(θ), u(θ); :mod:`pyscale.results.dense`),
at the solver's accuracy and independently of the record grid and of the horizon. Other
trajectories (GD, SGD: their records are exact steps) fall back to the record grid.

Defaults (:class:`PhaseDefaults`, used by ``Trajectory.phases``, ``compare``, the CLI and
the figures): δ = 0.05 and ε = 0.05 are the paper's thresholds (its Figure 2 marks T1 and
T2 with them); s0 = 0.1 because Corollary 1's bound on T2 divides by s0 (s0 = 0 gives no
bound), while after Phase IIa s tends to s* = 1 ≫ 1/3 + 0.1, so this margin costs only an
O(1) shift of T1' and makes it insensitive to s lingering near the saddle value 1/3.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import pyscale._validate as check

from ..model.link_levels import PhaseLevels, phase_levels
from ..model.links import LinkPair
from .dense import DenseOutput, bernstein_range, roots_in_unit_interval

__all__ = ["PhaseDefaults", "DEFAULTS", "stopping_times", "grid_stopping_times",
           "trajectory_levels"]

# A value that reaches a band's edge up to rounding is inside the band.
_EDGE = 1e-12


@dataclass(frozen=True)
class PhaseDefaults:
    """The one set of stopping-time thresholds used across pyscale."""
    delta: float = 0.05  # T1: |u| >= delta s*
    eps: float = 0.05    # T2: |u|/s*, s/s* in [1 - eps, 1]
    s0: float = 0.1      # T1': s >= s* (1/3 + s0) from then on


#: The defaults in use.
DEFAULTS = PhaseDefaults()


def _check(delta: float, eps: float, s0: float):
    return check.delta(delta), check.eps(eps), check.s0(s0)


def stopping_times(traj, delta=None, eps=None, s0=None):
    """T1(δ), T1'(s0), T2(ε) of ``traj`` (the fields of ``Trajectory.phases()``).

    Parameters
    ----------
    traj : Trajectory
        Any trajectory; with a dense output (``traj.dense``, the flow) the times are
        exact roots of the dense output, otherwise read off the record grid.
    delta, eps, s0 : float, optional
        Thresholds (dimensionless, relative to s*); None → :data:`DEFAULTS`.

    Returns
    -------
    tuple
        (T1, T1', T2, delta, eps, s0), the fields of
        :class:`~pyscale.results.trajectory.Phases`: times in the trajectory's time unit (t = step ·
        lr for the step engines), None where the trajectory does not reach them.
    """
    delta = DEFAULTS.delta if delta is None else delta
    eps = DEFAULTS.eps if eps is None else eps
    s0 = DEFAULTS.s0 if s0 is None else s0
    delta, eps, s0 = _check(delta, eps, s0)
    dense = getattr(traj, "dense", None)
    if dense is None or len(dense) == 0:
        t1, t1p, t2 = grid_stopping_times(traj, delta, eps, s0)
    elif dense.link.is_square:
        s_star = dense.s_star
        t1 = _first_escape(dense, delta * s_star)
        t1p = _last_upward_crossing(dense, s_star * (1.0 / 3.0 + s0))
        t2 = _first_in_band(dense, (1.0 - eps) * s_star, (1.0 + _EDGE) * s_star)
    else:
        s_star = dense.s_star
        lv = phase_levels(dense.link, s_star)
        t1 = _first_escape(dense, delta * s_star)
        t1p = (None if lv.saddle_s is None
               else _last_upward_crossing(dense, lv.saddle_s + s0 * s_star))
        t2 = _first_in_band(dense, (1.0 - eps) * lv.target_s, (1.0 + eps) * lv.target_s,
                            ((1.0 - eps) * lv.target_u, (1.0 + eps) * lv.target_u))
    return t1, t1p, t2, delta, eps, s0


def trajectory_levels(meta) -> PhaseLevels:
    """The :class:`~pyscale.model.link_levels.PhaseLevels` of the pair a run's ``meta``
    names (runs without one are the square's)."""
    identity = str((meta or {}).get("link", "square"))
    try:
        pair = LinkPair(identity)
    except (ValueError, TypeError):
        raise ValueError(f"the phases of a run of link pair {identity!r} need the pair "
                         f"itself (a user link cannot be rebuilt from its name): run the "
                         f"flow, whose dense output carries it") from None
    return phase_levels(pair, float((meta or {}).get("s_star", 1.0)))


def grid_stopping_times(traj, delta: float, eps: float, s0: float):
    """(T1, T1', T2) read off the record grid (first record satisfying each condition;
    T1': the first record after the last one below the level)."""
    s_star = float(traj.meta.get("s_star", 1.0))
    au = np.abs(traj.u) / s_star
    s = traj.s / s_star
    t1 = _first(traj.t, au >= delta)
    if str(traj.meta.get("link", "square")) == "square":
        saddle, ts, tu, high = 1.0 / 3.0, 1.0, 1.0, 1 + _EDGE
    else:
        lv = trajectory_levels(traj.meta)
        saddle = None if lv.saddle_s is None else lv.saddle_s / s_star
        ts, tu, high = lv.target_s / s_star, lv.target_u / s_star, 1 + eps
    if saddle is None:
        t1p = None
    else:
        below = np.flatnonzero(s < saddle + s0)
        if below.size == 0:
            t1p = float(traj.t[0]) if len(traj) else None
        elif below[-1] + 1 < len(traj):
            t1p = float(traj.t[below[-1] + 1])
        else:
            t1p = None
    au, s = au / tu, s / ts
    ok = (au >= 1 - eps) & (au <= high) & (s >= 1 - eps) & (s <= high)
    return t1, t1p, _first(traj.t, ok)


def _first(t: np.ndarray, mask: np.ndarray) -> float | None:
    idx = np.flatnonzero(mask)
    return float(t[idx[0]]) if idx.size else None


def _time(dense: DenseOutput, k: int, theta: float) -> float:
    return float(dense.t0[k] + theta * dense.h[k])


def _first_escape(dense: DenseOutput, level: float) -> float | None:
    """First t with |u(t)| >= level (level = δ s*)."""
    u0 = dense.fields(0, 0.0)["u"]
    if abs(u0) >= level:
        return float(dense.t0[0])
    coef = dense.polynomial("u")
    lo, hi = bernstein_range(coef)
    for k in np.flatnonzero((hi >= level) | (lo <= -level)):
        roots = [roots_in_unit_interval(coef[k] - sign * np.eye(1, 4, 0)[0] * level)
                 for sign in (1.0, -1.0)]
        theta = np.concatenate(roots)
        if theta.size:
            return _time(dense, k, float(theta.min()))
    return None


def _last_upward_crossing(dense: DenseOutput, level: float) -> float | None:
    """The time after which s(t) >= level; None if s ends below it."""
    if dense.fields(len(dense) - 1, 1.0)["s"] < level:
        return None
    coef = dense.polynomial("s")
    coef[:, 0] -= level
    lo, _ = bernstein_range(coef)
    for k in np.flatnonzero(lo < 0.0)[::-1]:
        theta = roots_in_unit_interval(coef[k])
        if theta.size:
            return _time(dense, k, float(theta.max()))
    return float(dense.t0[0])


def _first_in_band(dense: DenseOutput, low: float, high: float,
                   u_band: tuple | None = None) -> float | None:
    """First t with s in [low, high] and |u| in ``u_band`` (default the same band; the
    square: [(1 − ε) s*, s*]), edges up to rounding."""
    u_low, u_high = (low, high) if u_band is None else u_band
    s_coef, u_coef = dense.polynomial("s"), dense.polynomial("u")
    s_lo, s_hi = bernstein_range(s_coef)
    u_lo, u_hi = bernstein_range(u_coef)
    may_s = (s_hi >= low) & (s_lo <= high)
    may_u = ((u_hi >= u_low) & (u_lo <= u_high)) | ((-u_lo >= u_low) & (-u_hi <= u_high))
    for k in np.flatnonzero(may_s & may_u):
        cuts = [np.array([0.0, 1.0])]
        for coef, levels in ((s_coef[k], (low, high)),
                             (u_coef[k], (u_low, u_high, -u_low, -u_high))):
            for lv in levels:
                c = coef.copy()
                c[0] -= lv
                cuts.append(roots_in_unit_interval(c))
        cuts = np.unique(np.concatenate(cuts))
        probes = np.sort(np.concatenate([cuts, 0.5 * (cuts[1:] + cuts[:-1])]))
        f = dense.fields(np.full(probes.size, k), probes)
        au, s = np.abs(f["u"]), f["s"]
        tol = _EDGE * dense.s_star
        ok = (au >= u_low - tol) & (au <= u_high) & (s >= low - tol) & (s <= high)
        if ok.any():
            i = int(np.flatnonzero(ok)[0])
            # An interval that holds from its midpoint holds from its left cut.
            theta = probes[i] if i == 0 or probes[i] in cuts else probes[i - 1]
            return _time(dense, k, float(theta))
    return None
