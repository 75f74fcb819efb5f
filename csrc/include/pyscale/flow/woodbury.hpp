// Linear solves with the flow's shifted Jacobian in O(d) (model page: Gradient flow).
//
// Each Rosenbrock stage solves G x = r with G = g I - J and J = c0 Q + U C U^T
// (vector_field.hpp), U = [Qy, Qw*] at the step's start y. With M = diag(g - c0 lambda),
// x = M^-1 (r + U C U^T x); writing z = C U^T x gives
//     x = M^-1 (r + U z),   (I - C P) z = C q,   P = U^T M^-1 U,   q = U^T M^-1 r,
// a 2x2 "capacitance" system that never inverts C, so it holds for a singular or
// indefinite C as well (det(I - C P) = det G / det M: it is singular exactly when G is).
// When C is diagonal with both entries non-zero (the square's diag(-24, 8)), the system is
// multiplied through by C^-1 and solved as the symmetric (C^-1 - P) z = q, the form the
// square's runs have always used; C^-1 = diag(1/c11, 1/c22) is then exact to rounding.
//
// Capacitance holds the factored system of one step: the integrator forms P and each
// stage's q inside its fused passes and calls solve once per stage.
// solve_shifted_jacobian is the same solve written out as plain loops (callers, tests).
#pragma once

#include <cmath>
#include <cstddef>

#include "../model/link_pair.hpp"

namespace pyscale {

class Capacitance {
public:
    // Factors the system for C and P = [[p11, p12], [p12, p22]]. False when it is
    // numerically singular (|det| <= 1e-13 of the size of its terms, or not finite): the
    // integrator then rejects the step and retries a shorter one.
    bool factor(const Coupling& c, double p11, double p12, double p22) {
        c_ = c;
        inverse_form_ = c.c12 == 0.0 && c.c11 != 0.0 && c.c22 != 0.0 &&
                        std::isfinite(1.0 / c.c11) && std::isfinite(1.0 / c.c22);
        double scale;
        if (inverse_form_) {  // K = C^-1 - P, symmetric
            a11_ = 1.0 / c.c11 - p11;
            a12_ = -p12;
            a21_ = a12_;
            a22_ = 1.0 / c.c22 - p22;
            det_ = a11_ * a22_ - a12_ * a12_;
            scale = std::abs(a11_ * a22_) + a12_ * a12_;
        } else {  // A = I - C P; its scale from the terms before they cancel
            a11_ = 1.0 - (c.c11 * p11 + c.c12 * p12);
            a12_ = -(c.c11 * p12 + c.c12 * p22);
            a21_ = -(c.c12 * p11 + c.c22 * p12);
            a22_ = 1.0 - (c.c12 * p12 + c.c22 * p22);
            det_ = a11_ * a22_ - a12_ * a21_;
            const double m11 = 1.0 + std::abs(c.c11 * p11) + std::abs(c.c12 * p12);
            const double m12 = std::abs(c.c11 * p12) + std::abs(c.c12 * p22);
            const double m21 = std::abs(c.c12 * p11) + std::abs(c.c22 * p12);
            const double m22 = 1.0 + std::abs(c.c12 * p12) + std::abs(c.c22 * p22);
            scale = m11 * m22 + m12 * m21;
        }
        return std::abs(det_) > 1e-13 * scale && std::isfinite(det_);
    }

    // z for the stage's q = U^T M^-1 r.
    void solve(double q1, double q2, double& z1, double& z2) const {
        if (inverse_form_) {
            z1 = (a22_ * q1 - a12_ * q2) / det_;
            z2 = (a11_ * q2 - a12_ * q1) / det_;
            return;
        }
        const double b1 = c_.c11 * q1 + c_.c12 * q2, b2 = c_.c12 * q1 + c_.c22 * q2;  // C q
        z1 = (a22_ * b1 - a12_ * b2) / det_;
        z2 = (a11_ * b2 - a21_ * b1) / det_;
    }

    bool inverse_form() const { return inverse_form_; }

private:
    Coupling c_;
    bool inverse_form_ = false;
    double a11_ = 1, a12_ = 0, a21_ = 0, a22_ = 1, det_ = 1;  // K or A, and its determinant
};

// x = (g I - J)^-1 r for J = c0 diag(lambda) + U C U^T, U = [lambda y, lambda w*] (length n
// each): the flow's stage solve as plain loops. False (x untouched) when the system is
// numerically singular.
inline bool solve_shifted_jacobian(std::size_t n, const double* lambda, const double* y,
                                   const double* w_star, double g, double c0, const Coupling& c,
                                   const double* r, double* x) {
    double p11 = 0, p12 = 0, p22 = 0, q1 = 0, q2 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double inv_m = 1.0 / (g - c0 * lambda[i]);
        const double a = lambda[i] * y[i], b = lambda[i] * w_star[i];
        p11 += a * a * inv_m;
        p12 += a * b * inv_m;
        p22 += b * b * inv_m;
        q1 += a * r[i] * inv_m;
        q2 += b * r[i] * inv_m;
    }
    Capacitance cap;
    if (!cap.factor(c, p11, p12, p22)) return false;
    double z1, z2;
    cap.solve(q1, q2, z1, z2);
    for (std::size_t i = 0; i < n; ++i)
        x[i] = (r[i] + lambda[i] * (y[i] * z1 + w_star[i] * z2)) / (g - c0 * lambda[i]);
    return true;
}

}  // namespace pyscale
