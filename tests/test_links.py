"""Links and link pairs (links page): the Gaussian kernels against Monte Carlo and 2-D
adaptive quadrature, c0 = −2 ∂ℓ/∂s, c1 = −∂ℓ/∂u and the second derivatives against finite
differences, the square's closed forms, the classification, the small-start escape law, and the
public ``Link``/``LinkPair`` API. The numba twins are what is tested here; their C++ originals
are held against them in tests/test_link_cpp.py.
"""
import math
import warnings

import numpy as np
import pytest
from numba import cfunc, njit, types
from numpy.polynomial.hermite_e import hermeval
from scipy import integrate, optimize, special

from pyscale._kernels import links as kern
from pyscale.model.links import Link, LinkPair

SIG = types.float64(types.float64)


@cfunc(SIG)
def wave(z):
    return math.sin(z) + 0.5 * z


@cfunc(SIG)
def wave_prime(z):
    return math.cos(z) + 0.5


@cfunc(SIG)
def wave_second(z):
    return -math.sin(z)


def wave_link():
    return Link.user(wave, wave_prime, wave_second, analytic_width=2.0, name="wave")


POLY = "polynomial(0.2,1,-0.5,0.3)"
HE3 = "hermite(0,0,0,1)"

# Plain NumPy versions of the links: the references never go through pyscale's own code.
REFERENCE = {
    "square": lambda z: z * z,
    "abs": np.abs,
    "relu": lambda z: np.maximum(z, 0.0),
    "erf": lambda z: special.erf(z / np.sqrt(2.0)),
    "tanh": np.tanh,
    POLY: lambda z: np.polyval([0.3, -0.5, 1.0, 0.2], z),
    "polynomial(-0.1,0.5,1)": lambda z: np.polyval([1.0, 0.5, -0.1], z),
    HE3: lambda z: hermeval(z, [0, 0, 0, 1]),
    "wave": lambda z: np.sin(z) + 0.5 * z,
}
KINKED = {"abs", "relu"}

BUILTIN = ["square", "abs", "relu", "erf", "tanh", POLY, HE3]
CROSS = [("square", "abs"), ("square", "relu"), ("relu", "erf"), ("abs", "square"),
         ("erf", "tanh"), (POLY, "polynomial(-0.1,0.5,1)"), ("relu", HE3), ("square", "erf")]


def pair_of(student, teacher=None):
    if student == "wave":
        return LinkPair(wave_link(), wave_link() if teacher is None else Link(teacher))
    return LinkPair(student, teacher)


def kernel(pair: LinkPair, v1, v2, c):
    """κ_στ(v1, v2, c) from the twin (the cross kernel the pair's loss uses)."""
    return kern.kernel_jet(pair.params, v1, v2, c, 2)[0]


# ---- kernels against Monte Carlo and quadrature ------------------------------------------
MC_POINT = (0.8, 1.2, 0.5)
MC_SAMPLES = 10_000_000


@pytest.fixture(scope="module")
def gaussian_sample():
    rng = np.random.default_rng(20260117)
    v1, v2, c = MC_POINT
    x, y = rng.standard_normal(MC_SAMPLES), rng.standard_normal(MC_SAMPLES)
    z2 = np.sqrt(v2) * x
    z1 = (c / v2) * z2 + np.sqrt(v1 - c * c / v2) * y
    return z1, z2


@pytest.mark.parametrize("student,teacher", [(n, n) for n in BUILTIN] + CROSS + [("wave", None)])
def test_kernel_matches_monte_carlo_within_5_standard_errors(gaussian_sample, student, teacher):
    teacher = student if teacher is None else teacher
    z1, z2 = gaussian_sample
    prod = REFERENCE[student](z1) * REFERENCE[teacher](z2)
    mean, se = prod.mean(), prod.std(ddof=1) / math.sqrt(prod.size)
    value = kernel(pair_of(student, teacher if teacher != student else None), *MC_POINT)
    assert abs(value - mean) <= 5 * se, (value, mean, se)


def reference_kernel(f, g, v1, v2, c, f_kink, g_kink):
    """E[f(z1) g(z2)] by nested adaptive quadrature (SciPy quad) on z1 | z2, split at kinks.
    (quad may warn that it cannot certify 1e-12 relative on near-zero inner integrals; the
    comparison with the kernel is what is asserted.)"""
    alpha, beta = c / v2, math.sqrt(v1 - c * c / v2)
    phi = lambda t: math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)  # noqa: E731

    def inner(z2):
        m = alpha * z2
        pts = [(-m / beta)] if f_kink and abs(m / beta) < 10 else None
        return integrate.quad(lambda y: phi(y) * float(f(m + beta * y)), -10, 10, points=pts,
                              epsabs=1e-14, epsrel=1e-12, limit=200)[0]

    def outer(x):
        z2 = math.sqrt(v2) * x
        return phi(x) * float(g(z2)) * inner(z2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return sum(integrate.quad(outer, a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
                   for a, b in ((-10, 0), (0, 10)))


CLOSED = [(n, n) for n in ("square", "abs", "relu", "erf", POLY, HE3)] + CROSS[:4] + \
    [(POLY, "polynomial(-0.1,0.5,1)"), ("relu", HE3), (HE3, "erf")]


@pytest.mark.parametrize("student,teacher", CLOSED)
def test_closed_kernel_matches_2d_quadrature_to_1e_10(student, teacher):
    pair = LinkPair(student, teacher)
    assert not pair.params[2], "a closed-form pair"
    for v1, v2, c in ((1.0, 1.0, 0.5), (0.3, 1.7, -0.6)):
        ref = reference_kernel(REFERENCE[student], REFERENCE[teacher], v1, v2, c,
                               student in KINKED, teacher in KINKED)
        assert abs(kernel(pair, v1, v2, c) - ref) <= 1e-10 * max(1.0, abs(ref))


@pytest.mark.parametrize("student,teacher", [("tanh", "tanh"), ("erf", "tanh"), ("wave", None)])
def test_quadrature_kernel_matches_2d_adaptive_quadrature(student, teacher):
    """The trapezoid rule of tanh and user links against SciPy's adaptive quadrature: 1e-12."""
    teacher_name = teacher or student
    pair = pair_of(student, teacher)
    for v1, v2, c in ((1.0, 1.0, 0.5), (1.6, 1.0, 1.1), (0.05, 1.0, 0.02)):
        ref = reference_kernel(REFERENCE[student], REFERENCE[teacher_name], v1, v2, c,
                               False, False)
        assert abs(kernel(pair, v1, v2, c) - ref) <= 1e-12 * max(1.0, abs(ref))


# ---- derivatives against finite differences ----------------------------------------------
def richardson(F, x, h):
    """Central difference of F at x, extrapolated twice (error O(h^6))."""
    def d(step):
        return (F(x + step) - F(x - step)) / (2 * step)
    r1 = (4 * d(h / 2) - d(h)) / 3
    r2 = (4 * d(h / 4) - d(h / 2)) / 3
    return (16 * r2 - r1) / 15


FD_PAIRS = [(n, None) for n in BUILTIN] + CROSS + [("wave", None), ("wave", "tanh")]
FD_POINTS = [(0.3, 0.1, 1.0), (1.0, 0.6, 1.0), (1.5, -0.9, 1.0), (0.05, 0.01, 1.0),
             (0.7, 0.8, 1.7)]


def fd_errors(pair: LinkPair, s: float, u: float, s_star: float) -> list:
    """Relative errors of c0, c1, ℓ_ss, ℓ_su (both ways round) and ℓ_uu against Richardson
    central differences, denominators max(|difference quotient|, 1e-2)."""
    h = 2e-2 * (s * s_star - u * u) / (s + s_star)
    d = pair.loss_derivatives(s, u, s_star)
    c0, c1 = pair.flow_coefficients(s, u, s_star)

    def ls(a, b):
        return pair.loss_derivatives(a, b, s_star).ls

    def lu(a, b):
        return pair.loss_derivatives(a, b, s_star).lu

    checks = [
        (c0, -2 * richardson(lambda t: pair.loss(t, u, s_star), s, h)),
        (c1, -richardson(lambda t: pair.loss(s, t, s_star), u, h)),
        (d.lss, richardson(lambda t: ls(t, u), s, h)),
        (d.lsu, richardson(lambda t: ls(s, t), u, h)),
        (d.lsu, richardson(lambda t: lu(t, u), s, h)),
        (d.luu, richardson(lambda t: lu(s, t), u, h)),
    ]
    assert pair.loss_gradient(s, u, s_star) == pytest.approx((d.l, d.ls, d.lu), rel=1e-14)
    return [abs(exact - fd) / max(abs(fd), 1e-2) for exact, fd in checks]


@pytest.mark.parametrize("student,teacher", FD_PAIRS)
def test_c0_c1_and_second_derivatives_match_finite_differences(student, teacher):
    """c0 = −2 ∂ℓ/∂s, c1 = −∂ℓ/∂u and ℓ_ss, ℓ_su, ℓ_uu to 1e-9 relative."""
    pair = pair_of(student, teacher)
    worst = max(max(fd_errors(pair, *point)) for point in FD_POINTS)
    assert worst <= 1e-9, worst


# ---- every ordered pair of built-in links ------------------------------------------------
QUADRATURE_LINKS = {"tanh"}
ALL_PAIRS = [(a, b) for a in BUILTIN for b in BUILTIN if a != b
             and not ((a in KINKED or b in KINKED) and (a in QUADRATURE_LINKS
                                                         or b in QUADRATURE_LINKS))]


@pytest.mark.parametrize("student,teacher", ALL_PAIRS)
def test_every_built_in_pair_against_monte_carlo_quadrature_and_finite_differences(
        gaussian_sample, student, teacher):
    """Every ordered pair of distinct built-in links (a kinked link with tanh is refused):
    the cross kernel within 5 standard errors of 10^7 samples and, closed or not, within
    1e-10 of 2-D adaptive quadrature; c0, c1 and the second derivatives to 1e-9."""
    pair = LinkPair(student, teacher)
    z1, z2 = gaussian_sample
    prod = REFERENCE[student](z1) * REFERENCE[teacher](z2)
    mean, se = prod.mean(), prod.std(ddof=1) / math.sqrt(prod.size)
    assert abs(kernel(pair, *MC_POINT) - mean) <= 5 * se
    ref = reference_kernel(REFERENCE[student], REFERENCE[teacher], 1.0, 1.0, 0.5,
                           student in KINKED, teacher in KINKED)
    assert abs(kernel(pair, 1.0, 1.0, 0.5) - ref) <= 1e-10 * max(1.0, abs(ref))
    worst = max(max(fd_errors(pair, *point)) for point in FD_POINTS)
    assert worst <= 1e-9, worst


def test_kinked_links_refuse_a_quadrature_partner():
    for kinked in KINKED:
        for pair in ((kinked, "tanh"), ("tanh", kinked)):
            with pytest.raises(ValueError, match="cannot be paired with a quadrature link"):
                LinkPair(*pair)


def test_user_link_without_sigma_second_matches_finite_differences_to_1e_8():
    """σ'', σ''', σ'''' by central differences of σ' (links page: User links)."""
    pair = LinkPair(Link.user(wave, wave_prime, analytic_width=2.0))
    full = pair_of("wave")
    for s, u, s_star in FD_POINTS:
        a, b = pair.loss_derivatives(s, u, s_star), full.loss_derivatives(s, u, s_star)
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)


# ---- the square and the links page's closed forms ----------------------------------------
def test_square_pair_is_todays_closed_forms_bit_for_bit():
    pair = LinkPair("square")
    for s in (0.0, 0.1, 1 / 3, 0.9, 1.7):
        for u in (-0.4, 0.0, 0.2, 0.8):
            for s_star in (1.0, 2.5):
                d = pair.loss_derivatives(s, u, s_star)
                assert d.l == 3 * s * s + 3 * s_star * s_star - 4 * u * u - 2 * s_star * s
                assert pair.flow_coefficients(s, u, s_star) == (4 * (s_star - 3 * s), 8 * u)
                np.testing.assert_array_equal(pair.jacobian_block(s, u, s_star),
                                              [[-24.0, 0.0], [0.0, 8.0]])
                g = LinkPair("polynomial(0,0,1)").loss_derivatives(s, u, s_star)
                np.testing.assert_allclose(g, d, rtol=1e-15, atol=1e-15)


def test_relu_abs_and_square_abs_closed_forms():
    relu, absl, sq_abs = LinkPair("relu"), LinkPair("abs"), LinkPair("square", "abs")
    for s, u, s_star in FD_POINTS:
        g = math.sqrt(s * s_star - u * u)
        theta = math.acos(u / math.sqrt(s * s_star))
        assert relu.flow_coefficients(s, u, s_star) == pytest.approx(
            (-1 + g / (math.pi * s), (math.pi - theta) / math.pi), rel=1e-14, abs=1e-15)
        assert absl.flow_coefficients(s, u, s_star) == pytest.approx(
            (-2 + 4 / math.pi * g / s, 4 / math.pi * math.asin(u / math.sqrt(s * s_star))),
            rel=1e-14, abs=1e-15)
        assert sq_abs.flow_coefficients(s, u, s_star) == pytest.approx(
            (4 * (math.sqrt(2 * s_star / math.pi) - 3 * s), 4 * math.sqrt(2 / math.pi) * u
             / math.sqrt(s_star)), rel=1e-14, abs=1e-15)


# ---- classification --------------------------------------------------------------------
@pytest.mark.parametrize("s_star", [1.0, 2.5])
def test_square_student_abs_teacher_small_start(s_star):
    k = LinkPair("square", "abs").classify(s_star)
    assert k.regime == "linear" and k.information_exponent == 2 and k.lu0 == 0.0
    assert k.c0_zero == pytest.approx(4 * math.sqrt(2 * s_star / math.pi), rel=1e-14)
    assert k.kappa == pytest.approx(4 * math.sqrt(2 / (math.pi * s_star)), rel=1e-14)
    # and they are the pair's own lim c0(s, 0), -d2l/du2 at the start
    c0, _ = LinkPair("square", "abs").flow_coefficients(1e-12, 0.0, s_star)
    assert c0 == pytest.approx(k.c0_zero, rel=1e-10)


@pytest.mark.parametrize("name,regime,k_star,c0_star", [
    ("square", "linear", 2, -8.0), ("abs", "kinked", 2, -2.0), ("relu", "first_order", 1, -1.0),
    ("erf", "first_order", 1, None), ("tanh", "first_order", 1, None),
    (HE3, "higher_order", 3, None)])
def test_classification_of_equal_links(name, regime, k_star, c0_star):
    pair = LinkPair(name)
    k = pair.classify()
    assert (k.regime, k.information_exponent) == (regime, k_star)
    assert k.description and k.kinked_start == (name in KINKED)
    c0, c1 = pair.flow_coefficients(1.0, 1.0)  # w = w*: the gradient vanishes, c0* = -c1*
    assert k.c0_star == pytest.approx(c0, rel=1e-14) and c0 == pytest.approx(-c1, rel=1e-12)
    if c0_star is not None:
        assert k.c0_star == pytest.approx(c0_star, rel=1e-14)
    assert k.even == Link(name).even


def test_classification_of_odd_starts_and_absent_signals():
    assert LinkPair("square", "erf").classify().regime == "no_signal"  # even student, odd teacher
    k = LinkPair("relu", "erf").classify()
    assert k.regime == "first_order" and k.c0_zero == -1.0  # relu's kink meets E[erf] = 0
    assert LinkPair("relu").classify().c0_zero == math.inf
    assert LinkPair("square", "polynomial(0,0,-1)").classify().regime == "no_escape"
    k = LinkPair("erf").classify()
    assert k.lu0 == pytest.approx(-2 * (2 / math.pi) / math.sqrt(2.0), rel=1e-14)  # −2 σ'(0) E τ'

    assert k.c0_zero == pytest.approx(-2 * 2 / math.pi, rel=1e-14)  # -2 erf'(0)^2
    k = LinkPair(HE3).classify(1.3)  # He3 off unit variance has E[He3'] = 3 (s* - 1) != 0
    assert k.information_exponent == 1


# ---- the small-start escape law --------------------------------------------------------
def escape_setup(d=100, a=2.0, seed=3):
    rng = np.random.default_rng(seed)
    lam = np.arange(1, d + 1, dtype=float) ** -a
    lam /= lam.sum()
    w_star = rng.standard_normal(d)
    w_star /= math.sqrt(lam @ w_star**2)
    w0 = rng.standard_normal(d)
    return lam, w_star, 1e-8 * w0 / np.linalg.norm(w0)


def escape_rate(lam, w_star, c0, kappa):
    """ρ: the root above max c0 λ_i of 1 = κ Σ w*_i² λ_i² / (ρ − c0 λ_i)."""
    b2 = (lam * w_star) ** 2
    top = c0 * lam.max()
    f = lambda r: 1 - kappa * np.sum(b2 / (r - c0 * lam))  # noqa: E731
    return optimize.brentq(f, top + 1e-15, top + kappa * b2.sum() + 1, xtol=1e-15, rtol=1e-15)


def test_escape_rate_is_the_top_eigenvalue_of_the_linearised_flow():
    """The small-start flow dw/dt = (c0⁰ Λ + κ (Λw*)(Λw*)ᵀ) w is linear; its top eigenvalue
    solves the dispersion relation (links page: Escape)."""
    lam, w_star, _ = escape_setup()
    k = LinkPair("square", "abs").classify()
    b = lam * w_star
    top = np.linalg.eigvalsh(np.diag(k.c0_zero * lam) + k.kappa * np.outer(b, b))[-1]
    assert escape_rate(lam, w_star, k.c0_zero, k.kappa) == pytest.approx(top, rel=1e-9)


def test_square_abs_escape_from_a_small_start_follows_the_law():
    """The full flow with the pair's own c0(s, u), c1(s, u) (SciPy DOP853, rtol 1e-11): u
    grows at the rate ρ, and |u| reaches δ = 1e-2 at T1 = log(δ/|C|)/ρ, C = â(ρ)/D'(ρ)."""
    lam, w_star, w0 = escape_setup()
    pair = LinkPair("square", "abs")
    k = pair.classify()
    rho = escape_rate(lam, w_star, k.c0_zero, k.kappa)
    gap = rho - k.c0_zero * lam
    a_hat = np.sum(lam * w0 * w_star / gap)
    d_prime = k.kappa * np.sum((lam * w_star) ** 2 / gap**2)
    C, delta = a_hat / d_prime, 1e-2
    t1 = math.log(delta / abs(C)) / rho

    @njit
    def rhs(t, w, p, lam, w_star):
        s, u = np.sum(lam * w * w), np.sum(lam * w * w_star)
        c0, c1 = kern.flow_coefficients(p, max(s, 1e-300), u, 1.0)
        return lam * (c0 * w + c1 * w_star)

    def crossed(t, w, *args):
        return abs(np.sum(lam * w * w_star)) - delta
    crossed.terminal = True
    sol = integrate.solve_ivp(rhs, (0, 5 * t1), w0, method="DOP853", rtol=1e-11, atol=1e-20,
                              args=(pair.params, lam, w_star), events=crossed, dense_output=True)
    t_cross = sol.t_events[0][0]
    assert t_cross == pytest.approx(t1, rel=1e-4)  # measured 8e-6
    u = lambda t: np.sum(lam * sol.sol(t) * w_star)  # noqa: E731
    late = 0.8 * t_cross
    growth = (math.log(abs(u(late))) - math.log(abs(u(late - 1.0)))) / 1.0
    assert growth == pytest.approx(rho, rel=1e-4)  # measured 2e-6


# ---- the public API ----------------------------------------------------------------------
def test_link_identities_round_trip_and_compare():
    links = [Link(n) for n in ("square", "abs", "relu", "erf", "tanh")] + [
        Link.polynomial([0, 0, 1]), Link.hermite([0, 0, 0, 1]), Link.polynomial([0.5, 1e-5, 3])]
    for link in links:
        assert Link(link.identity) == link and hash(Link(link.identity)) == hash(link)
        assert eval(repr(link), {"Link": Link}) == link
    assert Link.polynomial([0, 0, 1]).identity == "polynomial(0,0,1)"
    assert Link.polynomial([0, 0, 1]) != Link("square")
    assert Link.polynomial([0, 0, 1, 0]) == Link.polynomial([0, 0, 1])
    assert Link.hermite([0, 1, 0]).coefficients == (0.0, 1.0)
    assert Link.tanh() == Link("tanh") and Link(" ReLU ") == Link("relu")
    pair = LinkPair("polynomial(0,0,1),abs")
    assert pair.student == Link.polynomial([0, 0, 1]) and pair.teacher == Link("abs")
    assert pair.identity == "polynomial(0,0,1),abs" and LinkPair(pair.identity) == pair
    assert LinkPair(("relu", "erf")) == LinkPair("relu", "erf") == LinkPair(LinkPair("relu,erf"))
    assert repr(LinkPair("relu")) == "LinkPair('relu')" and LinkPair("relu").identity == "relu"
    assert repr(LinkPair("square", "abs")) == "LinkPair('square', 'abs')"


def test_mse_kinds():
    assert LinkPair("square").mse_kind == "sign_invariant"
    assert LinkPair("abs").mse_kind == "sign_invariant"
    assert LinkPair(HE3).mse_kind == "plain" and LinkPair("relu").mse_kind == "plain"
    assert LinkPair("square", "abs").mse_kind == "undefined"
    assert LinkPair("hermite(1,0,1)").mse_kind == "sign_invariant"


def test_links_evaluate_like_their_formulas():
    z = np.linspace(-3, 3, 13)
    for name in ("square", "abs", "relu", "erf", "tanh", POLY, HE3):
        np.testing.assert_allclose(Link(name)(z), REFERENCE[name](z), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(Link("tanh").prime(z), 1 / np.cosh(z) ** 2, rtol=1e-14)
    # at a kink: the mean of the one-sided derivatives, and a delta (NaN) for σ''
    assert Link("relu").prime(0.0) == 0.5 and Link("abs").prime(0.0) == 0.0
    assert math.isnan(Link("abs").second(0.0)) and Link("relu").second(0.3) == 0.0
    np.testing.assert_allclose(Link("erf").second(z), -z * np.sqrt(2 / np.pi)
                               * np.exp(-z * z / 2), rtol=1e-14, atol=1e-16)
    assert Link("square").derivatives(np.zeros((2, 3)), 4).shape == (2, 3, 5)


def test_hermite_coefficients_closed_and_by_quadrature():
    """c_k = E[σ He_k]/k!: closed forms against 200-node Gauss–Hermite (smooth links) or the
    links page's |z| formula; tanh's by the trapezoid rule against Gauss–Hermite."""
    from numpy.polynomial.hermite_e import hermegauss
    x, w = hermegauss(200)
    w = w / math.sqrt(2 * math.pi)
    for name in ("erf", "tanh", POLY, HE3, "square"):
        expect = [np.sum(w * REFERENCE[name](x) * hermeval(x, np.eye(8)[k])) / math.factorial(k)
                  for k in range(8)]
        np.testing.assert_allclose(Link(name).hermite_coefficients(8), expect, atol=1e-12)
    c = Link("abs").hermite_coefficients(7)
    assert c[0] == pytest.approx(math.sqrt(2 / math.pi)) and c[2] == pytest.approx(
        1 / math.sqrt(2 * math.pi)) and c[4] == pytest.approx(-1 / (12 * math.sqrt(2 * math.pi)))
    np.testing.assert_array_equal(Link("relu").hermite_coefficients(7)[[1, 3, 5]], [0.5, 0, 0])


def test_user_links_from_cfuncs_njit_and_plain_functions():
    @njit
    def cube(z):
        return z**3

    link = Link.user(lambda z: math.tanh(z), cube, name="t")  # σ' deliberately wrong: unchecked
    assert link.kind == "user" and not link.even and link.identity.startswith("user(t)@")
    assert all(a > 0 for a in link.addresses[:2]) and link.addresses[2:] == (0, 0, 0)
    assert Link.user(lambda z: math.cos(z), lambda z: -math.sin(z)).even
    with pytest.raises(ValueError, match="declared even=True"):
        Link.user(wave, wave_prime, even=True)
    with pytest.raises(TypeError, match="cannot be compiled as a numba cfunc"):
        Link.user(lambda z: object(), wave_prime)
    with pytest.raises(ValueError, match="analytic_width must be positive"):
        Link.user(wave, wave_prime, analytic_width=0.0)
    a, b = wave_link(), wave_link()
    assert a == b and LinkPair(a, b).mse_kind == "plain"


def test_twins_run_inside_njit_code_with_user_links():
    pair = pair_of("wave")

    @njit
    def losses(p, s):
        out = np.empty(s.size)
        for i in range(s.size):
            out[i] = kern.loss(p, s[i], 0.2, 1.0)
        return out

    s = np.array([0.3, 0.9])
    np.testing.assert_allclose(losses(pair.params, s), [pair.loss(x, 0.2) for x in s],
                               rtol=0, atol=0)


@pytest.mark.parametrize("bad,message", [
    ("relux", r"unknown link 'relux' \(did you mean 'relu'\?\)"),
    ("polynomial(1,x)", "cannot read"), (3, "a link is a name"),
    ("a,b,c", "a link pair is 'student,teacher'")])
def test_bad_links_are_one_sentence(bad, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        LinkPair(bad)
    assert "\n" not in str(info.value)


def test_refusals():
    with pytest.raises(ValueError, match="kinked link 'relu' cannot be paired with a quadrature"):
        LinkPair("relu", "tanh")
    with pytest.raises(ValueError, match="degree at most 20"):
        Link.polynomial(np.ones(22))
    with pytest.raises(ValueError, match="s = w"):
        LinkPair("erf").loss(-1.0, 0.0)
    with pytest.raises(ValueError, match="s\\* must be positive"):
        LinkPair("erf").loss(1.0, 0.0, 0.0)
    assert LinkPair("erf").loss(0.0, 0.0) == pytest.approx(1 / 3, rel=1e-15)  # E[erf(z*/√2)²]
    assert math.isnan(LinkPair("relu").loss(float("nan"), 0.0))
