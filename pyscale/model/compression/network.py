"""Compression of two-layer networks (networks page: Compression): one Gram matrix per mode.

Given the overlaps (S, U), row i of [W* W] moves by the (p + k) × (p + k) propagator of its
eigenvalue, so a mode of n coordinates sharing λ is completely described by n and the Gram
matrix G = Σ_{i∈m} [W*_i W_i(0)]ᵀ [W*_i W_i(0)]. It is stored as min(n, p + k) *virtual
rows*, the R factor of the QR of the mode's block (teacher columns first), each with the
mode's eigenvalue: every engine computes inner products within a row's eigenvalue, so the
flow and GD run unchanged on them, exactly (the single-index case, p = k = 1, stores two).

* :func:`group_network` groups an explicit network's eigenvalues as :func:`group` does
  (greedy, within a factor 1 + δ) and keeps per mode the R factor of its block.
* :func:`draw_network_power_law` draws a power-law network without a length-d array: before
  normalisation the entries of [W* W(0)] are i.i.d. N(0, 1), so each mode's Gram matrix is
  Wishart_{p+k}(n, I), drawn by Bartlett's decomposition (X upper triangular,
  X_ii = √χ²_{n−i}, N(0, 1) above the diagonal; a mode of n < p + k draws its n rows). The
  normalisations are column operations with one matrix for all modes — student columns to
  the unit sphere, teacher columns to unit Q-norm (or Q-orthonormal: multiplied by R⁻¹,
  RᵀR = S*, upper triangular, so X stays upper triangular) — so the draw is exact in law.
* :func:`network_frames` reads a network problem's stored rows back as the modes the mode
  chain runs on (:mod:`pyscale.engines.network_sgd`): per exactly equal eigenvalue, its
  physical count and min(n, p + k) frame rows of [W* W].

Arrays in, arrays out (:class:`Modes` with 2-D ``w_star`` (n, k) and ``w0`` (n, p)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import pyscale._validate as check

from .grouping import REPRESENTATIVES, greedy_groups
from .modes import Modes
from .power_law import mode_power_sums, power_law_modes, power_law_normaliser

__all__ = ["group_network", "draw_network_power_law", "network_frames", "NetworkFrames",
           "TEACHERS"]

#: How teacher units are drawn: independent unit-Q-norm columns, or Q-orthonormal ones.
TEACHERS = ("random", "orthonormal")


def _frame_rows(block: np.ndarray) -> np.ndarray:
    """The R factor (diagonal ≥ 0) of a mode's block [W* W] with more rows than columns, or
    the block itself: min(rows, p + k) rows whose Gram matrix is the block's."""
    dim = block.shape[1]
    if block.shape[0] <= dim:
        return block
    r = np.asarray(np.linalg.qr(block, mode="r"))
    return r * np.where(np.diag(r) < 0, -1.0, 1.0)[:, None]


def group_network(eigenvalues: np.ndarray, w_star: np.ndarray, w0: np.ndarray,
                  counts: np.ndarray, rtol: float, representative: str = "target") -> Modes:
    """Group a network's (nearly) equal eigenvalues into modes (networks page: Compression).

    The groups are :func:`group`'s (decreasing eigenvalues, greedily, ratio ≤ 1 + δ); each
    keeps min(rows, p + k) virtual rows, the R factor of its block [W* W(0)] (its rows when
    it has no more than p + k). ``representative``: the mode's eigenvalue, ``"target"`` the
    ‖W*_i‖²-weighted mean Σ λ_i ‖W*_i‖² / Σ ‖W*_i‖² (keeps tr S* exactly), ``"count"`` the
    count-weighted mean (keeps tr Q). The grouping errs by O(δ), as for single-index models.
    """
    rtol = check.grouping_tolerance(rtol)
    check.choice("representative", representative, REPRESENTATIVES)
    order = np.argsort(-eigenvalues, kind="stable")
    lam, cnt = eigenvalues[order], counts[order]
    k = w_star.shape[1]
    block = np.hstack([w_star[order], w0[order]])
    starts = greedy_groups(lam, rtol)
    sizes = np.diff(np.append(starts, lam.size))
    count_mode = np.add.reduceat(cnt, starts)
    weight = np.add.reduceat(np.sum(block[:, :k] ** 2, axis=1), starts)
    mean_count = np.add.reduceat(cnt * lam, starts) / count_mode
    if representative == "target":
        with np.errstate(invalid="ignore", divide="ignore"):
            targ = np.add.reduceat(lam * np.sum(block[:, :k] ** 2, axis=1), starts) / weight
        lam_mode = np.where(weight > 0, targ, mean_count)
    else:
        lam_mode = mean_count
    lam_mode = np.clip(lam_mode, lam[starts + sizes - 1], lam[starts])
    lam_mode = np.where(sizes == 1, lam[starts], lam_mode)
    rows = [_frame_rows(block[s:s + n]) for s, n in zip(starts, sizes)]
    width = np.array([r.shape[0] for r in rows])
    stored = np.vstack(rows)
    info = {"rtol": rtol, "representative": representative, "n_modes": int(starts.size),
            "source_n_coords": int(lam.size)}
    return Modes(np.repeat(lam_mode, width), np.ascontiguousarray(stored[:, :k]),
                 np.ascontiguousarray(stored[:, k:]), np.repeat(count_mode / width, width),
                 int(starts.size), info)


def _bartlett(sizes: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Upper-triangular (…, dim, dim) X with XᵀX ~ Wishart_dim(n, I) per n ≥ dim."""
    x = np.triu(rng.standard_normal(sizes.shape + (dim, dim)), 1)
    df = sizes[:, None].astype(np.float64) - np.arange(dim)
    x[:, np.arange(dim), np.arange(dim)] = np.sqrt(rng.chisquare(df))
    return x


def _mode_blocks(sizes: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(M, dim, dim): per mode the frame coordinates of n i.i.d. N(0, I_dim) rows — its n rows
    (zero-padded) when n < dim, drawn first in mode order, then Bartlett factors."""
    out = np.zeros((sizes.size, dim, dim))
    for m in np.flatnonzero(sizes < dim):
        out[m, :sizes[m]] = rng.standard_normal((int(sizes[m]), dim))
    big = sizes >= dim
    if np.any(big):
        out[big] = _bartlett(sizes[big], dim, rng)
    return out


def _normalise(x: np.ndarray, lam_mode: np.ndarray, k: int, d: int, target: str,
               teacher: str) -> None:
    """Column operations, in place: student columns to the unit sphere; teacher columns to
    unit Q-norm (``target="unit_q"``), to norm √d (``"norm_d"``), or Q-orthonormal."""
    diag = np.einsum("mij,mij->j", x, x)
    x[..., k:] /= np.sqrt(diag[k:])
    if teacher == "orthonormal":
        raw = np.einsum("m,mia,mib->ab", lam_mode, x[..., :k], x[..., :k])
        r = np.linalg.cholesky(raw).T
        x[..., :k] = np.linalg.solve(r.T, x[..., :k].transpose(0, 2, 1)).transpose(0, 2, 1)
    elif target == "unit_q":
        x[..., :k] /= np.sqrt(np.einsum("m,mij,mij->j", lam_mode, x[..., :k], x[..., :k]))
    else:
        x[..., :k] *= np.sqrt(d / diag[:k])


def draw_network_power_law(d: int, a: float, p: int, k: int, seed: int = 0,
                           target: str = "unit_q", teacher: str = "random",
                           rtol: float = 1e-3) -> Modes:
    """A power-law network (networks page: The model, Compression) at dimension d,
    compressed at δ = rtol, in O(modes (p + k)²) time and memory: the modes of
    :func:`power_law_modes` with their count-weighted eigenvalues, per mode the Gram matrix
    of [W* W(0)] drawn exactly (Bartlett), then the column normalisations of the full draw.
    Exact in law up to the grouping's O(δ). Same seed → same problem."""
    check.choice("teacher", teacher, TEACHERS)
    first, last = power_law_modes(d, a, rtol)
    sizes = last - first + 1
    if a == 0.0:
        lam_mode = np.full(first.size, 1.0 / d)
    else:
        lam_mode = mode_power_sums(first, last, a) / (sizes * power_law_normaliser(d, a))
    dim = p + k
    x = _mode_blocks(sizes, dim, np.random.default_rng(seed))
    _normalise(x, lam_mode, k, d, target, teacher)
    width = np.minimum(sizes, dim)
    keep = np.arange(dim)[None, :] < width[:, None]
    stored = x[keep]  # (Σ width, dim), modes in order, their rows in order
    info = {"rtol": rtol, "representative": "count", "n_modes": int(sizes.size)}
    return Modes(np.repeat(lam_mode, width), np.ascontiguousarray(stored[:, :k]),
                 np.ascontiguousarray(stored[:, k:]),
                 np.repeat(sizes.astype(np.float64) / width, width), int(sizes.size), info)


@dataclass(frozen=True)
class NetworkFrames:
    """A network problem's stored rows as modes (one per exactly equal eigenvalue, in order
    of first appearance): ``lam`` (M,), ``count`` (M,) physical coordinates (whole
    numbers), ``frames`` (M, p + k, p + k) frame coordinates of [W* W(0)] (rows beyond
    min(n, p + k) zero)."""
    lam: np.ndarray
    count: np.ndarray
    frames: np.ndarray

    @property
    def size(self) -> int:
        return int(self.lam.size)


def network_frames(eigenvalues: np.ndarray, w_star: np.ndarray, w0: np.ndarray,
                   counts: np.ndarray) -> NetworkFrames:
    """The modes of a network problem for the mode chain: its stored rows grouped by
    (exactly) equal eigenvalue, each group's block [W* W(0)] reduced to min(n, p + k) frame
    rows by a QR when it has more. Raises ValueError where a group's summed counts are not a
    whole number ≥ 1."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    block = np.hstack([w_star, w0])
    dim = block.shape[1]
    uniq, first_at, inverse = np.unique(lam, return_index=True, return_inverse=True)
    order = np.argsort(first_at, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    index = rank[inverse.ravel()]
    total = np.bincount(index, weights=np.asarray(counts, dtype=np.float64))
    count = np.rint(total)
    bad = (count < 1) | (np.abs(total - count) > 1e-9 * np.maximum(1.0, total))
    if np.any(bad):
        m = int(np.flatnonzero(bad)[0])
        raise ValueError(f"the stored rows at eigenvalue {uniq[order][m]:.6g} stand for "
                         f"{total[m]:.6g} physical coordinates (summed counts): a mode needs "
                         f"a whole number >= 1")
    frames = np.zeros((order.size, dim, dim))
    for m in range(order.size):
        rows = _frame_rows(block[index == m])
        frames[m, :rows.shape[0]] = rows
    return NetworkFrames(lam=uniq[order], count=count, frames=frames)
