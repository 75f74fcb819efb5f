// Online SGD on fresh samples (model page: Data model; model page: SGD floor): at step k a
// batch of B samples x_b = sqrt(lambda) ⊙ z_b ~ N(0, Q), y_b = tau(<x_b, w*>) + xi_b,
// xi_b ~ N(0, sigma_noise^2), and the per-sample loss l_b = (sigma(x_b·w) - y_b)^2 averaged over
// the batch (sigma, tau the link pair's student and teacher, model/link_pair.hpp):
//     w <- w - (lr / B) sum_b 2 (sigma(x_b·w) - y_b) sigma'(x_b·w) x_b,
// the square's 4 ((x_b·w)^2 - y_b) (x_b·w).
// Its expectation is the population gradient (model page: Gradient flow), so with
// t = step * lr the mean trajectory follows population GD at the same lr (and the flow as
// lr -> 0).
//
// Randomness: z_b and xi_b are pure functions of (seed, sample index, coordinate) through
// NormalStream (normal.hpp): sample index (k - 1) B + b, feature domain 0, label domain 1;
// the key is stream_seed(seed, d, SgdOptions::streams): d mixed in unless kCommon.
// Hence a run is bit-reproducible from its seed whatever the thread count (the reductions
// are the fixed blocks of parallel.hpp), and resuming at step k continues it exactly.
//
// Passes (details at SgdEngine): the update of step k needs the projections of its samples
// on w_{k-1}, so it is deferred and fused into step k+1's sweep over the coordinates: per
// chunk of 512 coordinates, apply the pending update, then draw z, x = sqrt(lambda) z and
// accumulate x·w, x·w* (the kernels of sgd_kernels.hpp). One sweep per step; the samples of
// a step are kept (B·n doubles) for the next sweep, or regenerated from the counter. Storing
// wins at every size measured (one thread: d = 10^3, 2.8 vs 5.7 µs per step; d = 10^5, 0.31
// vs 0.59 ms): reading 8 bytes back, even from L3 or DRAM, is cheaper than the ~2.3 ns a
// Gaussian costs. Regeneration is kept for batches whose samples exceed
// SgdOptions::store_limit_bytes; both give identical bits. Numbers on the development
// machine: the step costs ~1.2x the bare sampling of its Gaussians (normal_sample_loop),
// 5x less than the NumPy loop at d = 10^3 and 3.5x less at d = 10^5 (benchmarks/bench_sgd.py).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "../model/link_pair.hpp"
#include "../model/problem.hpp"
#include "../model/stats.hpp"
#include "../random/normal.hpp"
#include "../util/errors.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "ensemble.hpp"
#include "sgd_kernels.hpp"
#include "step_loop.hpp"

namespace pyscale {

// Where the update of a step finds its samples: kept in memory from the sweep that drew
// them (B n doubles), or drawn again from their counters. Both give identical bits.
enum class SampleStorage : int {
    kAuto = 0,    // store when the samples take at most SgdOptions::store_limit_bytes
    kStore,       // always store
    kRegenerate,  // always regenerate
};

// Which Philox key a run's seed selects. kIndependent (the default) mixes the problem's
// true dimension d into the key: the same seed at d = 10^4 and d = 10^5 gives unrelated
// paths (with the seed alone, the common coordinates would share their Gaussians and the
// two runs would look nearly identical). kCommon keys by the seed alone — common random
// numbers across d, on purpose (and the streams of earlier releases, bit for bit).
enum class Streams : int { kIndependent = 0, kCommon = 1 };

// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijection of 64-bit words whose outputs
// for consecutive inputs look unrelated.
inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// The seed the generators are built from: `seed` (kCommon) or seed xor splitmix64(d)
// (kIndependent) — for a fixed d still a bijection of the seed, so distinct seeds keep
// distinct streams. d is the true dimension (ProblemView::dim, rounded to an integer).
inline std::uint64_t stream_seed(std::uint64_t seed, double dim, Streams streams) {
    if (streams == Streams::kCommon) return seed;
    return seed ^ splitmix64(static_cast<std::uint64_t>(std::llround(dim)));
}

struct SgdOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 4096;  // steps between progress-hook calls
    // Diverged once anything is non-finite (checked every step) or s exceeds this multiple
    // of max(1, s*, s(0)) (checked at records and progress checks).
    double divergence_factor = 1e30;
    SampleStorage sample_storage = SampleStorage::kAuto;
    std::size_t store_limit_bytes = std::size_t(256) << 20;  // kAuto: store up to this
    bool simd = true;  // allow the AVX2 Philox path (bit-identical to the scalar one)
    Streams streams = Streams::kIndependent;  // how the seed selects the key (stream_seed)
};

// status, last_step, diverged_at_step, records_written: see StepLoopResult.
struct SgdResult : StepLoopResult {
    // The online-loss window still open at the end (steps after the last record): pass it
    // back as `window0` to resume with exactly the online losses of an uninterrupted run.
    double window_sum = 0.0;
    long long window_count = 0;
};

// The step loop of an online-SGD engine (SgdEngine, or the mode chain's engine): its result
// with the engine's online-loss window still open at the end.
template <class Engine>
SgdResult run_online_loop(Engine& engine, const StepSchedule& schedule,
                          const ProgressHook& hook) {
    SgdResult res;
    static_cast<StepLoopResult&>(res) = run_step_loop(engine, schedule, hook);
    res.window_sum = engine.window_sum();
    res.window_count = engine.window_count();
    return res;
}

// Whether run_sgd keeps a step's samples for its update (else regenerates them).
inline bool sgd_stores_samples(std::size_t n, int batch, const SgdOptions& opt) {
    const std::size_t bytes = static_cast<std::size_t>(batch) * n * sizeof(double);
    switch (opt.sample_storage) {
        case SampleStorage::kStore: return true;
        case SampleStorage::kRegenerate: return false;
        case SampleStorage::kAuto: break;
    }
    return bytes <= opt.store_limit_bytes;
}

// Bytes run_sgd allocates besides the caller's buffers: sqrt(lambda) (n doubles), the
// stored samples (B n doubles, unless regenerated), the block partials (8 (B + 1) per
// block of kBlock coordinates) and the per-sample projections and coefficients (3 B).
inline std::size_t sgd_workspace_bytes(std::size_t n, int batch, const SgdOptions& opt = {}) {
    const std::size_t b = static_cast<std::size_t>(batch);
    const std::size_t samples = b * n * sizeof(double);
    return n * sizeof(double) + (sgd_stores_samples(n, batch, opt) ? samples : 0) +
           block_count(n) * 8 * (b + 1) * sizeof(double) + 3 * b * sizeof(double);
}

namespace detail {

// The online SGD step as a step-loop engine (step_loop.hpp).
//
// Passes. Step k needs the projections of its samples on w_{k-1} before it can update, so
// a step would be two sweeps over the coordinates: draw + project, then update. Instead the
// update of step k is deferred ("pending") and fused into step k+1's sweep (per chunk:
// apply the update, then draw and project on the updated coordinates): one sweep per step.
// The pending update is applied on its own (flush) only where w itself is needed: at
// records, progress checks and the end. Regenerated samples are drawn twice per step (to
// project, then, in the next sweep, to update). Every coordinate and every projection is
// computed with the same operations in the same order whichever path runs, so stored and
// regenerated samples, AVX2 and scalar code, any thread count, all agree bit for bit.
//
// Divergence: every step checks that its projections and update are finite (a non-finite
// projection at step k means the pending state w_{k-1} diverged); s > limit (and the
// finiteness of s, u) is checked at flushes, since s costs a pass over lambda that the
// fused sweep otherwise avoids.
template <class Pair>
class SgdEngine {
public:
    SgdEngine(const ProblemView& p, const Pair& pair, double* w, double lr, int batch,
              std::uint64_t seed, long long step0, double* records, double* online_loss,
              const SgdOptions& opt, double window0_sum, long long window0_count)
        : p_(p), pair_(pair), w_(w), lr_(lr), batch_(static_cast<std::size_t>(batch)),
          step0_(step0), n_blocks_(block_count(p.n)), n_threads_(threads_for(p.n, opt.threads)),
          store_(sgd_stores_samples(p.n, batch, opt)),
          gen_(stream_seed(seed, p.dim, opt.streams), opt.simd),
          simd_(gen_.simd()), sigma_(std::sqrt(p.noise)), records_(records),
          online_loss_out_(online_loss), loss_sum_(window0_sum), loss_count_(window0_count),
          full_(p.n, opt.threads) {
        // Every buffer is allocated here, inside the guard: a batch or d too large to fit
        // reports the bytes it needed instead of a bare std::bad_alloc.
        try {
            sqrt_lambda_.resize(p.n);
            stored_samples_.resize(store_ ? batch_ * p.n : 0);
            projection_chains_.resize(n_blocks_ * 8 * batch_);
            stat_chains_.resize(n_blocks_ * 8);
            projections_.resize(2 * batch_);
            coefficients_.resize(batch_);
        } catch (const std::bad_alloc&) {
            throw AllocationError("the SGD workspace", sgd_workspace_bytes(p.n, batch, opt));
        } catch (const std::length_error&) {
            throw AllocationError("the SGD workspace", sgd_workspace_bytes(p.n, batch, opt));
        }
        for (std::size_t i = 0; i < p.n; ++i) sqrt_lambda_[i] = std::sqrt(p.lambda[i]);
        const double s0 = moments(p_, w_, full_).s;
        limit_ = opt.divergence_factor * std::fmax(1.0, std::fmax(p_.s_star, s0));
    }

    StepOutcome advance(long long k);
    StepOutcome flush(long long k);
    void record(std::size_t row, long long k);

    double window_sum() const { return loss_sum_; }
    long long window_count() const { return loss_count_; }

private:
    struct Sweep {
        bool update;  // apply the pending update (of the samples from pending_first)
        bool stats;   // ... and accumulate s, u of the updated w (a flush)
        bool draw;    // draw and project the samples from `first` on the updated w
        std::uint64_t first;
    };
    void sweep(const Sweep& plan);
    void sweep_block(std::size_t block, const Sweep& plan);
    void update_chunk(std::size_t begin, std::size_t end, bool stats, double* stats_out,
                      double* z, double* x_regen, double* update_regen);
    bool reduce_projections();
    void reduce_stats(double& s, double& u) const;

    const ProblemView& p_;
    Pair pair_;
    double* w_;
    double lr_;
    std::size_t batch_;
    long long step0_;
    std::size_t n_blocks_;
    int n_threads_;
    bool store_;  // keep a step's samples for its update (else regenerate them)
    NormalStream gen_;
    bool simd_;
    double sigma_;  // label-noise standard deviation
    double* records_;
    double* online_loss_out_;
    double limit_ = 0.0;  // divergence threshold on s
    double loss_sum_;     // online-loss window: sum of l_b since the last record
    long long loss_count_;
    BlockedReducer<6> full_;           // the statistics of records
    bool pending_ = false;             // an update computed but not yet applied to w
    std::uint64_t pending_first_ = 0;  // index of its first sample
    std::vector<double> sqrt_lambda_;
    std::vector<double> stored_samples_;     // B x n, sample b at b * n
    std::vector<double> projection_chains_;  // per block and sample: 4 chains of x·w, x·w*
    std::vector<double> stat_chains_;        // per block: 4 chains of s, u (flushes)
    std::vector<double> projections_;        // per sample: x_b·w, x_b·w*
    std::vector<double> coefficients_;       // per sample: c_b = (lr / B) g_b (link_pair.hpp)
};

template <class Pair>
StepOutcome SgdEngine<Pair>::advance(long long k) {
    const std::uint64_t first = static_cast<std::uint64_t>(k - 1) * batch_;
    // The pending update (step k-1), if any, is fused into this step's sweep.
    const bool had_update = pending_;
    sweep(Sweep{pending_, false, true, first});
    pending_ = false;
    if (!reduce_projections())  // w_{k-1} is no longer finite
        return StepOutcome::diverged_at(had_update ? k - 1 : k);
    bool finite = true;
    const double batch = static_cast<double>(batch_);
    for (std::size_t b = 0; b < batch_; ++b) {
        const double xw = projections_[2 * b], xw_star = projections_[2 * b + 1];
        const SampleTerms st =
            pair_.sample_terms(xw, label(pair_, gen_, first + b, xw_star, sigma_));
        const double r = st.residual;
        loss_sum_ += r * r;
        coefficients_[b] = (pair_.gradient_scale() * lr_ / batch) * r * st.weight;
        finite = finite && std::isfinite(coefficients_[b]);
    }
    loss_count_ += static_cast<long long>(batch_);
    if (!finite) return StepOutcome::diverged_at(k);  // the update of step k overflows
    pending_ = true;
    pending_first_ = first;
    return StepOutcome::taken(k);
}

template <class Pair>
StepOutcome SgdEngine<Pair>::flush(long long k) {
    sweep(Sweep{true, true, false, 0});  // w becomes w_k
    pending_ = false;
    double s, u;
    reduce_stats(s, u);
    if (!std::isfinite(s) || !std::isfinite(u) || s > limit_) return StepOutcome::diverged_at(k);
    return StepOutcome::taken(k);
}

template <class Pair>
void SgdEngine<Pair>::record(std::size_t row, long long k) {
    write_record(records_ + row * kRecordWidth, static_cast<double>(k) * lr_, p_, pair_,
                 moments(p_, w_, full_));
    if (k == step0_) {  // no steps yet: no online loss
        if (online_loss_out_) online_loss_out_[row] = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    if (online_loss_out_) online_loss_out_[row] = loss_sum_ / static_cast<double>(loss_count_);
    loss_sum_ = 0.0;
    loss_count_ = 0;
}

template <class Pair>
void SgdEngine<Pair>::sweep(const Sweep& plan) {
    for_blocks(n_blocks_, n_threads_, [&](std::size_t block) { sweep_block(block, plan); });
}

// One block of a sweep: per chunk, the pending update (if any), then the draws (if any).
template <class Pair>
void SgdEngine<Pair>::sweep_block(std::size_t block, const Sweep& plan) {
    const std::size_t n = p_.n, batch = batch_;
    const std::size_t lo = block * kBlock, hi = std::min(n, lo + kBlock);
    double* chains = projection_chains_.data() + block * 8 * batch;
    double* stats = stat_chains_.data() + block * 8;
    std::fill(chains, chains + 8 * batch, 0.0);
    std::fill(stats, stats + 8, 0.0);
    double z[NormalStream::kChunk];
    double x_regen[NormalStream::kChunk];       // one regenerated sample chunk
    double update_regen[NormalStream::kChunk];  // regenerated update, summed over the batch
    const double* sqrt_lam = sqrt_lambda_.data();
    double* stored = stored_samples_.data();
    for (std::size_t begin = lo; begin < hi;) {
        const std::size_t end = chunk_end(begin, hi);
        if (plan.update) update_chunk(begin, end, plan.stats, stats, z, x_regen, update_regen);
        if (plan.draw) {
            for (std::size_t b = 0; b < batch; ++b) {
                gen_.fill(plan.first + b, kFeatureDomain, begin, end, z);
                project_chunk(sqrt_lam, z, w_, p_.w_star, begin, end,
                              store_ ? stored + b * n : x_regen - begin, chains + 8 * b, simd_);
            }
        }
        begin = end;
    }
}

// The pending update on [begin, end). Stored samples: x_b read back. Regenerated: the
// batch's update pre-summed into update_regen (g = c_0 x_0 + c_1 x_1 + ..., the stored
// path's order) and applied as w_i - 1 * g_i: identical bits either way.
template <class Pair>
void SgdEngine<Pair>::update_chunk(std::size_t begin, std::size_t end, bool stats,
                                    double* stats_out, double* z, double* x_regen,
                                    double* update_regen) {
    const double* coef = coefficients_.data();
    const double* samples = stored_samples_.data();
    std::size_t stride = p_.n, n_terms = batch_;
    const double one = 1.0;
    const double* term_coef = coef;
    if (!store_) {
        double unused[8] = {};
        for (std::size_t b = 0; b < batch_; ++b) {
            gen_.fill(pending_first_ + b, kFeatureDomain, begin, end, z);
            project_chunk(sqrt_lambda_.data(), z, w_, p_.w_star, begin, end, x_regen - begin,
                          unused, simd_);
            for (std::size_t i = 0; i < end - begin; ++i)
                update_regen[i] =
                    b == 0 ? coef[0] * x_regen[i] : update_regen[i] + coef[b] * x_regen[i];
        }
        samples = update_regen - begin;
        stride = 0;
        n_terms = 1;
        term_coef = &one;
    }
    if (stats)
        apply_update(w_, samples, stride, term_coef, n_terms, p_.lambda, p_.w_star, begin, end,
                     stats_out, simd_);
    else
        apply_update_only(w_, samples, stride, term_coef, n_terms, begin, end);
}

// Projections of this step's samples, summed in block order; false if any is non-finite.
template <class Pair>
bool SgdEngine<Pair>::reduce_projections() {
    std::fill(projections_.begin(), projections_.end(), 0.0);
    for (std::size_t block = 0; block < n_blocks_; ++block)
        for (std::size_t b = 0; b < batch_; ++b) {
            const double* chains = projection_chains_.data() + (block * batch_ + b) * 8;
            projections_[2 * b] += sum_chains(chains);
            projections_[2 * b + 1] += sum_chains(chains + 4);
        }
    bool finite = true;
    for (double v : projections_) finite = finite && std::isfinite(v);
    return finite;
}

template <class Pair>
void SgdEngine<Pair>::reduce_stats(double& s, double& u) const {
    s = 0.0;
    u = 0.0;
    for (std::size_t block = 0; block < n_blocks_; ++block) {
        const double* stats = stat_chains_.data() + block * 8;
        s += sum_chains(stats);
        u += sum_chains(stats + 4);
    }
}

}  // namespace detail

// Runs steps step0+1 .. step_end of online SGD on w (in place), with label-noise variance
// p.noise and learning rate lr; t = step * lr. record_steps must be increasing within
// [step0, step_end]; row r of `out` (kRecordWidth doubles) receives the population record
// (s, u, s2, u2, loss, mse; model page: Statistics and loss) after record_steps[r] steps,
// and online_loss[r] (if not null) the mean per-sample loss l_b of the steps since the
// previous record — the progressive-validation estimate of the population loss along the
// way (NaN at step0).
// See detail::SgdEngine for how a step is computed.
template <class Pair>
SgdResult run_sgd(const ProblemView& p, const Pair& pair, double* w, double lr, int batch,
                  std::uint64_t seed, long long step0, long long step_end,
                  const long long* record_steps, std::size_t n_records, double* out,
                  double* online_loss, const SgdOptions& opt = {},
                  const ProgressHook& hook = nullptr, double window0_sum = 0.0,
                  long long window0_count = 0) {
    static_assert(is_pair_v<Pair>, "run_sgd: Pair must derive from PairBase<Pair>");
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (batch < 1) throw std::invalid_argument("batch must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    if (p.n >= (std::size_t(1) << 40)) throw std::invalid_argument("at most 2^40 coordinates");
    detail::SgdEngine<Pair> engine(p, pair, w, lr, batch, seed, step0, out, online_loss, opt,
                                   window0_sum, window0_count);
    return run_online_loop(engine, {step0, step_end, record_steps, n_records, lr,
                                    opt.progress_every}, hook);
}

// R independent runs (an ensemble over seeds), in parallel over the members (ensemble.hpp):
// member r starts from w + r*n (each row a copy of w(0), caller-owned) with seed seeds[r]
// and writes its records to out + r*n_records*kRecordWidth and online_loss + r*n_records.
// Each member runs single-threaded, so member r is bit-identical to run_sgd with seeds[r]
// alone (any thread count) and the ensemble is independent of `threads`; progress, stopping
// and errors as run_members says.
template <class Pair>
std::vector<SgdResult> run_sgd_ensemble(
    const ProblemView& p, const Pair& pair, double* w, std::size_t members,
    const std::uint64_t* seeds, double lr, int batch, long long step_end,
    const long long* record_steps, std::size_t n_records, double* out, double* online_loss,
    int threads,
    const SgdOptions& opt = {}, const ProgressHook& hook = nullptr) {
    const auto member_opt = member_options(opt);
    return run_members<SgdResult>(
        members, threads, member_opt.progress_every, lr, hook,
        [&](std::size_t r, const ProgressHook& member_hook) {
            return run_sgd(p, pair, w + r * p.n, lr, batch, seeds[r], 0, step_end, record_steps,
                           n_records, out + r * n_records * kRecordWidth,
                           online_loss ? online_loss + r * n_records : nullptr, member_opt,
                           member_hook);
        });
}

}  // namespace pyscale
