// Online SGD on fresh samples (SPEC §1 data model, SPEC §5 "Online SGD"): at step k a batch
// of B samples x_b = sqrt(lambda) ⊙ z_b ~ N(0, Q), y_b = <x_b, w*>^2 + xi_b, xi_b ~ N(0, sigma^2),
// and the per-sample loss l_b = ((x_b·w)^2 - y_b)^2 averaged over the batch:
//     w <- w - (lr / B) sum_b 4 ((x_b·w)^2 - y_b) (x_b·w) x_b.
// Its expectation is the population gradient of SPEC §2, so with t = step * lr the mean
// trajectory follows population GD at the same lr (and the flow as lr -> 0).
//
// Randomness: z_b and xi_b are pure functions of (seed, sample index, coordinate) through
// NormalStream (philox.hpp): sample index (k - 1) B + b, feature domain 0, label domain 1;
// the key is stream_seed(seed, d, SgdOptions::streams): d mixed in unless kCommon.
// Hence a run is bit-reproducible from its seed whatever the thread count (the reductions
// are the fixed blocks of parallel.hpp), and resuming at step k continues it exactly.
//
// Passes (details at run_sgd): the update of step k needs the projections of its samples
// on w_{k-1}, so it is deferred and fused into step k+1's sweep over the coordinates: per
// chunk of 512 coordinates, apply the pending update, then draw z, x = sqrt(lambda) z and
// accumulate x·w, x·w*. One sweep per step; the samples of a step are kept (B·n doubles)
// for the next sweep, or regenerated from the counter. Storing wins at every size measured
// (one thread: d = 10^3, 2.8 vs 5.7 µs per step; d = 10^5, 0.31 vs 0.59 ms): reading 8
// bytes back, even from L3 or DRAM, is cheaper than the ~2.3 ns a Gaussian costs.
// Regeneration is kept for batches whose samples exceed SgdOptions::store_limit_bytes;
// both give identical bits. Numbers on the development machine: the step costs ~1.2x the
// bare sampling of its Gaussians (normal_sample_loop), 5x less than the NumPy loop at
// d = 10^3 and 3.5x less at d = 10^5 (benchmarks/bench_sgd.py).
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
    int store = -1;  // pass 2 reads stored samples (1), regenerates them (0), or auto (-1)
    std::size_t store_limit_bytes = std::size_t(256) << 20;  // auto: store up to this
    bool simd = true;  // allow the AVX2 Philox path (bit-identical to the scalar one)
    Streams streams = Streams::kIndependent;  // how the seed selects the key (stream_seed)
};

struct SgdResult {
    RunStatus status = RunStatus::kCompleted;
    long long last_step = 0;  // step index of the state left in w
    long long diverged_at_step = -1;
    std::size_t records_written = 0;
    // The online-loss window still open at the end (steps after the last record): pass it
    // back as `window0` to resume with exactly the online losses of an uninterrupted run.
    double window_sum = 0.0;
    long long window_count = 0;
};

// Bytes run_sgd allocates besides the caller's buffers: sqrt(lambda) (n doubles), the
// stored samples (B n doubles, unless regenerated) and the block partials (8 (B + 1) per
// block of kBlock coordinates).
inline std::size_t sgd_workspace_bytes(std::size_t n, int batch, const SgdOptions& opt = {}) {
    const std::size_t b = static_cast<std::size_t>(batch);
    const std::size_t samples = b * n * sizeof(double);
    const bool store = opt.store == 1 || (opt.store < 0 && samples <= opt.store_limit_bytes);
    return n * sizeof(double) + (store ? samples : 0) +
           block_count(n) * 8 * (b + 1) * sizeof(double);
}

namespace detail {

// Projections of one chunk [c, ce): x_i = sqrt(lambda_i) z_i (z indexed from c) written to
// xo[i], and the running sums x·w, x·w* in four chains each, ch[0..3] and ch[4..7] (one
// accumulator would wait on the latency of every addition). Every engine path goes
// through this one loop, in the same chunks, so all of them see bit-identical projections.
inline void project_chunk_scalar(const double* sl, const double* z, const double* w,
                                 const double* ws, std::size_t c, std::size_t ce, double* xo,
                                 double* ch) {
    double p0 = ch[0], p1 = ch[1], p2 = ch[2], p3 = ch[3];
    double q0 = ch[4], q1 = ch[5], q2 = ch[6], q3 = ch[7];
    const double* zc = z - c;
    std::size_t i = c;
    for (; i + 4 <= ce; i += 4) {
        const double x0 = sl[i] * zc[i], x1 = sl[i + 1] * zc[i + 1];
        const double x2 = sl[i + 2] * zc[i + 2], x3 = sl[i + 3] * zc[i + 3];
        xo[i] = x0;
        xo[i + 1] = x1;
        xo[i + 2] = x2;
        xo[i + 3] = x3;
        p0 += x0 * w[i];
        p1 += x1 * w[i + 1];
        p2 += x2 * w[i + 2];
        p3 += x3 * w[i + 3];
        q0 += x0 * ws[i];
        q1 += x1 * ws[i + 1];
        q2 += x2 * ws[i + 2];
        q3 += x3 * ws[i + 3];
    }
    for (; i < ce; ++i) {
        const double x0 = sl[i] * zc[i];
        xo[i] = x0;
        p0 += x0 * w[i];
        q0 += x0 * ws[i];
    }
    ch[0] = p0, ch[1] = p1, ch[2] = p2, ch[3] = p3;
    ch[4] = q0, ch[5] = q1, ch[6] = q2, ch[7] = q3;
}

#ifdef PYSCALE_PHILOX_AVX2
// AVX2 versions of project_chunk and of apply_update's batch-1 loop: lane l of each vector
// accumulator is chain l of the scalar code (indices i = l mod 4), products and sums are
// separate instructions (no FMA contraction), so both give identical bits. The compiler's
// own SSE2 vectorisation of the eight scalar chains spills registers and shuffles.
__attribute__((target("avx2"))) inline void project_chunk_avx2(
    const double* sl, const double* z, const double* w, const double* ws, std::size_t c,
    std::size_t ce, double* xo, double* ch) {
    __m256d pv = _mm256_loadu_pd(ch), qv = _mm256_loadu_pd(ch + 4);
    const double* zc = z - c;
    std::size_t i = c;
    for (; i + 4 <= ce; i += 4) {
        const __m256d x = _mm256_mul_pd(_mm256_loadu_pd(sl + i), _mm256_loadu_pd(zc + i));
        _mm256_storeu_pd(xo + i, x);
        pv = _mm256_add_pd(pv, _mm256_mul_pd(x, _mm256_loadu_pd(w + i)));
        qv = _mm256_add_pd(qv, _mm256_mul_pd(x, _mm256_loadu_pd(ws + i)));
    }
    _mm256_storeu_pd(ch, pv);
    _mm256_storeu_pd(ch + 4, qv);
    for (; i < ce; ++i) {
        const double x0 = sl[i] * zc[i];
        xo[i] = x0;
        ch[0] += x0 * w[i];
        ch[4] += x0 * ws[i];
    }
}

__attribute__((target("avx2"))) inline std::size_t apply_update1_avx2(
    double* w, const double* X, double c0, const double* lam, const double* ws, std::size_t c,
    std::size_t ce, double* su) {
    __m256d sv = _mm256_loadu_pd(su), uv = _mm256_loadu_pd(su + 4);
    const __m256d cv = _mm256_set1_pd(c0);
    std::size_t i = c;
    for (; i + 4 <= ce; i += 4) {
        const __m256d wn =
            _mm256_sub_pd(_mm256_loadu_pd(w + i), _mm256_mul_pd(cv, _mm256_loadu_pd(X + i)));
        _mm256_storeu_pd(w + i, wn);
        const __m256d l = _mm256_mul_pd(_mm256_loadu_pd(lam + i), wn);
        sv = _mm256_add_pd(sv, _mm256_mul_pd(l, wn));
        uv = _mm256_add_pd(uv, _mm256_mul_pd(l, _mm256_loadu_pd(ws + i)));
    }
    _mm256_storeu_pd(su, sv);
    _mm256_storeu_pd(su + 4, uv);
    return i;
}
#endif

inline void project_chunk(const double* sl, const double* z, const double* w,
                          const double* ws, std::size_t c, std::size_t ce, double* xo,
                          double* ch, bool simd) {
#ifdef PYSCALE_PHILOX_AVX2
    if (simd) return project_chunk_avx2(sl, z, w, ws, c, ce, xo, ch);
#endif
    (void)simd;
    project_chunk_scalar(sl, z, w, ws, c, ce, xo, ch);
}

// End of the chunk containing c (chunks are aligned to NormalStream::kChunk coordinates).
inline std::size_t chunk_end(std::size_t c, std::size_t hi) {
    return std::min(hi, c - c % NormalStream::kChunk + NormalStream::kChunk);
}

// apply_update without the statistics (the fused sweeps: s and u are only needed where w
// is flushed): reads neither lambda nor w*, one memory stream less at large n.
inline void apply_update_only(double* w, const double* X, std::size_t ld, const double* coef,
                              std::size_t B, std::size_t c, std::size_t ce) {
    const double c0 = coef[0];
    if (B == 1) {
        for (std::size_t i = c; i < ce; ++i) w[i] = w[i] - c0 * X[i];
        return;
    }
    for (std::size_t i = c; i < ce; ++i) {
        double g = c0 * X[i];
        for (std::size_t b = 1; b < B; ++b) g += coef[b] * X[b * ld + i];
        w[i] = w[i] - g;
    }
}

// x = sqrt(lambda) z on [lo, hi) of sample `sample`, written to xout[0 .. hi-lo); returns
// (x·w, x·w*) of that range. Shared with the ERM data set, which thus holds exactly the
// samples (and labels) online SGD draws.
inline void draw_project(const NormalStream& gen, std::uint64_t sample, const double* sl,
                         const double* w, const double* ws, std::size_t lo, std::size_t hi,
                         double* xout, double& p, double& q) {
    double z[NormalStream::kChunk];
    double ch[8] = {};
    for (std::size_t c = lo; c < hi;) {
        const std::size_t ce = chunk_end(c, hi);
        gen.fill(sample, kFeatureDomain, c, ce, z);
        project_chunk(sl, z, w, ws, c, ce, xout - lo, ch, gen.simd());
        c = ce;
    }
    p = (ch[0] + ch[1]) + (ch[2] + ch[3]);
    q = (ch[4] + ch[5]) + (ch[6] + ch[7]);
}

// w_i -= sum_b c_b x_{b,i} on [c, ce) (x_b = X + b*ld), accumulating s = w^T Q w and
// u = w^T Q w* of the new w in su[0..3], su[4..7].
inline void apply_update(double* w, const double* X, std::size_t ld, const double* coef,
                         std::size_t B, const double* lam, const double* ws, std::size_t c,
                         std::size_t ce, double* su, bool simd) {
    const double c0 = coef[0];
    std::size_t i = c;
#ifdef PYSCALE_PHILOX_AVX2
    if (simd && B == 1) i = apply_update1_avx2(w, X, c0, lam, ws, c, ce, su);
#endif
    (void)simd;
    double s0 = su[0], s1 = su[1], s2 = su[2], s3 = su[3];
    double u0 = su[4], u1 = su[5], u2 = su[6], u3 = su[7];
    if (B == 1) {
        for (; i + 4 <= ce; i += 4) {
            const double w0 = w[i] - c0 * X[i], w1 = w[i + 1] - c0 * X[i + 1];
            const double w2 = w[i + 2] - c0 * X[i + 2], w3 = w[i + 3] - c0 * X[i + 3];
            w[i] = w0, w[i + 1] = w1, w[i + 2] = w2, w[i + 3] = w3;
            const double l0 = lam[i] * w0, l1 = lam[i + 1] * w1;
            const double l2 = lam[i + 2] * w2, l3 = lam[i + 3] * w3;
            s0 += l0 * w0, s1 += l1 * w1, s2 += l2 * w2, s3 += l3 * w3;
            u0 += l0 * ws[i], u1 += l1 * ws[i + 1], u2 += l2 * ws[i + 2], u3 += l3 * ws[i + 3];
        }
    }
    for (; i < ce; ++i) {
        double g = c0 * X[i];
        for (std::size_t b = 1; b < B; ++b) g += coef[b] * X[b * ld + i];
        const double w0 = w[i] - g;
        w[i] = w0;
        const double l0 = lam[i] * w0;
        s0 += l0 * w0;
        u0 += l0 * ws[i];
    }
    su[0] = s0, su[1] = s1, su[2] = s2, su[3] = s3;
    su[4] = u0, su[5] = u1, su[6] = u2, su[7] = u3;
}

// Label y = q^2 + sigma xi of sample `sample` (SPEC §1).
inline double label(const NormalStream& gen, std::uint64_t sample, double q, double sigma) {
    return sigma > 0 ? q * q + sigma * gen.one(sample, kLabelDomain, 0) : q * q;
}

}  // namespace detail

// The bare sampling loop: `steps` times the d Gaussians of a feature sample, in the blocks
// and threads run_sgd's pass 1 uses, with nothing else done with them; returns their sum
// (so that none can be optimised away). Online SGD's throughput limit (benchmarks).
inline double normal_sample_loop(std::uint64_t seed, std::size_t d, long long steps,
                                 int threads = 1, bool simd = true) {
    const NormalStream gen(seed, simd);
    const std::size_t nb = block_count(d);
    const int th = threads_for(d, threads);
    std::vector<double> part(nb);
    double total = 0.0;
    for (long long k = 0; k < steps; ++k) {
        for_blocks(nb, th, [&](std::size_t bl) {
            const std::size_t lo = bl * kBlock, hi = std::min(d, lo + kBlock);
            double z[NormalStream::kChunk];
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (std::size_t c = lo; c < hi;) {
                const std::size_t ce = std::min(hi, c + NormalStream::kChunk);
                gen.fill(static_cast<std::uint64_t>(k), kFeatureDomain, c, ce, z);
                std::size_t i = 0;
                for (; i + 4 <= ce - c; i += 4) {
                    a0 += z[i];
                    a1 += z[i + 1];
                    a2 += z[i + 2];
                    a3 += z[i + 3];
                }
                for (; i < ce - c; ++i) a0 += z[i];
                c = ce;
            }
            part[bl] = (a0 + a1) + (a2 + a3);
        });
        for (std::size_t bl = 0; bl < nb; ++bl) total += part[bl];
    }
    return total;
}

// Runs steps step0+1 .. step_end of online SGD on w (in place), with label-noise variance
// p.noise and learning rate lr; t = step * lr. record_steps must be increasing within
// [step0, step_end]; row r of `out` (kRecordWidth doubles) receives the population record
// (s, u, s2, u2, loss, mse of SPEC §1) after record_steps[r] steps, and online_loss[r]
// (if not null) the mean per-sample loss l_b of the steps since the previous record — the
// progressive-validation estimate of the population loss along the way (NaN at step0).
//
// Passes. Step k needs the projections of its samples on w_{k-1} before it can update, so
// a step would be two sweeps over the coordinates: draw + project, then update. Instead the
// update of step k is deferred and fused into step k+1's sweep (per chunk: apply the
// update, then draw and project on the updated coordinates): one sweep per step. The
// deferred update is applied on its own ("flushed") only where w itself is needed: at
// records, progress checks and the end. Regenerated samples are drawn twice per step (to
// project, then, in the next sweep, to update). Every coordinate and every projection is
// computed with the same operations in the same order whichever path runs, so stored and
// regenerated samples, AVX2 and scalar code, any thread count, all agree bit for bit.
inline SgdResult run_sgd(const ProblemView& p, double* w, double lr, int batch,
                         std::uint64_t seed, long long step0, long long step_end,
                         const long long* record_steps, std::size_t n_records, double* out,
                         double* online_loss, const SgdOptions& opt = {},
                         const ProgressHook& hook = nullptr, double window0_sum = 0.0,
                         long long window0_count = 0) {
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

    std::vector<double> sl, xs, chains, su_part, pq(2 * B), coef(B);
    try {
        sl.resize(n);
        xs.resize(store ? B * n : 0);
        chains.resize(nb * 8 * B);
        su_part.resize(nb * 8);
    } catch (const std::bad_alloc&) {
        throw AllocationError("the SGD workspace", sgd_workspace_bytes(n, batch, opt));
    }
    for (std::size_t i = 0; i < n; ++i) sl[i] = std::sqrt(p.lambda[i]);
    const NormalStream gen(stream_seed(seed, p.dim, opt.streams), opt.simd);
    const bool simd = gen.simd();
    const double sigma = std::sqrt(p.noise);
    const double* lam = p.lambda;
    const double* ws = p.w_star;
    const double* SL = sl.data();
    double* X = xs.data();
    double* CH = chains.data();
    double* SU = su_part.data();
    const double* C = coef.data();

    // One sweep: per chunk, optionally apply the pending update (coef; samples stored, or
    // regenerated from `pending_first`; with `stats` also accumulating s and u), then
    // optionally draw and project the samples of `first` on the updated coordinates.
    auto sweep = [&](bool update, bool stats, std::uint64_t pending_first, bool draw,
                     std::uint64_t first) {
        for_blocks(nb, threads, [&](std::size_t bl) {
            const std::size_t lo = bl * kBlock, hi = std::min(n, lo + kBlock);
            double* ch = CH + bl * 8 * B;
            double* su = SU + bl * 8;
            std::fill(ch, ch + 8 * B, 0.0);
            std::fill(su, su + 8, 0.0);
            double z[NormalStream::kChunk];
            double xr[NormalStream::kChunk];  // one regenerated sample chunk
            double gr[NormalStream::kChunk];  // regenerated update, summed over the batch
            for (std::size_t c = lo; c < hi;) {
                const std::size_t ce = detail::chunk_end(c, hi);
                if (update) {
                    // Stored: x_b from X. Regenerated: the batch's update pre-summed into
                    // gr (g = c_0 x_0 + c_1 x_1 + ..., the stored path's order) and applied
                    // as w_i - 1 * g_i: identical bits either way.
                    const double* src = X;
                    std::size_t ld = n, nsum = B;
                    const double one = 1.0;
                    const double* cf = C;
                    if (!store) {
                        double dummy[8] = {};
                        for (std::size_t b = 0; b < B; ++b) {
                            gen.fill(pending_first + b, kFeatureDomain, c, ce, z);
                            detail::project_chunk(SL, z, w, ws, c, ce, xr - c, dummy, simd);
                            for (std::size_t i = 0; i < ce - c; ++i)
                                gr[i] = b == 0 ? C[0] * xr[i] : gr[i] + C[b] * xr[i];
                        }
                        src = gr - c;
                        ld = 0;
                        nsum = 1;
                        cf = &one;
                    }
                    if (stats)
                        detail::apply_update(w, src, ld, cf, nsum, lam, ws, c, ce, su, simd);
                    else
                        detail::apply_update_only(w, src, ld, cf, nsum, c, ce);
                }
                if (draw) {
                    for (std::size_t b = 0; b < B; ++b) {
                        gen.fill(first + b, kFeatureDomain, c, ce, z);
                        detail::project_chunk(SL, z, w, ws, c, ce, store ? X + b * n : xr - c,
                                              ch + 8 * b, simd);
                    }
                }
                c = ce;
            }
        });
    };
    auto reduce_su = [&](double& s, double& u) {
        s = 0.0;
        u = 0.0;
        for (std::size_t bl = 0; bl < nb; ++bl) {
            const double* su = SU + bl * 8;
            s += (su[0] + su[1]) + (su[2] + su[3]);
            u += (su[4] + su[5]) + (su[6] + su[7]);
        }
    };

    BlockedReducer<6> full(n, opt.threads);
    SgdResult res;
    res.last_step = step0;
    Moments m = moments(p, w, full);
    const double limit = opt.divergence_factor * std::fmax(1.0, std::fmax(p.s_star, m.s));
    RecordCursor rec(record_steps, n_records, step0);
    if (rec.due(step0)) {
        write_record(out + rec.row() * kRecordWidth, step0 * lr, p, m);
        if (online_loss) online_loss[rec.row()] = std::numeric_limits<double>::quiet_NaN();
        rec.advance();
    }
    double loss_sum = window0_sum;
    long long loss_count = window0_count;
    bool pending = false;             // an update computed but not yet applied to w
    std::uint64_t pending_first = 0;  // its samples
    auto diverged = [&](double s, double u) {
        return !std::isfinite(s) || !std::isfinite(u) || s > limit;
    };
    // Divergence: every step checks that its projections and update are finite; s > limit
    // (and finiteness of s, u) is checked wherever w is flushed (records, progress checks,
    // the end), since s costs a pass over lambda that the fused sweep otherwise avoids.

    for (long long k = step0 + 1; k <= step_end; ++k) {
        const std::uint64_t first = static_cast<std::uint64_t>(k - 1) * B;
        // The pending update (step k-1), if any, is fused into this step's sweep.
        const bool had_update = pending;
        sweep(pending, false, pending_first, true, first);
        pending = false;
        // Projections of this step's samples on w_{k-1}, in block order.
        std::fill(pq.begin(), pq.end(), 0.0);
        for (std::size_t bl = 0; bl < nb; ++bl)
            for (std::size_t b = 0; b < B; ++b) {
                const double* ch = CH + (bl * B + b) * 8;
                pq[2 * b] += (ch[0] + ch[1]) + (ch[2] + ch[3]);
                pq[2 * b + 1] += (ch[4] + ch[5]) + (ch[6] + ch[7]);
            }
        bool finite = true;
        for (std::size_t j = 0; j < 2 * B; ++j) finite = finite && std::isfinite(pq[j]);
        if (!finite) {  // w_{k-1} is no longer finite
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = res.last_step = had_update ? k - 1 : k;
            break;
        }
        for (std::size_t b = 0; b < B; ++b) {
            const double pb = pq[2 * b], qb = pq[2 * b + 1];
            const double r = pb * pb - detail::label(gen, first + b, qb, sigma);
            loss_sum += r * r;
            coef[b] = (4.0 * lr / static_cast<double>(B)) * r * pb;
            finite = finite && std::isfinite(coef[b]);
        }
        loss_count += static_cast<long long>(B);
        res.last_step = k;
        if (!finite) {  // the update of step k overflows
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = k;
            break;
        }
        pending = true;
        pending_first = first;
        const bool record = rec.due(k);
        const bool check = hook && opt.progress_every > 0 && (k - step0) % opt.progress_every == 0;
        if (record || check || k == step_end) {
            sweep(true, true, pending_first, false, 0);  // flush: w becomes w_k
            pending = false;
            double s, u;
            reduce_su(s, u);
            if (diverged(s, u)) {
                res.status = RunStatus::kDiverged;
                res.diverged_at_step = k;
                break;
            }
        }
        if (record) {
            write_record(out + rec.row() * kRecordWidth, k * lr, p, moments(p, w, full));
            if (online_loss) online_loss[rec.row()] = loss_sum / static_cast<double>(loss_count);
            loss_sum = 0.0;
            loss_count = 0;
            rec.advance();
        }
        if (check && !hook(k * lr, k - step0)) {
            res.status = RunStatus::kInterrupted;
            break;
        }
    }
    res.records_written = rec.written();
    res.window_sum = loss_sum;
    res.window_count = loss_count;
    return res;
}

// R independent runs (an ensemble over seeds), in parallel over the members: member r
// starts from w + r*n (each row a copy of w(0), caller-owned) with seed seeds[r] and writes
// its records to out + r*n_records*kRecordWidth and online_loss + r*n_records. Each member
// runs single-threaded, so member r is bit-identical to run_sgd with seeds[r] alone (any
// thread count) and the ensemble is independent of `threads`. The progress hook is called
// by one member at a time with the ensemble's mean progress, (lr S / R, S / R), S the steps
// all members have taken so far (monotone, ends at step_end); when it returns false, or a
// member throws, every member stops at its next check (members' status says which).
inline std::vector<SgdResult> run_sgd_ensemble(
    const ProblemView& p, double* w, std::size_t members, const std::uint64_t* seeds,
    double lr, int batch, long long step_end, const long long* record_steps,
    std::size_t n_records, double* out, double* online_loss, int threads,
    const SgdOptions& opt = {}, const ProgressHook& hook = nullptr) {
    std::vector<SgdResult> results(members);
    std::atomic<bool> stop{false};
    long long done = 0;  // member steps reported to the hook (under hook_mutex)
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
    (void)nthreads;
#endif
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nthreads > 1)
#endif
    for (long long r = 0; r < static_cast<long long>(members); ++r) {
        if (stop.load()) {
            results[r].status = RunStatus::kInterrupted;
            continue;
        }
        auto member_hook = [&](double, long long) -> bool {
            if (stop.load()) return false;
            if (hook) {
                std::lock_guard<std::mutex> lock(hook_mutex);
                if (stop.load()) return false;
                // Each call is progress_every more steps of one member; counted under the
                // lock, so the hook sees a monotone sequence.
                done += member_opt.progress_every;
                const long long avg = done / static_cast<long long>(members);
                if (!hook(static_cast<double>(avg) * lr, avg)) {
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
