// A link function sigma: R -> R (links page). Labels are y = tau(x . w*) + noise and the
// prediction is sigma(x . w); a Link describes one such function:
//
//   square        z^2                              abs      |z|
//   relu          max(z, 0)                        erf      erf(z / sqrt 2)   (Saad-Solla)
//   polynomial    sum_k a_k z^k                    hermite  sum_k c_k He_k(z) (probabilists')
//   tanh          tanh(z)                          user     C functions double(double)
//
// For the Gaussian kernels (model/gaussian_kernel.hpp) every closed-form link is a sum of
// "atoms": a polynomial part, a multiple of |z| and a multiple of erf(z / sqrt 2) (relu is
// z/2 + |z|/2). tanh and user links are "quadrature" links, integrated numerically from their
// derivatives. A user link's functions are plain C function pointers (what numba cfuncs compile
// to), so it runs inside C++ loops with no Python call; missing derivatives up to the fourth
// are taken by sixth-order central differences of the highest one given.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gaussian_rule.hpp"

namespace pyscale {

enum class LinkKind : int {
    kSquare = 0, kAbs = 1, kRelu = 2, kErf = 3, kPolynomial = 4, kHermite = 5, kTanh = 6,
    kUser = 7
};

using RealFunction = double (*)(double);

// sigma and its derivatives sigma', ..., sigma'''' as C functions; d[0] and d[1] are required.
struct UserFunctions {
    RealFunction d[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
};

namespace detail {

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1 / sqrt(2 pi)
constexpr double kInvSqrtPi = 0.56418958354775628695;    // 1 / sqrt(pi)

inline double binomial(int n, int k) {
    if (k < 0 || k > n) return 0.0;
    double r = 1.0;
    for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
    return r;
}

inline double factorial(int n) {
    double r = 1.0;
    for (int i = 2; i <= n; ++i) r *= i;
    return r;
}

// (n)!! with (-1)!! = 0!! = 1.
inline double double_factorial(int n) {
    double r = 1.0;
    for (int i = n; i > 1; i -= 2) r *= i;
    return r;
}

// Monomial coefficients of sum_k c_k He_k(z): He_n = sum_m (-1)^m n! / (2^m m! (n-2m)!) z^(n-2m).
inline std::vector<double> hermite_to_monomials(const std::vector<double>& c) {
    std::vector<double> a(c.size(), 0.0);
    for (std::size_t n = 0; n < c.size(); ++n)
        for (std::size_t m = 0; 2 * m <= n; ++m)
            a[n - 2 * m] += c[n] * ((m % 2) ? -1.0 : 1.0) * factorial(int(n)) /
                            (std::ldexp(1.0, int(m)) * factorial(int(m)) * factorial(int(n - 2 * m)));
    return a;
}

// Hermite coefficients of sum_i a_i z^i: z^i = sum_m i! / (2^m m! (i-2m)!) He_(i-2m).
inline std::vector<double> monomials_to_hermite(const std::vector<double>& a, std::size_t count) {
    std::vector<double> c(count, 0.0);
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t m = 0; 2 * m <= i; ++m)
            if (i - 2 * m < count)
                c[i - 2 * m] += a[i] * factorial(int(i)) /
                                (std::ldexp(1.0, int(m)) * factorial(int(m)) *
                                 factorial(int(i - 2 * m)));
    return c;
}

// Drops trailing zero coefficients (keeps at least one).
inline std::vector<double> trimmed(std::vector<double> a) {
    while (a.size() > 1 && a.back() == 0.0) a.pop_back();
    if (a.empty()) a.push_back(0.0);
    return a;
}

}  // namespace detail

class Link {
public:
    static constexpr int kMaxOrder = 4;
    static constexpr double kTanhWidth = 1.57079632679489661923;  // poles of tanh at +-i pi/2

    static Link square() { return closed(LinkKind::kSquare, {0.0, 0.0, 1.0}, 0.0, 0.0, true); }
    static Link abs() { return closed(LinkKind::kAbs, {0.0}, 1.0, 0.0, true); }
    static Link relu() { return closed(LinkKind::kRelu, {0.0, 0.5}, 0.5, 0.0, false); }
    static Link erf() { return closed(LinkKind::kErf, {0.0}, 0.0, 1.0, false); }

    // sigma(z) = sum_k a[k] z^k.
    static Link polynomial(std::vector<double> a) {
        check_coefficients(a, "polynomial");
        Link l = closed(LinkKind::kPolynomial, detail::trimmed(std::move(a)), 0.0, 0.0, false);
        l.given_ = l.poly_;
        l.even_ = odd_part_zero(l.poly_);
        return l;
    }

    // sigma(z) = sum_k c[k] He_k(z), He_k the probabilists' Hermite polynomials.
    static Link hermite(std::vector<double> c) {
        check_coefficients(c, "hermite");
        c = detail::trimmed(std::move(c));
        Link l = closed(LinkKind::kHermite, detail::trimmed(detail::hermite_to_monomials(c)),
                        0.0, 0.0, false);
        l.even_ = odd_part_zero(c);  // He_k has the parity of k
        l.given_ = std::move(c);
        return l;
    }

    static Link tanh() {
        Link l;
        l.kind_ = LinkKind::kTanh;
        l.quadrature_ = true;
        l.width_ = kTanhWidth;
        return l;
    }

    // A user link from C functions: sigma and sigma' required, sigma'' (and higher) optional.
    // `even` declares sigma(-z) = sigma(z) (it decides the pair's recovery metric);
    // `analytic_width` is the half-width of a strip |Im z| < width where sigma is analytic and
    // stays of moderate size (pi/2 for tanh, pi for softplus or z * logistic(z); 1 to 3 for
    // entire functions such as sin or erf): the quadrature's step follows it. The quadrature
    // assumes sigma grows at most like z^2.
    static Link user(const UserFunctions& f, bool even, double analytic_width = kTanhWidth) {
        if (f.d[0] == nullptr || f.d[1] == nullptr)
            throw std::invalid_argument("a user link needs sigma and sigma' as C functions");
        if (!(analytic_width > 0.0) || !std::isfinite(analytic_width))
            throw std::invalid_argument("a user link's analytic width must be positive and finite");
        Link l;
        l.kind_ = LinkKind::kUser;
        l.quadrature_ = true;
        l.user_ = f;
        l.even_ = even;
        l.width_ = analytic_width;
        return l;
    }
    static Link user(RealFunction sigma, RealFunction sigma_prime,
                     RealFunction sigma_second = nullptr, bool even = false,
                     double analytic_width = kTanhWidth) {
        UserFunctions f;
        f.d[0] = sigma;
        f.d[1] = sigma_prime;
        f.d[2] = sigma_second;
        return user(f, even, analytic_width);
    }

    LinkKind kind() const { return kind_; }
    std::string name() const {
        static const char* names[] = {"square", "abs",     "relu", "erf",
                                      "polynomial", "hermite", "tanh", "user"};
        return names[static_cast<int>(kind_)];
    }
    // The coefficients as given, trailing zeros dropped (polynomial: a_k; hermite: c_k); empty
    // for other kinds.
    const std::vector<double>& coefficients() const { return given_; }
    const UserFunctions& user_functions() const { return user_; }
    bool even() const { return even_; }
    // +1 when sigma is even, -1 when odd, 0 otherwise (a user link is +1 when declared even).
    int parity() const {
        if (kind_ == LinkKind::kTanh) return -1;
        if (kind_ == LinkKind::kUser) return even_ ? 1 : 0;
        bool ev = erf_ == 0.0, od = abs_ == 0.0;
        for (std::size_t k = 0; k < poly_.size(); ++k)
            if (poly_[k] != 0.0) (k % 2 ? ev : od) = false;
        return ev ? 1 : (od ? -1 : 0);
    }
    bool kinked() const { return abs_ != 0.0; }       // abs, relu: sigma'' has a delta at 0
    bool quadrature() const { return quadrature_; }  // tanh, user: kernels by quadrature
    double analytic_width() const { return width_; }

    // The atoms of a closed-form link: sigma = sum_k poly()[k] z^k + abs_weight() |z| +
    // erf_weight() erf(z / sqrt 2).
    const std::vector<double>& poly() const { return poly_; }
    double abs_weight() const { return abs_; }
    double erf_weight() const { return erf_; }
    int degree() const { return quadrature_ ? 0 : int(poly_.size()) - 1; }

    bool operator==(const Link& o) const {
        if (kind_ != o.kind_ || given_ != o.given_ || even_ != o.even_ || width_ != o.width_)
            return false;
        for (int k = 0; k <= kMaxOrder; ++k)
            if (user_.d[k] != o.user_.d[k]) return false;
        return true;
    }
    bool operator!=(const Link& o) const { return !(*this == o); }

    // sigma^(k)(z) for k = 0..order (order <= 4) into out[0..order]. Kinked links give the
    // classical derivatives away from 0; at 0, sigma' is the mean of the one-sided derivatives
    // (relu'(0) = 1/2, |z|'(0) = 0) and sigma'' = NaN (a delta).
    void derivatives(double z, int order, double* out) const {
        switch (kind_) {
            case LinkKind::kTanh: return tanh_derivatives(z, order, out);
            case LinkKind::kUser: return user_derivatives(z, order, out);
            default: break;
        }
        poly_derivatives(z, order, out);
        if (abs_ != 0.0) {
            const double sign = (z > 0.0) - (z < 0.0);
            out[0] += abs_ * std::fabs(z);
            if (order >= 1) out[1] += abs_ * sign;
            for (int k = 2; k <= order; ++k)
                if (z == 0.0) out[k] = NAN;
        }
        if (erf_ != 0.0) erf_derivatives(z, order, out);
    }
    double operator()(double z) const {
        double d[1];
        derivatives(z, 0, d);
        return d[0];
    }
    double prime(double z) const {
        double d[2];
        derivatives(z, 1, d);
        return d[1];
    }
    double second(double z) const {
        double d[3];
        derivatives(z, 2, d);
        return d[2];
    }

    // c_0..c_(count-1) with sigma(z) = sum_k c_k He_k(z) in L2(N(0, 1)); closed forms for the
    // closed links, the trapezoid rule (model/gaussian_rule.hpp) for quadrature links.
    std::vector<double> hermite_coefficients(std::size_t count) const;

private:
    static Link closed(LinkKind kind, std::vector<double> poly, double abs_w, double erf_w,
                       bool even) {
        Link l;
        l.kind_ = kind;
        l.poly_ = std::move(poly);
        l.abs_ = abs_w;
        l.erf_ = erf_w;
        l.even_ = even;
        return l;
    }
    static void check_coefficients(const std::vector<double>& a, const char* what) {
        if (a.empty())
            throw std::invalid_argument(std::string("a ") + what + " link needs coefficients");
        for (double x : a)
            if (!std::isfinite(x))
                throw std::invalid_argument(std::string("a ") + what +
                                            " link's coefficients must be finite");
        if (a.size() > 21)
            throw std::invalid_argument(std::string("a ") + what +
                                        " link has degree at most 20");
    }
    static bool odd_part_zero(const std::vector<double>& a) {
        for (std::size_t k = 1; k < a.size(); k += 2)
            if (a[k] != 0.0) return false;
        return true;
    }

    // p^(k)(z) for the polynomial part: Horner with derivatives, r[j] = p^(j)(z) / j!.
    void poly_derivatives(double z, int order, double* out) const {
        double r[kMaxOrder + 1] = {0, 0, 0, 0, 0};
        const int deg = int(poly_.size()) - 1;
        for (int i = deg; i >= 0; --i) {
            for (int j = std::min(order, deg - i); j >= 1; --j) r[j] = r[j] * z + r[j - 1];
            r[0] = r[0] * z + poly_[std::size_t(i)];
        }
        double f = 1.0;
        for (int j = 0; j <= order; ++j) {
            if (j > 1) f *= j;
            out[j] = r[j] * f;
        }
    }
    // erf(z / sqrt 2)' = sqrt(2/pi) e^(-z^2/2) =: g; g' = -z g, g'' = (z^2 - 1) g,
    // g''' = (3z - z^3) g.
    void erf_derivatives(double z, int order, double* out) const {
        out[0] += erf_ * std::erf(z * 0.70710678118654752440);
        if (order < 1) return;
        const double g = erf_ * detail::kSqrt2OverPi * std::exp(-0.5 * z * z);
        out[1] += g;
        if (order >= 2) out[2] += -z * g;
        if (order >= 3) out[3] += (z * z - 1.0) * g;
        if (order >= 4) out[4] += (3.0 - z * z) * z * g;
    }
    // t = tanh z, q = 1 - t^2: t' = q, t'' = -2tq, t''' = -2q(1 - 3t^2), t'''' = 8tq(2 - 3t^2).
    static void tanh_derivatives(double z, int order, double* out) {
        const double t = std::tanh(z);
        out[0] = t;
        if (order < 1) return;
        const double q = 1.0 - t * t;
        out[1] = q;
        if (order >= 2) out[2] = -2.0 * t * q;
        if (order >= 3) out[3] = -2.0 * q * (1.0 - 3.0 * t * t);
        if (order >= 4) out[4] = 8.0 * t * q * (2.0 - 3.0 * t * t);
    }
    void user_derivatives(double z, int order, double* out) const;

    LinkKind kind_ = LinkKind::kSquare;
    std::vector<double> given_;     // coefficients as given (polynomial, hermite)
    std::vector<double> poly_{0.0};  // polynomial atom (monomial coefficients)
    double abs_ = 0.0, erf_ = 0.0;   // |z| and erf(z / sqrt 2) atoms
    bool quadrature_ = false;
    bool even_ = false;
    double width_ = 0.0;             // analytic half-width of a quadrature link
    UserFunctions user_;
};

// Derivatives the user did not give: sixth-order central differences of the highest given
// one, g = sigma^(m). Orders 1 and 2 share the stencil z +- k h, k = 1..3 (h = 5e-3 max(1, |z|));
// order 3 uses z +- k H, k = 1..4 (H = 1e-2 max(1, |z|)). Measured on tanh from sigma': sigma''
// to 2e-13, sigma''' to 3e-11, sigma'''' to 7e-10; from sigma'': 1e-12 and 5e-11.
inline void Link::user_derivatives(double z, int order, double* out) const {
    int m = 0;
    for (int k = 0; k <= order; ++k) {
        if (user_.d[k] == nullptr) break;
        out[k] = user_.d[k](z);
        m = k;
    }
    if (m >= order) return;
    const RealFunction g = user_.d[m];
    const double scale = std::fmax(1.0, std::fabs(z));
    const double h = 5e-3 * scale;
    const double p1 = g(z + h), n1 = g(z - h), p2 = g(z + 2 * h), n2 = g(z - 2 * h),
                 p3 = g(z + 3 * h), n3 = g(z - 3 * h);
    out[m + 1] = (45.0 * (p1 - n1) - 9.0 * (p2 - n2) + (p3 - n3)) / (60.0 * h);
    if (m + 2 > order) return;
    out[m + 2] = (270.0 * (p1 + n1) - 27.0 * (p2 + n2) + 2.0 * (p3 + n3) - 490.0 * out[m]) /
                 (180.0 * h * h);
    if (m + 3 > order) return;
    const double H = 1e-2 * scale;
    const double d1 = g(z + H) - g(z - H), d2 = g(z + 2 * H) - g(z - 2 * H),
                 d3 = g(z + 3 * H) - g(z - 3 * H), d4 = g(z + 4 * H) - g(z - 4 * H);
    out[m + 3] = (-488.0 * d1 + 338.0 * d2 - 72.0 * d3 + 7.0 * d4) / (240.0 * H * H * H);
}

// Closed forms: |z| has c_0 = sqrt(2/pi) and c_n = 2 He_(n-2)(0) / (sqrt(2 pi) n!) for even
// n >= 2 (E[f He_n] = E[f^(n)] and |z|'' = 2 delta); erf(z / sqrt 2) has, for odd n,
// c_n = E[sigma^(n)] / n! = pi^(-1/2) (-1/2)^((n-1)/2) (n-2)!! / n!.
inline std::vector<double> Link::hermite_coefficients(std::size_t count) const {
    std::vector<double> c(count, 0.0);
    if (kind_ == LinkKind::kHermite) {
        for (std::size_t k = 0; k < count && k < given_.size(); ++k) c[k] = given_[k];
        return c;
    }
    if (!quadrature_) {
        c = detail::monomials_to_hermite(poly_, count);
        for (std::size_t n = 0; n < count; n += 2) {
            if (abs_ == 0.0) break;
            if (n == 0) {
                c[0] += abs_ * detail::kSqrt2OverPi;
                continue;
            }
            const double he0 = ((n / 2 - 1) % 2 ? -1.0 : 1.0) * detail::double_factorial(int(n) - 3);
            c[n] += abs_ * 2.0 * he0 * detail::kInvSqrt2Pi / detail::factorial(int(n));
        }
        for (std::size_t n = 1; n < count && erf_ != 0.0; n += 2)
            c[n] += erf_ * detail::kInvSqrtPi * std::pow(-0.5, double((n - 1) / 2)) *
                    detail::double_factorial(int(n) - 2) / detail::factorial(int(n));
        return c;
    }
    // Quadrature link: c_k = E[sigma(x) He_k(x)] / k! by the trapezoid rule at scale 1.
    double x[2 * rule::kMaxHalf + 1], w[2 * rule::kMaxHalf + 1];
    rule::StepBounds b;
    b.pole(width_, 1.0);
    b.degree = int(count) + (kind_ == LinkKind::kUser ? 2 : 0);
    const int n = rule::fill(b.step(), rule::extent(b.degree), x, w);
    std::vector<double> he(count + 1);
    for (int i = 0; i < n; ++i) {
        const double f = w[i] * (*this)(x[i]);
        double prev = 0.0, cur = 1.0;  // He_(k-1), He_k
        for (std::size_t k = 0; k < count; ++k) {
            c[k] += f * cur;
            const double next = x[i] * cur - double(k) * prev;
            prev = cur;
            cur = next;
        }
    }
    for (std::size_t k = 0; k < count; ++k) c[k] /= detail::factorial(int(k));
    return c;
}

}  // namespace pyscale
