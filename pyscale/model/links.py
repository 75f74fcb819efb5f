"""Link functions and link pairs (links page).

Labels are ``y = τ(x·w*) + ξ`` and the prediction is ``σ(x·w)``: a :class:`Link` is one such
function, a :class:`LinkPair` a student σ with a teacher τ. With z = x·w and z* = x·w*, (z, z*)
is Gaussian with covariance [[s, u], [u, s*]], so the population loss is

    L − σ²_noise = ℓ(s, u) = κ_σσ(s, s, s) − 2 κ_στ(s, s*, u) + κ_ττ(s*, s*, s*),

κ_fg(v1, v2, c) = E[f(z1) g(z2)] the Gaussian kernel of two links, and gradient flow reads
dw/dt = c0 Q w + c1 Q w* with c0 = −2 ∂ℓ/∂s and c1 = −∂ℓ/∂u. The numbers come from the numba
twins in :mod:`pyscale._kernels.links` (callable inside njit code through ``pair.params``),
which follow the C++ ``pyscale::LinkPair`` (``csrc/include/pyscale/model/link.hpp``).

>>> pair = LinkPair("square", "abs")
>>> round(pair.flow_coefficients(1e-12, 0.0)[0], 6)   # c0 at the origin: 4 sqrt(2 s*/pi)
3.191538
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import re
from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np
from numba import cfunc, types
from numba.core.ccallback import CFunc

from .._kernels import links as kern
from .link_tables import Atoms, hermite_to_monomials, pair_params

__all__ = ["Link", "LinkPair", "LossDerivatives", "LinkLike", "PairLike"]

_NAMED = {"square": 0, "abs": 1, "relu": 2, "erf": 3, "tanh": 6}
_KIND_NAMES = {0: "square", 1: "abs", 2: "relu", 3: "erf", 4: "polynomial", 5: "hermite",
               6: "tanh", 7: "user"}
_TANH_WIDTH = math.pi / 2
_MAX_DEGREE = 20
# Points where a user link is sampled: its evenness check and its fingerprint.
_PROBE = np.array([0.0, 0.1, 0.37, 0.5, 0.9, 1.3, 1.7, 2.2, 2.9, 3.6, 4.4, 5.5, 7.0])


class LossDerivatives(NamedTuple):
    """ℓ(s, u) at fixed s* (label noise excluded) and its partial derivatives (the names of
    the C++ ``pyscale::LossDerivatives``)."""
    l: float  # noqa: E741
    ls: float
    lu: float
    lss: float
    lsu: float
    luu: float


def _format(x: float) -> str:
    """A coefficient in an identity string: shortest round-trip repr, '.0' dropped."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _coefficients(values: Any, what: str) -> tuple[float, ...]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"Link.{what} needs a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"Link.{what} needs a non-empty 1-D sequence of coefficients")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Link.{what}'s coefficients must be finite")
    if arr.size > _MAX_DEGREE + 1:
        raise ValueError(f"Link.{what} has degree at most {_MAX_DEGREE}, got {arr.size - 1}")
    return tuple(float(x) for x in arr)


def _trimmed(a: list[float]) -> tuple[float, ...]:
    while len(a) > 1 and a[-1] == 0.0:
        a.pop()
    return tuple(a) if a else (0.0,)


def _as_cfunc(f: Any, what: str) -> Any:
    """A numba cfunc ``float64(float64)`` for f (a cfunc, an njit function or a Python
    function numba can compile)."""
    if isinstance(f, CFunc):
        c = f.ctypes
        if c.restype is not ctypes.c_double or list(c.argtypes) != [ctypes.c_double]:
            raise TypeError(f"{what} must be a cfunc with signature float64(float64)")
        return f
    if not callable(f):
        raise TypeError(f"{what} must be a numba cfunc, an njit function or a function, "
                        f"got {type(f).__name__}")
    try:
        return cfunc(types.float64(types.float64))(f)
    except Exception as exc:  # numba's typing errors are long: keep their first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TypeError(f"{what} cannot be compiled as a numba cfunc float64(float64): "
                        f"{first}") from None


class Link:
    """A link function σ (links page).

    ``Link("square" | "abs" | "relu" | "erf" | "tanh")`` (``"erf"`` is erf(z/√2), as in
    Saad–Solla), ``Link.polynomial([a0, a1, ...])`` (Σ a_k z^k), ``Link.hermite([c0, c1, ...])``
    (Σ c_k He_k(z), probabilists' Hermite polynomials), ``Link.user(sigma, sigma_prime,
    sigma_second=None)`` from numba cfuncs or njit functions. ``Link(identity)`` rebuilds any
    non-user link from its :attr:`identity` string. Calling a link evaluates σ on arrays.
    """

    __slots__ = ("_kind", "_given", "_atoms", "_even", "_name", "_cfuncs", "_block", "_id",
                 "_core")
    _block: Optional[np.ndarray]
    _core: Any

    def __init__(self, name: Union[str, "Link"]):
        if isinstance(name, Link):
            self._copy(name)
            return
        if not isinstance(name, str):
            raise TypeError(f"a link is a name, a Link or a (student, teacher) pair, got "
                            f"{type(name).__name__}")
        text = name.strip().lower()
        match = re.fullmatch(r"(polynomial|hermite)\((.*)\)", text)
        if match:
            try:
                values = [float(x) for x in match.group(2).split(",")]
            except ValueError:
                raise ValueError(f"cannot read the coefficients of link {name!r}") from None
            self._copy(getattr(Link, match.group(1))(values))
            return
        if text not in _NAMED:
            from .._validate import suggest

            raise ValueError(f"unknown link {name!r}{suggest(text, _NAMED)}; links are "
                             "square, abs, relu, erf, tanh, polynomial(a0,a1,...), "
                             "hermite(c0,c1,...) or Link.user(...)")
        kind = _NAMED[text]
        atoms = {0: Atoms(0, (0.0, 0.0, 1.0)), 1: Atoms(1, (0.0,), abs_weight=1.0),
                 2: Atoms(2, (0.0, 0.5), abs_weight=0.5), 3: Atoms(3, (0.0,), erf_weight=1.0),
                 6: Atoms(6, quadrature=True, width=_TANH_WIDTH)}[kind]
        self._init(kind, (), atoms, kind in (0, 1), text)

    def _init(self, kind: int, given: tuple, atoms: Atoms, even: bool, identity: str,
              name: str = "", cfuncs: tuple = ()) -> None:
        self._kind, self._given, self._atoms, self._even = kind, given, atoms, even
        self._id, self._name, self._cfuncs = identity, name, cfuncs
        self._block = None
        self._core = None

    def _copy(self, other: "Link") -> None:
        self._init(other._kind, other._given, other._atoms, other._even, other._id,
                   other._name, other._cfuncs)

    @classmethod
    def _make(cls, kind: int, given: tuple, atoms: Atoms, even: bool, identity: str,
              name: str = "", cfuncs: tuple = ()) -> "Link":
        link = cls.__new__(cls)
        link._init(kind, given, atoms, even, identity, name, cfuncs)
        return link

    @classmethod
    def polynomial(cls, coefficients) -> "Link":
        """σ(z) = Σ_k a_k z^k (degree ≤ 20)."""
        a = _trimmed(list(_coefficients(coefficients, "polynomial")))
        even = all(x == 0.0 for x in a[1::2])
        ident = "polynomial(" + ",".join(_format(x) for x in a) + ")"
        return cls._make(4, a, Atoms(4, a), even, ident)

    @classmethod
    def hermite(cls, coefficients) -> "Link":
        """σ(z) = Σ_k c_k He_k(z), He_k the probabilists' Hermite polynomials (degree ≤ 20)."""
        c = _trimmed(list(_coefficients(coefficients, "hermite")))
        even = all(x == 0.0 for x in c[1::2])
        ident = "hermite(" + ",".join(_format(x) for x in c) + ")"
        return cls._make(5, c, Atoms(5, _trimmed(hermite_to_monomials(c))), even, ident)

    @classmethod
    def tanh(cls) -> "Link":
        """σ(z) = tanh z (kernels by quadrature)."""
        return cls("tanh")

    @classmethod
    def user(cls, sigma: Callable, sigma_prime: Callable,
             sigma_second: Optional[Callable] = None, *, even: Optional[bool] = None,
             analytic_width: float = math.pi / 2, name: Optional[str] = None) -> "Link":
        """A user link from σ and σ' (and optionally σ''), each a numba ``cfunc``
        ``float64(float64)``, an njit function or a function numba can compile.

        The kernels integrate it by the trapezoid rule, whose step follows ``analytic_width``:
        the half-width of a strip |Im z| < width in which σ is analytic and of moderate size
        (π/2 for tanh, π for softplus or z·logistic(z), 1 to 3 for entire functions such as
        sin; smaller is safer and slower); σ is assumed to grow at most like z². Missing
        derivatives up to σ'''' are taken by sixth-order central differences of the highest
        one given (σ'''' to ~1e-9 from σ' alone, ~5e-11 from σ''). ``even`` declares
        σ(−z) = σ(z); by default it is read off σ's values, and a declaration they contradict
        is refused.
        """
        funcs = [_as_cfunc(sigma, "sigma"), _as_cfunc(sigma_prime, "sigma_prime")]
        if sigma_second is not None:
            funcs.append(_as_cfunc(sigma_second, "sigma_second"))
        width = float(analytic_width)
        if not (width > 0.0 and math.isfinite(width)):
            raise ValueError(f"analytic_width must be positive and finite, got {analytic_width!r}")
        addresses = tuple(int(f.address) for f in funcs) + (0,) * (5 - len(funcs))
        atoms = Atoms(7, quadrature=True, width=width, addresses=addresses)
        probe = cls._make(7, (), atoms, False, "user", cfuncs=tuple(funcs))
        values = probe.derivatives(np.concatenate([-_PROBE, _PROBE]), 1)
        plus, minus = values[len(_PROBE):, 0], values[:len(_PROBE), 0]
        if not np.all(np.isfinite(values)):
            raise ValueError("a user link's sigma and sigma' must be finite on [-7, 7]")
        looks_even = bool(np.allclose(plus, minus, rtol=1e-12, atol=1e-300))
        if even is None:
            even = looks_even
        elif bool(even) != looks_even:
            raise ValueError(f"the user link was declared even={bool(even)}, but sigma(-z) "
                             f"{'==' if looks_even else '!='} sigma(z) at sample points")
        label = str(name or getattr(sigma, "__name__", "sigma"))
        digest = hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:12]
        atoms = Atoms(7, quadrature=True, width=width, addresses=addresses, even=bool(even))
        return cls._make(7, (), atoms, bool(even), f"user({label})@{digest}", label,
                         tuple(funcs))

    # ---- description -------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"square"``, ``"abs"``, ``"relu"``, ``"erf"``, ``"polynomial"``, ``"hermite"``,
        ``"tanh"`` or ``"user"``."""
        return _KIND_NAMES[self._kind]

    @property
    def coefficients(self) -> tuple[float, ...]:
        """The coefficients as given, trailing zeros dropped (polynomial: a_k; hermite: c_k);
        () otherwise."""
        return self._given

    @property
    def identity(self) -> str:
        """A stable text naming the link (files, digests, the CLI): ``"relu"``,
        ``"polynomial(0,0,1)"``; a user link's is ``"user(name)@<digest of its values>"``."""
        return self._id

    @property
    def even(self) -> bool:
        """σ(−z) = σ(z)."""
        return self._even

    @property
    def kinked(self) -> bool:
        """σ has a kink at 0 (abs, relu): σ'' is a delta there."""
        return self._atoms.kinked

    @property
    def quadrature(self) -> bool:
        """Kernels by the trapezoid rule (tanh, user) rather than closed forms."""
        return self._atoms.quadrature

    @property
    def atoms(self) -> Atoms:
        """The kernels' description of the link (links page: The kernel)."""
        return self._atoms

    @property
    def addresses(self) -> tuple[int, ...]:
        """A user link's C function addresses σ, σ', σ'', σ''', σ'''' (0 where absent): what
        C++ receives as ``double (*)(double)``. Valid while this Link is alive."""
        return self._atoms.addresses

    @property
    def block(self) -> np.ndarray:
        """This link's block of the numba parameter array (read-only)."""
        if self._block is None:
            from .link_tables import link_block

            block = link_block(self._atoms)
            block.setflags(write=False)
            self._block = block
        return self._block

    def core(self) -> Any:
        """The core's description of this link (``pyscale._core.model.Link``), what the
        engines' link pairs read; cached. A user link's C functions are its cfuncs, which the
        core object keeps alive; a Link whose compiled functions are gone (copied without
        them, or unpickled in another process) is refused."""
        if self._core is None:
            import pyscale._core as _core

            if self._kind == 7:
                live = tuple(int(f.address) for f in self._cfuncs)
                given = tuple(a for a in self._atoms.addresses if a)
                if len(live) < 2 or live != given:
                    raise ValueError(f"the user link {self._id!r} has lost its compiled "
                                     "functions (a copy made without them, or one unpickled "
                                     "in another process): build it again with Link.user(...) "
                                     "in this process")
                self._core = _core.model.Link.user(list(live), self._even, self._atoms.width,
                                                   self._cfuncs)
            elif self._kind in (4, 5):
                self._core = getattr(_core.model.Link, self.kind)(list(self._given))
            else:
                self._core = getattr(_core.model.Link, self.kind)()
        return self._core

    # ---- values ------------------------------------------------------------------------
    def derivatives(self, z, order: int = 1) -> np.ndarray:
        """σ^(k)(z) for k = 0..order (≤ 4), shape ``z.shape + (order + 1,)``. Kinked links
        give at 0 the mean of the one-sided derivatives for σ' (relu'(0) = 1/2, |z|'(0) = 0)
        and NaN for σ''(0) (a delta)."""
        if int(order) != order or not 0 <= order <= 4:
            raise ValueError(f"order must be an integer in 0..4, got {order!r}")
        zz = np.asarray(z, dtype=np.float64)
        out = kern.link_values(self.block, 0, np.ascontiguousarray(zz.ravel()), int(order))
        return out.reshape(zz.shape + (int(order) + 1,))

    def __call__(self, z):
        """σ(z), elementwise."""
        out = self.derivatives(z, 0)[..., 0]
        return float(out) if np.ndim(z) == 0 else out

    def prime(self, z):
        """σ'(z), elementwise (at a kink, the mean of the one-sided derivatives)."""
        out = self.derivatives(z, 1)[..., 1]
        return float(out) if np.ndim(z) == 0 else out

    def second(self, z):
        """σ''(z), elementwise (NaN at the kink of abs and relu)."""
        out = self.derivatives(z, 2)[..., 2]
        return float(out) if np.ndim(z) == 0 else out

    def hermite_coefficients(self, count: int) -> np.ndarray:
        """c_0..c_(count−1) with σ = Σ c_k He_k in L²(N(0, 1)): closed forms, or the
        trapezoid rule for tanh and user links (links page: Hermite coefficients)."""
        from .link_moments import hermite_coefficients

        return hermite_coefficients(self, int(count))

    # ---- identity ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Link):
            return NotImplemented
        return self._id == other._id and self._atoms == other._atoms and \
            self._even == other._even

    def __hash__(self) -> int:
        return hash((self._id, self._atoms.addresses))

    def __repr__(self) -> str:
        if self._kind in _KIND_NAMES and self.kind in _NAMED:
            return f"Link({self.kind!r})"
        if self._kind in (4, 5):
            return f"Link.{self.kind}({list(self._given)!r})"
        return f"Link.user({self._name!r}, even={self._even})"


LinkLike = Union[str, Link]
PairLike = Union[str, Link, "LinkPair", tuple, list]


def _split_pair(text: str) -> list[str]:
    """Splits 'a,b' at top-level commas (not inside polynomial(...))."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


class LinkPair:
    """A student link σ and a teacher link τ (links page).

    ``LinkPair("relu")`` (σ = τ), ``LinkPair("square", "abs")``, ``LinkPair("square,abs")``,
    ``LinkPair((Link("relu"), Link.hermite([0, 0, 0, 1])))`` or ``LinkPair(other_pair)``.
    :attr:`params` is the float64 array the numba twins read; :attr:`identity` is ``"relu"`` for
    σ = τ and ``"student,teacher"`` otherwise.
    """

    __slots__ = ("_student", "_teacher", "_params", "_core")
    _core: Any

    def __init__(self, student: PairLike, teacher: Optional[LinkLike] = None):
        if isinstance(student, LinkPair) and teacher is None:
            s, t = student.student, student.teacher
        elif isinstance(student, (tuple, list)) and teacher is None:
            if len(student) != 2:
                raise ValueError(f"a link pair is (student, teacher), got {len(student)} links")
            s, t = Link(student[0]), Link(student[1])
        elif isinstance(student, str) and teacher is None and len(_split_pair(student)) > 1:
            names = _split_pair(student)
            if len(names) != 2 or not all(names):
                raise ValueError(f"a link pair is 'student,teacher' (two links), got "
                                 f"{student!r}")
            s, t = Link(names[0]), Link(names[1])
        else:
            s = Link(student)  # type: ignore[arg-type]
            t = s if teacher is None else Link(teacher)
        if (s.quadrature or t.quadrature) and (s.kinked or t.kinked):
            kinked = s if s.kinked else t
            raise ValueError(f"the kinked link {kinked.identity!r} cannot be paired with a "
                             "quadrature link (tanh, user): its kink would spoil the quadrature")
        self._student, self._teacher = s, t
        self._params = pair_params(s.atoms, t.atoms)
        self._core = None

    @property
    def student(self) -> Link:
        return self._student

    @property
    def teacher(self) -> Link:
        return self._teacher

    @property
    def params(self) -> np.ndarray:
        """The read-only float64 array the numba twins take (``pyscale._kernels.links``):
        ``loss_derivatives(pair.params, s, u, s_star)`` inside njit code."""
        return self._params

    @property
    def identity(self) -> str:
        if self._student == self._teacher:
            return self._student.identity
        return f"{self._student.identity},{self._teacher.identity}"

    @property
    def is_square(self) -> bool:
        """σ = τ = square: phase retrieval, the engines' original closed forms."""
        return self._student.kind == "square" and self._teacher.kind == "square"

    @property
    def is_polynomial(self) -> bool:
        """Both links are polynomials (square, polynomial, hermite): ℓ(s, u) is then a
        polynomial in s and u (:meth:`loss_polynomial`)."""
        return all(not (x.quadrature or x.atoms.abs_weight or x.atoms.erf_weight)
                   for x in (self._student, self._teacher))

    def loss_polynomial(self, s_star: float = 1.0) -> np.ndarray:
        """A[m, k] with ℓ(s, u) = Σ A[m, k] s^m u^k at fixed s* (polynomial pairs only;
        label noise excluded)."""
        if not self.is_polynomial:
            raise ValueError(f"the loss of link pair {self.identity!r} is not a polynomial "
                             f"in s and u (a link of it is not a polynomial)")
        from .link_moments import loss_polynomial

        return loss_polynomial(self._student.atoms.poly, self._teacher.atoms.poly,
                               float(s_star))

    def loss_many(self, s: Any, u: Any, s_star: float = 1.0) -> np.ndarray:
        """ℓ(s_i, u_i) on arrays (label noise excluded); NaN outside the pair's domain
        (s < 0, or s = 0 with a kinked student)."""
        ss, uu = np.broadcast_arrays(np.asarray(s, dtype=np.float64),
                                     np.asarray(u, dtype=np.float64))
        out = kern.loss_many(self._params, np.ascontiguousarray(ss.ravel()),
                             np.ascontiguousarray(uu.ravel()), float(s_star))
        return out.reshape(ss.shape)

    def loss_and_rate(self, s: Any, u: Any, s_star: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(ℓ(s_i, u_i), |c0| + |c1| at (s_i, u_i)) on arrays (label noise excluded; NaN
        outside the pair's domain, as :meth:`loss_many`): the flow's coefficient sum that a
        horizon-aware compression bounds (model page: Compression, Horizon-aware grouping)."""
        ss, uu = np.broadcast_arrays(np.asarray(s, dtype=np.float64),
                                     np.asarray(u, dtype=np.float64))
        value, rate = kern.coefficient_sum_many(self._params, np.ascontiguousarray(ss.ravel()),
                                                np.ascontiguousarray(uu.ravel()), float(s_star))
        return value.reshape(ss.shape), rate.reshape(ss.shape)

    @property
    def mse_kind(self) -> str:
        """The recovery metric a run of the pair records: ``"sign_invariant"`` (min ‖w ∓ w*‖²/d,
        σ = τ even), ``"plain"`` (‖w − w*‖²/d, σ = τ not even) or ``"undefined"`` (σ ≠ τ:
        there is no w* to recover; runs carry the excess risk and the cosine)."""
        if self._student != self._teacher:
            return "undefined"
        return "sign_invariant" if self._student.even else "plain"

    def core(self) -> Any:
        """The core's pair, what every engine entry point takes (pybind11 picks the engine
        compiled for its type): ``pyscale._core.model.SquarePair`` for σ = τ = square (phase
        retrieval's own closed forms, and bits), ``pyscale._core.model.LinkPair`` otherwise.
        Cached; it keeps a user link's functions alive."""
        if self._core is None:
            import pyscale._core as _core

            self._core = _core.model.SquarePair() if self.is_square else \
                _core.model.LinkPair(self._student.core(), self._teacher.core())
        return self._core

    # ---- loss --------------------------------------------------------------------------
    def _point(self, s: float, u: float, s_star: float) -> tuple[float, float, float]:
        s, u, s_star = float(s), float(u), float(s_star)
        if not s_star > 0.0:
            raise ValueError(f"s* must be positive, got {s_star!r}")
        if s < 0.0:
            raise ValueError(f"s = w^T Q w must be >= 0, got {s!r}")
        if s <= 0.0 and self._student.kinked:
            raise ValueError(f"s = 0 with the kinked student {self._student.identity!r}: its "
                             "loss is not differentiable at w = 0 (c0 grows like sqrt(s*/s) as "
                             "s -> 0), so start from s > 0")
        return s, u, s_star

    def loss(self, s: float, u: float, s_star: float = 1.0) -> float:
        """ℓ(s, u) = E[(σ(z) − τ(z*))²], label noise excluded (links page)."""
        return float(kern.loss(self._params, *self._point(s, u, s_star)))

    def loss_derivatives(self, s: float, u: float, s_star: float = 1.0) -> LossDerivatives:
        """ℓ and its partial derivatives in s and u at fixed s*."""
        return LossDerivatives(*kern.loss_derivatives(self._params, *self._point(s, u, s_star)))

    def loss_gradient(self, s: float, u: float, s_star: float = 1.0) -> tuple[float, float, float]:
        """(ℓ, ℓ_s, ℓ_u) only: half the cost of :meth:`loss_derivatives` for tanh and user
        links."""
        value, ls, lu = kern.loss_gradient(self._params, *self._point(s, u, s_star))
        return float(value), float(ls), float(lu)

    def flow_coefficients(self, s: float, u: float, s_star: float = 1.0) -> tuple[float, float]:
        """(c0, c1) = (−2 ∂ℓ/∂s, −∂ℓ/∂u): dw/dt = c0 Q w + c1 Q w*."""
        c0, c1 = kern.flow_coefficients(self._params, *self._point(s, u, s_star))
        return float(c0), float(c1)

    def jacobian_block(self, s: float, u: float, s_star: float = 1.0) -> np.ndarray:
        """C = −[[4 ℓ_ss, 2 ℓ_su], [2 ℓ_su, ℓ_uu]]: the flow's Jacobian is
        c0 Q + Q [w w*] C [w w*]ᵀ Q (the square: diag(−24, 8))."""
        d = self.loss_derivatives(s, u, s_star)
        return -np.array([[4.0 * d.lss, 2.0 * d.lsu], [2.0 * d.lsu, d.luu]])

    def classify(self, s_star: float = 1.0):
        """What the theory needs of the pair: information exponent, evenness, the start's
        coefficients and regime (:class:`~pyscale.model.link_classification.PairClass`)."""
        from .link_classification import classify

        return classify(self, float(s_star))

    # ---- identity ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LinkPair):
            return NotImplemented
        return self._student == other._student and self._teacher == other._teacher

    def __hash__(self) -> int:
        return hash((self._student, self._teacher))

    def __repr__(self) -> str:
        def short(link: Link) -> str:
            text = repr(link)
            return text[len("Link("):-1] if text.startswith("Link('") else text

        if self._student == self._teacher:
            return f"LinkPair({short(self._student)})"
        return f"LinkPair({short(self._student)}, {short(self._teacher)})"
