"""How large is the grouping error of a compressed run? (model page: Compression.)

Compression replaces the eigenvalues of a mode by one representative, an O(δ) error that
no a-priori bound states sharply. :func:`compression_error` measures it a posteriori: the
same realisation grouped at δ and at δ/2, both run by the same engine, compared record by
record (analysis: it runs engines, so it lives above them, not in the model's
:mod:`pyscale.model.compression`).
"""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

import pyscale._validate as check

from ..engines import simulate
from ..model.problem import Problem

__all__ = ["compression_error"]


def compression_error(problem_or_params: Union[Problem, dict], method: str = "flow",
                      rtol: float = 1e-3, *, solver_rtol: Optional[float] = None,
                      representative: Optional[str] = None, **options: Any) -> dict:
    """A posteriori estimate of the grouping error at δ = ``rtol`` (model page: Compression): the
    same realisation compressed at δ and at δ/2, both run with ``simulate(method, **options)``
    and compared on the common record times. ``rtol`` is the grouping tolerance δ; the
    flow's own error tolerance is ``solver_rtol`` (default: the engine's).

    ``problem_or_params``: an explicit (uncompressed) Problem — both are
    ``problem.compress(δ)`` and ``problem.compress(δ/2)`` — or a dict of
    power-law arguments (d, a, seed, target, noise, link) of ``Problem.power_law`` — then the fine
    problem is drawn at δ/2 and the coarse one is its regrouping ``fine.compress(δ)``, so
    both hold exactly the same sums (a coarse mode's Gram is the sum of its fine modes').
    ``representative`` (see :func:`pyscale.model.compression.group`) defaults to "target" for an
    explicit problem and to "count" for parameters — what a compressed power law itself uses.

    Returns a dict: ``u``, ``s`` (max absolute differences over the records), ``mse``
    (max relative difference; absent for a link pair without a recovery metric), ``loss``
    (max absolute), ``n_modes`` (coarse, fine), and ``trajectories`` (coarse, fine). The
    error is first order in δ, so the coarse run's error is about twice the difference and
    the fine run's about equal to it.
    """
    rtol = check.grouping_tolerance(rtol)
    if method not in ("flow", "gd"):
        raise ValueError(f"compression_error supports method='flow' or 'gd' (the engines "
                         f"that run on modes), got {method!r}")
    if isinstance(problem_or_params, Problem):
        if problem_or_params.is_compressed:
            raise ValueError(
                "compression_error needs the explicit problem (or power-law parameters): a "
                "compressed problem cannot be refined to δ/2")
        rep = "target" if representative is None else representative
        fine = problem_or_params.compress(rtol / 2, representative=rep)
        coarse = problem_or_params.compress(rtol, representative=rep)
    elif isinstance(problem_or_params, dict):
        params = dict(problem_or_params)
        allowed = {"d", "a", "seed", "target", "noise", "link"}
        unknown = set(params) - allowed
        if unknown or not {"d", "a"} <= set(params):
            raise ValueError(f"power-law parameters must include d and a and may include "
                             f"{sorted(allowed - {'d', 'a'})}; got {sorted(params)}")
        fine = Problem.power_law(compress=rtol / 2, **params)
        coarse = fine.compress(rtol, representative=representative or "count")
    else:
        raise TypeError("problem_or_params must be a Problem or a dict of power-law "
                        f"parameters, got {type(problem_or_params).__name__}")
    if solver_rtol is not None:
        if method != "flow":
            raise ValueError("solver_rtol applies to method='flow' only")
        options["rtol"] = solver_rtol
    traj_fine = simulate(fine, method=method, **options)
    traj_coarse = simulate(coarse, method=method, **options)
    n = min(len(traj_fine), len(traj_coarse))
    if n == 0 or not np.array_equal(traj_fine.t[:n], traj_coarse.t[:n]):
        raise RuntimeError("the two runs recorded different times; pass explicit record "
                           "times / steps")
    out = {
        "rtol": rtol,
        "u": float(np.max(np.abs(traj_fine.u[:n] - traj_coarse.u[:n]))),
        "s": float(np.max(np.abs(traj_fine.s[:n] - traj_coarse.s[:n]))),
        "loss": float(np.max(np.abs(traj_fine.loss[:n] - traj_coarse.loss[:n]))),
        "n_modes": (coarse.n_modes, fine.n_modes),
        "trajectories": (traj_coarse, traj_fine),
    }
    if "mse" in traj_fine.columns:  # a link pair without a recovery metric has none
        mse_f, mse_c = traj_fine.mse[:n], traj_coarse.mse[:n]
        out["mse"] = float(np.max(np.abs(mse_f - mse_c) / np.abs(mse_f)))
    return out
