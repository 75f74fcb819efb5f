// The population flow's vector field (model page: Gradient flow), apart from the solver:
//     dw/dt = f(w) = -grad L(w) = c0 Q w + c1 Q w*,     (c0, c1) = pair.flow_coefficients,
//     J = df/dw = c0 Q + U C U^T,   U = [Qw, Qw*],     C = pair.jacobian_coupling,
// both evaluated at (s, u) = (w^T Q w, w^T Q w*) (model/link_pair.hpp). Given the two
// scalars every coordinate is linear, f_i = lambda_i (c0 w_i + c1 w*_i), which is what lets
// the integrator (integrator.hpp) fuse f into its passes and solve with J in O(d)
// (woodbury.hpp). The square: c0 = 4 (s* - 3 s), c1 = 8 u, C = diag(-24, 8).
#pragma once

#include <array>
#include <cstddef>

#include "../model/link_pair.hpp"
#include "../model/problem.hpp"
#include "../util/parallel.hpp"

namespace pyscale {

template <class Pair>
class VectorField {
    static_assert(is_pair_v<Pair>, "VectorField<Pair>: Pair must derive from PairBase<Pair>");

public:
    VectorField(const ProblemView& p, const Pair& pair) : p_(p), pair_(pair) {}

    const ProblemView& problem() const { return p_; }
    const Pair& pair() const { return pair_; }

    // (c0, c1) at (s, u): f(w) = c0 Q w + c1 Q w*.
    FlowCoefficients coefficients(double s, double u) const {
        return pair_.flow_coefficients(s, u, p_.s_star);
    }
    // C at (s, u): J = c0 Q + U C U^T.
    Coupling coupling(double s, double u) const {
        return pair_.jacobian_coupling(s, u, p_.s_star);
    }
    // The scale of the fastest rate, per unit of the largest eigenvalue (first step).
    double rate_bound(double s, double u) const { return pair_.rate_bound(s, u, p_.s_star); }

    // f_i = lambda_i (c0 w_i + c1 w*_i): one coordinate of f for coefficients f.
    static double component(const FlowCoefficients& f, double lambda, double w, double w_star) {
        return lambda * (f.c0 * w + f.c1 * w_star);
    }

    // f(w) into out (two passes: s and u, then f). For callers and tests; the integrator
    // forms f inside its own passes.
    void evaluate(const double* w, double* out, int threads = 0) const {
        const auto su = inner_products(w, w, threads);
        const FlowCoefficients f = coefficients(su[0], su[1]);
        for (std::size_t i = 0; i < p_.n; ++i)
            out[i] = component(f, p_.lambda[i], w[i], p_.w_star[i]);
    }

    // J(w) v into out: c0 lambda_i v_i + lambda_i (w_i, w*_i) C (v^T Q w, v^T Q w*)^T.
    void jacobian_times(const double* w, const double* v, double* out, int threads = 0) const {
        const auto su = inner_products(w, w, threads);
        const auto ab = inner_products(v, w, threads);  // (v^T Q w, v^T Q w*)
        const FlowCoefficients f = coefficients(su[0], su[1]);
        const Coupling c = coupling(su[0], su[1]);
        const double g1 = c.c11 * ab[0] + c.c12 * ab[1], g2 = c.c12 * ab[0] + c.c22 * ab[1];
        for (std::size_t i = 0; i < p_.n; ++i) {
            const double lam = p_.lambda[i];
            out[i] = f.c0 * lam * v[i] + lam * (w[i] * g1 + p_.w_star[i] * g2);
        }
    }

private:
    // (x^T Q y, x^T Q w*) in the engines' fixed blocks.
    std::array<double, 2> inner_products(const double* x, const double* y, int threads) const {
        BlockedReducer<2> red(p_.n, threads);
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        return red.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                acc[0] += lam[i] * x[i] * y[i];
                acc[1] += lam[i] * x[i] * ws[i];
            }
        });
    }

    const ProblemView& p_;
    Pair pair_;
};

}  // namespace pyscale
