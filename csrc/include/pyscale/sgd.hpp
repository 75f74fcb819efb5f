// Online SGD on fresh samples (SPEC §1 data model, SPEC §5 "Online SGD"): at step k a batch
// of B samples x_b = sqrt(lambda) ⊙ z_b ~ N(0, Q), y_b = <x_b, w*>^2 + xi_b, xi_b ~ N(0, sigma^2),
// and the per-sample loss l_b = ((x_b·w)^2 - y_b)^2 averaged over the batch:
//     w <- w - (lr / B) sum_b 4 ((x_b·w)^2 - y_b) (x_b·w) x_b.
// Its expectation is the population gradient of SPEC §2, so with t = step * lr the mean
// trajectory follows population GD at the same lr (and the flow as lr -> 0).
//
// Randomness: z_b and xi_b are pure functions of (seed, sample index, coordinate) through
// NormalStream (philox.hpp): sample index (k - 1) B + b, feature domain 0, label domain 1.
// Hence a run is bit-reproducible from its seed whatever the thread count (the reductions
// are the fixed blocks of parallel.hpp), and resuming at step k continues it exactly.
//
// Two fused passes per step over the coordinates (the update needs the projections first):
//   pass 1: draw z_b, x_b = sqrt(lambda) z_b, accumulate p_b = x_b·w and q_b = x_b·w*;
//   pass 2: w -= sum_b c_b x_b and accumulate s = w^T Q w, u = w^T Q w* (divergence check).
// Pass 2 needs x_b again: either stored by pass 1 (B·n doubles) or regenerated from the
// counter. Storing wins at every size measured (d = 10^3: 3.1 vs 5.6 µs per step; d = 10^5:
// 0.42 vs 0.62 ms per step, one thread): reading 8 bytes back, even from L3 or DRAM, is cheaper
// than the ~2.5 ns a Gaussian costs. Regeneration is kept for batches whose samples would
// not fit the storage limit (SgdOptions::store_limit_bytes); both give identical bits.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include "errors.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "problem.hpp"
#include "progress.hpp"
#include "stats.hpp"

namespace pyscale {

constexpr std::uint32_t kFeatureDomain = 0;  // z of the samples
constexpr std::uint32_t kLabelDomain = 1;    // label noise xi (coordinate 0 of the stream)

struct SgdOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 4096;  // steps between progress-hook calls
    // Diverged once s exceeds this multiple of max(1, s*, s(0)), or anything is non-finite.
    double divergence_factor = 1e30;
    int store = -1;  // pass 2 reads stored samples (1), regenerates them (0), or auto (-1)
    std::size_t store_limit_bytes = std::size_t(256) << 20;  // auto: store up to this
    bool simd = true;  // allow the AVX2 Philox path (bit-identical to the scalar one)
};

struct SgdResult {
    RunStatus status = RunStatus::kCompleted;
    long long last_step = 0;  // step index of the state left in w
    long long diverged_at_step = -1;
    std::size_t records_written = 0;
};

// Bytes run_sgd allocates besides the caller's buffers (sqrt(lambda), stored samples,
// block partials) for a problem of n coordinates and batch B.
inline std::size_t sgd_workspace_bytes(std::size_t n, int batch, const SgdOptions& opt = {}) {
    const std::size_t b = static_cast<std::size_t>(batch);
    const std::size_t samples = b * n * sizeof(double);
    const bool store = opt.store == 1 || (opt.store < 0 && samples <= opt.store_limit_bytes);
    return n * sizeof(double) + (store ? samples : 0) +
           block_count(n) * (2 * b + 2) * sizeof(double);
}

namespace detail {

// x = sqrt(lambda) z on [lo, hi) of sample `sample`, into xout; returns (x·w, x·w*) of that
// range. Shared by SGD and by the ERM data set, so that both see bit-identical samples and
// labels. Coordinates go in chunks of NormalStream::kChunk through an L1-resident buffer.
inline void draw_project(const NormalStream& gen, std::uint64_t sample, const double* sl,
                         const double* w, const double* ws, std::size_t lo, std::size_t hi,
                         double* xout, double& p, double& q) {
    double z[NormalStream::kChunk];
    double p0 = 0, p1 = 0, q0 = 0, q1 = 0;  // two chains each: the adds pipeline
    for (std::size_t c = lo; c < hi;) {
        const std::size_t ce = std::min(hi, c - c % NormalStream::kChunk + NormalStream::kChunk);
        gen.fill(sample, kFeatureDomain, c, ce, z);
        const double* zc = z - c;
        std::size_t i = c;
        for (; i + 2 <= ce; i += 2) {
            const double xa = sl[i] * zc[i], xb = sl[i + 1] * zc[i + 1];
            xout[i - lo] = xa;
            xout[i + 1 - lo] = xb;
            p0 += xa * w[i];
            p1 += xb * w[i + 1];
            q0 += xa * ws[i];
            q1 += xb * ws[i + 1];
        }
        for (; i < ce; ++i) {
            const double xa = sl[i] * zc[i];
            xout[i - lo] = xa;
            p0 += xa * w[i];
            q0 += xa * ws[i];
        }
        c = ce;
    }
    p = p0 + p1;
    q = q0 + q1;
}

// Label y = q^2 + sigma xi of sample `sample` (SPEC §1).
inline double label(const NormalStream& gen, std::uint64_t sample, double q, double sigma) {
    return sigma > 0 ? q * q + sigma * gen.one(sample, kLabelDomain, 0) : q * q;
}

}  // namespace detail

// Runs steps step0+1 .. step_end of online SGD on w (in place), with label-noise variance
// p.noise and learning rate lr; t = step * lr. record_steps must be increasing within
// [step0, step_end]; row r of `out` (kRecordWidth doubles) receives the population record
// (s, u, s2, u2, loss, mse of SPEC §1) after record_steps[r] steps, and online_loss[r]
// (if not null) the mean per-sample loss l_b of the steps since the previous record — the
// progressive-validation estimate of the population loss along the way (NaN at step0).
inline SgdResult run_sgd(const ProblemView& p, double* w, double lr, int batch,
                         std::uint64_t seed, long long step0, long long step_end,
                         const long long* record_steps, std::size_t n_records, double* out,
                         double* online_loss, const SgdOptions& opt = {},
                         const ProgressHook& hook = nullptr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (batch < 1) throw std::invalid_argument("batch must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    if (p.n >= (std::size_t(1) << 40)) throw std::invalid_argument("at most 2^40 coordinates");
    const std::size_t n = p.n;
    const std::size_t B = static_cast<std::size_t>(batch);
    const std::size_t nb = block_count(n);
    const int threads = threads_for(n, opt.threads);
    const bool store =
        opt.store == 1 || (opt.store < 0 && B * n * sizeof(double) <= opt.store_limit_bytes);

    std::vector<double> sl, xs, part1, part2;
    try {
        sl.resize(n);
        if (store) xs.resize(B * n);
        part1.resize(nb * 2 * B);
        part2.resize(nb * 2);
    } catch (const std::bad_alloc&) {
        throw AllocationError("the SGD workspace", sgd_workspace_bytes(n, batch, opt));
    }
    for (std::size_t i = 0; i < n; ++i) sl[i] = std::sqrt(p.lambda[i]);
    const NormalStream gen(seed, opt.simd);
    const double sigma = std::sqrt(p.noise);
    const double* lam = p.lambda;
    const double* ws = p.w_star;
    std::vector<double> pq(2 * B), coef(B);

    BlockedReducer<6> full(n, opt.threads);
    SgdResult res;
    res.last_step = step0;
    Moments m = moments(p, w, full);
    const double limit = opt.divergence_factor * std::fmax(1.0, std::fmax(p.s_star, m.s));
    std::size_t next = 0;
    while (next < n_records && record_steps[next] < step0) ++next;
    if (next < n_records && record_steps[next] == step0) {
        write_record(out + next * kRecordWidth, step0 * lr, p, m);
        if (online_loss) online_loss[next] = std::numeric_limits<double>::quiet_NaN();
        ++next;
    }
    double loss_sum = 0.0;
    long long loss_count = 0;

    for (long long k = step0 + 1; k <= step_end; ++k) {
        const std::uint64_t first = static_cast<std::uint64_t>(k - 1) * B;
        // ---- pass 1: draw, project (and store) -----------------------------------------
        double* P1 = part1.data();
        double* X = xs.data();
        const double* SL = sl.data();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
        for (long long bl = 0; bl < static_cast<long long>(nb); ++bl) {
            const std::size_t lo = static_cast<std::size_t>(bl) * kBlock;
            const std::size_t hi = std::min(n, lo + kBlock);
            double xtmp[kBlock];
            for (std::size_t b = 0; b < B; ++b) {
                double* xo = store ? X + b * n + lo : xtmp;
                detail::draw_project(gen, first + b, SL, w, ws, lo, hi, xo,
                                     P1[(static_cast<std::size_t>(bl) * B + b) * 2],
                                     P1[(static_cast<std::size_t>(bl) * B + b) * 2 + 1]);
            }
        }
        std::fill(pq.begin(), pq.end(), 0.0);
        for (std::size_t bl = 0; bl < nb; ++bl)
            for (std::size_t j = 0; j < 2 * B; ++j) pq[j] += P1[bl * 2 * B + j];
        // ---- the scalars of the step ---------------------------------------------------
        bool finite = true;
        for (std::size_t b = 0; b < B; ++b) {
            const double pb = pq[2 * b], qb = pq[2 * b + 1];
            const double r = pb * pb - detail::label(gen, first + b, qb, sigma);
            loss_sum += r * r;
            coef[b] = (4.0 * lr / static_cast<double>(B)) * r * pb;
            finite = finite && std::isfinite(coef[b]);
        }
        loss_count += static_cast<long long>(B);
        // ---- pass 2: update, s and u ---------------------------------------------------
        const double* C = coef.data();
        double* P2 = part2.data();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
        for (long long bl = 0; bl < static_cast<long long>(nb); ++bl) {
            const std::size_t lo = static_cast<std::size_t>(bl) * kBlock;
            const std::size_t hi = std::min(n, lo + kBlock);
            double g[kBlock];
            if (store) {
                const double* x0 = X + lo;
                for (std::size_t i = 0; i < hi - lo; ++i) g[i] = C[0] * x0[i];
                for (std::size_t b = 1; b < B; ++b) {
                    const double* xb = X + b * n + lo;
                    const double cb = C[b];
                    for (std::size_t i = 0; i < hi - lo; ++i) g[i] += cb * xb[i];
                }
            } else {
                double xtmp[kBlock];
                double dummy_p, dummy_q;
                for (std::size_t b = 0; b < B; ++b) {
                    detail::draw_project(gen, first + b, SL, w, ws, lo, hi, xtmp, dummy_p,
                                         dummy_q);
                    const double cb = C[b];
                    if (b == 0)
                        for (std::size_t i = 0; i < hi - lo; ++i) g[i] = cb * xtmp[i];
                    else
                        for (std::size_t i = 0; i < hi - lo; ++i) g[i] += cb * xtmp[i];
                }
            }
            double s0 = 0, s1 = 0, u0 = 0, u1 = 0;
            std::size_t i = lo;
            for (; i + 2 <= hi; i += 2) {
                const double wa = w[i] - g[i - lo], wb = w[i + 1] - g[i + 1 - lo];
                w[i] = wa;
                w[i + 1] = wb;
                const double la = lam[i] * wa, lb = lam[i + 1] * wb;
                s0 += la * wa;
                s1 += lb * wb;
                u0 += la * ws[i];
                u1 += lb * ws[i + 1];
            }
            for (; i < hi; ++i) {
                const double wa = w[i] - g[i - lo];
                w[i] = wa;
                const double la = lam[i] * wa;
                s0 += la * wa;
                u0 += la * ws[i];
            }
            P2[2 * bl] = s0 + s1;
            P2[2 * bl + 1] = u0 + u1;
        }
        double s = 0.0, u = 0.0;
        for (std::size_t bl = 0; bl < nb; ++bl) {
            s += P2[2 * bl];
            u += P2[2 * bl + 1];
        }
        res.last_step = k;
        if (!finite || !std::isfinite(s) || !std::isfinite(u) || s > limit) {
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = k;
            break;
        }
        if (next < n_records && record_steps[next] == k) {
            write_record(out + next * kRecordWidth, k * lr, p, moments(p, w, full));
            if (online_loss) online_loss[next] = loss_sum / static_cast<double>(loss_count);
            loss_sum = 0.0;
            loss_count = 0;
            ++next;
        }
        if (hook && opt.progress_every > 0 && (k - step0) % opt.progress_every == 0 &&
            !hook(k * lr, k - step0)) {
            res.status = RunStatus::kInterrupted;
            break;
        }
    }
    res.records_written = next;
    return res;
}

// R independent runs (an ensemble over seeds), in parallel over the members: member r
// starts from w + r*n (each row a copy of w(0), caller-owned) with seed seeds[r] and writes
// its records to out + r*n_records*kRecordWidth and online_loss + r*n_records. Each member
// runs single-threaded, so member r is bit-identical to run_sgd with seeds[r] alone (any
// thread count) and the ensemble is independent of `threads`. The progress hook is called
// by one member at a time; when it returns false, or a member throws, every member stops at
// its next check (members' status says which).
inline std::vector<SgdResult> run_sgd_ensemble(
    const ProblemView& p, double* w, std::size_t members, const std::uint64_t* seeds,
    double lr, int batch, long long step_end, const long long* record_steps,
    std::size_t n_records, double* out, double* online_loss, int threads,
    const SgdOptions& opt = {}, const ProgressHook& hook = nullptr) {
    std::vector<SgdResult> results(members);
    std::atomic<bool> stop{false};
    std::mutex hook_mutex;
    std::exception_ptr error;
    std::mutex error_mutex;
    SgdOptions member_opt = opt;
    member_opt.threads = 1;
    member_opt.progress_every = std::max<long long>(1, opt.progress_every);
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = threads > 0 ? threads : omp_get_max_threads();
    nthreads = std::max(1, std::min<int>(nthreads, static_cast<int>(members)));
#else
    (void)threads;
#endif
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nthreads > 1)
#endif
    for (long long r = 0; r < static_cast<long long>(members); ++r) {
        if (stop.load()) {
            results[r].status = RunStatus::kInterrupted;
            continue;
        }
        auto member_hook = [&](double t, long long steps) -> bool {
            if (stop.load()) return false;
            if (hook) {
                std::lock_guard<std::mutex> lock(hook_mutex);
                if (stop.load()) return false;
                if (!hook(t, steps)) {
                    stop.store(true);
                    return false;
                }
            }
            return true;
        };
        try {
            const std::size_t ri = static_cast<std::size_t>(r);
            results[ri] = run_sgd(p, w + ri * p.n, lr, batch, seeds[ri], 0, step_end,
                                  record_steps, n_records, out + ri * n_records * kRecordWidth,
                                  online_loss ? online_loss + ri * n_records : nullptr,
                                  member_opt, member_hook);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            stop.store(true);
        }
    }
    if (error) std::rethrow_exception(error);
    return results;
}

}  // namespace pyscale
