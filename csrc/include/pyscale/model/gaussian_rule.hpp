// The Gaussian trapezoid rule (links page: Quadrature): for x ~ N(0, 1),
//
//     E[F(x)] ~= sum_{|k| <= m} h phi(k h) F(k h),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
//
// By Poisson summation its error is a sum of Fourier transforms of phi F at 2 pi k / h; for an
// integrand analytic in a strip it falls geometrically with the number of nodes. Gauss-Hermite,
// whose error for a function with complex poles (tanh has them at +-i pi/2) decays only like
// exp(-c sqrt(n)), still leaves 1e-8 with 160 nodes per dimension in the fourth-derivative
// integrals of the flow's Jacobian at variance 2; this rule reaches 1e-14 with 30 to 210.
//
// The step is chosen per call from the integrand's scales. Shifting the contour to Im x = a
// bounds the error by exp(-2 pi a / h + g a^2 / 2) times the integrand's size there, where
// g = 1 + sum scale_e^2 collects the Gaussian weight and the entire factors growing like
// exp((scale_e Im x)^2 / 2) (erf at scale_e x), and a may go up to the reach a' = 3/4 of the
// distance to the nearest pole (a link with poles at distance `width`, evaluated at scale x,
// has them at width / scale). The best a is min(a', 2 pi / (g h)), so the error stays below
// exp(-L) for
//     h = pi sqrt(2 / (g L))              if a' >= sqrt(2 L / g),
//     h = 2 pi a' / (L + g a'^2 / 2)      otherwise,
// (continuous in a'), with L = 36, plus 8 when there is a pole (the integrand's size at a': a
// fourth derivative of tanh there is ~ 1e3), plus twice the integrand's polynomial degree (its
// transform grows like omega^degree).
#pragma once

#include <algorithm>
#include <cmath>

namespace pyscale {
namespace rule {

constexpr double kLogTol = 36.0;         // target error exp(-36) ~ 2e-16 ...
constexpr double kPoleMargin = 8.0;      // ... times e^8 ~ 3e3, the integrand's size near a'
constexpr double kWidthFraction = 0.75;  // a' as a fraction of the distance to the pole
constexpr int kMaxHalf = 512;            // at most 2 * 512 + 1 nodes per dimension
constexpr double kPi = 3.14159265358979323846;

// What limits the step in one dimension of the rule.
struct StepBounds {
    double reach = HUGE_VAL;  // a': 3/4 of the distance to the nearest pole (in x)
    double growth = 1.0;      // g: the Gaussian weight plus entire factors
    int degree = 0;           // polynomial degree of the integrand

    // A factor with poles `width` away from the real z axis, evaluated at z = scale x.
    void pole(double width, double scale) {
        if (scale > 0.0) reach = std::fmin(reach, kWidthFraction * width / scale);
    }
    // An entire factor growing like exp((scale Im x)^2 / 2) (erf(scale x / sqrt 2)).
    void entire(double scale) { growth += scale * scale; }

    double step() const {
        const double L = kLogTol + 2.0 * degree + (std::isfinite(reach) ? kPoleMargin : 0.0);
        if (reach >= std::sqrt(2.0 * L / growth)) return kPi * std::sqrt(2.0 / (growth * L));
        return 2.0 * kPi * reach / (L + 0.5 * growth * reach * reach);
    }
};

// Half-width X of the node range: phi(X) X^degree below exp(-39) (polynomial factors of the
// integrand up to `degree` included).
inline double extent(int degree) {
    double x = 8.9;
    for (int it = 0; it < 3; ++it)
        x = std::sqrt(2.0 * (39.0 + degree * std::log(std::max(x, 1.0))));
    return x;
}

// Nodes k h and weights h phi(k h), k = -m..m, written to x[0..2m] and w[0..2m]; returns
// 2m + 1. The buffers hold 2 kMaxHalf + 1 values. When X / h would exceed kMaxHalf the step
// is widened to X / kMaxHalf (tanh at variances beyond ~90; the rule then loses accuracy).
inline int fill(double h, double x_max, double* x, double* w) {
    int m = static_cast<int>(std::ceil(x_max / h));
    if (m > kMaxHalf) {
        m = kMaxHalf;
        h = x_max / kMaxHalf;
    }
    const double norm = h / std::sqrt(2.0 * kPi);
    for (int k = 0; k <= m; ++k) {
        const double xk = k * h;
        const double wk = norm * std::exp(-0.5 * xk * xk);
        x[m + k] = xk;
        x[m - k] = -xk;
        w[m + k] = wk;
        w[m - k] = wk;
    }
    return 2 * m + 1;
}

}  // namespace rule
}  // namespace pyscale
