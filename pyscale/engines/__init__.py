"""The engines: :func:`simulate` (one run → :class:`~pyscale.Trajectory`) and
:func:`simulate_many` (runs over seeds → :class:`~pyscale.Ensemble`).

One module per engine (``flow``, ``gd``, ``sgd``, ``erm``), each a ``run(problem,
**options)`` with its ``OPTIONS``; ``_run`` holds what they share (start, finish, the one
divergence and interrupt path). Adding an engine means adding a module and a line in
:data:`ENGINES`.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Dict

import pyscale._validate as check

from ..model.problem import Problem
from ..results.trajectory import Trajectory
from . import erm, flow, gd, network_erm, network_flow, network_gd, network_sgd, one_unit, sgd
from .ensemble import simulate_many
from .progress import run_with_progress

__all__ = ["simulate", "simulate_many", "ENGINES", "NETWORK_ENGINES"]

#: method name -> engine module (``run(problem, **options)``, ``OPTIONS``)
ENGINES: Dict[str, ModuleType] = {"flow": flow, "gd": gd, "sgd": sgd, "erm": erm}
#: the same methods for a two-layer network (``problem.is_network``; networks page)
NETWORK_ENGINES: Dict[str, ModuleType] = {"flow": network_flow, "gd": network_gd,
                                          "sgd": network_sgd, "erm": network_erm}


def simulate(problem: Problem, method: str = "flow", **options: Any) -> Trajectory:
    """Run one engine on ``problem`` and return its :class:`~pyscale.Trajectory`.

    Common options: ``threads`` (results do not depend on it), ``progress`` (True: a tqdm
    bar; or a callable ``(t, steps) -> bool | None``, returning False stops the run),
    ``resume`` (a trajectory
    returned by an interrupted or shorter run; continues it exactly).

    ``method="flow"``: ``t`` (increasing record times, or a horizon → 200 log-spaced
    times), ``rtol`` (default 1e-9), ``atol``, ``h0``, ``hmax``, ``max_steps``,
    ``scheme`` (``"auto"``, the default: ``"exponential"`` for a last record time ≥ 10^6 at
    rtol ≤ 1e-8, ``"rodas4"`` otherwise; or ``"rodas4"``, ``"ros4"``, ``"exponential"``;
    ``meta["scheme"]`` names the one used), ``record_mode``
    (``"interpolate"``, the default: records read off the dense output; ``"step"``: a step
    lands on each record), ``events`` (:mod:`pyscale.engines.flow_events`).
    ``method="gd"``: ``lr``, ``steps``, ``record`` (step indices, or a count).
    ``method="sgd"``: online SGD on fresh samples — ``lr``, ``steps``, ``record``, ``batch``
    (default 1), ``noise`` (label-noise variance; None → ``problem.noise``), ``seed``,
    ``samples``, ``simd``.
    ``method="erm"``: full-batch GD on ``n_samples`` fixed samples — ``n_samples``, ``lr``,
    ``steps``, ``record``, ``noise``, ``seed``, ``max_memory``; needs 8·n_samples·d bytes.

    A two-layer network (``problem.is_network``; networks page) runs the same four methods
    with the same options and returns a :class:`~pyscale.results.network.NetworkTrajectory`
    (records S, U, the loss); on a compressed network ``sgd`` runs the exact mode chain
    and the flow and GD run unchanged on the modes' Gram rows. One unit on each side with
    unit readouts runs on the single-index engine, bit for bit (networks page: What is
    exact).

    Unknown options are refused, naming the nearest valid one. Raises
    :class:`~pyscale.DivergenceError` (with the whole partial trajectory) when a step
    engine diverges and :class:`~pyscale.Interrupted` on Ctrl-C or when ``progress``
    returns False.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    engines = NETWORK_ENGINES if problem.is_network else ENGINES
    engine = engines[check.choice("method", method, engines)]
    check.keywords(f"simulate(method={method!r})", options, engine.OPTIONS)
    run = engine.run
    if one_unit.applies(problem, method):  # p = k = 1, unit readouts: the single-index run
        run = one_unit.runner(ENGINES[method].run, method)
    result: Trajectory = run_with_progress(run, problem, method, options)
    return result
