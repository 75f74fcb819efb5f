"""The data model (model page: Data model): a diagonal covariance Q, a target w*, an
initialisation w(0), the label-noise variance σ², and the link pair: the student σ whose
prediction is σ(x·w) and the teacher τ whose labels are y = τ(x·w*) + ξ (phase retrieval,
σ = τ = z², by default; links page).

A :class:`Problem` is immutable and validated on construction. Its arrays are stored in
the eigenbasis of Q (any covariance reduces to this, see :meth:`Problem.from_covariance`).

Stored coordinates need not be physical coordinates: a *compressed* problem (model page:
Compression) stores, per group of (nearly) equal eigenvalues, a few virtual coordinates
whose inner products equal the group's exact sums; ``counts`` says how many physical
coordinates each stored coordinate stands for and ``d`` is the true dimension. Every
engine computes inner products only, so it runs unchanged on either kind.

Reductions that define a problem (norms of the draws, s*) use the core's fixed-block sum,
so a problem's bits do not depend on the BLAS or OpenMP thread count. That is the only use
of the compiled core here: the model never runs an engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

import pyscale._core as _core
import pyscale._repr as _repr
import pyscale._validate as check

from .._digest import digest
from . import compression
from . import network as net
from .links import LinkPair, PairLike

__all__ = ["Problem", "power_law_eigenvalues"]

#: Bytes Problem.power_law holds per coordinate while it draws a full problem: λ, g, h,
#: w*, w(0) and one temporary.
_BYTES_PER_COORD = 6 * 8


def _sum(x: np.ndarray) -> float:
    """Σ x in the core's fixed blocks: the same bits for any thread count or BLAS."""
    return float(_core.model.blocked_sum(np.ascontiguousarray(x, dtype=np.float64)))


def _is_matrix(value: Any) -> bool:
    """A 2-D array (a network's units); anything unreadable is left to the vector check."""
    try:
        return bool(np.ndim(value) == 2)
    except (TypeError, ValueError):
        return False


def _check_no_underflow(d: int, a: float) -> None:
    """Refuse a power law whose smallest eigenvalue d^-a underflows float64 (full or
    compressed: both would end with eigenvalues 0, blamed on the wrong cause)."""
    if d > 1 and a * math.log2(d) > 1022:
        raise ValueError(
            f"a = {a:g} is too large for d = {d}: d^-a = 2^-{a * math.log2(d):.4g} underflows "
            f"float64 (the smallest normal number is 2^-1022); at this d use "
            f"a <= {1022 / math.log2(d):.4g}")


def power_law_eigenvalues(d: int, a: float) -> np.ndarray:
    """λ_i = i^(-a) / H_{d,a},  H_{d,a} = Σ_{j≤d} j^(-a), so that tr Q = 1
    (model page: Data model)."""
    d = check.dimension(d)
    a = check.exponent(a)
    _check_no_underflow(d, a)
    i = np.arange(1, d + 1, dtype=np.float64)
    raw = i ** (-a)
    # Summing smallest-first keeps H_{d,a} accurate to rounding at any d.
    return raw / np.sum(raw[::-1])


@dataclass(frozen=True, eq=False)
class Problem:
    """A single-index problem on x ~ N(0, diag(eigenvalues)): labels y = τ(⟨x, w*⟩) + ξ,
    predictions σ(⟨x, w⟩); phase retrieval (σ = τ = z², y = ⟨x, w*⟩² + ξ) by default
    (model page: Data model).

    Parameters
    ----------
    eigenvalues : (n,) array
        All finite and > 0: the diagonal of Q.
    w_star : (n,) array
        The target; must have a positive Q-norm s* = w*ᵀQw*.
    w0 : (n,) array
        The initialisation w(0).
    noise : float
        Label-noise variance σ² (ξ ~ N(0, σ²)); adds σ² to the population loss.
    d : int, optional
        True dimension (defaults to n); differs from n only for compressed problems.
    counts : (n,) array, optional
        Physical coordinates per stored coordinate (defaults to ones).
    info : dict
        Free-form provenance (constructor, a, seed, ...), kept with trajectories.
    link : str, Link, LinkPair or (student, teacher), default ``"square"``
        The link pair (links page): a name (``"relu"``: σ = τ = relu; ``"square,abs"``:
        student square, teacher |z|), a :class:`~pyscale.Link` (σ = τ), a
        :class:`~pyscale.LinkPair` or a pair ``(student, teacher)``. Stored as a
        :class:`~pyscale.LinkPair`. A kinked student (abs, relu) needs w(0) with s > 0.
    readout, teacher_readout : (p,), (k,) arrays, optional
        A two-layer network (networks page: The model): ``w_star`` (n, k) holds the k
        teacher units, ``w0`` (n, p) the p student units, f(x) = Σ_j a_j σ(x·w_j) and
        y = Σ_l a*_l τ(x·w*_l) + ξ with the fixed readouts a, a* (defaults 1/p, 1/k). A
        problem is a network when either array is 2-D or a readout is given; vectors
        without readouts are the single-index problem, unchanged.
    """

    eigenvalues: np.ndarray
    w_star: np.ndarray
    w0: np.ndarray
    noise: float = 0.0
    # None (the defaults) become n and ones in __post_init__: after construction both are set.
    d: int = None  # type: ignore[assignment]
    counts: np.ndarray = None  # type: ignore[assignment]
    info: dict = field(default_factory=dict)
    link: LinkPair = "square"  # type: ignore[assignment]  # any PairLike; a LinkPair after
    readout: Optional[np.ndarray] = None
    teacher_readout: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        lam = check.vector("eigenvalues", self.eigenvalues)
        n = lam.size
        if np.any(lam <= 0):
            i = int(np.flatnonzero(lam <= 0)[0])
            raise ValueError(
                f"eigenvalues must be > 0; eigenvalue {i} is {lam[i]!r} "
                "(drop null directions of Q: they neither move nor count in the loss)")
        if self._network_given():
            self._set_network(lam, n)
            return
        w_star = check.vector("w_star", self.w_star, n)
        w0 = check.vector("w0", self.w0, n)
        noise = check.real("noise", self.noise, 0.0)
        d = n if self.d is None else check.dimension(self.d)
        counts = self._counts(n, d)
        for name, vec in (("w_star", w_star), ("w0", w0)):
            _check_forms(name, vec, lam)
        q_norm = _sum(lam * w_star * w_star)
        if not (q_norm > 0) or not np.isfinite(q_norm):
            raise ValueError("w_star has zero Q-norm (w*ᵀQw* = 0): there is nothing to learn")
        if not isinstance(self.info, dict):
            raise TypeError(f"info must be a dict, got {type(self.info).__name__}")
        link = LinkPair(self.link)
        if link.student.kinked and not _sum(lam * w0 * w0) > 0:
            raise ValueError(f"w0 has s = w0ᵀQw0 = 0, and the kinked student "
                             f"{link.student.identity!r} has no gradient at w = 0 (its loss "
                             f"is not differentiable there): start from s > 0")
        for name, arr in (("eigenvalues", lam), ("w_star", w_star), ("w0", w0),
                          ("counts", counts)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "info", dict(self.info))
        object.__setattr__(self, "link", link)

    def _network_given(self) -> bool:
        return (self.readout is not None or self.teacher_readout is not None
                or _is_matrix(self.w_star) or _is_matrix(self.w0))

    def _set_network(self, lam: np.ndarray, n: int) -> None:
        """__post_init__ for a two-layer network (networks page: The model)."""
        noise = check.real("noise", self.noise, 0.0)
        d = n if self.d is None else check.dimension(self.d)
        counts = self._counts(n, d)
        if not isinstance(self.info, dict):
            raise TypeError(f"info must be a dict, got {type(self.info).__name__}")
        link = LinkPair(self.link)
        arrays = net.network_arrays(lam, self.w_star, self.w0, self.readout,
                                    self.teacher_readout, link)
        for name, arr in (("eigenvalues", lam), ("counts", counts), *arrays._asdict().items()):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "info", dict(self.info))
        object.__setattr__(self, "link", link)

    def _counts(self, n: int, d: int) -> np.ndarray:
        if self.counts is None:
            if d < n:
                raise ValueError(f"d={d} is smaller than the number of stored coordinates {n}")
            return np.ones(n)
        counts = check.vector("counts", self.counts, n)
        if np.any(counts < 0):
            raise ValueError("counts must be >= 0")
        if abs(_sum(counts) - d) > 1e-9 * d:
            raise ValueError(f"counts sum to {_sum(counts)!r}, not to d = {d}: each "
                             "physical coordinate must be represented once")
        return counts

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_covariance(cls, covariance: Any, w_star: Any, w0: Any,
                        noise: float = 0.0, link: PairLike = "square") -> "Problem":
        """Rotate a full covariance C = V diag(λ) Vᵀ into its eigenbasis (model page: Data
        model).

        w* and w(0) are given in the original coordinates and returned as Vᵀw*, Vᵀw0;
        eigenvalues are sorted in decreasing order (λ_1 largest, as in the paper).
        """
        c = np.asarray(covariance)
        if c.dtype.kind not in "biuf":
            raise TypeError(f"covariance must be a real matrix, got dtype {c.dtype}")
        c = c.astype(np.float64)
        if c.ndim != 2 or c.shape[0] != c.shape[1] or c.size == 0:
            raise ValueError(f"covariance must be a non-empty square matrix, got shape "
                             f"{c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError("covariance has non-finite entries")
        if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(c).max())):
            raise ValueError("covariance must be symmetric")
        n = c.shape[0]
        w_star = check.vector("w_star", w_star, n, other="covariance")
        w0 = check.vector("w0", w0, n, other="covariance")
        lam, vecs = np.linalg.eigh(0.5 * (c + c.T))
        order = np.argsort(lam)[::-1]
        lam, vecs = lam[order], vecs[:, order]
        if lam[-1] <= 0:
            raise ValueError(
                f"covariance must be positive definite; its smallest eigenvalue is {lam[-1]:.3g}")
        return cls(lam, vecs.T @ w_star, vecs.T @ w0, noise=noise,
                   info={"constructor": "from_covariance"}, link=LinkPair(link))

    @classmethod
    def power_law(cls, d: int, a: float, seed: int = 0, target: str = "unit_q",
                  init: str = "sphere", noise: float = 0.0,
                  compress: Optional[float] = None,
                  horizon: Optional[float] = None, link: PairLike = "square",
                  bound: Optional[float] = None, units: Optional[int] = None,
                  teacher_units: Optional[int] = None,
                  readout: Any = None, teacher_readout: Any = None,
                  teachers: str = "random") -> "Problem":
        """The paper's problem (model page: Data model): λ_i = i^(-a)/H_{d,a},
        w* = g/‖Q^{1/2} g‖ (``target="unit_q"``, s* = 1) or g √d/‖g‖ (``target="norm_d"``,
        ‖w*‖² = d), g ~ N(0, I_d), and w(0) uniform on the unit sphere; ``link`` as for
        :class:`Problem` (the draws do not depend on it).

        ``compress=δ`` never allocates length-d vectors (O(number of modes) memory, exact in
        distribution up to an O(δ) grouping error): see :mod:`pyscale.model.compression`.
        Without it, a d whose vectors do not fit in memory is refused, with the bytes.

        ``horizon=T`` (with ``compress``) sizes each mode by what runs up to t = T resolve
        (model page: Compression, Horizon-aware grouping): the same O(δ) accuracy up to T
        with a number of modes that no longer grows with d. Engines refuse runs past T.
        ``bound=K`` (with ``horizon``) sizes the modes for coefficients |c0| + |c1| up to
        max(K, the flow's own bound) instead of the flow's bound alone: what online SGD,
        whose loss may rise, needs when its records leave the flow's (model page:
        Compression, Horizon-aware grouping); ``info["compressed"]["rate"]`` is the K used.

        A two-layer network (networks page: The model) with ``units`` = p student and
        ``teacher_units`` = k teacher units (either given, or a readout): teacher columns
        g_l / ‖Q^½ g_l‖ (``teachers="random"``, S*_ll = 1) or Q-orthonormal
        (``"orthonormal"``, S* = I), student columns uniform on the unit sphere, readouts
        ``readout`` (p,) and ``teacher_readout`` (k,) (defaults 1/p and 1/k); ``compress=δ``
        draws each mode's (p + k) × (p + k) Gram matrix exactly (networks page:
        Compression).
        """
        d = check.dimension(d)
        a = check.exponent(a)
        seed = check.seed(seed)
        check.choice("target", target, ("unit_q", "norm_d"))
        check.choice("init", init, ("sphere",))
        info = {"constructor": "power_law", "a": a, "seed": seed, "target": target,
                "init": init}
        link = LinkPair(link)
        _check_no_underflow(d, a)
        horizon = _horizon(horizon, compress)
        bound = _bound(bound, horizon)
        if any(v is not None for v in (units, teacher_units, readout, teacher_readout)):
            p = net.units_of(units if units is not None or readout is None
                             else np.size(readout), "units")
            k = net.units_of(teacher_units if teacher_units is not None
                             or teacher_readout is None else np.size(teacher_readout),
                             "teacher_units")
            check.choice("teachers", teachers, net.TEACHERS)
            if horizon is not None:
                raise ValueError("horizon= sizes the modes with the single-index flow's "
                                 "bound; a network compresses without a horizon")
            info.update(units=p, teacher_units=k, teachers=teachers)
            if compress is not None:
                compress = check.grouping_tolerance(compress, name="compress")
                if p == k == 1 and teachers == "random":  # the single-index draw, bit for bit
                    modes = _as_one_unit(_draw_compressed(d, a, seed, target, compress, None,
                                                          link))
                else:
                    modes = compression.draw_network_power_law(d, a, p, k, seed, target,
                                                               teachers, compress)
                return cls(modes.eigenvalues, modes.w_star, modes.w0, noise=noise, d=d,
                           counts=modes.counts, info={**info, "compressed": modes.info},
                           link=link, readout=readout, teacher_readout=teacher_readout)
            _check_fits(d, 8 * (2 * (p + k) + 2))
            lam = power_law_eigenvalues(d, a)
            w_star, w0 = net.draw_network(lam, p, k, seed, target, teachers)
            return cls(lam, w_star, w0, noise=noise, info=info, link=link, readout=readout,
                       teacher_readout=teacher_readout)
        if compress is not None:
            compress = check.grouping_tolerance(compress, name="compress")
            modes = _draw_compressed(d, a, seed, target, compress, horizon, link, bound)
            return cls(modes.eigenvalues, modes.w_star, modes.w0, noise=noise, d=d,
                       counts=modes.counts, info={**info, "compressed": modes.info}, link=link)
        _check_fits(d)
        lam = power_law_eigenvalues(d, a)
        rng = np.random.default_rng(seed)
        g = rng.standard_normal(d)
        h = rng.standard_normal(d)
        if target == "unit_q":
            w_star = g / np.sqrt(_sum(lam * g * g))
        else:
            w_star = g * (np.sqrt(d) / np.sqrt(_sum(g * g)))
        w0 = h / np.sqrt(_sum(h * h))
        return cls(lam, w_star, w0, noise=noise, info=info, link=link)

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
        """Number of modes (model page: Compression): groups of stored coordinates sharing
        one eigenvalue in a compressed problem (a mode is stored as ≤ 2 virtual
        coordinates); n_coords otherwise (every coordinate is its own mode)."""
        if not self.is_compressed:
            return self.n_coords
        return int(np.unique(self.eigenvalues).size)

    def compress(self, rtol: float, representative: str = "target",
                 horizon: Optional[float] = None, bound: Optional[float] = None) -> "Problem":
        """Group eigenvalues within a factor 1 + rtol into modes, summing the vectors exactly
        per mode (model page: Compression); see :func:`pyscale.model.compression.group`.
        ``horizon=T``: each mode sized by what runs up to t = T resolve (model page:
        Compression, Horizon-aware grouping); engines refuse runs past T. ``bound=K`` (with
        ``horizon``): the modes sized for |c0| + |c1| up to max(K, the flow's bound), as
        for :meth:`power_law`."""
        bound = _bound(bound, horizon)
        if self.is_network:
            if horizon is not None:
                raise ValueError("horizon= sizes the modes with the single-index flow's "
                                 "bound; a network compresses without a horizon")
            if self.units == self.teacher_units == 1:  # the single-index grouping, bit for bit
                modes = _as_one_unit(compression.group(
                    self.eigenvalues, self.w_star[:, 0], self.w0[:, 0], self.counts,
                    rtol=rtol, representative=representative))
            else:
                modes = compression.group_network(self.eigenvalues, self.w_star, self.w0,
                                                  self.counts, rtol, representative)
            return Problem(modes.eigenvalues, modes.w_star, modes.w0, noise=self.noise,
                           d=self.d, counts=modes.counts,
                           info={**self.info, "compressed": modes.info}, link=self.link,
                           readout=self.readout, teacher_readout=self.teacher_readout)
        horizon = _horizon(horizon, rtol)
        if horizon is None:
            modes = compression.group(self.eigenvalues, self.w_star, self.w0, self.counts,
                                      rtol=rtol, representative=representative)
        else:
            modes = _group_for_horizon(self, rtol, representative, horizon, bound)
        return Problem(modes.eigenvalues, modes.w_star, modes.w0, noise=self.noise, d=self.d,
                       counts=modes.counts, info={**self.info, "compressed": modes.info},
                       link=self.link)

    @property
    def is_network(self) -> bool:
        """A two-layer network (2-D w_star and w0, readouts set) rather than a single-index
        problem."""
        return self.readout is not None

    @property
    def units(self) -> int:
        """p, the student units (1 for a single-index problem)."""
        return int(self.w0.shape[1]) if self.is_network else 1

    @property
    def teacher_units(self) -> int:
        """k, the teacher units (1 for a single-index problem)."""
        return int(self.w_star.shape[1]) if self.is_network else 1

    @property
    def S_star(self) -> np.ndarray:
        """S* = W*ᵀQW* (k × k; networks page: The model); [[s*]] for a single-index
        problem."""
        if not self.is_network:
            return np.array([[self.s_star]])
        return net.gram(self.eigenvalues, self.w_star, self.w_star)

    @property
    def s_star(self) -> float:
        """s* = w*ᵀQw* (model page: Statistics and loss); for a network, the readout-weighted
        Σ_l a*_l S*_ll."""
        if self.is_network:
            return float(np.dot(np.asarray(self.teacher_readout), np.diag(self.S_star)))
        return _sum(self.eigenvalues * self.w_star * self.w_star)

    @property
    def star_norm2(self) -> float:
        """‖w*‖², so that σ*² = ‖w*‖²/d is the MSE of w = 0."""
        return _sum(np.ravel(self.w_star * self.w_star))

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues.max())

    def identity_fields(self) -> dict:
        """The fields that define the problem — every array and scalar a result depends on
        — by name: what :meth:`identity` hashes. ``info`` is provenance, not definition.
        The link pair enters by its identity (``"relu"``, ``"square,abs"``, ...) when it is
        not the square, so a square problem keeps the identity it had before links; a
        network's readouts enter as arrays (two networks that differ only in them define
        different dynamics), a single-index problem has none."""
        fields = {"eigenvalues": self.eigenvalues, "w_star": self.w_star, "w0": self.w0,
                  "counts": self.counts, "noise": self.noise, "d": self.d}
        if not self.link.is_square:
            fields["link"] = self.link.identity
        if self.readout is not None:
            fields["readout"] = self.readout
            fields["teacher_readout"] = self.teacher_readout
        return fields

    def identity(self) -> str:
        """The problem's identity: a SHA-256 digest of :meth:`identity_fields` (hex). Two
        problems have one identity exactly when they define the same dynamics; every
        result carries it (``meta["problem_id"]``) and whatever combines two results
        checks it. Computed once (O(n_coords))."""
        cached = self.__dict__.get("_identity")
        if cached is None:
            cached = digest({"kind": "pyscale.Problem", **self.identity_fields()})
            object.__setattr__(self, "_identity", cached)
        return cached

    def with_w0(self, w0: Any) -> "Problem":
        """The same problem started from another w(0)."""
        return Problem(self.eigenvalues, self.w_star, w0, noise=self.noise, d=self.d,
                       counts=self.counts, info=self.info, link=self.link,
                       readout=self.readout, teacher_readout=self.teacher_readout)

    __repr__ = _repr.repr_text
    _repr_html_ = _repr.repr_html


def _horizon(horizon: Any, compress: Any) -> Optional[float]:
    """The validated horizon T (None: uniform grouping); it sizes a compression."""
    return _sizing("horizon", horizon, compress, "a compression", "compress=δ",
                   " (an uncompressed problem is exact at every t)")


def _bound(bound: Any, horizon: Optional[float]) -> Optional[float]:
    """The validated bound K on |c0| + |c1| a horizon-aware compression is sized for (None:
    the flow's own bound)."""
    return _sizing("bound", bound, horizon, "a horizon-aware compression", "horizon=T")


def _sizing(name: str, value: Any, needed: Any, what: str, needs: str,
            why: str = "") -> Optional[float]:
    """``value`` as a finite float > 0 (None when not given), refused without ``needed``."""
    if value is None:
        return None
    if needed is None:
        raise ValueError(f"{name}= sizes the modes of {what}: pass {needs} too{why}")
    return check.positive(name, value)


def _start_stats(lam: np.ndarray, w_star: np.ndarray, w0: np.ndarray) -> tuple[float, float]:
    """(s(0), u(0)) of stored arrays, in the core's fixed blocks."""
    return _sum(lam * w0 * w0), _sum(lam * w0 * w_star)


#: Draws a horizon-aware compression may take: its modes need the coefficients' bound K,
#: which depends on the drawn s* (target "norm_d") and start; a draw whose K exceeds the
#: assumed one is redone with the larger K (deterministic for a seed; one draw for "unit_q").
_HORIZON_DRAWS = 8


def _draw_compressed(d: int, a: float, seed: int, target: str, rtol: float,
                     horizon: Optional[float], link: LinkPair,
                     bound: Optional[float] = None) -> "compression.Modes":
    """``draw_power_law``, horizon-aware when ``horizon`` is set: K assumed for s* = 1 and a
    small start (the square: L(0) ≤ 3 s*²; another pair: s(0) = 1/d, its mean, and
    u(0) = 0), at least ``bound``, then checked against the draw's own s*, s(0), u(0)."""
    if horizon is None:
        return compression.draw_power_law(d, a, seed=seed, target=target, rtol=rtol)
    if link.is_square:
        rate = compression.flow_rate_bound(1.0, 0.0, 0.0)
    else:
        rate = compression.flow_rate_bound(1.0, 1.0 / d, 0.0, pair=link)
    rate = max(rate, bound or 0.0)
    for _ in range(_HORIZON_DRAWS):
        modes = compression.draw_power_law(d, a, seed=seed, target=target, rtol=rtol,
                                           horizon=horizon, rate=rate)
        need = _needed_rate(modes, link)
        if need <= rate:
            return modes
        rate = need * (1.0 + 1e-3)
    raise RuntimeError(f"the horizon-aware draw did not settle its rate bound in "
                       f"{_HORIZON_DRAWS} draws (last K = {rate:.6g})")


def _needed_rate(modes: "compression.Modes", link: LinkPair) -> float:
    """K for the stored arrays of ``modes`` (their own s*, s(0), u(0): what engines check)."""
    lam, ws = modes.eigenvalues, modes.w_star
    return compression.flow_rate_bound(_sum(lam * ws * ws), *_start_stats(lam, ws, modes.w0),
                                       pair=link)


def _group_for_horizon(problem: "Problem", rtol: float, representative: str,
                       horizon: float, bound: Optional[float] = None) -> "compression.Modes":
    """``group`` sized for ``horizon``, K from the problem's s*, w(0) (at least ``bound``) —
    then checked against the grouped arrays' own (a "count" eigenvalue moves s* by O(δ)),
    regrouped if short."""
    rate = max(compression.flow_rate_bound(problem.s_star, *_start_stats(
        problem.eigenvalues, problem.w_star, problem.w0), pair=problem.link), bound or 0.0)
    for _ in range(_HORIZON_DRAWS):
        modes = compression.group(problem.eigenvalues, problem.w_star, problem.w0,
                                  problem.counts, rtol=rtol, representative=representative,
                                  horizon=horizon, rate=rate)
        need = _needed_rate(modes, problem.link)
        if need <= rate:
            return modes
        rate = need * (1.0 + 1e-3)
    raise RuntimeError(f"the horizon-aware grouping did not settle its rate bound in "
                       f"{_HORIZON_DRAWS} tries (last K = {rate:.6g})")


def _as_one_unit(modes: "compression.Modes") -> "compression.Modes":
    """A single-index compression as a one-unit network's (W* and W(0) as (n, 1) columns):
    its ≤ 2 rows per mode carry the mode's exact Gram matrix of [w* w(0)], which is what a
    network's rows must carry (networks page: Compression), so p = k = 1 compresses exactly
    as the single-index problem does (networks page: What is exact)."""
    return replace(modes, w_star=modes.w_star[:, None], w0=modes.w0[:, None])


def _check_forms(name: str, vec: np.ndarray, lam: np.ndarray) -> None:
    """Refuse a vector whose squared norms (‖v‖², vᵀQv: the statistics every engine and
    prediction forms) overflow float64: every number computed from it would be inf."""
    with np.errstate(over="ignore"):
        forms = (("its squared norm", _sum(vec * vec)),
                 ("its Q-norm vᵀQv", _sum(lam * vec * vec)))
    for what, value in forms:
        if not np.isfinite(value):
            raise ValueError(f"{name} is too large: {what} overflows float64 (largest entry "
                             f"{float(np.abs(vec).max()):.3g}); rescale it")


def _check_fits(d: int, per_coord: int = _BYTES_PER_COORD) -> None:
    """Refuse, before allocating, a full power law whose vectors do not fit in memory."""
    check.memory(per_coord * d, f"Problem.power_law(d={d}) (its length-d vectors)", None,
                 "pass compress=1e-3 (exact in distribution, memory O(number of modes))")
