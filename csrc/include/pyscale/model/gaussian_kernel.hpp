// The Gaussian kernel of two links (links page: The kernel):
//
//     kappa_{f,g}(v1, v2, c) = E[f(z1) g(z2)],  (z1, z2) centred Gaussian, Var z1 = v1,
//                                              Var z2 = v2, Cov = c,
//
// with the partial derivatives in v1 and c (at fixed v2) that the flow's Jacobian needs:
// d/dc kappa_{f,g} = kappa_{f',g'} and d/dv1 kappa_{f,g} = 1/2 kappa_{f'',g} (Gaussian
// integration by parts; the kinks of |z| and relu make f'' a delta, handled in closed form).
// The partials in v2 follow from the symmetry kappa_{f,g}(v1, v2, c) = kappa_{g,f}(v2, v1, c).
//
// Closed-form links are sums of atoms (polynomial, |z|, erf(z / sqrt 2)); the kernel is the
// bilinear sum over atom pairs:
//   polynomial x polynomial   Isserlis: E[z1^i z2^j] = sum_k C(i,k) C(j,k) k! (i-k-1)!!
//                             (j-k-1)!! c^k v1^((i-k)/2) v2^((j-k)/2);
//   polynomial x |z|          conditioning z1 on z2 (z1 = (c/v2) z2 + sqrt(v1 - c^2/v2) xi):
//                             E[z1^i |z2|] = sum_j C(i,j) (i-j-1)!! (c/v2)^j
//                             (v1 - c^2/v2)^((i-j)/2) E|z2|^(j+1);
//   polynomial x erf          Stein's recursion E[z1^(2n+1) erf] = 2n v1 E[z1^(2n-1) erf]
//                             + c E[z1^(2n) erf'], erf' Gaussian (a tilted moment);
//   |z| x |z|                 (2/pi) [sqrt(v1 v2 - c^2) + c arcsin(c / sqrt(v1 v2))];
//   erf x erf                 (2/pi) arcsin(c / sqrt((1 + v1)(1 + v2)));
//   |z| x erf                 0 (even against odd).
// The first three expand into power terms coef c^k (v1 + a)^(p/2) (v2 + b)^(q/2), a, b in
// {0, 1}, precomputed per kernel. Pairs with a quadrature link (tanh, user) use a 2-D
// trapezoid rule (model/gaussian_rule.hpp) on z2 = sqrt(v2) x, z1 = (c/v2) z2 + beta y.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "gaussian_rule.hpp"
#include "link_function.hpp"

namespace pyscale {

// kappa and its partials in v1 and c at fixed v2.
struct KernelJet {
    double k = 0, k1 = 0, kc = 0, k11 = 0, k1c = 0, kcc = 0;
};

// m(v) = E[f(z)^2], z ~ N(0, v), and m'(v), m''(v).
struct MomentJet {
    double m = 0, m1 = 0, m2 = 0;
};

namespace detail {

// coef c^k (v1 + shift1)^(p2/2) (v2 + shift2)^(q2/2)
struct PowerTerm {
    double coef;
    int k, p2, q2, shift1, shift2;
};

// coef s^(a2/2) (1 + s)^(b2/2)
struct SelfTerm {
    double coef;
    int a2, b2;
};

inline double ipow(double x, int n) {
    const bool inverse = n < 0;
    unsigned e = static_cast<unsigned>(inverse ? -n : n);
    double r = 1.0;
    while (e) {
        if (e & 1u) r *= x;
        x *= x;
        e >>= 1;
    }
    return inverse ? 1.0 / r : r;
}

// x^(h2/2) given sqrt(x).
inline double hpow(double x, double root, int h2) {
    return (h2 & 1) ? ipow(x, (h2 - 1) / 2) * root : ipow(x, h2 / 2);
}

struct PowerJet {
    double v, d1, d2;
};

// x^p, p x^(p-1), p (p-1) x^(p-2) for p = h2/2 (exact zeros where the power is constant or
// linear, so that x = 0 is allowed for non-negative integer p).
inline PowerJet power_jet(double x, double root, int h2) {
    const double p = 0.5 * h2;
    PowerJet j;
    j.v = hpow(x, root, h2);
    j.d1 = (h2 == 0) ? 0.0 : p * hpow(x, root, h2 - 2);
    j.d2 = (h2 == 0 || h2 == 2) ? 0.0 : p * (p - 1.0) * hpow(x, root, h2 - 4);
    return j;
}

inline void add_term(std::vector<PowerTerm>& terms, PowerTerm t) {
    if (t.coef == 0.0) return;
    for (PowerTerm& o : terms)
        if (o.k == t.k && o.p2 == t.p2 && o.q2 == t.q2 && o.shift1 == t.shift1 &&
            o.shift2 == t.shift2) {
            o.coef += t.coef;
            return;
        }
    terms.push_back(t);
}

inline void add_self(std::vector<SelfTerm>& terms, SelfTerm t) {
    if (t.coef == 0.0) return;
    for (SelfTerm& o : terms)
        if (o.a2 == t.a2 && o.b2 == t.b2) {
            o.coef += t.coef;
            return;
        }
    terms.push_back(t);
}

// E|g|^(j+1) for even j, g ~ N(0, 1): sqrt(2/pi) 2^(j/2) (j/2)!.
inline double abs_moment(int j) { return kSqrt2OverPi * std::ldexp(1.0, j / 2) * factorial(j / 2); }

// E[P(z1) Q(z2)], P = sum a_i z^i (variance v1), Q = sum b_j z^j (variance v2).
inline void poly_poly_terms(const std::vector<double>& a, const std::vector<double>& b,
                            std::vector<PowerTerm>& out) {
    for (int i = 0; i < int(a.size()); ++i)
        for (int j = 0; j < int(b.size()); ++j) {
            if (a[i] == 0.0 || b[j] == 0.0) continue;
            for (int k = i % 2; k <= std::min(i, j); k += 2) {
                if ((j - k) % 2) continue;
                const double coef = a[i] * b[j] * binomial(i, k) * binomial(j, k) * factorial(k) *
                                    double_factorial(i - k - 1) * double_factorial(j - k - 1);
                add_term(out, {coef, k, i - k, j - k, 0, 0});
            }
        }
}

// E[P(x) alpha |y|] with Var x = vx, Var y = vy, Cov = c: terms in c, vx, vy; placed on
// (v1, v2) = (vx, vy) when the polynomial is the first link, else (vy, vx).
inline void poly_abs_terms(const std::vector<double>& a, double alpha, bool poly_first,
                           std::vector<PowerTerm>& out) {
    for (int i = 0; i < int(a.size()); i += 2) {
        if (a[i] == 0.0) continue;
        for (int j = 0; j <= i; j += 2) {
            const int r = (i - j) / 2;
            const double base = a[i] * alpha * binomial(i, j) * double_factorial(i - j - 1) *
                                abs_moment(j);
            for (int l = 0; l <= r; ++l) {
                const double coef = base * binomial(r, l) * ((l % 2) ? -1.0 : 1.0);
                const int x2 = 2 * (r - l), y2 = 1 - j - 2 * l;
                add_term(out, poly_first ? PowerTerm{coef, j + 2 * l, x2, y2, 0, 0}
                                         : PowerTerm{coef, j + 2 * l, y2, x2, 0, 0});
            }
        }
    }
}

// E[P(x) beta erf(y / sqrt 2)]: for i = 2n + 1,
//   E[x^i erf] = sqrt(2/pi) sum_{k<=n} 2^(n-k) (n!/k!) (2k-1)!! c vx^(n-k) (1+vy)^(-1/2)
//                (vx - c^2/(1+vy))^k,
// expanded in powers of c, vx and (1 + vy).
inline void poly_erf_terms(const std::vector<double>& a, double beta, bool poly_first,
                           std::vector<PowerTerm>& out) {
    for (int i = 1; i < int(a.size()); i += 2) {
        if (a[i] == 0.0) continue;
        const int n = (i - 1) / 2;
        for (int k = 0; k <= n; ++k) {
            const double base = a[i] * beta * kSqrt2OverPi * std::ldexp(1.0, n - k) *
                                factorial(n) / factorial(k) * double_factorial(2 * k - 1);
            for (int l = 0; l <= k; ++l) {
                const double coef = base * binomial(k, l) * ((l % 2) ? -1.0 : 1.0);
                const int x2 = 2 * (n - l), y2 = -1 - 2 * l;
                add_term(out, poly_first ? PowerTerm{coef, 1 + 2 * l, x2, y2, 0, 1}
                                         : PowerTerm{coef, 1 + 2 * l, y2, x2, 1, 0});
            }
        }
    }
}

// E[f(z)^2] of a closed link f = P + alpha |z| + beta erf at variance s, as power terms in s
// and 1 + s plus beta^2 times (2/pi) arcsin(s / (1 + s)) (returned in `arcsin`).
inline void self_terms(const Link& f, std::vector<SelfTerm>& out, double& arcsin) {
    const std::vector<double>& a = f.poly();
    const double alpha = f.abs_weight(), beta = f.erf_weight();
    for (int i = 0; i < int(a.size()); ++i)
        for (int j = 0; j < int(a.size()); ++j)
            if ((i + j) % 2 == 0) add_self(out, {a[i] * a[j] * double_factorial(i + j - 1), i + j, 0});
    for (int i = 0; i < int(a.size()); i += 2)
        add_self(out, {2.0 * alpha * a[i] * abs_moment(i), i + 1, 0});
    add_self(out, {alpha * alpha, 2, 0});
    for (int i = 1; i < int(a.size()); i += 2) {
        const int n = (i - 1) / 2;
        for (int k = 0; k <= n; ++k)
            for (int l = 0; l <= k; ++l) {
                const double coef = 2.0 * beta * a[i] * kSqrt2OverPi * std::ldexp(1.0, n - k) *
                                    factorial(n) / factorial(k) * double_factorial(2 * k - 1) *
                                    binomial(k, l) * ((l % 2) ? -1.0 : 1.0);
                add_self(out, {coef, 2 * (n + l + 1), -1 - 2 * l});
            }
    }
    arcsin = beta * beta;
}

// (2/pi) [sqrt(G) + c arcsin(rho)], G = v1 v2 - c^2, rho = c / sqrt(v1 v2), clamped to the
// closed set of covariances. kcc = (2/pi) / sqrt(G) is infinite at |rho| = 1.
inline KernelJet abs_abs(double v1, double v2, double c) {
    constexpr double inv_pi = 0.31830988618379067154;
    const double g = std::fmax(v1 * v2 - c * c, 0.0), rg = std::sqrt(g);
    const double rho = std::fmax(-1.0, std::fmin(1.0, c / std::sqrt(v1 * v2)));
    const double asin_rho = std::asin(rho);
    KernelJet j;
    j.k = 2.0 * inv_pi * (rg + c * asin_rho);
    j.kc = 2.0 * inv_pi * asin_rho;
    j.k1 = inv_pi * rg / v1;
    j.kcc = 2.0 * inv_pi / rg;
    j.k1c = -inv_pi * c / (v1 * rg);
    j.k11 = inv_pi * (0.5 * v2 / (v1 * rg) - rg / (v1 * v1));
    return j;
}

// (2/pi) arcsin(c / sqrt((1 + v1)(1 + v2))); G = (1 + v1)(1 + v2) - c^2 > 0.
inline KernelJet erf_erf(double v1, double v2, double c) {
    constexpr double inv_pi = 0.31830988618379067154;
    const double p1 = 1.0 + v1, p2 = 1.0 + v2, g = p1 * p2 - c * c, rg = std::sqrt(g);
    KernelJet j;
    j.k = 2.0 * inv_pi * std::asin(c / std::sqrt(p1 * p2));
    j.kc = 2.0 * inv_pi / rg;
    j.kcc = 2.0 * inv_pi * c / (g * rg);
    j.k1 = -inv_pi * c / (p1 * rg);
    j.k1c = -inv_pi * p2 / (g * rg);
    j.k11 = inv_pi * c * (1.0 / (p1 * p1 * rg) + 0.5 * p2 / (p1 * g * rg));
    return j;
}

// How fast a link grows (for the rule's step and range): polynomial degree, 2 assumed for users.
inline int growth_degree(const Link& f) {
    if (f.kind() == LinkKind::kUser) return 2;
    return f.degree();
}

// What f, evaluated at scale * x, asks of the trapezoid step (model/gaussian_rule.hpp).
inline void bound(const Link& f, double scale, rule::StepBounds& b) {
    if (f.quadrature()) b.pole(f.analytic_width(), scale);
    if (f.erf_weight() != 0.0) b.entire(scale);
    b.degree += growth_degree(f);
}

}  // namespace detail

class GaussianKernel {
public:
    GaussianKernel(const Link& f, const Link& g) : f_(f), g_(g) {
        quadrature_ = f.quadrature() || g.quadrature();
        if (quadrature_) {
            if (f.kinked() || g.kinked())
                throw std::invalid_argument(
                    "a kinked link (" + (f.kinked() ? f.name() : g.name()) +
                    ") cannot be paired with a quadrature link (tanh, user): the kink would "
                    "spoil the quadrature");
            return;
        }
        detail::poly_poly_terms(f.poly(), g.poly(), terms_);
        if (g.abs_weight() != 0.0) detail::poly_abs_terms(f.poly(), g.abs_weight(), true, terms_);
        if (f.abs_weight() != 0.0) detail::poly_abs_terms(g.poly(), f.abs_weight(), false, terms_);
        if (g.erf_weight() != 0.0) detail::poly_erf_terms(f.poly(), g.erf_weight(), true, terms_);
        if (f.erf_weight() != 0.0) detail::poly_erf_terms(g.poly(), f.erf_weight(), false, terms_);
        abs_abs_ = f.abs_weight() * g.abs_weight();
        erf_erf_ = f.erf_weight() * g.erf_weight();
    }

    bool quadrature() const { return quadrature_; }
    const std::vector<detail::PowerTerm>& terms() const { return terms_; }

    // order 2: all of KernelJet; order 1: k, k1, kc (the others 0); order 0: k.
    KernelJet jet(double v1, double v2, double c, int order = 2) const {
        return quadrature_ ? rule_jet(v1, v2, c, order) : closed_jet(v1, v2, c, order > 0);
    }
    double value(double v1, double v2, double c) const { return jet(v1, v2, c, 0).k; }

private:
    KernelJet closed_jet(double v1, double v2, double c, bool derivatives) const {
        const double base1[2] = {v1, 1.0 + v1}, base2[2] = {v2, 1.0 + v2};
        const double root1[2] = {std::sqrt(v1), std::sqrt(1.0 + v1)};
        const double root2[2] = {std::sqrt(v2), std::sqrt(1.0 + v2)};
        KernelJet j;
        for (const detail::PowerTerm& t : terms_) {
            const double y = t.coef * detail::hpow(base2[t.shift2], root2[t.shift2], t.q2);
            const double c0 = detail::ipow(c, t.k);
            if (!derivatives) {
                j.k += c0 * detail::hpow(base1[t.shift1], root1[t.shift1], t.p2) * y;
                continue;
            }
            const detail::PowerJet x = detail::power_jet(base1[t.shift1], root1[t.shift1], t.p2);
            const double c1 = t.k ? t.k * detail::ipow(c, t.k - 1) : 0.0;
            const double c2 = t.k >= 2 ? t.k * (t.k - 1.0) * detail::ipow(c, t.k - 2) : 0.0;
            j.k += c0 * x.v * y;
            j.k1 += c0 * x.d1 * y;
            j.kc += c1 * x.v * y;
            j.k11 += c0 * x.d2 * y;
            j.k1c += c1 * x.d1 * y;
            j.kcc += c2 * x.v * y;
        }
        if (abs_abs_ != 0.0) add(j, abs_abs_, detail::abs_abs(v1, v2, c), derivatives);
        if (erf_erf_ != 0.0) add(j, erf_erf_, detail::erf_erf(v1, v2, c), derivatives);
        return j;
    }

    static void add(KernelJet& j, double w, const KernelJet& t, bool derivatives) {
        j.k += w * t.k;
        if (!derivatives) return;
        j.k1 += w * t.k1;
        j.kc += w * t.kc;
        j.k11 += w * t.k11;
        j.k1c += w * t.k1c;
        j.kcc += w * t.kcc;
    }

    // z2 = sqrt(v2) x, z1 = alpha z2 + beta y (alpha = c / v2, beta^2 = v1 - c^2 / v2):
    // kappa = E[f g], kc = E[f' g'], k1 = E[f'' g] / 2, kcc = E[f'' g''],
    // k1c = E[f''' g'] / 2, k11 = E[f'''' g] / 4, summed on the tensor trapezoid rule (nodes
    // with x^2 + y^2 > X^2, whose weights are below e^-39, skipped); order 1 stops at kc.
    KernelJet rule_jet(double v1, double v2, double c, int order) const {
        // (z1, z2) -> (-z1, -z2) preserves the measure: with links of definite parity every
        // integrand below is even (half the nodes suffice) or odd (the kernel vanishes).
        const int sym = f_.parity() * g_.parity();
        if (sym < 0) return KernelJet{};
        const double alpha = c / v2, beta = std::sqrt(std::fmax(v1 - c * alpha, 0.0));
        const double r2 = std::sqrt(v2), a_scale = std::fabs(alpha) * r2;
        rule::StepBounds bx, by;
        detail::bound(g_, r2, bx);
        detail::bound(f_, a_scale, bx);
        detail::bound(f_, beta, by);
        const double hx = bx.step(), hy = by.step(), ext = rule::extent(bx.degree);
        double x[2 * rule::kMaxHalf + 1], wx[2 * rule::kMaxHalf + 1];
        double y[2 * rule::kMaxHalf + 1], wy[2 * rule::kMaxHalf + 1];
        const int nx = rule::fill(hx, ext, x, wx), ny = rule::fill(hy, ext, y, wy);
        const int fo = 2 * order, go = order;
        const int my = ny / 2, mx = nx / 2;
        const double ey = y[ny - 1] / my;  // the inner step actually used
        double acc[6] = {0, 0, 0, 0, 0, 0};
        for (int i = sym > 0 ? mx : 0; i < nx; ++i) {
            const double wi = (sym > 0 && i > mx) ? 2.0 * wx[i] : wx[i];
            const double reach2 = ext * ext - x[i] * x[i];
            if (reach2 < 0.0) continue;
            const int lim = std::min(my, int(std::sqrt(reach2) / ey));
            double gd[3] = {0, 0, 0}, fd[5] = {0, 0, 0, 0, 0}, F[5] = {0, 0, 0, 0, 0};
            const double z2 = r2 * x[i], m = alpha * z2;
            g_.derivatives(z2, go, gd);
            for (int jy = my - lim; jy <= my + lim; ++jy) {
                f_.derivatives(m + beta * y[jy], fo, fd);
                for (int k = 0; k <= fo; ++k) F[k] += wy[jy] * fd[k];
            }
            acc[0] += wi * F[0] * gd[0];
            if (order < 1) continue;
            acc[1] += wi * F[2] * gd[0];
            acc[2] += wi * F[1] * gd[1];
            if (order < 2) continue;
            acc[3] += wi * F[4] * gd[0];
            acc[4] += wi * F[3] * gd[1];
            acc[5] += wi * F[2] * gd[2];
        }
        KernelJet j;
        j.k = acc[0];
        j.k1 = 0.5 * acc[1];
        j.kc = acc[2];
        j.k11 = 0.25 * acc[3];
        j.k1c = 0.5 * acc[4];
        j.kcc = acc[5];
        return j;
    }

    Link f_, g_;
    std::vector<detail::PowerTerm> terms_;
    double abs_abs_ = 0.0, erf_erf_ = 0.0;
    bool quadrature_ = false;
};

// m(v) = E[f(z)^2], z ~ N(0, v): closed power terms in v and 1 + v (plus an arcsin for erf),
// or the 1-D trapezoid rule with m' = E[f'^2 + f f''] and m'' = E[2 f f'''' + 8 f' f''' +
// 6 f''^2] / 4 (the heat equation d/dv E[h] = E[h''] / 2 with h = f^2).
class GaussianMoment {
public:
    explicit GaussianMoment(const Link& f) : f_(f) {
        if (!f.quadrature()) detail::self_terms(f, terms_, arcsin_);
    }

    // order 2: m, m1, m2; order 1: m, m1 (m2 = 0); order 0: m.
    MomentJet jet(double v, int order = 2) const {
        return f_.quadrature() ? rule_jet(v, order) : closed_jet(v, order > 0);
    }
    double value(double v) const { return jet(v, 0).m; }

private:
    MomentJet closed_jet(double v, bool derivatives) const {
        const double rv = std::sqrt(v), t = 1.0 + v, rt = std::sqrt(t);
        MomentJet j;
        for (const detail::SelfTerm& term : terms_) {
            if (!derivatives) {
                j.m += term.coef * detail::hpow(v, rv, term.a2) * detail::hpow(t, rt, term.b2);
                continue;
            }
            const detail::PowerJet a = detail::power_jet(v, rv, term.a2);
            const detail::PowerJet b = detail::power_jet(t, rt, term.b2);
            j.m += term.coef * a.v * b.v;
            j.m1 += term.coef * (a.d1 * b.v + a.v * b.d1);
            j.m2 += term.coef * (a.d2 * b.v + 2.0 * a.d1 * b.d1 + a.v * b.d2);
        }
        if (arcsin_ != 0.0) {
            // (2/pi) arcsin(v / (1 + v)): derivative (2/pi) / ((1 + v) sqrt(1 + 2v)).
            constexpr double two_over_pi = 0.63661977236758134308;
            const double q = 1.0 + 2.0 * v, rq = std::sqrt(q);
            j.m += arcsin_ * two_over_pi * std::asin(v / t);
            if (derivatives) {
                j.m1 += arcsin_ * two_over_pi / (t * rq);
                j.m2 -= arcsin_ * two_over_pi * (1.0 / (t * t * rq) + 1.0 / (t * q * rq));
            }
        }
        return j;
    }

    MomentJet rule_jet(double v, int order) const {
        const double rv = std::sqrt(v);
        rule::StepBounds b;
        detail::bound(f_, rv, b);
        b.degree *= 2;
        double x[2 * rule::kMaxHalf + 1], w[2 * rule::kMaxHalf + 1];
        const int n = rule::fill(b.step(), rule::extent(b.degree), x, w);
        MomentJet j;
        double f[5];
        for (int i = 0; i < n; ++i) {
            f_.derivatives(rv * x[i], 2 * order, f);
            j.m += w[i] * f[0] * f[0];
            if (order < 1) continue;
            j.m1 += w[i] * (f[1] * f[1] + f[0] * f[2]);
            if (order < 2) continue;
            j.m2 += w[i] * (2.0 * f[0] * f[4] + 8.0 * f[1] * f[3] + 6.0 * f[2] * f[2]);
        }
        j.m2 *= 0.25;
        return j;
    }

    Link f_;
    std::vector<detail::SelfTerm> terms_;
    double arcsin_ = 0.0;
};

}  // namespace pyscale
