"""The data model of SPEC §1: a diagonal covariance Q, a target w*, an initialisation w(0).

A :class:`Problem` is immutable and validated on construction. Its arrays are stored in
the eigenbasis of Q (any covariance reduces to this, see :meth:`Problem.from_covariance`).

Stored coordinates need not be physical coordinates: a *compressed* problem (SPEC §5)
stores, per group of (nearly) equal eigenvalues, a few virtual coordinates whose inner
products equal the group's exact sums; ``counts`` says how many physical coordinates each
stored coordinate stands for and ``d`` is the true dimension. Every engine computes inner
products only, so it runs unchanged on either kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import _repr

__all__ = ["Problem", "power_law_eigenvalues"]


def _as_vector(name: str, x, n: Optional[int] = None) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: the dimension d must be >= 1")
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has length {arr.size} but eigenvalues has length {n}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} has a non-finite entry ({arr[i]!r}) at index {i}")
    return arr


def power_law_eigenvalues(d: int, a: float) -> np.ndarray:
    """λ_i = i^(-a) / H_{d,a},  H_{d,a} = Σ_{j≤d} j^(-a), so that tr Q = 1 (SPEC §1)."""
    d = _check_dimension(d)
    a = _check_exponent(a)
    i = np.arange(1, d + 1, dtype=np.float64)
    raw = i ** (-a)
    # Summing smallest-first keeps H_{d,a} accurate to rounding at any d.
    return raw / np.sum(raw[::-1])


def _check_dimension(d) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        if isinstance(d, float) and d.is_integer():
            d = int(d)
        else:
            raise ValueError(f"d must be an integer >= 1, got {d!r}")
    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    return d


def _check_exponent(a) -> float:
    a = float(a)
    if not np.isfinite(a) or a < 0:
        raise ValueError(f"the power-law exponent a must be finite and >= 0, got {a}")
    return a


@dataclass(frozen=True, eq=False)
class Problem:
    """Phase retrieval on x ~ N(0, diag(eigenvalues)), y = <x, w*>^2 + ξ (SPEC §1).

    Parameters
    ----------
    eigenvalues : (n,) array, all finite and > 0 — the diagonal of Q.
    w_star : (n,) array — the target; must have a positive Q-norm.
    w0 : (n,) array — the initialisation w(0).
    noise : label-noise variance σ² (ξ ~ N(0, σ²)); adds σ² to the population loss.
    d : true dimension (defaults to n); differs from n only for compressed problems.
    counts : (n,) physical coordinates per stored coordinate (defaults to ones).
    info : free-form provenance (constructor, a, seed, ...), kept with trajectories.
    """

    eigenvalues: np.ndarray
    w_star: np.ndarray
    w0: np.ndarray
    noise: float = 0.0
    d: Optional[int] = None
    counts: Optional[np.ndarray] = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        lam = _as_vector("eigenvalues", self.eigenvalues)
        n = lam.size
        if np.any(lam <= 0):
            i = int(np.flatnonzero(lam <= 0)[0])
            raise ValueError(
                f"eigenvalues must be > 0; eigenvalue {i} is {lam[i]!r} "
                "(drop null directions of Q: they neither move nor count in the loss)")
        w_star = _as_vector("w_star", self.w_star, n)
        w0 = _as_vector("w0", self.w0, n)
        noise = float(self.noise)
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise is a variance and must be finite and >= 0, got {noise}")
        d = n if self.d is None else _check_dimension(self.d)
        if self.counts is None:
            counts = np.ones(n)
        else:
            counts = _as_vector("counts", self.counts, n)
            if np.any(counts < 0):
                raise ValueError("counts must be >= 0")
            if abs(float(np.sum(counts)) - d) > 1e-9 * d:
                raise ValueError(f"counts sum to {float(np.sum(counts))!r}, not to d = {d}: "
                                 "each physical coordinate must be represented once")
        if d < n and self.counts is None:
            raise ValueError(f"d={d} is smaller than the number of stored coordinates {n}")
        q_norm = float(np.dot(lam, w_star * w_star))
        if not (q_norm > 0) or not np.isfinite(q_norm):
            raise ValueError("w_star has zero Q-norm (w*^T Q w* = 0): there is nothing to learn")
        for name, arr in (("eigenvalues", lam), ("w_star", w_star), ("w0", w0),
                          ("counts", counts)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "info", dict(self.info))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_covariance(cls, covariance, w_star, w0, noise: float = 0.0) -> "Problem":
        """Rotate a full covariance C = V diag(λ) V^T into its eigenbasis (SPEC §1).

        w* and w(0) are given in the original coordinates and returned as V^T w*, V^T w0;
        eigenvalues are sorted in decreasing order (λ_1 largest, as in the paper).
        """
        c = np.asarray(covariance, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] != c.shape[1]:
            raise ValueError(f"covariance must be a square matrix, got shape {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError("covariance has non-finite entries")
        if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(c).max())):
            raise ValueError("covariance must be symmetric")
        n = c.shape[0]
        w_star = _as_vector("w_star", w_star, n)
        w0 = _as_vector("w0", w0, n)
        lam, vecs = np.linalg.eigh(0.5 * (c + c.T))
        order = np.argsort(lam)[::-1]
        lam, vecs = lam[order], vecs[:, order]
        if lam[-1] <= 0:
            raise ValueError(
                f"covariance must be positive definite; its smallest eigenvalue is {lam[-1]:.3g}")
        return cls(lam, vecs.T @ w_star, vecs.T @ w0, noise=noise,
                   info={"constructor": "from_covariance"})

    @classmethod
    def power_law(cls, d: int, a: float, seed: int = 0, target: str = "unit_q",
                  init: str = "sphere", noise: float = 0.0,
                  compress: Optional[float] = None) -> "Problem":
        """The paper's problem (SPEC §1): λ_i = i^(-a)/H_{d,a}, w* = g/||Q^{1/2} g||
        (``target="unit_q"``, s* = 1) or g √d/||g|| (``target="norm_d"``, ||w*||² = d),
        g ~ N(0, I_d), and w(0) uniform on the unit sphere.

        ``compress=δ`` never allocates length-d vectors: see :mod:`pyscale.compression`.
        """
        d = _check_dimension(d)
        a = _check_exponent(a)
        if target not in ("unit_q", "norm_d"):
            raise ValueError(f"target must be 'unit_q' or 'norm_d', got {target!r}")
        if init != "sphere":
            raise ValueError(f"init must be 'sphere', got {init!r}")
        if compress is not None:
            from .compression import compressed_power_law
            return compressed_power_law(d, a, seed=seed, target=target, noise=noise,
                                        rtol=compress)
        lam = power_law_eigenvalues(d, a)
        rng = np.random.default_rng(seed)
        g = rng.standard_normal(d)
        h = rng.standard_normal(d)
        if target == "unit_q":
            w_star = g / np.sqrt(np.dot(lam, g * g))
        else:
            w_star = g * (np.sqrt(d) / np.linalg.norm(g))
        w0 = h / np.linalg.norm(h)
        return cls(lam, w_star, w0, noise=noise,
                   info={"constructor": "power_law", "a": a, "seed": seed,
                         "target": target, "init": init})

    # ------------------------------------------------------------------ properties
    @property
    def n_coords(self) -> int:
        """Number of stored coordinates (= d unless compressed)."""
        return int(self.eigenvalues.size)

    @property
    def is_compressed(self) -> bool:
        return self.n_coords != self.d or not np.all(self.counts == 1)

    @property
    def n_modes(self) -> int:
        """Number of modes (SPEC §5): groups of stored coordinates sharing one eigenvalue in
        a compressed problem (a mode is stored as ≤ 2 virtual coordinates); n_coords
        otherwise (every coordinate is its own mode)."""
        if not self.is_compressed:
            return self.n_coords
        return int(np.unique(self.eigenvalues).size)

    def compress(self, rtol: float, representative: str = "target") -> "Problem":
        """Group eigenvalues within a factor 1 + rtol into modes, summing the vectors exactly
        per mode (SPEC §5); see :func:`pyscale.compression.compress`."""
        from .compression import compress
        return compress(self, rtol=rtol, representative=representative)

    @property
    def s_star(self) -> float:
        """s* = w*^T Q w* (SPEC §1)."""
        return float(np.dot(self.eigenvalues, self.w_star * self.w_star))

    @property
    def star_norm2(self) -> float:
        """||w*||², so that σ*² = ||w*||²/d is the MSE of w = 0."""
        return float(np.dot(self.w_star, self.w_star))

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues.max())

    def with_w0(self, w0) -> "Problem":
        """The same problem started from another w(0)."""
        return Problem(self.eigenvalues, self.w_star, w0, noise=self.noise, d=self.d,
                       counts=self.counts, info=self.info)

    def stats(self, w=None) -> dict:
        """Summary statistics of w (default w(0)): s, u, s2, u2, loss, mse (SPEC §1)."""
        from . import _core
        w = self.w0 if w is None else _as_vector("w", w, self.n_coords)
        row = _core.state_record(self.eigenvalues, self.w_star, w, float(self.d), self.noise)
        return {k: float(v) for k, v in zip(_core.RECORD_FIELDS, row) if k != "t"}

    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html
