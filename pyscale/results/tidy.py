"""Tidy exports: trajectories, ensembles and comparisons as pandas / xarray tables.

One function per export; the classes attach them as thin methods
(``Trajectory.to_pandas``, ``Ensemble.to_pandas`` / ``to_xarray``, ``Comparison.to_pandas``,
and ``to_pandas`` / ``to_xarray`` of the two-layer networks' ``NetworkTrajectory`` and
``NetworkEnsemble``, with ``unit`` / ``teacher_unit`` dimensions).
pandas is a core dependency; xarray is the optional extra ``pyscale[xarray]`` and is imported
only when :func:`ensemble_to_xarray` is called.

Columns are a run's columns (:mod:`pyscale.results.columns`; model page: What a trajectory
records): ``t`` (time, t = step · lr for the step engines), ``s = wᵀQw``, ``u = wᵀQw*``,
``s2``, ``u2``, ``loss`` (population loss), ``mse`` (the link pair's recovery metric; omitted
for a pair that has none), and the derived ``excess_risk = loss − σ²`` and
``cosine = u/√(s s*)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import columns as schema

__all__ = ["trajectory_to_pandas", "trajectory_to_xarray", "ensemble_to_pandas",
           "ensemble_to_xarray", "comparison_to_pandas", "comparison_table", "run_parameters",
           "parameter_frame", "PARAMETER_COLUMNS", "PARAMETER_TYPES", "COMPARISON_COLUMNS",
           "network_trajectory_to_pandas", "network_ensemble_to_pandas", "network_to_xarray"]

#: The run's parameters, as columns of every tidy table (one value per run; None / NA
#: where the method has no such parameter): the problem (method, d, its link pair's
#: identity — ``"square"``, ``"relu"``, ``"square,abs"``, ... —, and for power laws a, seed,
#: target), the label noise the run used, the engine's options (lr, steps —
#: the last step run —, batch, sample_seed, n_samples for the step engines, rtol for the
#: flow) and the identities of the problem and of the run.
PARAMETER_COLUMNS = ("method", "d", "link", "a", "seed", "target", "noise", "lr", "steps",
                     "batch", "sample_seed", "n_samples", "rtol", "problem_id", "run_id")
#: Options per method (those it takes), as (column, meta key).
_OPTIONS = {"flow": (("rtol", "rtol"),),
            "gd": (("lr", "lr"), ("steps", "last_step")),
            "sgd": (("lr", "lr"), ("steps", "last_step"), ("batch", "batch"),
                    ("sample_seed", "seed")),
            "erm": (("lr", "lr"), ("steps", "last_step"), ("sample_seed", "seed"),
                    ("n_samples", "n_samples"))}

#: Per-seed arrays of an ensemble beyond the recorded fields: the per-record loss.
ENSEMBLE_EXTRA = ("train_loss",)
#: Per-member lists in an ensemble's meta, exported along the ``seed`` dimension.
MEMBER_META = ("member_status", "last_step", "diverged_at_step")


def _ensemble_fields(ens):
    """An ensemble's per-seed columns (its columns without t) and its extras."""
    return schema.columns(ens.meta)[1:] + ENSEMBLE_EXTRA


def _per_record_extras(traj) -> dict[str, np.ndarray]:
    """Meta entries holding one value per record (``online_loss`` for SGD,
    ``train_loss`` for ERM, ...): 1-D arrays of the trajectory's length."""
    n = len(traj)
    return {key: np.asarray(value) for key, value in traj.meta.items()
            if isinstance(value, np.ndarray) and value.ndim == 1 and value.size == n}


def run_parameters(meta: dict) -> dict[str, Any]:
    """The values of :data:`PARAMETER_COLUMNS` for a run's ``meta`` (None where the
    method has no such parameter or the problem is not a power law)."""
    info = meta.get("problem") or {}
    power_law = info.get("constructor") == "power_law"
    out: dict[str, Any] = {name: None for name in PARAMETER_COLUMNS}
    out.update(method=meta.get("method"), d=meta.get("d"), link=meta.get("link", "square"),
               noise=meta.get("noise"),
               problem_id=meta.get("problem_id"), run_id=meta.get("run_id"))
    if power_law:
        out.update(a=info.get("a"), seed=info.get("seed"), target=info.get("target"))
    for column, key in _OPTIONS.get(str(meta.get("method")), ()):
        out[column] = meta.get(key)
    return out


#: The column types of the parameters: nullable, so that "does not apply" is <NA>.
PARAMETER_TYPES = {"d": "Int64", "seed": "UInt64", "steps": "Int64", "batch": "Int64",
                   "sample_seed": "UInt64", "n_samples": "Int64", "a": "float64",
                   "noise": "float64", "lr": "float64", "rtol": "float64"}


def parameter_frame(values: dict, rows: int):
    """``values`` (parameters by column name) as ``rows`` identical rows, typed with
    :data:`PARAMETER_TYPES` (other columns as Python objects)."""
    import pandas as pd
    return pd.DataFrame({k: pd.array([v] * rows, dtype=PARAMETER_TYPES.get(k, "object"))
                         for k, v in values.items()})


def _parameter_frame(meta: dict, rows: int):
    return parameter_frame(run_parameters(meta), rows)


def trajectory_to_pandas(traj):
    """The trajectory as a pandas DataFrame, one row per record.

    Returns
    -------
    pandas.DataFrame
        Columns ``t, s, u, s2, u2, loss, mse, excess_risk, cosine`` (no ``mse`` for a link
        pair without a recovery metric), every per-record extra of ``meta`` (``online_loss``
        for SGD, ``train_loss`` for ERM) and the run's parameters (:data:`PARAMETER_COLUMNS`:
        method, d, link, a, seed, noise, lr, ... — so tables of several runs concatenate and
        stay apart); ``df.attrs`` holds the rest of ``meta`` (status, counters, problem
        provenance, ...).
    """
    import pandas as pd
    extras = _per_record_extras(traj)
    columns = {name: np.asarray(getattr(traj, name), dtype=np.float64)
               for name in schema.columns(traj.meta)}
    columns.update(extras)
    df = pd.concat([pd.DataFrame(columns), _parameter_frame(traj.meta, len(traj))], axis=1)
    df.attrs = {k: v for k, v in traj.meta.items() if k not in extras}
    return df


def trajectory_to_xarray(traj):
    """The trajectory as an :class:`xarray.Dataset` with dimension ``t``.

    Returns
    -------
    xarray.Dataset
        Data variables ``s, u, s2, u2, loss, mse, excess_risk, cosine`` (no ``mse`` for a
        link pair without a recovery metric) and the per-record extras of ``meta``
        along ``t``; ``w_final`` (coord) when the final state is kept. ``attrs``: the
        run's parameters (:data:`PARAMETER_COLUMNS`, None dropped) and the scalar entries
        of ``meta`` (status, counters).

    Raises
    ------
    ImportError
        Without xarray, naming ``pip install "pyscale[xarray]"``.
    """
    xr = _import_xarray()
    extras = _per_record_extras(traj)
    data = {name: (("t",), np.asarray(getattr(traj, name), dtype=np.float64))
            for name in schema.columns(traj.meta)[1:]}
    data.update({k: (("t",), v) for k, v in extras.items() if k != "t"})
    if traj.w is not None:
        data["w_final"] = (("coord",), np.asarray(traj.w, dtype=np.float64))
    attrs = {k: v for k, v in traj.meta.items()
             if isinstance(v, (str, int, float, bool)) and k not in extras}
    attrs.update({k: v for k, v in run_parameters(traj.meta).items() if v is not None})
    return xr.Dataset(data, coords={"t": np.asarray(traj.t, dtype=np.float64)}, attrs=attrs)


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


def _ensemble_parameters(ens) -> dict:
    """An ensemble's meta as a single run's, for :func:`run_parameters`: its step count
    is the run's (the per-member last steps are data)."""
    meta = dict(ens.meta)
    meta["last_step"] = meta.get("steps")
    return meta


def ensemble_to_pandas(ens, dropna: bool = False):
    """The ensemble in long format: one row per (member, record).

    Parameters
    ----------
    dropna : bool
        Drop the rows after a member stopped (all fields NaN there). Default: keep every
        (member, t) pair, so ``len(df) == R · len(t)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_seed`` (the member's seed), ``t, s, u, s2, u2, loss, mse,
        excess_risk, cosine, train_loss`` (``train_loss``: the online loss for SGD, the
        training loss for ERM; no ``mse`` for a link pair without a recovery metric) and the
        run's parameters (:data:`PARAMETER_COLUMNS`; ``seed`` is the problem's), members in
        the ensemble's order and t increasing within each; NaN where a member had stopped.
        ``df.attrs`` holds the meta (with the per-member lists).
    """
    import pandas as pd
    n_seeds, n_t = len(ens), int(np.asarray(ens.t).size)
    columns = {"sample_seed": np.repeat(np.asarray(ens.seeds, dtype=np.uint64), n_t),
               "t": np.tile(np.asarray(ens.t, dtype=np.float64), n_seeds)}
    fields = _ensemble_fields(ens)
    for name in fields:
        columns[name] = np.asarray(getattr(ens, name), dtype=np.float64).reshape(-1)
    params = _parameter_frame(_ensemble_parameters(ens), n_seeds * n_t)
    df = pd.concat([pd.DataFrame(columns), params.drop(columns=["sample_seed"])], axis=1)
    if dropna:
        df = df[~df[list(fields[:-1])].isna().all(axis=1)].reset_index(drop=True)
    df.attrs = dict(ens.meta)
    return df


def _import_xarray():
    try:
        import xarray
    except ImportError:
        raise ImportError('to_xarray needs xarray: pip install "pyscale[xarray]"') \
            from None
    return xarray


def ensemble_to_xarray(ens):
    """The ensemble as an :class:`xarray.Dataset` with dimensions (sample_seed, t).

    Returns
    -------
    xarray.Dataset
        Data variables ``s, u, s2, u2, loss, mse, excess_risk, cosine, train_loss``
        (sample_seed, t; no ``mse`` for a link pair without a recovery metric), NaN where a
        member had stopped; ``abs_u_band`` and ``mse_band`` (quantile, t): the ensemble's
        quantiles over members (``Ensemble.band``; coordinate ``quantile`` =
        ``ens.quantiles``); ``w_final`` (sample_seed, coord) when the final states were
        kept; per member ``status``, ``last_step`` (SGD: the last step run) and
        ``diverged_at_step`` (NaN when the member did not diverge). ``attrs``: the run's
        parameters (:data:`PARAMETER_COLUMNS`, None dropped) and the rest of ``meta``.

    Raises
    ------
    ImportError
        Without xarray, naming ``pip install "pyscale[xarray]"``.
    """
    xr = _import_xarray()
    member = "sample_seed"
    data = {name: ((member, "t"), np.asarray(getattr(ens, name), dtype=np.float64))
            for name in _ensemble_fields(ens)}
    for name in ("abs_u", "mse"):
        if name == "mse" and not schema.has_mse(ens.meta):
            continue
        data[f"{name}_band"] = (("quantile", "t"), ens.band(name))
    if ens.w is not None:
        data["w_final"] = ((member, "coord"), np.asarray(ens.w, dtype=np.float64))
    status = ens.meta.get("member_status")
    if isinstance(status, (list, tuple)) and len(status) == len(ens):
        data["status"] = ((member,), np.asarray(status, dtype=str))
    last = ens.meta.get("last_step")
    if isinstance(last, (list, tuple, np.ndarray)) and len(last) == len(ens):
        data["last_step"] = ((member,), np.asarray(last, dtype=np.int64))
    data["diverged_at_step"] = ((member,), _diverged_steps(ens))
    coords = {member: np.asarray(ens.seeds, dtype=np.uint64),
              "t": np.asarray(ens.t, dtype=np.float64),
              "quantile": np.asarray(ens.quantiles, dtype=np.float64)}
    attrs = _ensemble_meta(ens)
    attrs.update({k: v for k, v in run_parameters(_ensemble_parameters(ens)).items()
                  if v is not None and k != "sample_seed"})
    return xr.Dataset(data, coords=coords, attrs=attrs)


#: The columns of every comparison table (a trajectory's or an ensemble's):
#: ``predicted_over_measured`` is predicted / measured and ``rel_error`` is
#: (predicted − measured) / |measured| — NaN where either is missing or measured is 0.
COMPARISON_COLUMNS = ("quantity", "description", "measured", "predicted",
                      "predicted_over_measured", "rel_error", "window_lo", "window_hi",
                      "note", "regime")


def _window(item: dict, end: int) -> float:
    window = item.get("window")
    if isinstance(window, (tuple, list)) and len(window) == 2 and window[end] is not None:
        return float(window[end])
    return float("nan")


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def comparison_table(rows, attrs: dict):
    """Comparison rows as the one comparison table (:data:`COMPARISON_COLUMNS`).

    ``rows``: dicts with ``quantity``, ``description``, ``measured``, ``predicted`` and
    optionally ``window`` (lo, hi), ``note`` and ``regime``; ``attrs`` becomes ``df.attrs``.
    """
    import pandas as pd
    out = []
    for row in rows:
        measured, predicted = _number(row.get("measured")), _number(row.get("predicted"))
        ok = measured != 0 and np.isfinite(measured) and np.isfinite(predicted)
        out.append({"quantity": row["quantity"], "description": row.get("description", ""),
                    "measured": measured, "predicted": predicted,
                    "predicted_over_measured": predicted / measured if ok else float("nan"),
                    "rel_error": (predicted - measured) / abs(measured) if ok
                    else float("nan"),
                    "window_lo": _window(row, 0), "window_hi": _window(row, 1),
                    "note": row.get("note", ""), "regime": row.get("regime") or ""})
    df = pd.DataFrame(out, columns=list(COMPARISON_COLUMNS))
    df.attrs = dict(attrs)
    return df


def comparison_to_pandas(comparison):
    """A :class:`~pyscale.analysis.compare.Comparison` as the comparison table, one row per
    quantity.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`: ``quantity`` (the key: T1, escape_rate, T2, plateau,
        phase3, ...), ``description``, ``measured``, ``predicted``,
        ``predicted_over_measured`` (predicted / measured), ``rel_error`` ((predicted −
        measured) / |measured|), ``window_lo``, ``window_hi`` (the fit or comparison
        window; NaN where none), ``note``, ``regime`` (the law's regime: 'holds', or why it
        is outside its window or refused; '' where not stated); NaN where a value is not
        available. ``df.attrs``: d, a, method, s_star, delta, eps, s0, sigma_star2 and the
        measured stopping times (``times``).
    """
    rows = []
    for key, label in comparison.ROWS:
        item = comparison.get(key)
        if item:
            rows.append({**item, "quantity": key, "description": label,
                         "note": item.get("note", "")})
    return comparison_table(rows, {k: comparison.get(k) for k in (
        "d", "a", "method", "s_star", "delta", "eps", "s0", "sigma_star2", "times")})


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
