// The per-chunk kernels of online SGD and of the ERM data set: draw the Gaussians of a
// sample, form x = sqrt(lambda) ⊙ z and its projections x·w, x·w*, and apply a batch update
// w -= sum_b c_b x_b (optionally accumulating s = w^T Q w and u = w^T Q w* of the new w).
// The samples follow (model page: Data model), the update (model page: SGD floor).
//
// Bitwise contract. Every engine path (stored or regenerated samples, AVX2 or scalar code,
// any thread count) goes through these loops in the same chunks of NormalStream::kChunk
// coordinates, with sums kept in four chains (chain l holds the indices i = l mod 4 of a
// chunk) and combined as (c0 + c1) + (c2 + c3). The AVX2 versions keep lane l = chain l and
// do products and sums as separate instructions (no FMA contraction), so they give the
// scalar bits exactly; the compiler's own SSE2 vectorisation of the eight scalar chains
// spills registers and shuffles.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../random/normal.hpp"
#include "../random/philox.hpp"
#include "../util/parallel.hpp"

namespace pyscale {

constexpr std::uint32_t kFeatureDomain = 0;  // z of the samples
constexpr std::uint32_t kLabelDomain = 1;    // label noise xi (coordinate 0 of the stream)

namespace detail {

// Projections of one chunk [begin, end): x_i = sqrt(lambda_i) z_i (z indexed from begin)
// written to x_out[i], and the running sums x·w, x·w* in four chains each, chains[0..3] and
// chains[4..7] (one accumulator would wait on the latency of every addition).
inline void project_chunk_scalar(const double* sqrt_lam, const double* z, const double* w,
                                 const double* w_star, std::size_t begin, std::size_t end,
                                 double* x_out, double* chains) {
    double p0 = chains[0], p1 = chains[1], p2 = chains[2], p3 = chains[3];
    double q0 = chains[4], q1 = chains[5], q2 = chains[6], q3 = chains[7];
    const double* z_at = z - begin;  // z_at[i] is coordinate i's draw
    std::size_t i = begin;
    for (; i + 4 <= end; i += 4) {
        const double x0 = sqrt_lam[i] * z_at[i], x1 = sqrt_lam[i + 1] * z_at[i + 1];
        const double x2 = sqrt_lam[i + 2] * z_at[i + 2], x3 = sqrt_lam[i + 3] * z_at[i + 3];
        x_out[i] = x0;
        x_out[i + 1] = x1;
        x_out[i + 2] = x2;
        x_out[i + 3] = x3;
        p0 += x0 * w[i];
        p1 += x1 * w[i + 1];
        p2 += x2 * w[i + 2];
        p3 += x3 * w[i + 3];
        q0 += x0 * w_star[i];
        q1 += x1 * w_star[i + 1];
        q2 += x2 * w_star[i + 2];
        q3 += x3 * w_star[i + 3];
    }
    for (; i < end; ++i) {
        const double x0 = sqrt_lam[i] * z_at[i];
        x_out[i] = x0;
        p0 += x0 * w[i];
        q0 += x0 * w_star[i];
    }
    chains[0] = p0, chains[1] = p1, chains[2] = p2, chains[3] = p3;
    chains[4] = q0, chains[5] = q1, chains[6] = q2, chains[7] = q3;
}

#ifdef PYSCALE_PHILOX_AVX2
// AVX2 project_chunk_scalar: lane l of each vector accumulator is chain l.
__attribute__((target("avx2"))) inline void project_chunk_avx2(
    const double* sqrt_lam, const double* z, const double* w, const double* w_star,
    std::size_t begin, std::size_t end, double* x_out, double* chains) {
    __m256d pv = _mm256_loadu_pd(chains), qv = _mm256_loadu_pd(chains + 4);
    const double* z_at = z - begin;
    std::size_t i = begin;
    for (; i + 4 <= end; i += 4) {
        const __m256d x =
            _mm256_mul_pd(_mm256_loadu_pd(sqrt_lam + i), _mm256_loadu_pd(z_at + i));
        _mm256_storeu_pd(x_out + i, x);
        pv = _mm256_add_pd(pv, _mm256_mul_pd(x, _mm256_loadu_pd(w + i)));
        qv = _mm256_add_pd(qv, _mm256_mul_pd(x, _mm256_loadu_pd(w_star + i)));
    }
    _mm256_storeu_pd(chains, pv);
    _mm256_storeu_pd(chains + 4, qv);
    for (; i < end; ++i) {
        const double x0 = sqrt_lam[i] * z_at[i];
        x_out[i] = x0;
        chains[0] += x0 * w[i];
        chains[4] += x0 * w_star[i];
    }
}

// AVX2 batch-1 loop of apply_update (w_i -= c0 x_i with s, u chains); returns the first
// index it left to the scalar tail.
__attribute__((target("avx2"))) inline std::size_t apply_update1_avx2(
    double* w, const double* x, double c0, const double* lam, const double* w_star,
    std::size_t begin, std::size_t end, double* stat_chains) {
    __m256d sv = _mm256_loadu_pd(stat_chains), uv = _mm256_loadu_pd(stat_chains + 4);
    const __m256d cv = _mm256_set1_pd(c0);
    std::size_t i = begin;
    for (; i + 4 <= end; i += 4) {
        const __m256d wn =
            _mm256_sub_pd(_mm256_loadu_pd(w + i), _mm256_mul_pd(cv, _mm256_loadu_pd(x + i)));
        _mm256_storeu_pd(w + i, wn);
        const __m256d l = _mm256_mul_pd(_mm256_loadu_pd(lam + i), wn);
        sv = _mm256_add_pd(sv, _mm256_mul_pd(l, wn));
        uv = _mm256_add_pd(uv, _mm256_mul_pd(l, _mm256_loadu_pd(w_star + i)));
    }
    _mm256_storeu_pd(stat_chains, sv);
    _mm256_storeu_pd(stat_chains + 4, uv);
    return i;
}
#endif

inline void project_chunk(const double* sqrt_lam, const double* z, const double* w,
                          const double* w_star, std::size_t begin, std::size_t end,
                          double* x_out, double* chains, bool simd) {
#ifdef PYSCALE_PHILOX_AVX2
    if (simd) return project_chunk_avx2(sqrt_lam, z, w, w_star, begin, end, x_out, chains);
#endif
    (void)simd;
    project_chunk_scalar(sqrt_lam, z, w, w_star, begin, end, x_out, chains);
}

// End of the chunk containing `begin` (chunks are aligned to NormalStream::kChunk
// coordinates), clipped to `limit`.
inline std::size_t chunk_end(std::size_t begin, std::size_t limit) {
    return std::min(limit, begin - begin % NormalStream::kChunk + NormalStream::kChunk);
}

// The four chains of a sum, combined in the one fixed order.
inline double sum_chains(const double* chains) {
    return (chains[0] + chains[1]) + (chains[2] + chains[3]);
}

// apply_update without the statistics (the fused sweeps: s and u are only needed where w
// is flushed): reads neither lambda nor w*, one memory stream less at large n. Sample b's
// coordinate i is samples[b * stride + i].
inline void apply_update_only(double* w, const double* samples, std::size_t stride,
                              const double* coefficients, std::size_t batch,
                              std::size_t begin, std::size_t end) {
    const double c0 = coefficients[0];
    if (batch == 1) {
        for (std::size_t i = begin; i < end; ++i) w[i] = w[i] - c0 * samples[i];
        return;
    }
    for (std::size_t i = begin; i < end; ++i) {
        double g = c0 * samples[i];
        for (std::size_t b = 1; b < batch; ++b) g += coefficients[b] * samples[b * stride + i];
        w[i] = w[i] - g;
    }
}

// w_i -= sum_b c_b x_{b,i} on [begin, end) (x_b = samples + b * stride), accumulating
// s = w^T Q w and u = w^T Q w* of the new w in stat_chains[0..3], stat_chains[4..7].
inline void apply_update(double* w, const double* samples, std::size_t stride,
                         const double* coefficients, std::size_t batch, const double* lam,
                         const double* w_star, std::size_t begin, std::size_t end,
                         double* stat_chains, bool simd) {
    const double c0 = coefficients[0];
    const double* x = samples;
    std::size_t i = begin;
#ifdef PYSCALE_PHILOX_AVX2
    if (simd && batch == 1)
        i = apply_update1_avx2(w, x, c0, lam, w_star, begin, end, stat_chains);
#endif
    (void)simd;
    double s0 = stat_chains[0], s1 = stat_chains[1], s2 = stat_chains[2], s3 = stat_chains[3];
    double u0 = stat_chains[4], u1 = stat_chains[5], u2 = stat_chains[6], u3 = stat_chains[7];
    if (batch == 1) {
        for (; i + 4 <= end; i += 4) {
            const double w0 = w[i] - c0 * x[i], w1 = w[i + 1] - c0 * x[i + 1];
            const double w2 = w[i + 2] - c0 * x[i + 2], w3 = w[i + 3] - c0 * x[i + 3];
            w[i] = w0, w[i + 1] = w1, w[i + 2] = w2, w[i + 3] = w3;
            const double l0 = lam[i] * w0, l1 = lam[i + 1] * w1;
            const double l2 = lam[i + 2] * w2, l3 = lam[i + 3] * w3;
            s0 += l0 * w0, s1 += l1 * w1, s2 += l2 * w2, s3 += l3 * w3;
            u0 += l0 * w_star[i], u1 += l1 * w_star[i + 1];
            u2 += l2 * w_star[i + 2], u3 += l3 * w_star[i + 3];
        }
    }
    for (; i < end; ++i) {
        double g = c0 * x[i];
        for (std::size_t b = 1; b < batch; ++b) g += coefficients[b] * x[b * stride + i];
        const double w0 = w[i] - g;
        w[i] = w0;
        const double l0 = lam[i] * w0;
        s0 += l0 * w0;
        u0 += l0 * w_star[i];
    }
    stat_chains[0] = s0, stat_chains[1] = s1, stat_chains[2] = s2, stat_chains[3] = s3;
    stat_chains[4] = u0, stat_chains[5] = u1, stat_chains[6] = u2, stat_chains[7] = u3;
}

// x = sqrt(lambda) z on [lo, hi) of sample `sample`, written to x_out[0 .. hi-lo); returns
// (x·w, x·w*) of that range in (xw, xw_star). Shared with the ERM data set, which thus
// holds exactly the samples (and labels) online SGD draws.
inline void draw_project(const NormalStream& gen, std::uint64_t sample, const double* sqrt_lam,
                         const double* w, const double* w_star, std::size_t lo, std::size_t hi,
                         double* x_out, double& xw, double& xw_star) {
    double z[NormalStream::kChunk];
    double chains[8] = {};
    for (std::size_t begin = lo; begin < hi;) {
        const std::size_t end = chunk_end(begin, hi);
        gen.fill(sample, kFeatureDomain, begin, end, z);
        project_chunk(sqrt_lam, z, w, w_star, begin, end, x_out - lo, chains, gen.simd());
        begin = end;
    }
    xw = sum_chains(chains);
    xw_star = sum_chains(chains + 4);
}

// Label y = tau(x·w*) + sigma xi of sample `sample`: tau the pair's teacher, sigma the
// label-noise standard deviation (model page: Data model).
template <class Pair>
double label(const Pair& pair, const NormalStream& gen, std::uint64_t sample, double xw_star,
             double sigma) {
    return sigma > 0 ? pair.teacher(xw_star) + sigma * gen.one(sample, kLabelDomain, 0)
                     : pair.teacher(xw_star);
}

}  // namespace detail

// The bare sampling loop: `steps` times the d Gaussians of a feature sample, in the blocks
// and threads run_sgd's sweeps use, with nothing else done with them; returns their sum
// (so that none can be optimised away). Online SGD's throughput limit (benchmarks).
inline double normal_sample_loop(std::uint64_t seed, std::size_t d, long long steps,
                                 int threads = 1, bool simd = true) {
    const NormalStream gen(seed, simd);
    const std::size_t n_blocks = block_count(d);
    const int n_threads = threads_for(d, threads);
    std::vector<double> block_sums(n_blocks);
    double total = 0.0;
    for (long long k = 0; k < steps; ++k) {
        for_blocks(n_blocks, n_threads, [&](std::size_t block) {
            const std::size_t lo = block * kBlock, hi = std::min(d, lo + kBlock);
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
            block_sums[block] = (a0 + a1) + (a2 + a3);
        });
        for (std::size_t block = 0; block < n_blocks; ++block) total += block_sums[block];
    }
    return total;
}

}  // namespace pyscale
