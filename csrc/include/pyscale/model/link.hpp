// A student link sigma and a teacher link tau (links page). With z = x . w and
// z* = x . w*, (z, z*) is Gaussian with covariance [[s, u], [u, s*]], so the population loss
// (label noise excluded) is a function of (s, u) at fixed s*:
//
//     l(s, u) = kappa_ss(s, s, s) - 2 kappa_st(s, s*, u) + kappa_tt(s*, s*, s*),
//
// the kappas being Gaussian kernels (model/gaussian_kernel.hpp). The flow is
// dw/dt = c0 Q w + c1 Q w* with c0 = -2 dl/ds, c1 = -dl/du, and its Jacobian's rank-2 block
// is C = -[[4 lss, 2 lsu], [2 lsu, luu]] (model/loss_terms.hpp). A LinkPair owns its kernels
// and their precomputed tables; it is immutable, so one instance serves any number of threads.
//
// LinkPair is a pair of the engines (model/link_pair.hpp): PairBase derives its hooks from
// the primitives below, except two that it overrides to save work: flow_coefficients reads
// loss_gradient (no second derivatives: the flow's right-hand side is evaluated at every
// stage, its Jacobian once per step) and sample_terms evaluates sigma and sigma' together.
// Its population hooks throw std::domain_error at s = 0 with a kinked student (abs, relu),
// where l is not differentiable; the engines then stop with RunStatus::kOutOfDomain.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>

#include "gaussian_kernel.hpp"
#include "link_function.hpp"
#include "link_pair.hpp"
#include "loss_terms.hpp"

namespace pyscale {

class LinkPair : public PairBase<LinkPair> {
public:
    LinkPair(const Link& student, const Link& teacher)
        : student_(student), teacher_(teacher), cross_(student, teacher), self_(student),
          teacher_self_(teacher) {
        square_ = student.kind() == LinkKind::kSquare && teacher.kind() == LinkKind::kSquare;
    }
    explicit LinkPair(const Link& link) : LinkPair(link, link) {}

    const Link& student_link() const { return student_; }
    const Link& teacher_link() const { return teacher_; }
    const GaussianKernel& cross_kernel() const { return cross_; }

    // l(s, u) and its partials at fixed s*. The square pair uses its closed forms as written
    // in the engines (l = 3s^2 + 3s*^2 - 4u^2 - 2s*s, c0 = 4(s* - 3s), c1 = 8u, bit for bit).
    LossDerivatives loss_derivatives(double s, double u, double s_star) const {
        check(s, s_star);
        LossDerivatives d;
        if (square_) {
            d.l = 3.0 * s * s + 3.0 * s_star * s_star - 4.0 * u * u - 2.0 * s_star * s;
            d.ls = -2.0 * (s_star - 3.0 * s);
            d.lu = -8.0 * u;
            d.lss = 6.0;
            d.lsu = 0.0;
            d.luu = -8.0;
            return d;
        }
        const MomentJet a = self_.jet(s);
        const KernelJet k = cross_.jet(s, s_star, u);
        d.l = a.m - 2.0 * k.k + teacher_self_.value(s_star);
        d.ls = a.m1 - 2.0 * k.k1;
        d.lu = -2.0 * k.kc;
        d.lss = a.m2 - 2.0 * k.k11;
        d.lsu = -2.0 * k.k1c;
        d.luu = -2.0 * k.kcc;
        return d;
    }

    // l, ls and lu only (lss, lsu, luu are NaN): what the flow's right-hand side needs, at
    // half the cost of loss_derivatives for quadrature links.
    LossDerivatives loss_gradient(double s, double u, double s_star) const {
        if (square_) {
            LossDerivatives d = loss_derivatives(s, u, s_star);
            d.lss = d.lsu = d.luu = NAN;
            return d;
        }
        check(s, s_star);
        const MomentJet a = self_.jet(s, 1);
        const KernelJet k = cross_.jet(s, s_star, u, 1);
        LossDerivatives d;
        d.l = a.m - 2.0 * k.k + teacher_self_.value(s_star);
        d.ls = a.m1 - 2.0 * k.k1;
        d.lu = -2.0 * k.kc;
        d.lss = d.lsu = d.luu = NAN;
        return d;
    }

    double loss(double s, double u, double s_star) const {
        check(s, s_star);
        if (square_) return 3.0 * s * s + 3.0 * s_star * s_star - 4.0 * u * u - 2.0 * s_star * s;
        return self_.value(s) - 2.0 * cross_.value(s, s_star, u) + teacher_self_.value(s_star);
    }

    double student(double z) const { return student_(z); }
    double student_prime(double z) const { return student_.prime(z); }
    double teacher(double z) const { return teacher_(z); }
    // sigma(z) and sigma'(z) in one evaluation (SGD's per-sample factor 2 (sigma - y) sigma').
    void student_value_and_prime(double z, double& value, double& prime) const {
        double d[2];
        student_.derivatives(z, 1, d);
        value = d[0];
        prime = d[1];
    }

    // (c0, c1) = (-2 l_s, -l_u) from loss_gradient (the flow's hook, link_pair.hpp).
    FlowCoefficients flow_coefficients(double s, double u, double s_star) const {
        const LossDerivatives d = loss_gradient(s, u, s_star);
        return {-2.0 * d.ls, -d.lu};
    }
    // sigma(p) - y and sigma'(p) from one evaluation of the student (online SGD, the mode
    // chain, ERM).
    SampleTerms sample_terms(double p, double y) const {
        double value, prime;
        student_value_and_prime(p, value, prime);
        return {value - y, prime};
    }

    MseKind mse_kind() const {
        if (student_ != teacher_) return MseKind::kUndefined;
        return student_.even() ? MseKind::kSignInvariant : MseKind::kPlain;
    }

private:
    // NaN passes through (a diverged state gives NaN coefficients, not an exception).
    void check(double s, double s_star) const {
        if (!(s_star > 0.0)) throw std::invalid_argument("s* must be positive");
        if (s < 0.0) throw std::domain_error("s = w^T Q w must be >= 0");
        if (s <= 0.0 && student_.kinked())
            throw std::domain_error("s = 0 with the kinked student '" + student_.name() +
                                    "': its loss is not differentiable at w = 0 (c0 grows like "
                                    "sqrt(s*/s) as s -> 0), so start from s > 0");
    }

    Link student_, teacher_;
    GaussianKernel cross_;
    GaussianMoment self_, teacher_self_;
    bool square_ = false;
};

}  // namespace pyscale
