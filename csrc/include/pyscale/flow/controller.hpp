// Step-size control of the flow's Rosenbrock integrator (model page: Gradient flow).
//
// The classical controller h_new = h * clamp(safety * err^(-1/q), min_factor, max_factor)
// with q = min(order, embedded order) + 1, plus the rules that this problem needs:
//  * a stability bound while s < s*/3 (the flow then grows, and G = I/(h gamma) - J must
//    stay far from singular: h <= kGrowthStabilityMargin / (gamma * growth rate));
//  * after a rejection the next accepted step may not grow (kMaxFactorAfterReject);
//  * the record-landing rule: a step shortened to land on a target time says little about
//    the scale of the solution, so it does not shrink the step planned after it below
//    min(planned, kLandingRecovery * proposal).
// The numba hierarchy integrator (pyscale/_kernels/hierarchy.py) uses the same names.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

namespace pyscale {

struct StepController {
    static constexpr double kSafety = 0.9;
    static constexpr double kMinFactor = 0.2;
    static constexpr double kMaxFactor = 5.0;
    static constexpr double kMaxFactorAfterReject = 1.0;
    static constexpr double kLandingRecovery = 5.0;
    // err is floored here before err^(-1/q), so that err = 0 means "grow by kMaxFactor".
    static constexpr double kErrorFloor = 1e-10;
    // A step that ends within this relative distance of its target is stretched onto it.
    static constexpr double kLandingSlack = 4 * std::numeric_limits<double>::epsilon();
    // Steps below this fraction of max(|t|, 1) are rounding noise: the run stops.
    static constexpr double kMinRelativeStep = 1e-15;
    static constexpr double kGrowthStabilityMargin = 0.5;

    double error_order = 4.0;  // q
    double hmax = std::numeric_limits<double>::infinity();

    // The step to try from a planned h: the hmax rule, then the stability bound while the
    // flow grows at `growth_rate` (c0 lambda_max, the largest entry of c0 Q when c0 > 0; the
    // square's 4 (s* - 3 s) lambda_max is <= 0 once s >= s*/3).
    double limit(double h, double growth_rate, double gamma) const {
        h = std::min(h, hmax);
        if (growth_rate > 0.0) h = std::min(h, kGrowthStabilityMargin / (gamma * growth_rate));
        return h;
    }

    // Whether a step of size h from t reaches `target` (then it is shortened onto it).
    static bool lands(double t, double h, double target) {
        return t + h >= target * (1.0 - kLandingSlack);
    }

    static bool too_small(double step, double t) {
        return !(step > std::max(std::abs(t), 1.0) * kMinRelativeStep);
    }

    // Next h after a rejected attempt of size `step` with scaled error err (> 1 or NaN).
    double after_reject(double step, double err) const {
        const double expo = -1.0 / error_order;
        return step * (std::isfinite(err) ? std::max(kMinFactor, kSafety * std::pow(err, expo))
                                          : kMinFactor);
    }

    // Next h after an accepted step of size `step` (err <= 1). `planned` is the h the
    // controller had planned before the step was shortened onto a target (`landed`).
    double after_accept(double step, double err, bool after_rejection, bool landed,
                        double planned) const {
        const double expo = -1.0 / error_order;
        double fac = std::min(kMaxFactor,
                              std::max(kMinFactor, kSafety * std::pow(std::max(err, kErrorFloor),
                                                                      expo)));
        if (after_rejection) fac = std::min(fac, kMaxFactorAfterReject);
        const double h_new = step * fac;
        return landed ? std::max(h_new, std::min(planned, h_new * kLandingRecovery)) : h_new;
    }
};

}  // namespace pyscale
