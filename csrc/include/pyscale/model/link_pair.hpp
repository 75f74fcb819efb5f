// The link pair (model page: Data model; model page: Gradient flow): the student sigma,
// whose prediction on a sample x is sigma(x·w), and the teacher tau, whose label is
// y = tau(x·w*) + xi. Everything an engine needs from the model beyond Q and w* comes from
// the pair, through the hooks below; phase retrieval is SquarePair (sigma = tau = z^2).
//
// Population. With z = x·w, z* = x·w* jointly Gaussian, Var z = s = w^T Q w,
// Cov(z, z*) = u = w^T Q w*, Var z* = s* = w*^T Q w*, the loss
//     L(w) = E[(sigma(z) - y)^2] = l(s, u) + sigma_noise^2      (s* fixed)
// depends on w only through (s, u), so
//     -grad L = c0 Q w + c1 Q w*,   c0 = -2 dl/ds,   c1 = -dl/du,
// and the Jacobian of the flow dw/dt = -grad L is diagonal plus rank two,
//     J = c0 Q + [Qw, Qw*] C [Qw, Qw*]^T,   C = -[[4 l_ss, 2 l_su], [2 l_su, l_uu]],
// C symmetric and possibly singular or indefinite (the square: diag(-24, 8)).
//
// A pair is a small copyable value type (engines keep a copy for the length of a run) that
// derives from PairBase<itself> and provides the primitives:
//
//   LossDerivatives loss_derivatives(double s, double u, double s_star) const
//       l(s, u) at fixed s* and its partial derivatives up to second order (label noise
//       excluded). Read by every derived population hook.
//   double loss(double s, double u, double s_star) const
//       l(s, u) alone (label noise excluded); the record's loss column.
//   double student(double z) const        sigma(z), the prediction on a sample with x·w = z
//   double student_prime(double z) const  sigma'(z)
//   double teacher(double z) const        tau(z), the noiseless label of a sample, x·w* = z
//   MseKind mse_kind() const              what the record's mse column means (MseKind)
//
// PairBase derives the engines' hooks from these. A pair may override any of them (the
// square overrides each with its closed form, in the exact floating-point expressions its
// runs have always been computed with, so that they keep their bits); an override must
// equal the derived value up to rounding.
//
//   FlowCoefficients flow_coefficients(double s, double u, double s_star) const
//       (c0, c1) = (-2 l_s, -l_u): the flow's right-hand side f(w) = c0 Q w + c1 Q w*.
//       Rates per unit eigenvalue (1/time). Flow (vector_field.hpp; every stage and the
//       step-size limit), GD through gd_coefficients.
//   Coupling jacobian_coupling(double s, double u, double s_star) const
//       C = -[[4 l_ss, 2 l_su], [2 l_su, l_uu]], the Jacobian's rank-two coupling. Flow
//       (the Woodbury solve of every step, woodbury.hpp).
//   double rate_bound(double s, double u, double s_star) const
//       A scale of the flow's fastest rate per unit lambda_max, which seeds the first step
//       (rtol^(1/4) / (lambda_max (rate_bound + 1))). Default |c0| + |C11| s +
//       2 |C12| sqrt(s s*) + |C22| s*, which bounds ||J|| / lambda_max. Flow.
//   GdCoefficients gd_coefficients(double lr, double s, double u, double s_star) const
//       (a, b) of one GD step w_i <- w_i - lambda_i (a w_i - b w*_i): (-lr c0, lr c1). GD.
//   double gradient_scale() const, double gradient_weight(double p) const
//       The per-sample gradient factor g = d/dp (sigma(p) - y)^2 = 2 (sigma(p) - y) sigma'(p)
//       written as gradient_scale() * (sigma(p) - y) * gradient_weight(p): (2, sigma'(p)) by
//       default, (4, p) for the square.
//   SampleTerms sample_terms(double p, double y) const
//       The residual r = sigma(p) - y of a sample with x.w = p and label y, and the weight
//       gradient_weight(p), in one call (a link evaluates sigma and sigma' together). Online
//       SGD (coefficient (scale lr / B) r weight), the mode chain (g_j = scale r_j weight_j),
//       ERM (scale / N).
//   double record_loss(double s, double u, double s_star, double noise) const
//       The record's loss column: l(s, u) + noise. Every engine's records (stats.hpp).
//   double record_mse(double dist_minus, double dist_plus, double dim) const
//       The record's mse column from ||w - w*||^2 and ||w + w*||^2: per mse_kind(),
//       min(both) / dim, ||w - w*||^2 / dim, or NaN (no w* to recover). Every engine.
//
// Domain. A pair may refuse a state outside its domain by throwing std::domain_error from a
// population hook (LinkPair: s = 0 with a kinked student, where l is not differentiable).
// The engines catch it where a run can stop cleanly and end with RunStatus::kOutOfDomain,
// everything recorded so far kept (step_loop.hpp, flow/integrator.hpp).
//
// Samples (online SGD, the mode chain, ERM): the residual of a sample with projections
// p = x·w, q = x·w* is r = student(p) - (teacher(q) + sigma_noise xi), its loss r^2.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

// LossDerivatives (l(s, u) and its partials at fixed s*, label noise excluded) and MseKind
// (what the record's mse column holds: kSignInvariant min(||w - w*||^2, ||w + w*||^2) / d,
// kPlain ||w - w*||^2 / d, kUndefined NaN, there being no w* to recover when sigma != tau).
#include "loss_terms.hpp"

namespace pyscale {

// The flow's right-hand side: f(w) = c0 Q w + c1 Q w*.
struct FlowCoefficients {
    double c0 = 0, c1 = 0;
};

// The symmetric 2x2 coupling C of the Jacobian's rank-two part, [[c11, c12], [c12, c22]].
struct Coupling {
    double c11 = 0, c12 = 0, c22 = 0;
};

// One GD step: w_i <- w_i - lambda_i (a w_i - b w*_i).
struct GdCoefficients {
    double a = 0, b = 0;
};

// One sample's residual sigma(p) - y and gradient weight (gradient_weight(p)).
struct SampleTerms {
    double residual = 0, weight = 0;
};

template <class Derived>
class PairBase {
public:
    FlowCoefficients flow_coefficients(double s, double u, double s_star) const {
        const LossDerivatives d = self().loss_derivatives(s, u, s_star);
        return {-2.0 * d.ls, -d.lu};
    }
    Coupling jacobian_coupling(double s, double u, double s_star) const {
        const LossDerivatives d = self().loss_derivatives(s, u, s_star);
        return {-4.0 * d.lss, -2.0 * d.lsu, -d.luu};
    }
    double rate_bound(double s, double u, double s_star) const {
        const FlowCoefficients f = self().flow_coefficients(s, u, s_star);
        const Coupling c = self().jacobian_coupling(s, u, s_star);
        const double sa = std::abs(s);
        return std::abs(f.c0) + std::abs(c.c11) * sa +
               2.0 * std::abs(c.c12) * std::sqrt(sa * s_star) + std::abs(c.c22) * s_star;
    }
    GdCoefficients gd_coefficients(double lr, double s, double u, double s_star) const {
        const FlowCoefficients f = self().flow_coefficients(s, u, s_star);
        return {-lr * f.c0, lr * f.c1};
    }
    double gradient_scale() const { return 2.0; }
    double gradient_weight(double p) const { return self().student_prime(p); }
    SampleTerms sample_terms(double p, double y) const {
        return {self().student(p) - y, self().gradient_weight(p)};
    }
    double record_loss(double s, double u, double s_star, double noise) const {
        return self().loss(s, u, s_star) + noise;
    }
    double record_mse(double dist_minus, double dist_plus, double dim) const {
        switch (self().mse_kind()) {
            case MseKind::kSignInvariant: return std::min(dist_minus, dist_plus) / dim;
            case MseKind::kPlain: return dist_minus / dim;
            case MseKind::kUndefined: break;
        }
        return std::numeric_limits<double>::quiet_NaN();
    }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
};

// Whether P is a pair (derives from PairBase<P>); the engines check it.
template <class P>
inline constexpr bool is_pair_v = std::is_base_of_v<PairBase<P>, P>;

// Phase retrieval, sigma = tau = z^2 (model page: Data model). By Wick's theorem
//     l = 3 s^2 - 2 s* s - 4 u^2 + 3 s*^2,   c0 = 4 (s* - 3 s),   c1 = 8 u,   C = diag(-24, 8),
// and the per-sample factor g = 4 (p^2 - y) p. Every derived hook is overridden by its
// closed form, written exactly as the engines have always computed it.
class SquarePair : public PairBase<SquarePair> {
public:
    LossDerivatives loss_derivatives(double s, double u, double s_star) const {
        return {loss(s, u, s_star), 6.0 * s - 2.0 * s_star, -8.0 * u, 6.0, 0.0, -8.0};
    }
    double loss(double s, double u, double s_star) const {
        return 3.0 * s * s + 3.0 * s_star * s_star - 4.0 * u * u - 2.0 * s_star * s;
    }
    double student(double z) const { return z * z; }
    double student_prime(double z) const { return 2.0 * z; }
    double teacher(double z) const { return z * z; }
    MseKind mse_kind() const { return MseKind::kSignInvariant; }

    FlowCoefficients flow_coefficients(double s, double u, double s_star) const {
        return {4.0 * (s_star - 3.0 * s), 8.0 * u};
    }
    Coupling jacobian_coupling(double, double, double) const { return {-24.0, 0.0, 8.0}; }
    // |c0| <= 4 s* + 12 |s| (the rank-two part is left out: this only seeds the first step).
    double rate_bound(double s, double, double s_star) const {
        return 4.0 * s_star + 12.0 * std::abs(s);
    }
    GdCoefficients gd_coefficients(double lr, double s, double u, double s_star) const {
        return {lr * (12.0 * s - 4.0 * s_star), 8.0 * lr * u};
    }
    double gradient_scale() const { return 4.0; }
    double gradient_weight(double p) const { return p; }
};

}  // namespace pyscale
