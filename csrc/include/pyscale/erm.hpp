// Finite-sample gradient descent (empirical risk minimisation with data reuse): full-batch
// GD on a fixed data set of N samples of the SPEC §1 model,
//     L_N(w) = (1/N) sum_j ((x_j·w)^2 - y_j)^2,
//     w <- w - lr (4/N) sum_j ((x_j·w)^2 - y_j)(x_j·w) x_j,
// recording the population quantities (s, u, loss, mse of SPEC §1) and the training loss
// L_N. As N -> infinity L_N -> L and the run approaches population GD at the same lr.
//
// The data set is sample j = 0 .. N-1 of the SGD streams (sgd.hpp): X's row j is exactly
// the sample online SGD with the same seed and batch 1 draws at step j + 1, label included.
//
// Memory: X is N x n doubles (8 N n bytes), caller-owned; the engine adds 2N + n doubles.
// Each step reads X twice (X w, then X^T r); both products are ordered sums fixed by the
// data layout alone, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "errors.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "problem.hpp"
#include "progress.hpp"
#include "sgd.hpp"
#include "stats.hpp"

namespace pyscale {

struct ErmOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 64;    // steps between progress-hook calls
    double divergence_factor = 1e30;  // as GdOptions
};

struct ErmResult {
    RunStatus status = RunStatus::kCompleted;
    long long last_step = 0;
    long long diverged_at_step = -1;
    std::size_t records_written = 0;
};

// Bytes of the data set (X and y) for N samples of n coordinates.
inline std::size_t erm_data_bytes(std::size_t n_samples, std::size_t n) {
    return n_samples * (n + 1) * sizeof(double);
}

namespace detail {
// Threads for O(N n) work: parallel once there is enough of it (the results do not
// depend on the choice).
inline int erm_threads(std::size_t work, int requested) {
#ifdef _OPENMP
    if (work < kParallelThreshold) return 1;
    return requested > 0 ? requested : omp_get_max_threads();
#else
    (void)work;
    (void)requested;
    return 1;
#endif
}
}  // namespace detail

// Fills X (N x n, row-major) and y (N) with samples 0 .. N-1 of seed's streams and label
// noise variance p.noise, exactly as run_sgd draws them with batch 1.
inline void erm_make_data(const ProblemView& p, std::uint64_t seed, std::size_t n_samples,
                          double* X, double* y, int threads = 0, bool simd = true) {
    if (p.n >= (std::size_t(1) << 40)) throw std::invalid_argument("at most 2^40 coordinates");
    const std::size_t n = p.n;
    std::vector<double> sl(n);
    for (std::size_t i = 0; i < n; ++i) sl[i] = std::sqrt(p.lambda[i]);
    const NormalStream gen(seed, simd);
    const double sigma = std::sqrt(p.noise);
    const double* SL = sl.data();
    const int nt = detail::erm_threads(n_samples * n, threads);
    const std::size_t nb = block_count(n);
    for_blocks(n_samples, nt, [&](std::size_t j) {
        double* row = X + j * n;
        // Same blocks and block-order sum as run_sgd's pass 1: identical q, hence labels.
        double q = 0.0;
        for (std::size_t bl = 0; bl < nb; ++bl) {
            const std::size_t lo = bl * kBlock, hi = std::min(n, lo + kBlock);
            double pb, qb;
            detail::draw_project(gen, static_cast<std::uint64_t>(j), SL, p.w_star, p.w_star,
                                 lo, hi, row + lo, pb, qb);
            q += qb;
        }
        y[j] = detail::label(gen, static_cast<std::uint64_t>(j), q, sigma);
    });
}

// Runs steps step0+1 .. step_end of full-batch GD on the data set (X, y) from w (in place).
// Row r of `out` gets the population record after record_steps[r] steps (t = step * lr) and
// train_loss[r] (if not null) the training loss L_N there.
inline ErmResult run_erm(const ProblemView& p, const double* X, const double* y,
                         std::size_t n_samples, double* w, double lr, long long step0,
                         long long step_end, const long long* record_steps,
                         std::size_t n_records, double* out, double* train_loss,
                         const ErmOptions& opt = {}, const ProgressHook& hook = nullptr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (n_samples < 1) throw std::invalid_argument("n_samples must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    const std::size_t n = p.n, N = n_samples;
    std::vector<double> proj, coef, grad;
    try {
        proj.resize(N);
        coef.resize(N);
        grad.resize(n);
    } catch (const std::bad_alloc&) {
        throw AllocationError("the ERM workspace", (2 * N + n) * sizeof(double));
    }
    const int nt = detail::erm_threads(N * n, opt.threads);
    double* P = proj.data();
    double* C = coef.data();
    double* G = grad.data();
    const double scale = 4.0 / static_cast<double>(N);

    // p_j = x_j·w, coefficient c_j = (4/N)((p_j)^2 - y_j) p_j; returns L_N(w).
    auto project = [&]() -> double {
        for_blocks(N, nt, [&](std::size_t j) {
            const double* row = X + j * n;
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            std::size_t i = 0;
            for (; i + 4 <= n; i += 4) {
                a0 += row[i] * w[i];
                a1 += row[i + 1] * w[i + 1];
                a2 += row[i + 2] * w[i + 2];
                a3 += row[i + 3] * w[i + 3];
            }
            for (; i < n; ++i) a0 += row[i] * w[i];
            const double pj = (a0 + a1) + (a2 + a3);
            P[j] = pj;
            C[j] = scale * (pj * pj - y[j]) * pj;
        });
        double l = 0.0;
        for (std::size_t j = 0; j < N; ++j) {
            const double r = P[j] * P[j] - y[j];
            l += r * r;
        }
        return l / static_cast<double>(N);
    };
    // grad_i = sum_j c_j X_ji, in column chunks (each g_i summed over j in order).
    constexpr std::size_t kCols = 256;
    const std::size_t nchunks = (n + kCols - 1) / kCols;
    auto gradient = [&]() {
        for_blocks(nchunks, nt, [&](std::size_t c) {
            const std::size_t lo = c * kCols;
            const std::size_t hi = std::min(n, lo + kCols);
            double* g = G + lo;
            std::fill(g, g + (hi - lo), 0.0);
            for (std::size_t j = 0; j < N; ++j) {
                const double cj = C[j];
                const double* row = X + j * n + lo;
                for (std::size_t i = 0; i < hi - lo; ++i) g[i] += cj * row[i];
            }
        });
    };

    BlockedReducer<6> full(n, opt.threads);
    BlockedReducer<2> fast(n, opt.threads);
    ErmResult res;
    res.last_step = step0;
    double train = project();
    Moments m = moments(p, w, full);
    const double limit = opt.divergence_factor * std::fmax(1.0, std::fmax(p.s_star, m.s));
    RecordCursor rec(record_steps, n_records, step0);
    if (rec.due(step0)) {
        write_record(out + rec.row() * kRecordWidth, step0 * lr, p, m);
        if (train_loss) train_loss[rec.row()] = train;
        rec.advance();
    }
    const double* lam = p.lambda;
    const double* ws = p.w_star;
    for (long long k = step0 + 1; k <= step_end; ++k) {
        gradient();
        auto r = fast.run([&](std::size_t lo, std::size_t hi, double* acc) {
            for (std::size_t i = lo; i < hi; ++i) {
                const double wi = w[i] - lr * G[i];
                w[i] = wi;
                const double lw = lam[i] * wi;
                acc[0] += lw * wi;
                acc[1] += lw * ws[i];
            }
        });
        res.last_step = k;
        if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || r[0] > limit) {
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = k;
            break;
        }
        train = project();
        if (rec.due(k)) {
            write_record(out + rec.row() * kRecordWidth, k * lr, p, moments(p, w, full));
            if (train_loss) train_loss[rec.row()] = train;
            rec.advance();
        }
        if (hook && opt.progress_every > 0 && (k - step0) % opt.progress_every == 0 &&
            !hook(k * lr, k - step0)) {
            res.status = RunStatus::kInterrupted;
            break;
        }
    }
    res.records_written = rec.written();
    return res;
}

}  // namespace pyscale
