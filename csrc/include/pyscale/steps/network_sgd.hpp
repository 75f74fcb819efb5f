// Online SGD of a two-layer network on fresh samples (networks page: Online SGD): at step k
// a batch of B samples x_b = sqrt(lambda) ⊙ z_b ~ N(0, Q), their p + k projections
// h_b = W^T x_b, h*_b = W*^T x_b, labels y_b = sum_l a*_l tau(h*_bl) + xi_b, and
//     W <- W - (lr / B) sum_b x_b g_b^T,   g_bj = 2 (f(x_b) - y_b) a_j sigma'(h_bj),
// f(x) = sum_j a_j sigma(x . w_j); t = step * lr. The mean increment is lr Q (W A + W* B^T)
// (population GD, network_gd.hpp).
//
// Randomness and determinism are single-index SGD's (sgd.hpp): z_b and xi_b are the
// NormalStream draws of sample (k - 1) B + b (feature domain 0, label domain 1) under the key
// stream_seed(seed, d, streams), so a network run sees exactly the Gaussians a single-index
// run with the same seed sees, every sum runs in the fixed blocks of util/parallel.hpp (the
// bits do not depend on the thread count), and resuming at step k continues a run exactly.
//
// Passes, as single-index SGD's: the update of step k needs its samples' projections on
// W_{k-1}, so it is deferred and fused into step k + 1's sweep (per chunk of 512
// coordinates: apply the pending update, then draw and project the next samples); the
// samples are kept (B n doubles) or regenerated from their counters (identical bits: each
// entry is updated by the same operations in the same order either way).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "../model/network.hpp"
#include "../random/normal.hpp"
#include "../util/errors.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "ensemble.hpp"
#include "network_gd.hpp"
#include "sgd.hpp"
#include "step_loop.hpp"

namespace pyscale {

// Bytes run_network_sgd allocates besides the caller's buffers: sqrt(lambda), the stored
// samples (unless regenerated), the block partials and the per-sample projections and
// coefficients.
inline std::size_t network_sgd_workspace_bytes(std::size_t n, int p, int k, int batch,
                                               const SgdOptions& opt = {}) {
    const std::size_t b = static_cast<std::size_t>(batch), m = std::size_t(p + k);
    const std::size_t samples = sgd_stores_samples(n, batch, opt) ? b * n : 0;
    const std::size_t parts = block_count(n) * (b * m + std::size_t(p * p + p * k));
    return (n + samples + parts + b * (m + p)) * sizeof(double);
}

namespace detail {

class NetworkSgdEngine {
public:
    NetworkSgdEngine(const NetworkView& v, const NetworkKernels& kern, double* w, double lr,
                     int batch, std::uint64_t seed, long long step0, double* records,
                     double* online_loss, const SgdOptions& opt, double window0_sum,
                     long long window0_count)
        : v_(v), kern_(kern), w_(w), lr_(lr), B_(static_cast<std::size_t>(batch)), m_(v.p + v.k),
          step0_(step0), nb_(block_count(v.n)), threads_(threads_for(v.n, opt.threads)),
          store_(sgd_stores_samples(v.n, batch, opt)),
          gen_(stream_seed(seed, v.dim, opt.streams), opt.simd), sigma_(std::sqrt(v.noise)),
          records_(records), online_loss_out_(online_loss), loss_sum_(window0_sum),
          loss_count_(window0_count), red_(v.n, opt.threads, static_cast<std::size_t>(v.width())) {
        check_network(v, kern);
        try {
            sqrt_lambda_.resize(v.n);
            stored_.resize(store_ ? B_ * v.n : 0);
            proj_part_.resize(nb_ * B_ * m_);
            stat_part_.resize(nb_ * v.width());
            proj_.resize(B_ * m_);
            coef_.resize(B_ * v.p);
            ov_.resize(v.width());
        } catch (const std::bad_alloc&) {
            throw AllocationError("the network SGD workspace",
                                  network_sgd_workspace_bytes(v.n, v.p, v.k, batch, opt));
        }
        for (std::size_t i = 0; i < v.n; ++i) sqrt_lambda_[i] = std::sqrt(v.lambda[i]);
        network_overlaps(v_, w_, red_, ov_.data());
        limit_ = network_divergence_limit(v, ov_.data(), opt.divergence_factor);
    }

    StepOutcome advance(long long k);
    StepOutcome flush(long long k) {
        sweep(true, true, false, 0);
        pending_ = false;
        std::vector<double> sums(v_.width(), 0.0);
        for (std::size_t bl = 0; bl < nb_; ++bl)
            for (int q = 0; q < v_.width(); ++q) sums[q] += stat_part_[bl * v_.width() + q];
        symmetrise_overlaps(v_.p, v_.k, sums.data(), ov_.data());
        return network_state_ok(v_, ov_.data(), limit_) ? StepOutcome::taken(k)
                                                        : StepOutcome::diverged_at(k);
    }
    void record(std::size_t row, long long k) {
        network_overlaps(v_, w_, red_, ov_.data());
        write_network_record(records_ + row * network_record_width(v_.p, v_.k),
                             static_cast<double>(k) * lr_, v_, kern_, ov_.data());
        if (!online_loss_out_) return;
        if (k == step0_) {  // no steps yet: no online loss
            online_loss_out_[row] = std::numeric_limits<double>::quiet_NaN();
            return;
        }
        online_loss_out_[row] = loss_sum_ / static_cast<double>(loss_count_);
        loss_sum_ = 0.0;
        loss_count_ = 0;
    }
    double window_sum() const { return loss_sum_; }
    long long window_count() const { return loss_count_; }

private:
    void sweep(bool update, bool stats, bool draw, std::uint64_t first) {
        for_blocks(nb_, threads_, [&](std::size_t bl) { sweep_block(bl, update, stats, draw, first); });
    }
    void sweep_block(std::size_t bl, bool update, bool stats, bool draw, std::uint64_t first);
    void update_chunk(std::size_t c, std::size_t ce, double* z);
    bool sample_coefficients(std::uint64_t first);

    const NetworkView& v_;
    const NetworkKernels& kern_;
    double* w_;
    double lr_;
    std::size_t B_;
    int m_;
    long long step0_;
    std::size_t nb_;
    int threads_;
    bool store_;
    NormalStream gen_;
    double sigma_;
    double* records_;
    double* online_loss_out_;
    double loss_sum_;
    long long loss_count_;
    BlockedSums red_;
    double limit_ = 0.0;
    bool pending_ = false;
    std::uint64_t pending_first_ = 0;
    std::vector<double> sqrt_lambda_, stored_, proj_part_, stat_part_, proj_, coef_, ov_;
};

inline StepOutcome NetworkSgdEngine::advance(long long k) {
    const std::uint64_t first = static_cast<std::uint64_t>(k - 1) * B_;
    const bool had_update = pending_;
    sweep(pending_, false, true, first);
    pending_ = false;
    std::fill(proj_.begin(), proj_.end(), 0.0);
    for (std::size_t bl = 0; bl < nb_; ++bl)
        for (std::size_t q = 0; q < B_ * m_; ++q) proj_[q] += proj_part_[bl * B_ * m_ + q];
    for (double x : proj_)
        if (!std::isfinite(x)) return StepOutcome::diverged_at(had_update ? k - 1 : k);
    if (!sample_coefficients(first)) return StepOutcome::diverged_at(k);
    pending_ = true;
    pending_first_ = first;
    return StepOutcome::taken(k);
}

// The batch's update coefficients (lr / B) g_b from the projections, and the online loss;
// false when one is not finite.
inline bool NetworkSgdEngine::sample_coefficients(std::uint64_t first) {
    const int p = v_.p;
    bool finite = true;
    double sp[kMaxUnits], g[kMaxUnits];
    const double scale = lr_ / static_cast<double>(B_);
    for (std::size_t b = 0; b < B_; ++b) {
        const double* h = proj_.data() + b * m_;
        const double f = kern_.prediction(h, sp);
        double y = kern_.teacher_output(h + p);
        if (sigma_ > 0) y += sigma_ * gen_.one(first + b, kLabelDomain, 0);
        const double r = f - y;
        loss_sum_ += r * r;
        kern_.sample_gradient(r, sp, g);
        for (int j = 0; j < p; ++j) {
            coef_[b * p + j] = scale * g[j];
            finite = finite && std::isfinite(coef_[b * p + j]);
        }
    }
    loss_count_ += static_cast<long long>(B_);
    return finite;
}

inline void NetworkSgdEngine::sweep_block(std::size_t bl, bool update, bool stats, bool draw,
                                          std::uint64_t first) {
    const int p = v_.p, k = v_.k, m = m_;
    const std::size_t n = v_.n, lo = bl * kBlock, hi = std::min(n, lo + kBlock);
    double* part = proj_part_.data() + bl * B_ * m;
    double* st = stat_part_.data() + bl * v_.width();
    if (draw) std::fill(part, part + B_ * m, 0.0);
    if (stats) std::fill(st, st + v_.width(), 0.0);
    double z[NormalStream::kChunk];
    for (std::size_t c = lo; c < hi;) {
        const std::size_t ce = detail::chunk_end(c, hi);
        if (update) update_chunk(c, ce, z);
        if (stats)
            for (std::size_t i = c; i < ce; ++i) add_row_overlaps(v_, i, w_ + i * p, st);
        for (std::size_t b = 0; draw && b < B_; ++b) {
            gen_.fill(first + b, kFeatureDomain, c, ce, z);
            double* pb = part + b * m;
            for (std::size_t i = c; i < ce; ++i) {
                const double x = sqrt_lambda_[i] * z[i - c];
                if (store_) stored_[b * n + i] = x;
                const double* wi = w_ + i * p;
                const double* si = v_.w_star + i * k;
                for (int j = 0; j < p; ++j) pb[j] += x * wi[j];
                for (int l = 0; l < k; ++l) pb[p + l] += x * si[l];
            }
        }
        c = ce;
    }
}

// The pending update on rows [c, ce): W_i -= x_{b,i} (lr / B) g_b for b = 0, 1, ... in order
// (stored samples read back, or regenerated: the same operations on each entry).
inline void NetworkSgdEngine::update_chunk(std::size_t c, std::size_t ce, double* z) {
    const int p = v_.p;
    const std::size_t n = v_.n;
    for (std::size_t b = 0; b < B_; ++b) {
        if (!store_) gen_.fill(pending_first_ + b, kFeatureDomain, c, ce, z);
        const double* cb = coef_.data() + b * p;
        for (std::size_t i = c; i < ce; ++i) {
            const double x = store_ ? stored_[b * n + i] : sqrt_lambda_[i] * z[i - c];
            double* wi = w_ + i * p;
            for (int j = 0; j < p; ++j) wi[j] -= x * cb[j];
        }
    }
}

}  // namespace detail

namespace detail {
// The arguments every online run of a network checks first (full SGD and the mode chain).
inline void require_online_run(double lr, int batch, long long step0, long long step_end) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (batch < 1) throw std::invalid_argument("batch must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
}
}  // namespace detail

// Runs steps step0+1 .. step_end of online SGD on W (n x p, in place), learning rate lr,
// batch `batch`, label-noise variance v.noise. Records (network_record_width doubles: t,
// loss, S, U) after record_steps[r] steps into row r of out, online_loss[r] (if not null)
// the mean per-sample loss since the previous record (NaN at step0); the window still open
// at the end comes back in the result for an exact resume (window0_sum, window0_count).
inline SgdResult run_network_sgd(const NetworkView& v, const NetworkKernels& kern, double* w,
                                 double lr, int batch, std::uint64_t seed, long long step0,
                                 long long step_end, const long long* record_steps,
                                 std::size_t n_records, double* out, double* online_loss,
                                 const SgdOptions& opt = {}, const ProgressHook& hook = nullptr,
                                 double window0_sum = 0.0, long long window0_count = 0) {
    detail::require_online_run(lr, batch, step0, step_end);
    if (v.n >= (std::size_t(1) << 40)) throw std::invalid_argument("at most 2^40 coordinates");
    detail::NetworkSgdEngine engine(v, kern, w, lr, batch, seed, step0, out, online_loss, opt,
                                    window0_sum, window0_count);
    return run_online_loop(engine, {step0, step_end, record_steps, n_records, lr,
                                    opt.progress_every}, hook);
}

// R independent runs over seeds, members in parallel (ensemble.hpp): member r starts from
// w + r n p and writes out + r n_records width, online_loss + r n_records; each runs
// single-threaded, so it is bit-identical to run_network_sgd with seeds[r] alone.
inline std::vector<SgdResult> run_network_sgd_ensemble(
    const NetworkView& v, const NetworkKernels& kern, double* w, std::size_t members,
    const std::uint64_t* seeds, double lr, int batch, long long step_end,
    const long long* record_steps, std::size_t n_records, double* out, double* online_loss,
    int threads, const SgdOptions& opt = {}, const ProgressHook& hook = nullptr) {
    const auto member_opt = member_options(opt);
    const std::size_t width = static_cast<std::size_t>(network_record_width(v.p, v.k));
    return run_members<SgdResult>(
        members, threads, member_opt.progress_every, lr, hook,
        [&](std::size_t r, const ProgressHook& member_hook) {
            return run_network_sgd(v, kern, w + r * v.n * v.p, lr, batch, seeds[r], 0, step_end,
                                   record_steps, n_records, out + r * n_records * width,
                                   online_loss ? online_loss + r * n_records : nullptr,
                                   member_opt, member_hook);
        });
}

}  // namespace pyscale
