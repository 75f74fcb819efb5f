"""Tidy exports: trajectories, ensembles and comparisons as pandas / xarray tables.

One function per export; the classes attach them as thin methods
(``Trajectory.to_pandas``, ``Ensemble.to_pandas`` / ``to_xarray``, ``Comparison.to_pandas``).
pandas is a core dependency; xarray is the optional extra ``pyscale[xarray]`` and is imported
only when :func:`ensemble_to_xarray` is called.

Columns are the recorded statistics of the model page (model page: Statistics and loss):
``t`` (time, t = step · lr for the step engines), ``s = wᵀQw``, ``u = wᵀQw*``, ``s2``, ``u2``,
``loss`` (population loss) and ``mse = ||w − w*||² / d``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core

__all__ = ["trajectory_to_pandas", "ensemble_to_pandas", "ensemble_to_xarray",
           "comparison_to_pandas"]

#: Per-seed arrays of an ensemble beyond the recorded fields: the per-record loss.
ENSEMBLE_EXTRA = ("train_loss",)
#: Per-member lists in an ensemble's meta, exported along the ``seed`` dimension.
MEMBER_META = ("member_status", "last_step", "diverged_at_step")


def _fields():
    """The recorded columns (t, s, u, s2, u2, loss, mse), in the core's record order (the
    Trajectory's FIELDS; read from the core because that module attaches this one's
    functions as methods)."""
    return tuple(_core.model.RECORD_FIELDS)


def _ensemble_fields():
    return _fields()[1:] + ENSEMBLE_EXTRA


def _per_record_extras(traj) -> dict[str, np.ndarray]:
    """Meta entries holding one value per record (``online_loss`` for SGD,
    ``train_loss`` for ERM, ...): 1-D arrays of the trajectory's length."""
    n = len(traj)
    return {key: np.asarray(value) for key, value in traj.meta.items()
            if isinstance(value, np.ndarray) and value.ndim == 1 and value.size == n}


def trajectory_to_pandas(traj):
    """The trajectory as a pandas DataFrame, one row per record.

    Returns
    -------
    pandas.DataFrame
        Columns ``t, s, u, s2, u2, loss, mse`` and every per-record extra of ``meta``
        (``online_loss`` for SGD, ``train_loss`` for ERM); ``df.attrs`` holds the rest of
        ``meta`` (method, status, lr, seed, problem provenance, ...).
    """
    import pandas as pd
    extras = _per_record_extras(traj)
    columns = {name: np.asarray(getattr(traj, name), dtype=np.float64) for name in _fields()}
    columns.update(extras)
    df = pd.DataFrame(columns)
    df.attrs = {k: v for k, v in traj.meta.items() if k not in extras}
    return df


def _ensemble_meta(ens) -> dict[str, Any]:
    """An ensemble's meta without the per-member lists (those become seed-indexed data)."""
    return {k: v for k, v in ens.meta.items() if k not in MEMBER_META}


def _diverged_steps(ens) -> np.ndarray:
    """diverged_at_step per member as float, NaN for members that did not diverge
    (the engines mark those with −1)."""
    raw = ens.meta.get("diverged_at_step")
    steps = np.full(len(ens), np.nan)
    if isinstance(raw, (list, tuple, np.ndarray)) and len(raw) == len(ens):
        vals = np.asarray(raw, dtype=np.float64)
        steps = np.where(vals >= 0, vals, np.nan)
    return steps


def ensemble_to_pandas(ens, dropna: bool = False):
    """The ensemble in long format: one row per (seed, record).

    Parameters
    ----------
    dropna : bool
        Drop the rows after a member stopped (all fields NaN there). Default: keep every
        (seed, t) pair, so ``len(df) == R · len(t)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``seed, t, s, u, s2, u2, loss, mse, train_loss`` (``train_loss``: the
        online loss for SGD, the training loss for ERM), seeds in the ensemble's order
        and t increasing within each seed; NaN where a member had stopped.
        ``df.attrs`` holds the meta (with the per-member lists).
    """
    import pandas as pd
    n_seeds, n_t = len(ens), int(np.asarray(ens.t).size)
    columns = {"seed": np.repeat(np.asarray(ens.seeds, dtype=np.uint64), n_t),
               "t": np.tile(np.asarray(ens.t, dtype=np.float64), n_seeds)}
    fields = _ensemble_fields()
    for name in fields:
        columns[name] = np.asarray(getattr(ens, name), dtype=np.float64).reshape(-1)
    df = pd.DataFrame(columns)
    if dropna:
        df = df[~df[list(fields[:-1])].isna().all(axis=1)].reset_index(drop=True)
    df.attrs = dict(ens.meta)
    return df


def _import_xarray():
    try:
        import xarray
    except ImportError:
        raise ImportError('Ensemble.to_xarray needs xarray: pip install "pyscale[xarray]"') \
            from None
    return xarray


def ensemble_to_xarray(ens):
    """The ensemble as an :class:`xarray.Dataset` with dimensions (seed, t).

    Returns
    -------
    xarray.Dataset
        Data variables ``s, u, s2, u2, loss, mse, train_loss`` (seed, t), NaN where a member
        had stopped; ``abs_u_band`` and ``mse_band`` (quantile, t): the ensemble's quantiles
        over seeds (``Ensemble.band``; coordinate ``quantile`` = ``ens.quantiles``);
        ``w_final`` (seed, coord) when the final states were kept; per member
        ``status``, ``last_step`` (SGD: the last step run) and ``diverged_at_step`` (NaN
        when the member did not diverge).
        ``attrs``: the rest of ``meta``.

    Raises
    ------
    ImportError
        Without xarray, naming ``pip install "pyscale[xarray]"``.
    """
    xr = _import_xarray()
    data = {name: (("seed", "t"), np.asarray(getattr(ens, name), dtype=np.float64))
            for name in _ensemble_fields()}
    for name in ("abs_u", "mse"):
        data[f"{name}_band"] = (("quantile", "t"), ens.band(name))
    if ens.w is not None:
        data["w_final"] = (("seed", "coord"), np.asarray(ens.w, dtype=np.float64))
    status = ens.meta.get("member_status")
    if isinstance(status, (list, tuple)) and len(status) == len(ens):
        data["status"] = (("seed",), np.asarray(status, dtype=str))
    last = ens.meta.get("last_step")
    if isinstance(last, (list, tuple, np.ndarray)) and len(last) == len(ens):
        data["last_step"] = (("seed",), np.asarray(last, dtype=np.int64))
    data["diverged_at_step"] = (("seed",), _diverged_steps(ens))
    coords = {"seed": np.asarray(ens.seeds, dtype=np.uint64),
              "t": np.asarray(ens.t, dtype=np.float64),
              "quantile": np.asarray(ens.quantiles, dtype=np.float64)}
    return xr.Dataset(data, coords=coords, attrs=_ensemble_meta(ens))


def _window(item: dict, end: int) -> float:
    window = item.get("window")
    if isinstance(window, (tuple, list)) and len(window) == 2 and window[end] is not None:
        return float(window[end])
    return float("nan")


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def comparison_to_pandas(comparison):
    """A :class:`~pyscale.analysis.compare.Comparison` as a tidy table, one row per quantity.

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity`` (the key: T1, escape_rate, T2, plateau, phase3, ...),
        ``description``, ``measured``, ``predicted``, ``ratio`` (predicted / measured),
        ``window_lo``, ``window_hi`` (the fit or comparison window; NaN where none);
        NaN where a value is not available. ``df.attrs``: d, a, method, s_star, delta, eps,
        s0, sigma_star2 and the measured stopping times (``times``).
    """
    import pandas as pd
    rows = []
    for key, label in comparison.ROWS:
        item = comparison.get(key)
        if not item:
            continue
        measured, predicted = _number(item.get("measured")), _number(item.get("predicted"))
        ratio = predicted / measured if measured != 0 else float("nan")
        rows.append({"quantity": key, "description": label, "measured": measured,
                     "predicted": predicted, "ratio": ratio,
                     "window_lo": _window(item, 0), "window_hi": _window(item, 1)})
    df = pd.DataFrame(rows, columns=["quantity", "description", "measured", "predicted",
                                     "ratio", "window_lo", "window_hi"])
    df.attrs = {k: comparison.get(k) for k in ("d", "a", "method", "s_star", "delta", "eps",
                                                "s0", "sigma_star2", "times")}
    return df
