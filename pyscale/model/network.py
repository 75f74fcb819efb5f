"""The two-layer network's part of the data model (networks page: The model): the student
f(x) = Σ_j a_j σ(x·w_j) with weights W (n, p) and the teacher f*(x) = Σ_l a*_l τ(x·w*_l)
with W* (n, k), both readouts fixed (defaults a_j = 1/p, a*_l = 1/k).

:func:`network_arrays` validates what :class:`~pyscale.Problem` stores for a network;
:func:`draw_network` draws the full power-law network (teacher columns g_l / ‖Q^½ g_l‖, or
Q-orthonormal; student columns uniform on the unit sphere) — the law that
:func:`pyscale.model.compression.draw_network_power_law` draws per mode. Arrays in, arrays
out; the reductions use the core's fixed-block sums (same bits for any thread count).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np

import pyscale._core as _core
import pyscale._validate as check

from .compression import TEACHERS
from .links import LinkPair

__all__ = ["NetworkArrays", "network_arrays", "draw_network", "gram", "units_of", "MAX_UNITS",
           "TEACHERS", "require_single_index"]

#: The most units (p or k) a network may have: the core's fixed-size blocks.
MAX_UNITS = int(_core.network.MAX_UNITS)


class NetworkArrays(NamedTuple):
    """A network's validated arrays: W* (n, k), W(0) (n, p), readouts a (p,), a* (k,)."""
    w_star: np.ndarray
    w0: np.ndarray
    readout: np.ndarray
    teacher_readout: np.ndarray


def _matrix(name: str, value: Any, n: int) -> np.ndarray:
    """A finite real float64 (n, units) array; a vector is one unit."""
    raw = np.asarray(value)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim != 2 or raw.shape[1] == 0:
        raise ValueError(f"{name} must be an (n, units) array, got shape {raw.shape}")
    cols = [check.vector(f"{name}[:, {j}]", raw[:, j], n) for j in range(raw.shape[1])]
    if len(cols) > MAX_UNITS:
        raise ValueError(f"{name} has {len(cols)} units; at most {MAX_UNITS} are supported")
    return np.ascontiguousarray(np.stack(cols, axis=1))


def _readout(name: str, value: Any, units: int) -> np.ndarray:
    if value is None:
        return np.full(units, 1.0 / units)
    out = check.vector(name, value, units, other=f"the {units} units")
    if not np.all(out != 0):
        raise ValueError(f"{name} has a zero entry: that unit would not be part of the "
                         f"network (drop it)")
    return out


def gram(lam: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """aᵀ Q b for (n, ·) arrays, each entry a fixed-block sum."""
    def dot(x: np.ndarray) -> float:
        return float(_core.model.blocked_sum(np.ascontiguousarray(x)))
    return np.array([[dot(lam * a[:, i] * b[:, j]) for j in range(b.shape[1])]
                     for i in range(a.shape[1])])


def network_arrays(lam: np.ndarray, w_star: Any, w0: Any, readout: Any,
                   teacher_readout: Any, link: LinkPair) -> NetworkArrays:
    """Validate a network's arrays against the eigenvalues ``lam`` (n,): every teacher unit
    with a positive Q-norm, and with a kinked student (abs, relu) every student unit with
    w_jᵀQw_j > 0 (no gradient at 0)."""
    n = lam.size
    ws = _matrix("w_star", w_star, n)
    w = _matrix("w0", w0, n)
    a = _readout("readout", readout, w.shape[1])
    a_star = _readout("teacher_readout", teacher_readout, ws.shape[1])
    norms = np.diag(gram(lam, ws, ws))
    if not np.all(norms > 0) or not np.all(np.isfinite(norms)):
        bad = int(np.flatnonzero(~(norms > 0) | ~np.isfinite(norms))[0])
        raise ValueError(f"teacher unit {bad} (w_star[:, {bad}]) has zero Q-norm: "
                         f"there is nothing to learn from it")
    if link.student.kinked:
        s = np.diag(gram(lam, w, w))
        if not np.all(s > 0):
            j = int(np.flatnonzero(~(s > 0))[0])
            raise ValueError(f"student unit {j} has S_jj = 0, and the kinked student "
                             f"{link.student.identity!r} has no gradient at w = 0: start "
                             f"every unit from S_jj > 0")
    return NetworkArrays(ws, w, a, a_star)


def draw_network(lam: np.ndarray, p: int, k: int, seed: int, target: str = "unit_q",
                 teachers: str = "random") -> tuple:
    """(W*, W(0)) of a full network on the eigenvalues ``lam`` (networks page: The model):
    one generator draws the n × k teacher entries, then the n × p student entries (row
    major); teacher columns to unit Q-norm (``target="unit_q"``) or norm √n (``"norm_d"``),
    or Q-orthonormal (``teachers="orthonormal"``, W* R⁻¹ with RᵀR = W*ᵀQW*); student
    columns to the unit sphere."""
    check.choice("teachers", teachers, TEACHERS)
    rng = np.random.default_rng(seed)
    w_star = rng.standard_normal((lam.size, k))
    w0 = rng.standard_normal((lam.size, p))
    ones = np.ones_like(lam)
    w0 /= np.sqrt(np.diag(gram(ones, w0, w0)))
    if teachers == "orthonormal":
        r = np.linalg.cholesky(gram(lam, w_star, w_star)).T
        w_star = np.linalg.solve(r.T, w_star.T).T
    elif target == "unit_q":
        w_star /= np.sqrt(np.diag(gram(lam, w_star, w_star)))
    else:
        w_star *= np.sqrt(lam.size / np.diag(gram(ones, w_star, w_star)))
    return np.ascontiguousarray(w_star), np.ascontiguousarray(w0)


def units_of(value: Optional[int], name: str) -> int:
    """A number of units, 1 ≤ p ≤ MAX_UNITS."""
    return check.integer(name, 1 if value is None else value, 1, MAX_UNITS)


def require_single_index(part: str, problem: Any) -> None:
    """Refuse ``part`` — a law or engine derived for single-index models (p = k = 1) — on a
    two-layer network, in one sentence and before it computes anything (networks page:
    Using networks): the theory of networks is not derived, and these parts read w and w*
    as vectors."""
    if getattr(problem, "is_network", False):
        raise ValueError(
            f"{part}: derived for single-index models (p = k = 1); this problem is a "
            f"two-layer network (p = {problem.units} student, k = {problem.teacher_units} "
            "teacher units), for which it is not derived: networks run with "
            "simulate(problem, 'flow' | 'gd' | 'sgd' | 'erm')")
