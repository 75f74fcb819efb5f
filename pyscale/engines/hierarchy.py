"""The truncated moment hierarchy (model page: Moment hierarchy) and its closures.

``hierarchy(problem, order=K, t=..., closure=...)`` evolves the moments s^(k) = w^T Q^k w and
u^(k) = w^T Q^k w*, k = 1..K, by the exact hierarchy

    ṡ^(k) = 8 (s* − 3 s) s^(k+1) + 16 u u^(k+1),   u̇^(k) = 4 (s* − 3 s) u^(k+1) + 8 u s*^(k+1),

or, for any other link pair (links page: Moment hierarchy), with its flow
coefficients (c0, c1) = (−2 ℓ_s, −ℓ_u) at (s, u) = (s^(1), u^(1)),

    ṡ^(k) = 2 c0 s^(k+1) + 2 c1 u^(k+1),          u̇^(k) = c0 u^(k+1) + c1 s*^(k+1),

closing order K+1 with

* ``"gauss"`` (default): the K-point Gauss quadrature of the spectral measure Σ_i λ_i δ_{λ_i}
  (ŝ_K = û_K = 0 in the orthonormal-polynomial basis). Realizable: it is the flow of a K-mode
  problem, so it never blows up, and it converges as K grows (docs/hierarchy.md).
* ``"zero"``: the literal truncation s^(K+1) = u^(K+1) = 0. Kept for study: it blows up in
  finite time; the blow-up is detected and reported (``diverged``, ``t_diverged``), never
  returned as silent inf/NaN.

s*^(k) is known exactly at every order and used as such. The kernels are in
:mod:`pyscale._kernels.hierarchy`; :func:`convergence_study` holds the closures against the
exact flow.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from .._kernels import dop853
from .._validate import record_times
from ..errors import DivergenceError
from ..model.network import require_single_index
from ..model.problem import Problem
from ..model.statistics import statistics
from ..results.phases import DEFAULTS
from . import simulate

__all__ = ["hierarchy", "Hierarchy", "CLOSURES", "realizable_rows", "exact_moments",
           "convergence_study", "ConvergenceStudy"]

#: closure name -> kernel id
CLOSURES = {"gauss": 1, "zero": 0}

# Status codes of the kernels (_kernels.hierarchy.STATUS_*): the core's RunStatus values.
_STATUS = {int(code): name for name, code in _core.RunStatus.__members__.items()}


@dataclass
class Hierarchy:
    """Moments from the truncated hierarchy (model page: Moment hierarchy).

    ``s[:, k-1]`` = s^(k), ``u[:, k-1]`` = u^(k) at the times ``t`` (shape (len(t), order)).
    ``s_scaled``, ``u_scaled`` are the same divided by λ_max^k: O(||w||²) at every order, use
    them where λ_max^k would underflow. Rows after a blow-up are NaN and flagged:
    ``diverged`` / ``t_diverged``. ``realizable_until``: last record time up to which every
    record passes the positive-measure checks of :func:`realizable_rows` at all orders 1..K
    (the zero closure fails them at once: its top order is frozen while the others move;
    ``meta['realizable_leading_until']`` checks orders 1–3 only). ``valid_until``: the last
    record time up to which the companion run at order ``meta['companion_order']`` agrees
    with this one on orders 1–3 within ``meta['tol']`` (a-posteriori, conservative), for the
    zero closure also capped by ``realizable_leading_until`` and the blow-up; None when
    nothing is valid or (Gauss closure, ``error_estimate=False``) not estimated.
    """
    t: np.ndarray
    s: np.ndarray
    u: np.ndarray
    s_scaled: np.ndarray
    u_scaled: np.ndarray
    order: int
    closure: str
    lam_scale: float
    steps: int
    status: str
    diverged: bool
    t_diverged: Optional[float]
    realizable_until: Optional[float]
    valid_until: Optional[float]
    meta: Dict[str, Any] = field(default_factory=dict)

    def moment(self, k: int, which: str = "s") -> np.ndarray:
        """s^(k)(t) (``which="s"``) or u^(k)(t) (``"u"``), 1 <= k <= order."""
        if not 1 <= k <= self.order:
            raise ValueError(f"k must lie in 1..{self.order}, got {k}")
        if which not in ("s", "u"):
            raise ValueError(f"which must be 's' or 'u', got {which!r}")
        return getattr(self, which)[:, k - 1]

    def __repr__(self) -> str:
        return (f"Hierarchy(order={self.order}, closure={self.closure!r}, n={self.t.size}, "
                f"status={self.status!r}, valid_until={self.valid_until}, "
                f"t_diverged={self.t_diverged})")


# --------------------------------------------------------------------------- validation
def _check_order(order, name: str = "order") -> int:
    """The truncation order K (the number of moments kept): an integer in [1, 1024]."""
    return check.integer(name, order, 1, 1024)


#: Doubles per record and order that a run holds: the integrator's records (s and u),
#: the monomial moments and the result's scaled and unscaled copies (two of each).
_DOUBLES_PER_RECORD_ORDER = 8


def _check_fits(order: int, n_times: int, error_estimate: bool,
                max_memory: Optional[int]) -> None:
    """Refuse, before integrating, records that will not fit (the companion run of the
    error estimate holds 3/4 as much again)."""
    runs = 1.75 if error_estimate else 1.0
    needed = int(runs * _DOUBLES_PER_RECORD_ORDER * 8 * n_times * order + 8 * order * order)
    check.memory(needed, f"the hierarchy of order {order} at {n_times} record times", max_memory,
                 "record fewer times or lower the order")


def _check_times(t) -> np.ndarray:
    return record_times(t)


# --------------------------------------------------------------------------- set-up
def _scaled_spectrum(problem: Problem):
    """Distinct eigenvalues (largest first) scaled by λ_max, and per-distinct-eigenvalue sums:
    reference weight Σ c_i λ_i and the measures λ w0², λ w0 w*, λ² w*², λ w*² (model page: Gradient
    flow)."""
    lam = problem.eigenvalues
    lam_max = float(lam.max())
    w0, ws = problem.w0, problem.w_star
    cols = [problem.counts * lam, lam * w0 * w0, lam * w0 * ws, lam * lam * ws * ws,
            lam * ws * ws]
    if lam.size == 1 or np.all(lam[1:] < lam[:-1]):  # the usual case: already distinct
        return lam_max, lam / lam_max, np.stack(cols, axis=1)
    uniq, inverse = np.unique(lam, return_inverse=True)
    sums = np.stack([np.bincount(inverse, weights=c, minlength=uniq.size) for c in cols],
                    axis=1)
    return lam_max, uniq[::-1] / lam_max, np.ascontiguousarray(sums[::-1])


def _dop853_tableau():
    """Dormand–Prince 8(5,3) coefficients (Hairer–Nørsett–Wanner; pyscale/_kernels/dop853)."""
    return dop853.A, dop853.B, dop853.C, dop853.E3, dop853.E5


def _quadrature(x, sums, order):
    from .._kernels import hierarchy as kern
    weight = sums[:, 0] * 1.0
    values = np.ascontiguousarray(sums[:, 1:4])
    a, b, proj, m = kern.jacobi_and_projections(x, weight, values, order)
    nodes, masses = kern.gauss_nodes(a, b, proj, m)
    return nodes, masses, int(m)


# --------------------------------------------------------------------------- the run
def hierarchy(problem: Problem, order: int = 32, t=None, closure: str = "gauss",
              rtol: float = 1e-10, atol: Optional[float] = None, max_steps: int = 10_000_000,
              error_estimate: bool = True, tol: float = 1e-6,
              on_divergence: str = "warn", max_memory: Optional[int] = None) -> Hierarchy:
    """Evolve s^(k), u^(k), k = 1..order, by the hierarchy (model page: Moment hierarchy) closed at
    order+1.

    Parameters
    ----------
    problem : :class:`~pyscale.Problem` (compressed problems allowed).
    order : the truncation K >= 1.
    t : increasing record times >= 0, or a horizon (0 + 200 log-spaced times).
    closure : ``"gauss"`` (default, realizable) or ``"zero"`` (literal truncation).
    rtol, atol : error control of the Dormand–Prince 8(5,3) integrator (scaled state).
    error_estimate : also run the same closure at the companion order ``max(1, 3*order//4)``
        and set ``valid_until`` to the last time both agree on orders 1–3 within ``tol``
        (absolute) — conservative, the error of order K being below that of 3K/4. False
        skips the companion run (``valid_until`` is then None for the Gauss closure).
    on_divergence : ``"warn"`` (RuntimeWarning), ``"raise"`` (DivergenceError carrying the
        result in ``.trajectory``) or ``"ignore"``; the result is flagged in every case.
    max_memory : bytes the run may hold (default: the memory available now); the records
        of every order at every time are estimated first and refused, with the bytes,
        when they do not fit.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    require_single_index("the moment hierarchy", problem)
    order = _check_order(order)
    times = _check_times(t)
    check.choice("closure", closure, CLOSURES)
    rtol = check.rtol(rtol)
    check.choice("on_divergence", on_divergence, ("warn", "raise", "ignore"))
    max_steps = check.max_steps(max_steps)
    tol = check.positive("tol", tol)
    _check_fits(order, times.size, bool(error_estimate), max_memory)

    result = _run(problem, order, times, closure, rtol, atol, int(max_steps))
    leading_ok = _last_good_time(times, _leading_realizable(result))
    result.meta["realizable_leading_until"] = leading_ok
    valid = leading_ok if closure == "zero" else float(times[-1])
    if error_estimate:
        companion = max(1, (3 * order) // 4)
        if companion == order:
            result.meta.update(companion_order=None, tol=tol)
        else:
            other = _run(problem, companion, times, closure, rtol, atol, int(max_steps))
            low = min(3, companion)
            with np.errstate(invalid="ignore"):
                diff = np.maximum(np.abs(result.s[:, :low] - other.s[:, :low]).max(axis=1),
                                  np.abs(result.u[:, :low] - other.u[:, :low]).max(axis=1))
            estimated = _last_good_time(times, diff <= tol)
            valid = None if valid is None or estimated is None else min(valid, estimated)
            result.meta.update(companion_order=companion, tol=tol, error_estimate=diff)
    elif closure == "gauss":
        valid = None
    result.valid_until = valid
    if result.diverged:
        msg = (f"the {closure!r}-closed hierarchy of order {order} blew up at "
               f"t ~ {result.t_diverged:.6g}; its orders 1-3 were realizable up to "
               f"t = {leading_ok}. Rows after the blow-up are NaN.")
        if on_divergence == "raise":
            raise DivergenceError(msg, result.steps, result)
        if on_divergence == "warn":
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return result


def _s_limit(problem: Problem) -> float:
    """The largest |s| a truncated system may reach before it counts as blowing up. The
    square's loss never increases along the flow and u² <= s s*, so s <= s* + sqrt(L(0)/3)
    (model page: Statistics and loss); ten times past that is blowing up. Another pair's loss
    need not bound s (erf saturates): only the state's size is checked (``blowup``)."""
    if not problem.link.is_square:
        return float("inf")
    s_star = problem.s_star
    initial = statistics(problem)
    s0, u0 = initial["s"], initial["u"]
    loss0 = 3 * s0 ** 2 + 3 * s_star ** 2 - 4 * u0 ** 2 - 2 * s_star * s0
    return float(10.0 * (s_star + np.sqrt(max(loss0, 0.0) / 3.0) + abs(s0)))


def _run(problem: Problem, order: int, times: np.ndarray, closure: str, rtol: float,
         atol: Optional[float], max_steps: int) -> Hierarchy:
    from .._kernels import hierarchy as kern
    start = time.perf_counter()
    kind = CLOSURES[closure]
    lam_max, x, sums = _scaled_spectrum(problem)
    s_star = problem.s_star
    # λ_i w_i² / λ_i = w_i²: the scaled moments are Σ x_i^k w_i² (x = λ/λ_max)
    star_scaled = kern.scaled_power_sums(x, sums[:, 4] / (x * lam_max), order + 1)
    meta: Dict[str, Any] = {"method": "hierarchy", "closure": closure, "order": order,
                            "d": problem.d, "n_coords": problem.n_coords, "s_star": s_star,
                            "link": problem.link.identity,
                            "problem": dict(problem.info), "problem_id": problem.identity(),
                            "rtol": rtol}
    if kind == kern.ZERO:
        y0 = np.concatenate([kern.scaled_power_sums(x, sums[:, 1] / (x * lam_max), order),
                             kern.scaled_power_sums(x, sums[:, 2] / (x * lam_max), order)])
        nodes = np.zeros(0)
        source = star_scaled
        n_nodes = 0
    else:
        nodes, masses, n_nodes = _quadrature(x, sums, order)
        y0 = np.concatenate([masses[:, 0], masses[:, 1]])
        source = np.ascontiguousarray(masses[:, 2])
        meta.update(n_nodes=n_nodes, nodes=nodes * lam_max,
                    negative_node_masses=int(np.sum(masses[:, 0] < 0)),
                    exact_quadrature=n_nodes == x.size)
    scale = float(np.max(np.abs(y0))) if y0.size else 1.0
    atol_used = rtol * 1e-3 * max(scale, 1e-300) if atol is None else float(atol)
    blowup = 1e8 * (1.0 + scale + float(np.max(np.abs(source))))
    records, written, steps, rejected, evals, status, t_reached = kern.integrate(
        kind, y0, nodes, source, lam_max, s_star, problem.link.params, problem.link.is_square,
        times, rtol, atol_used, max_steps, blowup, _s_limit(problem), *_dop853_tableau())
    s_sc, u_sc = kern.monomial_moments(kind, records, written, nodes, lam_max, order)
    powers = lam_max ** np.arange(1, order + 1)
    status_name = _STATUS[int(status)]
    if status_name == "step_limit":
        warnings.warn(f"hierarchy stopped at t = {t_reached:.6g}: max_steps exhausted; later "
                      f"rows are NaN", RuntimeWarning, stacklevel=3)
    diverged = status_name == "diverged"
    ok = realizable_rows(s_sc, u_sc, star_scaled[:order])
    ok[written:] = False
    realizable_until = _last_good_time(times, ok)
    meta.update(steps=int(steps), rejected=int(rejected), rhs_evals=int(evals),
                status=status_name, t_reached=float(t_reached), atol=atol_used,
                lam_scale=lam_max, s_star_scaled=star_scaled,
                wall_time=time.perf_counter() - start)
    return Hierarchy(t=times, s=s_sc * powers, u=u_sc * powers, s_scaled=s_sc, u_scaled=u_sc,
                     order=order, closure=closure, lam_scale=lam_max, steps=int(steps),
                     status=status_name, diverged=diverged,
                     t_diverged=float(t_reached) if diverged else None,
                     realizable_until=realizable_until, valid_until=None, meta=meta)


def _leading_realizable(result: Hierarchy) -> np.ndarray:
    low = min(3, result.order)
    star = result.meta["s_star_scaled"][:low]
    return realizable_rows(result.s_scaled[:, :low], result.u_scaled[:, :low], star)


def _last_good_time(times: np.ndarray, good: np.ndarray) -> Optional[float]:
    """Last record time t_r such that every record up to r is good (None if the first is bad)."""
    bad = np.flatnonzero(~good)
    if bad.size == 0:
        return float(times[-1])
    if bad[0] == 0:
        return None
    return float(times[bad[0] - 1])


def realizable_rows(s_scaled: np.ndarray, u_scaled: np.ndarray, star_scaled: np.ndarray,
                    rel: float = 1e-8) -> np.ndarray:
    """Per record: do the scaled moments m_k = s^(k)/λ_max^k, n_k = u^(k)/λ_max^k pass the
    necessary conditions for moments of w w^T on a spectrum in (0, λ_max] (model page: Data model)?

    m_k >= 0;  m_{k+1} <= m_k (support below λ_max);  m_k² <= m_{k-1} m_{k+1} (Cauchy–Schwarz /
    log-convexity);  n_k² <= m_k m*_k (Cauchy–Schwarz against w*). Violations below
    ``rel`` × max(m_1, max m*) are rounding and ignored; NaN rows fail.
    """
    m = np.asarray(s_scaled)
    n = np.asarray(u_scaled)
    ms = np.asarray(star_scaled)[None, :m.shape[1]]
    with np.errstate(invalid="ignore"):
        floor = rel * np.maximum(np.abs(m[:, :1]), np.max(ms))
        ok = np.all(np.isfinite(m), axis=1) & np.all(np.isfinite(n), axis=1)
        ok &= np.all(m >= -floor, axis=1)
        if m.shape[1] > 1:
            ok &= np.all(m[:, 1:] <= m[:, :-1] + floor, axis=1)
        if m.shape[1] > 2:
            ok &= np.all(m[:, 1:-1] ** 2 <= m[:, :-2] * m[:, 2:] + floor ** 2
                         + rel * np.abs(m[:, 1:-1]) ** 2, axis=1)
        ok &= np.all(n ** 2 <= m * ms + floor * (np.abs(m) + ms) + floor ** 2, axis=1)
    return ok


# --------------------------------------------------------------------------- study
def exact_moments(problem: Problem, t, orders: int = 3, rtol: float = 1e-12):
    """s^(k)(t), u^(k)(t), k = 1..orders, of the exact population flow (model page: Gradient flow),
    from its state at each record time (the flow engine, resumed from one record to the next).

    Returns (s, u, trajectory): arrays of shape (len(t), orders) and the flow's
    :class:`~pyscale.Trajectory` at the same times (for ``phases()``).
    """
    from ..results.trajectory import Trajectory
    times = _check_times(t)
    orders = _check_order(orders)
    lam, ws = problem.eigenvalues, problem.w_star
    s = np.empty((times.size, orders))
    u = np.empty((times.size, orders))
    traj: Optional[Trajectory] = None
    for r, ti in enumerate(times):
        if ti == 0.0:
            w = problem.w0
            if traj is None:
                traj = simulate(problem, "flow", t=[0.0], rtol=rtol)
        else:
            traj = simulate(problem, "flow", t=[ti], rtol=rtol, resume=traj)
            assert traj.w is not None  # the flow always hands back its final state
            w = traj.w
        weighted = w.copy()
        for k in range(orders):
            weighted *= lam
            s[r, k] = float(np.dot(weighted, w))
            u[r, k] = float(np.dot(weighted, ws))
    return s, u, traj


@dataclass
class ConvergenceStudy:
    """Errors of the closed hierarchy against the exact flow (model page: Moment hierarchy) and
    validity horizons.

    ``errors[(closure, K)]``: per record, max over orders 1..``check_orders`` of
    |s^(k) − s^(k)_exact| and |u^(k) − u^(k)_exact| (NaN after a blow-up).
    ``horizon[(closure, K, tol)]``: last record time up to which that error stays <= tol
    (None if already above at the first record). ``phases``: T1, T1', T2 of the exact flow
    (model page: Phases) at the study's record resolution.
    """
    t: np.ndarray
    errors: Dict[tuple, np.ndarray]
    horizon: Dict[tuple, Optional[float]]
    runs: Dict[tuple, Hierarchy]
    phases: Any
    tols: tuple
    check_orders: int
    problem_info: dict

    def table(self) -> str:
        """Markdown table: validity horizon per closure, K and tolerance, phases alongside."""
        ph = self.phases
        head = "| closure | K | " + " | ".join(f"horizon (err ≤ {tol:g})" for tol in self.tols)
        head += " | blow-up t |\n|---|---|" + "---|" * len(self.tols) + "---|\n"
        rows = []
        for (closure, order) in sorted(self.errors, key=lambda k: (k[0], k[1])):
            run = self.runs[(closure, order)]
            cells = [_fmt(self.horizon[(closure, order, tol)], self.t[-1]) for tol in self.tols]
            blow = f"{run.t_diverged:.3g}" if run.diverged else "—"
            rows.append(f"| {closure} | {order} | " + " | ".join(cells) + f" | {blow} |")
        foot = (f"\n\nPhases of the exact flow (model page: Phases; δ = ε = {ph.delta:g}): "
                f"T1 = {_fmt(ph.T1)}, T1' = {_fmt(ph.T1_prime)}, T2 = {_fmt(ph.T2)}.")
        return head + "\n".join(rows) + foot


def _fmt(value, end=None) -> str:
    if value is None:
        return "—"
    if end is not None and value >= end:
        return f"≥ {end:.3g}"
    return f"{value:.3g}"


def convergence_study(problem: Problem, orders: Sequence[int] = (16, 32, 64), t=None,
                      closures: Sequence[str] = ("gauss", "zero"),
                      tols: Sequence[float] = (1e-9, 1e-6, 1e-3), check_orders: int = 3,
                      rtol: float = 1e-12, reference_rtol: float = 1e-12,
                      delta: float = DEFAULTS.delta,
                      eps: float = DEFAULTS.eps) -> ConvergenceStudy:
    """Error vs K and vs t of each closure against the exact flow, and the validity horizon
    (how far in t each K stays within each tolerance), with the phases T1, T1', T2 (model page:
    Phases).

    ``t`` defaults to 0 + 200 log-spaced times up to 1e5 (past T2 for the paper's a = 2,
    d = 1000). The reference is :func:`exact_moments` (flow engine at ``reference_rtol``).
    """
    times = _check_times(1e5 if t is None else t)
    check_orders = _check_order(check_orders)
    orders = [_check_order(k) for k in orders]
    tols = tuple(float(x) for x in tols)
    ex_s, ex_u, traj = exact_moments(problem, times, check_orders, rtol=reference_rtol)
    errors, horizon, runs = {}, {}, {}
    for closure in closures:
        for order in orders:
            low = min(order, check_orders)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                run = hierarchy(problem, order, times, closure=closure, rtol=rtol,
                                error_estimate=False, on_divergence="ignore")
            err = np.maximum(np.abs(run.s[:, :low] - ex_s[:, :low]).max(axis=1),
                             np.abs(run.u[:, :low] - ex_u[:, :low]).max(axis=1))
            errors[(closure, order)] = err
            runs[(closure, order)] = run
            for tol in tols:
                with np.errstate(invalid="ignore"):
                    horizon[(closure, order, tol)] = _last_good_time(times, err <= tol)
    return ConvergenceStudy(t=times, errors=errors, horizon=horizon, runs=runs,
                            phases=traj.phases(delta=delta, eps=eps), tols=tols,
                            check_orders=check_orders, problem_info=dict(problem.info))
