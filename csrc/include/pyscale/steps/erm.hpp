// Finite-sample gradient descent (empirical risk minimisation with data reuse): full-batch
// GD on a fixed data set of N samples of the data model (model page: Data model),
//     L_N(w) = (1/N) sum_j (sigma(x_j·w) - y_j)^2,
//     w <- w - lr (2/N) sum_j (sigma(x_j·w) - y_j) sigma'(x_j·w) x_j,
// sigma the link pair's student (the square: (4/N) sum_j ((x_j·w)^2 - y_j)(x_j·w) x_j),
// recording the population quantities (s, u, loss, mse; model page: Statistics and loss)
// and the training loss L_N. As N -> infinity L_N -> L and the run approaches population GD
// at the same lr.
//
// The data set is sample j = 0 .. N-1 of the SGD streams (sgd_kernels.hpp): row j of X is
// exactly the sample online SGD with the same seed and batch 1 draws at step j + 1, label
// included.
//
// Memory: X is N x n doubles (8 N n bytes), caller-owned; the engine adds 2N + n doubles.
// Each step reads X twice (X w, then X^T r); both products are ordered sums fixed by the
// data layout alone, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
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
#include "sgd_kernels.hpp"
#include "step_loop.hpp"

namespace pyscale {

struct ErmOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 64;    // steps between progress-hook calls
    double divergence_factor = 1e30;  // as GdOptions
};

// As GdResult (see StepLoopResult).
struct ErmResult : StepLoopResult {};

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

// Fills samples (N x n, row-major) and labels (N) with samples 0 .. N-1 of seed's streams,
// the pair's teacher and label noise variance p.noise, exactly as run_sgd draws them with
// batch 1.
template <class Pair>
void erm_make_data(const ProblemView& p, const Pair& pair, std::uint64_t seed,
                   std::size_t n_samples, double* samples, double* labels, int threads = 0,
                   bool simd = true) {
    static_assert(is_pair_v<Pair>, "erm_make_data: Pair must derive from PairBase<Pair>");
    if (p.n >= (std::size_t(1) << 40)) throw std::invalid_argument("at most 2^40 coordinates");
    const std::size_t n = p.n;
    std::vector<double> sqrt_lambda(n);
    for (std::size_t i = 0; i < n; ++i) sqrt_lambda[i] = std::sqrt(p.lambda[i]);
    const NormalStream gen(seed, simd);
    const double sigma = std::sqrt(p.noise);
    const int n_threads = detail::erm_threads(n_samples * n, threads);
    const std::size_t n_blocks = block_count(n);
    for_blocks(n_samples, n_threads, [&](std::size_t j) {
        double* row = samples + j * n;
        // Same blocks and block-order sum as run_sgd's sweeps: identical x·w*, hence labels.
        double xw_star = 0.0;
        for (std::size_t block = 0; block < n_blocks; ++block) {
            const std::size_t lo = block * kBlock, hi = std::min(n, lo + kBlock);
            double xw_block, xw_star_block;
            detail::draw_project(gen, static_cast<std::uint64_t>(j), sqrt_lambda.data(),
                                 p.w_star, p.w_star, lo, hi, row + lo, xw_block, xw_star_block);
            xw_star += xw_star_block;
        }
        labels[j] = detail::label(pair, gen, static_cast<std::uint64_t>(j), xw_star, sigma);
    });
}

namespace detail {

// One full-batch GD step on the data set per advance: the gradient from the residual
// coefficients of the current w, the update with its s, u (checked for divergence every
// step), then the projections of the new w, which give the next step's coefficients and
// the training loss.
template <class Pair>
class ErmEngine {
public:
    ErmEngine(const ProblemView& p, const Pair& pair, const double* samples,
              const double* labels, std::size_t n_samples, double* w, double lr,
              double* records, double* train_loss, const ErmOptions& opt)
        : p_(p), pair_(pair), samples_(samples), labels_(labels), n_samples_(n_samples), w_(w),
          lr_(lr), records_(records), train_loss_out_(train_loss),
          n_threads_(erm_threads(n_samples * p.n, opt.threads)),
          scale_(pair.gradient_scale() / static_cast<double>(n_samples)), full_(p.n, opt.threads),
          fast_(p.n, opt.threads) {
        try {
            projections_.resize(n_samples);
            coefficients_.resize(n_samples);
            gradient_.resize(p.n);
        } catch (const std::bad_alloc&) {
            throw AllocationError("the ERM workspace", (2 * n_samples + p.n) * sizeof(double));
        } catch (const std::length_error&) {
            throw AllocationError("the ERM workspace", (2 * n_samples + p.n) * sizeof(double));
        }
        train_loss_ = project();
        const double s0 = moments(p_, w_, full_).s;
        limit_ = opt.divergence_factor * std::fmax(1.0, std::fmax(p_.s_star, s0));
    }

    StepOutcome advance(long long k) {
        compute_gradient();
        const double* lam = p_.lambda;
        const double* w_star = p_.w_star;
        const double* grad = gradient_.data();
        double* w = w_;
        const double lr = lr_;
        const auto su = fast_.run([&](std::size_t lo, std::size_t hi, double* acc) {
            for (std::size_t i = lo; i < hi; ++i) {
                const double wi = w[i] - lr * grad[i];
                w[i] = wi;
                const double lw = lam[i] * wi;
                acc[0] += lw * wi;
                acc[1] += lw * w_star[i];
            }
        });
        if (!std::isfinite(su[0]) || !std::isfinite(su[1]) || su[0] > limit_)
            return StepOutcome::diverged_at(k);
        train_loss_ = project();
        return StepOutcome::taken(k);
    }
    StepOutcome flush(long long k) { return StepOutcome::taken(k); }  // w is always current
    void record(std::size_t row, long long k) {
        write_record(records_ + row * kRecordWidth, static_cast<double>(k) * lr_, p_, pair_,
                     moments(p_, w_, full_));
        if (train_loss_out_) train_loss_out_[row] = train_loss_;
    }

private:
    // p_j = x_j·w and c_j = (scale / N) (sigma(p_j) - y_j) weight(p_j) (the square:
    // (4/N)(p_j^2 - y_j) p_j); returns L_N(w).
    double project() {
        const std::size_t n = p_.n;
        const double* samples = samples_;
        const double* labels = labels_;
        const double* w = w_;
        double* proj = projections_.data();
        double* coef = coefficients_.data();
        const double scale = scale_;
        const Pair& pair = pair_;
        for_blocks(n_samples_, n_threads_, [&](std::size_t j) {
            const double* row = samples + j * n;
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
            proj[j] = pj;
            const SampleTerms st = pair.sample_terms(pj, labels[j]);
            coef[j] = scale * st.residual * st.weight;
        });
        double loss = 0.0;
        for (std::size_t j = 0; j < n_samples_; ++j) {
            const double r = pair_.student(proj[j]) - labels[j];
            loss += r * r;
        }
        return loss / static_cast<double>(n_samples_);
    }

    // grad_i = sum_j c_j x_ji, in column chunks (each grad_i summed over j in order).
    void compute_gradient() {
        constexpr std::size_t kCols = 256;
        const std::size_t n = p_.n;
        const std::size_t n_chunks = (n + kCols - 1) / kCols;
        const double* samples = samples_;
        const double* coef = coefficients_.data();
        double* grad = gradient_.data();
        const std::size_t n_samples = n_samples_;
        for_blocks(n_chunks, n_threads_, [&](std::size_t c) {
            const std::size_t lo = c * kCols;
            const std::size_t hi = std::min(n, lo + kCols);
            double* g = grad + lo;
            std::fill(g, g + (hi - lo), 0.0);
            for (std::size_t j = 0; j < n_samples; ++j) {
                const double cj = coef[j];
                const double* row = samples + j * n + lo;
                for (std::size_t i = 0; i < hi - lo; ++i) g[i] += cj * row[i];
            }
        });
    }

    const ProblemView& p_;
    Pair pair_;
    const double* samples_;  // X, N x n row-major
    const double* labels_;   // y, N
    std::size_t n_samples_;
    double* w_;
    double lr_;
    double* records_;
    double* train_loss_out_;
    int n_threads_;
    double scale_;  // gradient_scale / N (the square: 4 / N)
    BlockedReducer<6> full_;
    BlockedReducer<2> fast_;
    std::vector<double> projections_, coefficients_, gradient_;
    double train_loss_ = 0.0;  // L_N of the current w
    double limit_ = 0.0;       // divergence threshold on s
};

}  // namespace detail

// Runs steps step0+1 .. step_end of full-batch GD on the data set (samples X, labels y)
// from w (in place). Row r of `out` gets the population record after record_steps[r] steps
// (t = step * lr) and train_loss[r] (if not null) the training loss L_N there.
template <class Pair>
ErmResult run_erm(const ProblemView& p, const Pair& pair, const double* samples,
                  const double* labels, std::size_t n_samples, double* w, double lr,
                  long long step0, long long step_end, const long long* record_steps,
                  std::size_t n_records, double* out, double* train_loss,
                  const ErmOptions& opt = {}, const ProgressHook& hook = nullptr) {
    static_assert(is_pair_v<Pair>, "run_erm: Pair must derive from PairBase<Pair>");
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (n_samples < 1) throw std::invalid_argument("n_samples must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    detail::ErmEngine<Pair> engine(p, pair, samples, labels, n_samples, w, lr, out, train_loss,
                                   opt);
    const StepSchedule schedule{step0, step_end, record_steps, n_records, lr,
                                opt.progress_every};
    return ErmResult{run_step_loop(engine, schedule, hook)};
}

}  // namespace pyscale
