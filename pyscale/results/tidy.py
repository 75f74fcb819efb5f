"""Tidy exports: trajectories, ensembles and comparisons as pandas / xarray tables.

One function per export; the classes attach them as thin methods
(``Trajectory.to_pandas``, ``Ensemble.to_pandas`` / ``to_xarray``, ``Comparison.to_pandas``,
and ``to_pandas`` / ``to_xarray`` of the two-layer networks' ``NetworkTrajectory`` and
``NetworkEnsemble``, with ``unit`` / ``teacher_unit`` dimensions).
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
           "comparison_to_pandas", "network_trajectory_to_pandas", "network_ensemble_to_pandas",
           "network_to_xarray"]

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


# ---------------------------------------------------------------------------- networks

def _network_attrs(meta: dict) -> dict[str, Any]:
    """A network result's meta for ``attrs``: everything but arrays (S*, the readouts and
    per-record arrays become data or columns)."""
    return {k: v for k, v in meta.items() if not isinstance(v, np.ndarray)
            and k not in ("S_star", "readout", "teacher_readout")}


def _network_long(res, lead: tuple) -> dict[str, np.ndarray]:
    """Long-format columns over (lead..., t, unit, teacher_unit) of a network result
    (``lead``: ("seed",) for an ensemble; its column holds member indices)."""
    shape = res.U.shape  # lead + (T, p, k)
    idx = np.indices(shape).reshape(len(shape), -1)
    cols = {name: idx[i] for i, name in enumerate(lead)}
    cols["t"] = np.asarray(res.t, dtype=np.float64)[idx[len(lead)]]
    cols["unit"], cols["teacher_unit"] = idx[-2], idx[-1]
    cols["U"] = np.asarray(res.U).reshape(-1)
    cols["cos"] = np.asarray(res.cos).reshape(-1)
    sjj = np.diagonal(res.S, axis1=-2, axis2=-1)
    cols["S_unit"] = np.broadcast_to(sjj[..., :, None], shape).reshape(-1)
    for name in ("loss", "excess_risk"):
        value = np.asarray(getattr(res, name))[..., None, None]
        cols[name] = np.broadcast_to(value, shape).reshape(-1)
    return cols


def network_trajectory_to_pandas(traj):
    """A network trajectory in long format: one row per (t, unit, teacher_unit).

    Returns
    -------
    pandas.DataFrame
        Columns ``t, unit, teacher_unit, U`` (U_jl), ``cos`` (U_jl / √(S_jj S*_ll)),
        ``S_unit`` (S_jj), ``loss`` and ``excess_risk`` (repeated over the units);
        ``df.attrs`` holds the meta (S*, readouts excluded: see ``traj.meta``).
    """
    import pandas as pd
    df = pd.DataFrame(_network_long(traj, ()))
    df.attrs = _network_attrs(traj.meta)
    return df


def network_ensemble_to_pandas(ens):
    """A network ensemble in long format: one row per (seed, t, unit, teacher_unit), the
    columns of :func:`network_trajectory_to_pandas` after ``seed``; NaN where a member
    had stopped."""
    import pandas as pd
    cols = _network_long(ens, ("seed",))
    cols["seed"] = np.asarray(ens.seeds, dtype=np.uint64)[cols["seed"]]
    df = pd.DataFrame(cols)
    df.attrs = _network_attrs(ens.meta)
    return df


def network_to_xarray(res):
    """A network trajectory or ensemble as an :class:`xarray.Dataset`.

    Dimensions ``t``, ``unit`` and ``unit_b`` (student units), ``teacher_unit`` and
    ``teacher_unit_b``, ``component``, and ``seed`` for an ensemble. Data: ``loss``,
    ``excess_risk`` (t), ``S`` (t, unit, unit_b), ``U`` and ``cos`` (t, unit,
    teacher_unit), ``student_cos`` (t, unit, unit_b), ``components`` (t, component), each
    with a leading ``seed`` for an ensemble (and ``train_loss`` (seed, t)); ``S_star``
    (teacher_unit, teacher_unit_b), ``readout`` (unit), ``teacher_readout``
    (teacher_unit). ``attrs``: the rest of the meta.

    Raises
    ------
    ImportError
        Without xarray, naming ``pip install "pyscale[xarray]"``.
    """
    xr = _import_xarray()
    lead = ("seed",) if hasattr(res, "seeds") else ()
    data = {"loss": (lead + ("t",), res.loss), "excess_risk": (lead + ("t",), res.excess_risk),
            "S": (lead + ("t", "unit", "unit_b"), res.S),
            "U": (lead + ("t", "unit", "teacher_unit"), res.U),
            "cos": (lead + ("t", "unit", "teacher_unit"), res.cos),
            "student_cos": (lead + ("t", "unit", "unit_b"), res.student_cos),
            "components": (lead + ("t", "component"), res.components),
            "S_star": (("teacher_unit", "teacher_unit_b"), res.s_star),
            "readout": (("unit",), np.asarray(res.meta["readout"], dtype=np.float64)),
            "teacher_readout": (("teacher_unit",),
                                np.asarray(res.meta["teacher_readout"], dtype=np.float64))}
    coords = {"t": np.asarray(res.t, dtype=np.float64), "unit": np.arange(res.p),
              "unit_b": np.arange(res.p), "teacher_unit": np.arange(res.k),
              "teacher_unit_b": np.arange(res.k), "component": np.arange(res.p)}
    if lead:
        data["train_loss"] = (("seed", "t"), res.train_loss)
        coords["seed"] = np.asarray(res.seeds, dtype=np.uint64)
    return xr.Dataset(data, coords=coords, attrs=_network_attrs(res.meta))
