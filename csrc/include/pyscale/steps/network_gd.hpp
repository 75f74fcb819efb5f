// Population gradient descent of a two-layer network (networks page: The gradient):
//     W <- W + lr Q (W A + W* B^T),   row by row  W_i <- W_i + lr lambda_i (W_i A + W*_i B^T),
// (A, B) from the overlaps of the current W (model/network.hpp); t = step * lr. One fused
// pass per step: each row is updated and its share of the next overlaps added at once, in
// the fixed blocks of util/parallel.hpp (the same loop as every other network engine's
// overlaps: a run resumed at any step repeats the uninterrupted one bit for bit). The step
// loop, options and result are single-index GD's (step_loop.hpp, gd.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include "../model/network.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "gd.hpp"
#include "step_loop.hpp"

namespace pyscale {

// The divergence threshold of a network run: divergence_factor * max(1, max_l S*_ll,
// max_j S_jj(0)), checked against every S_jj.
inline double network_divergence_limit(const NetworkView& v, const double* ov, double factor) {
    double m = 1.0;
    for (int l = 0; l < v.k; ++l) m = std::max(m, v.s_star[l * v.k + l]);
    for (int j = 0; j < v.p; ++j) m = std::max(m, ov[j * v.p + j]);
    return factor * m;
}

// Whether the overlaps of a state are finite with every S_jj <= limit.
inline bool network_state_ok(const NetworkView& v, const double* ov, double limit) {
    for (int q = 0; q < v.width(); ++q)
        if (!std::isfinite(ov[q])) return false;
    for (int j = 0; j < v.p; ++j)
        if (ov[j * v.p + j] > limit) return false;
    return true;
}

namespace detail {

class NetworkGdEngine {
public:
    NetworkGdEngine(const NetworkView& v, const NetworkKernels& kern, double* w, double lr,
                    double* records, const GdOptions& opt)
        : v_(v), kern_(kern), w_(w), lr_(lr), records_(records),
          red_(v.n, opt.threads, static_cast<std::size_t>(v.width())), ov_(v.width()),
          A_(v.p * v.p), B_(v.p * v.k) {
        check_network(v, kern);
        std::fill(A_.begin(), A_.end(), 0.0);
        std::fill(B_.begin(), B_.end(), 0.0);
        update(0.0);  // the overlaps from the update loop's own sums (lr = 0: W unchanged)
        limit_ = network_divergence_limit(v, ov_.data(), opt.divergence_factor);
    }

    StepOutcome advance(long long k) {
        kern_.gradient(ov_.data(), v_.s_star.data(), A_.data(), B_.data());
        update(lr_);
        return network_state_ok(v_, ov_.data(), limit_) ? StepOutcome::taken(k)
                                                        : StepOutcome::diverged_at(k);
    }
    StepOutcome flush(long long k) { return StepOutcome::taken(k); }  // W is always current
    void record(std::size_t row, long long k) {
        write_network_record(records_ + row * network_record_width(v_.p, v_.k),
                             static_cast<double>(k) * lr_, v_, kern_, ov_.data());
    }

private:
    // W_i += lr lambda_i (W_i A + W*_i B^T) on every row, with the new overlaps.
    void update(double lr) {
        const int p = v_.p;
        const auto& tot = red_.run([&](std::size_t b, std::size_t e, double* acc) {
            double f[kMaxUnits];
            for (std::size_t i = b; i < e; ++i) {
                double* wi = w_ + i * p;
                if (lr != 0.0) {
                    network_row_rhs(v_, i, wi, A_.data(), B_.data(), f);
                    for (int c = 0; c < p; ++c) wi[c] += lr * f[c];
                }
                add_row_overlaps(v_, i, wi, acc);
            }
        });
        symmetrise_overlaps(v_.p, v_.k, tot.data(), ov_.data());
    }

    const NetworkView& v_;
    const NetworkKernels& kern_;
    double* w_;
    double lr_;
    double* records_;
    BlockedSums red_;
    std::vector<double> ov_, A_, B_;
    double limit_ = 0.0;
};

}  // namespace detail

// Runs steps step0+1 .. step_end of population GD on W (n x p, in place); row r of `out`
// (network_record_width(p, k) doubles: t, loss, S, U) receives the record after
// record_steps[r] steps (increasing, within [step0, step_end]).
inline GdResult run_network_gd(const NetworkView& v, const NetworkKernels& kern, double* w,
                               double lr, long long step0, long long step_end,
                               const long long* record_steps, std::size_t n_records,
                               double* out, const GdOptions& opt = {},
                               const ProgressHook& hook = nullptr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    detail::NetworkGdEngine engine(v, kern, w, lr, out, opt);
    return GdResult{run_step_loop(engine, {step0, step_end, record_steps, n_records, lr,
                                           opt.progress_every}, hook)};
}

}  // namespace pyscale
