// Finite-sample gradient descent of a two-layer network (empirical risk minimisation with
// data reuse): full-batch GD on N fixed samples,
//     L_N(W) = (1/N) sum_j (f(x_j) - y_j)^2,   W <- W - (lr / N) sum_j x_j g_j^T,
// g_jc = 2 (f(x_j) - y_j) a_c sigma'(x_j . w_c) (networks page: Online SGD), recording the
// population record (t, loss, S, U) and the training loss L_N. The data set is samples
// 0 .. N-1 of the online-SGD streams (network_sgd.hpp, batch 1): row j of X is exactly the
// sample that run_network_sgd draws at step j + 1, label included. As single-index ERM
// (erm.hpp): X is N x n doubles, caller-owned; each step reads it twice (the projections
// X W, then X^T G), both ordered sums fixed by the data layout, so the bits do not depend
// on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <vector>

#include "../model/network.hpp"
#include "../random/normal.hpp"
#include "../util/errors.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "erm.hpp"
#include "network_gd.hpp"
#include "sgd.hpp"
#include "step_loop.hpp"

namespace pyscale {

// Fills samples (N x n) and labels (N) with samples 0 .. N-1 of the streams of generator
// key `key` (as erm_make_data: stream_seed(seed, d, streams) is the caller's), exactly as
// run_network_sgd draws them with batch 1 (the teacher's projections summed in the same
// blocks and chunks, so the labels agree to the bit).
inline void network_erm_make_data(const NetworkView& v, const NetworkKernels& kern,
                                  std::uint64_t key, std::size_t n_samples, double* samples,
                                  double* labels, int threads = 0, bool simd = true) {
    check_network(v, kern);
    const std::size_t n = v.n;
    const int k = v.k;
    const NormalStream gen(key, simd);
    const double sigma = std::sqrt(v.noise);
    const int n_threads = detail::erm_threads(n_samples * n, threads);
    for_blocks(n_samples, n_threads, [&](std::size_t j) {
        double* row = samples + j * n;
        double hs[kMaxUnits] = {};
        double z[NormalStream::kChunk];
        for (std::size_t bl = 0; bl < block_count(n); ++bl) {
            const std::size_t lo = bl * kBlock, hi = std::min(n, lo + kBlock);
            double part[kMaxUnits] = {};
            for (std::size_t c = lo; c < hi;) {
                const std::size_t ce = detail::chunk_end(c, hi);
                gen.fill(j, kFeatureDomain, c, ce, z);
                for (std::size_t i = c; i < ce; ++i) {
                    const double x = std::sqrt(v.lambda[i]) * z[i - c];
                    row[i] = x;
                    for (int l = 0; l < k; ++l) part[l] += x * v.w_star[i * k + l];
                }
                c = ce;
            }
            for (int l = 0; l < k; ++l) hs[l] += part[l];
        }
        double y = kern.teacher_output(hs);
        if (sigma > 0) y += sigma * gen.one(j, kLabelDomain, 0);
        labels[j] = y;
    });
}

namespace detail {

class NetworkErmEngine {
public:
    NetworkErmEngine(const NetworkView& v, const NetworkKernels& kern, const double* samples,
                     const double* labels, std::size_t n_samples, double* w, double lr,
                     double* records, double* train_loss, const ErmOptions& opt)
        : v_(v), kern_(kern), X_(samples), y_(labels), N_(n_samples), w_(w), lr_(lr),
          records_(records), train_out_(train_loss),
          threads_(erm_threads(n_samples * v.n, opt.threads)),
          red_(v.n, opt.threads, static_cast<std::size_t>(v.width())) {
        check_network(v, kern);
        try {
            coef_.resize(N_ * v.p);
            grad_.resize(v.n * v.p);
            ov_.resize(v.width());
        } catch (const std::bad_alloc&) {
            throw AllocationError("the ERM workspace", (N_ + v.n) * v.p * sizeof(double));
        }
        train_ = project();
        network_overlaps(v_, w_, red_, ov_.data());
        limit_ = network_divergence_limit(v, ov_.data(), opt.divergence_factor);
    }

    StepOutcome advance(long long k) {
        gradient();
        const int p = v_.p;
        const auto& tot = red_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                double* wi = w_ + i * p;
                for (int c = 0; c < p; ++c) wi[c] -= lr_ * grad_[i * p + c];
                add_row_overlaps(v_, i, wi, acc);
            }
        });
        symmetrise_overlaps(v_.p, v_.k, tot.data(), ov_.data());
        if (!network_state_ok(v_, ov_.data(), limit_)) return StepOutcome::diverged_at(k);
        train_ = project();
        return StepOutcome::taken(k);
    }
    StepOutcome flush(long long k) { return StepOutcome::taken(k); }
    void record(std::size_t row, long long k) {
        write_network_record(records_ + row * network_record_width(v_.p, v_.k),
                             static_cast<double>(k) * lr_, v_, kern_, ov_.data());
        if (train_out_) train_out_[row] = train_;
    }

private:
    // Per sample: h_j = W^T x_j (summed over the coordinates in order), the coefficients
    // (2 / N) (f_j - y_j) a sigma'(h_j); returns L_N(W).
    double project() {
        const int p = v_.p;
        std::vector<double> res(N_);
        for_blocks(N_, threads_, [&](std::size_t j) {
            double h[kMaxUnits] = {}, sp[kMaxUnits], g[kMaxUnits];
            const double* row = X_ + j * v_.n;
            for (std::size_t i = 0; i < v_.n; ++i)
                for (int c = 0; c < p; ++c) h[c] += row[i] * w_[i * p + c];
            const double r = kern_.prediction(h, sp) - y_[j];
            res[j] = r;
            kern_.sample_gradient(r / static_cast<double>(N_), sp, g);
            for (int c = 0; c < p; ++c) coef_[j * p + c] = g[c];
        });
        double loss = 0.0;
        for (double r : res) loss += r * r;
        return loss / static_cast<double>(N_);
    }

    // grad_i = sum_j x_ji coef_j, in column chunks (each summed over j in order).
    void gradient() {
        constexpr std::size_t kCols = 256;
        const int p = v_.p;
        const std::size_t n = v_.n, chunks = (n + kCols - 1) / kCols;
        for_blocks(chunks, threads_, [&](std::size_t c) {
            const std::size_t lo = c * kCols, hi = std::min(n, lo + kCols);
            std::fill(grad_.begin() + lo * p, grad_.begin() + hi * p, 0.0);
            for (std::size_t j = 0; j < N_; ++j) {
                const double* cj = coef_.data() + j * p;
                const double* row = X_ + j * n;
                for (std::size_t i = lo; i < hi; ++i)
                    for (int q = 0; q < p; ++q) grad_[i * p + q] += row[i] * cj[q];
            }
        });
    }

    const NetworkView& v_;
    const NetworkKernels& kern_;
    const double* X_;
    const double* y_;
    std::size_t N_;
    double* w_;
    double lr_;
    double* records_;
    double* train_out_;
    int threads_;
    BlockedSums red_;
    std::vector<double> coef_, grad_, ov_;
    double train_ = 0.0, limit_ = 0.0;
};

}  // namespace detail

// Runs steps step0+1 .. step_end of full-batch GD on the data set from W (n x p, in place);
// row r of out gets the population record after record_steps[r] steps, train_loss[r] (if
// not null) the training loss L_N there.
inline ErmResult run_network_erm(const NetworkView& v, const NetworkKernels& kern,
                                 const double* samples, const double* labels,
                                 std::size_t n_samples, double* w, double lr, long long step0,
                                 long long step_end, const long long* record_steps,
                                 std::size_t n_records, double* out, double* train_loss,
                                 const ErmOptions& opt = {}, const ProgressHook& hook = nullptr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (n_samples < 1) throw std::invalid_argument("n_samples must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    detail::NetworkErmEngine engine(v, kern, samples, labels, n_samples, w, lr, out, train_loss,
                                    opt);
    return ErmResult{run_step_loop(engine, {step0, step_end, record_steps, n_records, lr,
                                            opt.progress_every}, hook)};
}

}  // namespace pyscale
