"""Figures at any dimension (``pyscale figure 1 --d 1e9``, ``make_figure(1, out, d=...)``):
the problems of a figure are built here (model page: Compression; docs/chain.md).

Up to ``COMPRESS_ABOVE`` = 10⁴ the problem is explicit and online SGD runs on the full
engine, exact (B·d Gaussians per step). Above, it is spectrally compressed with
δ = ``COMPRESS`` = 10⁻², its modes sized for the figure's last time (model page:
Compression, Horizon-aware grouping), and SGD runs on the mode chain, exact in law up to the
grouping's O(δ), at a cost per step that grows with the number of modes, not with d.
Figure 1's problems at a = 2 (t ≤ 10⁴) have 411 modes at d = 10⁵ and 413 at d = 10⁹
(``Problem.n_modes``; stored in 622 and 626 coordinates, ``Problem.n_coords``), where the
uniform grouping needs 1,363 and 3,215. Measured per SGD step with the uniform grouping
(a = 2, one thread, shared machine): full engine 31 µs at d = 10⁴ and 290 µs at d = 10⁵,
the chain 19 µs and 30 µs: the chain is only 1.6× faster at 10⁴, 10× at 10⁵, so 10⁴ is the
last d run exactly. The flow reference of a figure runs on the same problem. The
grouping's error on what the figures show, measured against the full problem at d = 10⁶
(the flow of Figure 7's a = 1.5 and 2 to t = 2·10⁴ and 5·10³, 684 and 352 modes): |Δu| and
|Δs| at most 1.6·10⁻⁶, the learned part MSE(0) − MSE(t) within 1.3·10⁻⁵ relative — well
inside the O(δ). Online SGD's coefficients |c0| + |c1| may leave the flow's bound K that the
modes are sized with (its loss can rise: an escape overshoot); a figure reruns such an
ensemble on modes sized for more (:func:`sgd_within_bound`). d ranges over
[2, 10¹²] (:data:`pyscale.app.config.MAX_FIGURE_D`): the chain's χ² draws are validated up to
10¹² degrees of freedom, and an isotropic problem is one mode of d coordinates; at d = 1,
w(0) = ±w*.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Optional

import numpy as np

import pyscale._validate as check

from ...model.compression import rate_of
from ...model.problem import Problem
from ..config import MAX_FIGURE_D, MIN_FIGURE_D

__all__ = ["COMPRESS_ABOVE", "COMPRESS", "ROUNDING", "check_dimension", "figure_params",
           "is_compressed",
           "build_problem", "BOUND_MARGIN", "BOUND_ROUNDS", "rate_seen", "bound_to_resize",
           "sgd_within_bound", "power_of_ten", "describe"]

#: d above which a figure's problems are compressed and SGD runs on the mode chain.
COMPRESS_ABOVE = 10 ** 4
#: δ of the compression above COMPRESS_ABOVE (eigenvalues within a factor 1 + δ share a mode).
COMPRESS = 1e-2
#: At large d the MSE stays on its plateau and the figures also show the learned part
#: MSE(0) − MSE(t), from ROUNDING · MSE(0) up: below, it is the float64 rounding of the MSE
#: (~10⁻¹⁵ relative per term of its sum over modes).
ROUNDING = 1e-12
#: An SGD ensemble whose records reach |c0| + |c1| above the K its modes were sized with is
#: rerun on modes sized for BOUND_MARGIN × the largest value seen (:func:`sgd_within_bound`),
#: at most BOUND_ROUNDS times: the margin absorbs the next realisation's excursions
#: (another grouping gives another path of the same law).
BOUND_MARGIN = 1.25
BOUND_ROUNDS = 2


def check_dimension(d) -> int:
    """``d`` as an int in [2, 10¹²] (integral floats such as 1e9 accepted), else a one-line
    ValueError / TypeError naming ``d`` (d = 1 is refused: w(0) = ±w* there)."""
    return check.integer("d", d, MIN_FIGURE_D, MAX_FIGURE_D)


def figure_params(params: dict, quick: bool, d) -> dict:
    """A copy of a figure's PARAMS["quick" or "full"], with its "d" replaced by the checked
    ``d`` where one is given."""
    p = dict(params["quick" if quick else "full"])
    if d is not None:
        p["d"] = check_dimension(d)
    return p


def is_compressed(d: int) -> bool:
    """Whether a figure at dimension d runs on a compressed problem (the mode chain)."""
    return d > COMPRESS_ABOVE


def build_problem(d: int, a: float, horizon: float, bound: Optional[float] = None,
                  **options) -> Problem:
    """``Problem.power_law(d, a, **options)``, compressed with δ = COMPRESS above
    COMPRESS_ABOVE, its modes sized by what runs up to t = ``horizon`` resolve (model page:
    Compression, Horizon-aware grouping): the figure's runs end there. ``bound``: size them
    for coefficients |c0| + |c1| up to it (``Problem.power_law(bound=)``); an explicit
    problem is exact at any coefficients and ignores it."""
    if not is_compressed(d):
        return Problem.power_law(d, a, **options)
    return Problem.power_law(d, a, compress=COMPRESS, horizon=horizon, bound=bound, **options)


def rate_seen(problem: Problem, ens) -> float:
    """The largest |c0| + |c1| over the finite records (s, u) of the ensemble ``ens`` of
    ``problem`` (0 for None)."""
    if ens is None:
        return 0.0
    s, u = np.ravel(ens.s), np.ravel(ens.u)
    ok = np.isfinite(s) & np.isfinite(u)
    return rate_of(problem.s_star, s[ok], u[ok], problem.link)


def bound_to_resize(problem: Problem, ens) -> Optional[float]:
    """None when ``problem`` has no horizon-aware compression or the records of ``ens``
    stay within the K its modes were sized with (``info["compressed"]["rate"]``); else the
    bound to rebuild it with, BOUND_MARGIN × the largest |c0| + |c1| they reach."""
    rate = (problem.info.get("compressed") or {}).get("rate")
    seen = rate_seen(problem, ens)
    if rate is None or seen <= rate:
        return None
    return BOUND_MARGIN * seen


def sgd_within_bound(build: Callable[[Optional[float]], Problem],
                     run: Callable[[Problem], object]) -> tuple:
    """(problem, members, rounds): ``run(build(None))`` — an SGD ensemble's completed
    members (``.ensemble``) — and, while their records leave the K the problem's modes were
    sized with, the same run on ``build(bound_to_resize(...))``, at most BOUND_ROUNDS more
    times. Only the last run may warn that its records left K (the ones redone would
    only report what the rerun fixes); ``rounds`` is the number of reruns."""
    bound: Optional[float] = None
    for rounds in range(BOUND_ROUNDS + 1):
        problem = build(bound)
        with warnings.catch_warnings():
            if rounds < BOUND_ROUNDS:
                warnings.filterwarnings("ignore", message=".*horizon-aware compression",
                                        category=RuntimeWarning)
            members = run(problem)
        bound = bound_to_resize(problem, getattr(members, "ensemble", None))
        if bound is None:
            break
    return problem, members, rounds


def power_of_ten(x: float) -> str:
    """10^9 for 1e9, 10^-2 for 0.01, 3·10^8 for 3e8; other integers in full, other reals
    as ``{x:g}``."""
    if x > 0:
        k = math.floor(math.log10(x) + 1e-12)
        mantissa = x / 10.0 ** k
        if k != 0 and abs(mantissa - round(mantissa)) < 1e-9 * mantissa:
            m = int(round(mantissa))
            return f"10^{k}" if m == 1 else f"{m}·10^{k}"
    return str(x) if isinstance(x, int) else f"{x:g}"


def describe(d: int) -> str:
    """The dimension as a title says it: ``d = 1000``, or above COMPRESS_ABOVE
    ``d = 10^9 (mode chain, δ = 10^-2)``."""
    if not is_compressed(d):
        return f"d = {d}"
    return f"d = {power_of_ten(d)} (mode chain, δ = {power_of_ten(COMPRESS)})"
