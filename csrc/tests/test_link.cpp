// Tests of the link pieces on their own (no Python): compiled and run by tests/test_link_cpp.py.
// Kernels against an independent 2-D quadrature (composite Gauss-Legendre panels, split at the
// kinks), their derivatives against Richardson-extrapolated central differences, the square
// pair's closed forms, user links through C function pointers, the refusals. Each check prints
// a line; the last line is "<n> failed". "info" lines report the cost of each kernel per call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pyscale/model/link.hpp>

namespace {

using pyscale::GaussianKernel;
using pyscale::GaussianMoment;
using pyscale::KernelJet;
using pyscale::Link;
using pyscale::LinkPair;
using pyscale::LossDerivatives;

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failures;
}

double rel(double a, double b, double scale) { return std::fabs(a - b) / std::fmax(std::fabs(b), scale); }

// ---- the independent reference: Gauss-Legendre panels -----------------------------------
struct Legendre {
    std::vector<double> x, w;  // on [-1, 1]
    explicit Legendre(int n) : x(n), w(n) {
        for (int i = 0; i < n; ++i) {
            double t = std::cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 0;
            for (int it = 0; it < 100; ++it) {
                double p0 = 1, p1 = t;
                for (int k = 2; k <= n; ++k) {
                    const double p2 = ((2 * k - 1) * t * p1 - (k - 1) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n * (t * p1 - p0) / (t * t - 1);
                const double step = p1 / dp;
                t -= step;
                if (std::fabs(step) < 1e-16) break;
            }
            x[i] = t;
            w[i] = 2.0 / ((1 - t * t) * dp * dp);
        }
    }
};

const Legendre& gl() {
    static const Legendre rule(20);
    return rule;
}

// int_a^b F, panels of width <= 0.5 with the breakpoints `cuts` (kinks) as panel edges.
double integrate(const std::function<double(double)>& F, double a, double b,
                 std::vector<double> cuts) {
    cuts.push_back(a);
    cuts.push_back(b);
    std::sort(cuts.begin(), cuts.end());
    double total = 0;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
        const double lo = std::fmax(cuts[c], a), hi = std::fmin(cuts[c + 1], b);
        if (!(hi > lo)) continue;
        const int panels = int(std::ceil((hi - lo) / 0.5));
        const double width = (hi - lo) / panels;
        for (int p = 0; p < panels; ++p) {
            const double mid = lo + (p + 0.5) * width, half = 0.5 * width;
            for (std::size_t i = 0; i < gl().x.size(); ++i)
                total += half * gl().w[i] * F(mid + half * gl().x[i]);
        }
    }
    return total;
}

double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

// E[f(z1) g(z2)] by conditioning z1 on z2: z2 = sqrt(v2) x, z1 = alpha z2 + beta y.
double reference_kernel(const Link& f, const Link& g, double v1, double v2, double c) {
    const double alpha = c / v2, beta = std::sqrt(v1 - c * alpha), r2 = std::sqrt(v2);
    auto outer = [&](double x) {
        const double z2 = r2 * x, m = alpha * z2;
        auto inner = [&](double y) { return phi(y) * f(m + beta * y); };
        return phi(x) * g(z2) * integrate(inner, -10, 10, {-m / beta});
    };
    return integrate(outer, -10, 10, {0.0});
}

double reference_moment(const Link& f, double v) {
    const double r = std::sqrt(v);
    return integrate([&](double x) { const double y = f(r * x); return phi(x) * y * y; }, -12, 12,
                     {0.0});
}

// Central difference of F at t with two Richardson steps (error O(h^6)).
double derivative(const std::function<double(double)>& F, double t, double h) {
    auto d = [&](double s) { return (F(t + s) - F(t - s)) / (2 * s); };
    const double r1 = (4 * d(h / 2) - d(h)) / 3, r2 = (4 * d(h / 4) - d(h / 2)) / 3;
    return (16 * r2 - r1) / 15;
}

// ---- user links as C functions (what a numba cfunc is) ----------------------------------
double u_sigma(double z) { return std::sin(z) + 0.5 * z; }
double u_prime(double z) { return std::cos(z) + 0.5; }
double u_second(double z) { return -std::sin(z); }
double t_sigma(double z) { return std::tanh(z); }
double t_prime(double z) { const double t = std::tanh(z); return 1 - t * t; }
double t_second(double z) { const double t = std::tanh(z); return -2 * t * (1 - t * t); }
double e_sigma(double z) { return std::erf(z / std::sqrt(2.0)); }
double e_prime(double z) { return std::sqrt(2 / M_PI) * std::exp(-0.5 * z * z); }

struct Case {
    const char* name;
    Link f, g;
};

std::vector<Case> cases() {
    return {{"square/square", Link::square(), Link::square()},
            {"square/abs", Link::square(), Link::abs()},
            {"abs/square", Link::abs(), Link::square()},
            {"square/relu", Link::square(), Link::relu()},
            {"abs/abs", Link::abs(), Link::abs()},
            {"relu/relu", Link::relu(), Link::relu()},
            {"erf/erf", Link::erf(), Link::erf()},
            {"relu/erf", Link::relu(), Link::erf()},
            {"erf/relu", Link::erf(), Link::relu()},
            {"poly/erf", Link::polynomial({0.3, -1, 0.5, 0.25}), Link::erf()},
            {"erf/He3", Link::erf(), Link::hermite({0, 0, 0, 1})},
            {"He3/He3", Link::hermite({0, 0, 0, 1}), Link::hermite({0, 0, 0, 1})},
            {"poly/poly", Link::polynomial({0.2, 1, -0.5, 0.3}), Link::polynomial({-0.1, 0.5, 1})},
            {"poly/relu", Link::polynomial({0.1, 0.4, -0.3, 0.2, 0.1}), Link::relu()},
            {"relu/poly", Link::relu(), Link::polynomial({0.1, 0.4, -0.3, 0.2, 0.1})},
            {"tanh/tanh", Link::tanh(), Link::tanh()},
            {"tanh/erf", Link::tanh(), Link::erf()},
            {"poly/tanh", Link::polynomial({0.2, 1, -0.5, 0.3}), Link::tanh()},
            {"user/user", Link::user(u_sigma, u_prime, u_second), Link::user(u_sigma, u_prime, u_second)},
            {"user/tanh", Link::user(u_sigma, u_prime), Link::tanh()}};
}

const double kPoints[][3] = {{1.0, 1.0, 0.5}, {0.7, 1.0, -0.3}, {0.05, 1.0, 0.02},
                             {1.6, 1.0, 1.1}, {0.8, 1.3, 0.95}};

void test_kernels_against_quadrature() {
    for (const Case& k : cases()) {
        const GaussianKernel K(k.f, k.g);
        double worst = 0;
        for (const auto& p : kPoints)
            worst = std::fmax(worst, rel(K.value(p[0], p[1], p[2]),
                                         reference_kernel(k.f, k.g, p[0], p[1], p[2]), 1.0));
        char buf[128];
        std::snprintf(buf, sizeof buf, "kernel %s == 2-D Gauss-Legendre (max rel %.1e <= 1e-11)",
                      k.name, worst);
        check(worst <= 1e-11, buf);
    }
}

void test_kernel_derivatives() {
    for (const Case& k : cases()) {
        const GaussianKernel K(k.f, k.g);
        double worst = 0;
        for (const auto& p : kPoints) {
            const double v1 = p[0], v2 = p[1], c = p[2], h = 2e-2 * (v1 * v2 - c * c) / (v1 + v2);
            const KernelJet j = K.jet(v1, v2, c);
            auto at = [&](double a, double b) { return K.jet(a, v2, b); };
            const double fd[] = {
                derivative([&](double t) { return at(t, c).k; }, v1, h),
                derivative([&](double t) { return at(v1, t).k; }, c, h),
                derivative([&](double t) { return at(t, c).k1; }, v1, h),
                derivative([&](double t) { return at(v1, t).k1; }, c, h),
                derivative([&](double t) { return at(t, c).kc; }, v1, h),
                derivative([&](double t) { return at(v1, t).kc; }, c, h)};
            const double an[] = {j.k1, j.kc, j.k11, j.k1c, j.k1c, j.kcc};
            const double scale = std::fmax(1e-3, std::fabs(j.k));
            for (int i = 0; i < 6; ++i) worst = std::fmax(worst, rel(an[i], fd[i], scale));
            worst = std::fmax(worst, rel(j.k, K.value(v1, v2, c), scale));
        }
        char buf[128];
        std::snprintf(buf, sizeof buf,
                      "kernel %s partials == finite differences (max rel %.1e <= 1e-9)", k.name,
                      worst);
        check(worst <= 1e-9, buf);
    }
}

void test_moments() {
    const std::vector<std::pair<const char*, Link>> links = {
        {"square", Link::square()}, {"abs", Link::abs()}, {"relu", Link::relu()},
        {"erf", Link::erf()}, {"tanh", Link::tanh()},
        {"poly", Link::polynomial({0.3, -1, 0.5, 0.25})}, {"He3", Link::hermite({0, 0, 0, 1})},
        {"user", Link::user(u_sigma, u_prime, u_second)}};
    for (const auto& [name, f] : links) {
        const GaussianMoment M(f);
        double worst = 0;
        for (double v : {0.05, 0.7, 1.0, 1.9}) {
            const auto j = M.jet(v);
            const double h = 2e-2 * v;
            const double fd1 = derivative([&](double t) { return M.value(t); }, v, h);
            const double fd2 = derivative([&](double t) { return M.jet(t).m1; }, v, h);
            worst = std::fmax(worst, rel(j.m, reference_moment(f, v), 1.0));
            worst = std::fmax(worst, rel(j.m1, fd1, std::fmax(1e-3, j.m)));
            worst = std::fmax(worst, rel(j.m2, fd2, std::fmax(1e-3, j.m)));
        }
        char buf[128];
        std::snprintf(buf, sizeof buf, "E[%s(z)^2] and its v-derivatives (max rel %.1e <= 1e-9)",
                      name, worst);
        check(worst <= 1e-9, buf);
    }
}

void test_square_pair_closed_forms() {
    const LinkPair sq(Link::square());
    const LinkPair generic(Link::polynomial({0, 0, 1}));
    bool exact = true;
    double worst = 0;
    for (double s : {0.0, 0.1, 1.0 / 3.0, 0.9, 1.7})
        for (double u : {-0.4, 0.0, 0.2, 0.8})
            for (double ss : {1.0, 2.5}) {
                const LossDerivatives d = sq.loss_derivatives(s, u, ss);
                exact &= d.l == 3.0 * s * s + 3.0 * ss * ss - 4.0 * u * u - 2.0 * ss * s;
                exact &= -2.0 * d.ls == 4.0 * (ss - 3.0 * s) && -d.lu == 8.0 * u;
                exact &= -4.0 * d.lss == -24.0 && d.lsu == 0.0 && -d.luu == 8.0;
                exact &= sq.loss(s, u, ss) == d.l;
                const LossDerivatives g = generic.loss_derivatives(s, u, ss);
                const double a[] = {d.l, d.ls, d.lu, d.lss, d.lsu, d.luu};
                const double b[] = {g.l, g.ls, g.lu, g.lss, g.lsu, g.luu};
                for (int i = 0; i < 6; ++i) worst = std::fmax(worst, rel(b[i], a[i], 1.0));
            }
    check(exact, "square pair: l, c0 = 4(s* - 3s), c1 = 8u, C = diag(-24, 8) bit for bit");
    check(worst <= 1e-15, "square pair == the generic polynomial z^2 pair to 1e-15");
}

void test_pair_loss_derivatives() {
    const std::vector<Case> pairs = cases();
    double worst = 0;
    for (const Case& k : pairs) {
        const LinkPair P(k.f, k.g);
        for (const auto& p : kPoints) {
            const double s = p[0], ss = p[1], u = p[2], h = 2e-2 * (s * ss - u * u) / (s + ss);
            const LossDerivatives d = P.loss_derivatives(s, u, ss);
            auto at = [&](double a, double b) { return P.loss_derivatives(a, b, ss); };
            const double fd[] = {derivative([&](double t) { return P.loss(t, u, ss); }, s, h),
                                 derivative([&](double t) { return P.loss(s, t, ss); }, u, h),
                                 derivative([&](double t) { return at(t, u).ls; }, s, h),
                                 derivative([&](double t) { return at(s, t).ls; }, u, h),
                                 derivative([&](double t) { return at(t, u).lu; }, s, h),
                                 derivative([&](double t) { return at(s, t).lu; }, u, h)};
            const double an[] = {d.ls, d.lu, d.lss, d.lsu, d.lsu, d.luu};
            const double scale = std::fmax(1e-3, std::fabs(d.l));
            for (int i = 0; i < 6; ++i) worst = std::fmax(worst, rel(an[i], fd[i], scale));
        }
    }
    char buf[128];
    std::snprintf(buf, sizeof buf,
                  "every pair: ls, lu, lss, lsu, luu == finite differences (max rel %.1e)", worst);
    check(worst <= 1e-9, buf);
}

void test_closed_forms_of_the_model_page() {
    // relu/relu: c0 = -1 + sqrt(s s* - u^2) / (pi s), c1 = (pi - theta) / pi; abs/abs:
    // c0 = -2 + (4/pi) sqrt(s s* - u^2) / s, c1 = (4/pi) arcsin(u / sqrt(s s*));
    // square/abs: c0 = 4 (sqrt(2 s*/pi) - 3 s), c1 = 4 sqrt(2/pi) u / sqrt(s*).
    const LinkPair relu(Link::relu()), absl(Link::abs()), sqabs(Link::square(), Link::abs());
    double worst = 0;
    for (const auto& p : kPoints) {
        const double s = p[0], ss = p[1], u = p[2], g = std::sqrt(s * ss - u * u);
        const double theta = std::acos(u / std::sqrt(s * ss));
        const LossDerivatives r = relu.loss_derivatives(s, u, ss), a = absl.loss_derivatives(s, u, ss),
                              q = sqabs.loss_derivatives(s, u, ss);
        worst = std::fmax(worst, std::fabs(-2 * r.ls - (-1 + g / (M_PI * s))));
        worst = std::fmax(worst, std::fabs(-r.lu - (M_PI - theta) / M_PI));
        worst = std::fmax(worst, std::fabs(-2 * a.ls - (-2 + 4 / M_PI * g / s)));
        worst = std::fmax(worst, std::fabs(-a.lu - 4 / M_PI * std::asin(u / std::sqrt(s * ss))));
        worst = std::fmax(worst, std::fabs(-2 * q.ls - 4 * (std::sqrt(2 * ss / M_PI) - 3 * s)));
        worst = std::fmax(worst, std::fabs(-q.lu - 4 * std::sqrt(2 / M_PI) * u / std::sqrt(ss)));
    }
    check(worst <= 1e-14, "relu/relu, abs/abs, square/abs: c0 and c1 closed forms (1e-14)");
}

void test_user_links() {
    const LinkPair builtin(Link::tanh());
    const LinkPair given(Link::user(t_sigma, t_prime, t_second, false, M_PI / 2));
    const LinkPair bare(Link::user(t_sigma, t_prime, nullptr, false, M_PI / 2));
    double worst_given = 0, worst_bare = 0;
    for (const auto& p : kPoints) {
        const LossDerivatives a = builtin.loss_derivatives(p[0], p[2], p[1]);
        const LossDerivatives b = given.loss_derivatives(p[0], p[2], p[1]);
        const LossDerivatives c = bare.loss_derivatives(p[0], p[2], p[1]);
        const double x[] = {a.l, a.ls, a.lu, a.lss, a.lsu, a.luu};
        const double y[] = {b.l, b.ls, b.lu, b.lss, b.lsu, b.luu};
        const double z[] = {c.l, c.ls, c.lu, c.lss, c.lsu, c.luu};
        for (int i = 0; i < 6; ++i) {
            worst_given = std::fmax(worst_given, rel(y[i], x[i], 1e-2));
            worst_bare = std::fmax(worst_bare, rel(z[i], x[i], 1e-2));
        }
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "user tanh (sigma, sigma', sigma'') == built-in tanh (%.1e <= 1e-10)",
                  worst_given);
    check(worst_given <= 1e-10, buf);
    std::snprintf(buf, sizeof buf, "user tanh (sigma, sigma' only) == built-in tanh (%.1e <= 1e-8)",
                  worst_bare);
    check(worst_bare <= 1e-8, buf);
    const Link user_erf = Link::user(e_sigma, e_prime, nullptr, false, 2.0);
    const auto a = user_erf.hermite_coefficients(8), b = Link::erf().hermite_coefficients(8);
    double worst = 0;
    for (int k = 0; k < 8; ++k) worst = std::fmax(worst, std::fabs(a[k] - b[k]));
    check(worst <= 1e-13, "erf's closed Hermite coefficients == the rule's on a user erf");
    const LinkPair sin_pair(Link::user(u_sigma, u_prime, u_second));
    check(sin_pair.mse_kind() == pyscale::MseKind::kPlain &&
              LinkPair(Link::user(u_sigma, u_prime), Link::user(u_sigma, u_second)).mse_kind() ==
                  pyscale::MseKind::kUndefined,
          "user links: equal function pointers make sigma = tau");
}

void test_hermite_coefficients() {
    const auto he = Link::hermite({0.5, -1, 0, 2}).hermite_coefficients(6);
    const auto poly = Link::polynomial({0.5, -7, 0, 2}).hermite_coefficients(6);  // 2z^3 - 7z + .5
    bool ok = he[0] == 0.5 && he[1] == -1 && he[3] == 2 && he[4] == 0;
    ok &= std::fabs(poly[0] - 0.5) < 1e-15 && std::fabs(poly[1] + 1) < 1e-15 &&
          std::fabs(poly[3] - 2) < 1e-15;
    check(ok, "hermite(c) returns c; polynomial -> Hermite conversion");
    // relu: the closed coefficients reproduce E[relu(z) He_k(z)] = k! c_k (2-D reference).
    const auto r = Link::relu().hermite_coefficients(7);
    double worst = 0;
    for (int k = 0; k < 7; ++k) {
        auto f = [&](double x) {
            double p0 = 0, p1 = 1;
            for (int j = 0; j < k; ++j) { const double p2 = x * p1 - j * p0; p0 = p1; p1 = p2; }
            return phi(x) * std::fmax(x, 0.0) * p1;
        };
        worst = std::fmax(worst, std::fabs(integrate(f, -12, 12, {0.0}) / std::tgamma(k + 1.0) - r[k]));
    }
    check(worst <= 1e-14, "relu's closed Hermite coefficients == quadrature");
}

void test_refusals_and_metrics() {
    bool threw = false;
    try {
        LinkPair(Link::relu()).loss_derivatives(0.0, 0.0, 1.0);
    } catch (const std::domain_error& e) {
        threw = std::string(e.what()).find("kinked student 'relu'") != std::string::npos;
    }
    check(threw, "s = 0 with a kinked student: one-sentence domain_error");
    threw = false;
    try {
        LinkPair(Link::tanh(), Link::abs());
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    check(threw, "kinked link with a quadrature link: refused");
    const LossDerivatives d = LinkPair(Link::square()).loss_derivatives(0.0, 0.0, 1.0);
    check(std::isfinite(d.ls) && std::isnan(LinkPair(Link::erf()).loss(NAN, 0.0, 1.0)),
          "smooth students accept s = 0; NaN passes through");
    double v = 0, dv = 0;
    LinkPair(Link::tanh()).student_value_and_prime(0.3, v, dv);
    check(v == std::tanh(0.3) && std::fabs(dv - 1 / std::pow(std::cosh(0.3), 2)) < 1e-15 &&
              LinkPair(Link::relu()).student_prime(-0.2) == 0.0 &&
              LinkPair(Link::square(), Link::abs()).teacher(-0.5) == 0.5,
          "per-sample values: sigma, sigma' in one call; tau");
    check(LinkPair(Link::abs()).mse_kind() == pyscale::MseKind::kSignInvariant &&
              LinkPair(Link::relu()).mse_kind() == pyscale::MseKind::kPlain &&
              LinkPair(Link::square(), Link::abs()).mse_kind() == pyscale::MseKind::kUndefined,
          "mse kinds: even sigma = tau, odd sigma = tau, sigma != tau");
    // At w = w*: grad L = 0, so c0* = -c1* (Phase III's constant).
    double worst = 0;
    for (const Link& l : {Link::square(), Link::abs(), Link::relu(), Link::erf(), Link::tanh(),
                          Link::hermite({0, 0, 0, 1})}) {
        const LossDerivatives w = LinkPair(l).loss_derivatives(1.3, 1.3, 1.3);
        worst = std::fmax(worst, std::fabs(2 * w.ls + w.lu) + std::fabs(w.l));
    }
    check(worst <= 1e-12, "at w = w*: l = 0 and c0* = -c1* for every built-in link");
}

void report_costs() {
    for (const Case& k : cases()) {
        const LinkPair P(k.f, k.g);
        const int reps = P.cross_kernel().quadrature() ? 200 : 200000;
        double sink = 0;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) sink += P.loss_derivatives(0.7 + 1e-9 * i, 0.3, 1.0).lss;
        auto t1 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) sink += P.loss(0.7 + 1e-9 * i, 0.3, 1.0);
        auto t2 = std::chrono::steady_clock::now();
        const double a = std::chrono::duration<double, std::nano>(t1 - t0).count() / reps;
        const double b = std::chrono::duration<double, std::nano>(t2 - t1).count() / reps;
        std::printf("info cost %-14s loss_derivatives %10.0f ns  loss %10.0f ns  (%g)\n", k.name,
                    a, b, sink * 0);
    }
}

}  // namespace

int main(int argc, char** argv) {
    test_square_pair_closed_forms();
    test_closed_forms_of_the_model_page();
    test_refusals_and_metrics();
    test_hermite_coefficients();
    test_user_links();
    test_moments();
    test_kernels_against_quadrature();
    test_kernel_derivatives();
    test_pair_loss_derivatives();
    if (argc > 1 && std::string(argv[1]) == "--costs") report_costs();
    std::printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
