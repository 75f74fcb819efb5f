// Online SGD of a two-layer network on modes, exact in law (networks page: The mode chain
// for p > 1): the cost of a step grows with the number of modes, not with d.
//
// Mode m holds n_m physical coordinates with one eigenvalue lambda_m. Its state is X_m, the
// coordinates of the mode's block of [W* W] (columns: the k teacher units, then the p
// student units, D = p + k) in an orthonormal frame of their span: r_m = min(n_m, D) rows,
// X_m^T X_m the mode's Gram matrix. One step, batch B:
//   alpha_bm ~ N(0, I_{r_m}) (the sample's block in the frame; the rest, zeta, lies in the
//   (n_m - r_m)-dimensional complement, orthogonal to W and W*),
//   h_b = sum_m sqrt(lambda_m) X_{m,W}^T alpha_bm,  h*_b likewise with X_{m,W*},
//   y_b = sum_l a*_l tau(h*_bl) + xi_b,  g_b = 2 (f_b - y_b) a ⊙ sigma'(h_b),
//   X_{m,W} <- X_{m,W} - kappa_m sum_b alpha_bm g_b^T,   kappa_m = (lr / B) sqrt(lambda_m),
// and the complement's share N_m = -kappa_m sum_b zeta_bm g_b^T, whose rows (in a basis of
// the complement) are i.i.d. N(0, kappa_m^2 G G^T), G = [g_1 .. g_B]: only N_m^T N_m ~
// Wishart(n_m - r_m, kappa_m^2 G G^T) enters the next Gram matrix, so the new frame
// coordinates are the R factor of the QR of [X_m; (0 | R_N)], R_N^T R_N = N_m^T N_m. With
// L = G (B <= p) or L L^T = G G^T (B > p, q = min(B, p) columns), R_N = kappa_m Xi L^T and
// Xi^T Xi ~ Wishart_q(nu, I), nu = n_m - r_m, by Bartlett: Xi upper triangular with
// Xi_ii = sqrt(chi^2_{nu - i}) and N(0, 1) above the diagonal (nu >= q), or nu Gaussian
// rows (nu < q). The Gram matrices are then a Markov chain with exactly the law of full
// online SGD's (p = k = 1: the single-index chain of mode_chain.hpp). Modes with n_m <= D
// keep their real rows (no complement).
//
// Randomness keyed by (seed, step, mode) as the single-index chain's (mode_chain.hpp), so
// bits do not depend on the thread count: alpha of sample k - 1 at coordinate
// (m B + b) D + row (kNetChainAlphaDomain), xi_b at b (kNetChainLabelDomain), Xi's normals
// at m q^2 + i q + j (kNetChainXiDomain) and its chi-squares GammaStream draw (k - 1, m q + i).
// Two sweeps over the modes per step (draw and project; update and refold), in fixed blocks
// of modes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "../model/network.hpp"
#include "../random/gamma.hpp"
#include "../random/normal.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "../util/small_matrix.hpp"
#include "ensemble.hpp"
#include "mode_chain.hpp"
#include "network_gd.hpp"
#include "network_sgd.hpp"
#include "sgd.hpp"
#include "step_loop.hpp"

namespace pyscale {

constexpr std::uint32_t kNetChainAlphaDomain = 8;  // alpha: the samples in the mode frames
constexpr std::uint32_t kNetChainLabelDomain = 9;  // label noise xi
constexpr std::uint32_t kNetChainXiDomain = 10;    // Bartlett normals of the complement

// The modes of a compressed network (non-owning but for S*): eigenvalue, physical
// coordinates n_m (whole numbers as doubles) and frame rows r_m = min(n_m, p + k).
struct NetworkModes {
    std::size_t m = 0;
    int p = 0, k = 0;
    const double* lambda = nullptr;
    const double* count = nullptr;
    double dim = 0.0, noise = 0.0;
    std::vector<double> s_star;  // k x k, from the initial state
    int D() const { return p + k; }
    int rows(std::size_t i) const {
        return count[i] >= D() ? D() : static_cast<int>(count[i]);
    }
    int width() const { return p * p + p * k; }
};

// [S | U] of a chain state X (m x D x D, columns [W* W]): S = sum lambda X_W^T X_W, U =
// sum lambda X_W^T X_W*, in fixed blocks of modes.
inline void network_mode_overlaps(const NetworkModes& md, const double* X, BlockedSums& red,
                                  double* out) {
    const int p = md.p, k = md.k, D = md.D();
    const auto& tot = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) {
            const double* x = X + i * D * D;
            for (int r = 0; r < md.rows(i); ++r) {
                const double* row = x + r * D;
                for (int j = 0; j < p; ++j) {
                    const double lw = md.lambda[i] * row[k + j];
                    for (int l = j; l < p; ++l) acc[j * p + l] += lw * row[k + l];
                    for (int l = 0; l < k; ++l) acc[p * p + j * k + l] += lw * row[l];
                }
            }
        }
    });
    symmetrise_overlaps(p, k, tot.data(), out);
}

inline NetworkModes make_network_modes(std::size_t m, int p, int k, const double* lambda,
                                       const double* count, const double* X, double dim,
                                       double noise) {
    if (m == 0) throw std::invalid_argument("the mode chain needs at least one mode");
    if (p < 1 || k < 1 || p > kMaxUnits || k > kMaxUnits)
        throw std::invalid_argument("a network needs 1 to " + std::to_string(kMaxUnits) +
                                    " units in each layer");
    if (!(dim >= 1.0) || !(noise >= 0.0) || !std::isfinite(noise))
        throw std::invalid_argument("need dim >= 1 and a finite noise variance >= 0");
    for (std::size_t i = 0; i < m; ++i) {
        if (!(lambda[i] > 0.0) || !std::isfinite(lambda[i]))
            throw std::invalid_argument("mode eigenvalues must be finite and > 0");
        if (!(count[i] >= 1.0) || count[i] != std::floor(count[i]) || count[i] > 0x1.0p53)
            throw std::invalid_argument("mode counts must be whole numbers in [1, 2^53]");
    }
    NetworkModes md{m, p, k, lambda, count, dim, noise, {}};
    // S* = sum lambda X_W*^T X_W*: the overlaps of a "student" made of the teacher columns.
    const int D = p + k;
    md.s_star.assign(k * k, 0.0);
    for (std::size_t i = 0; i < m; ++i)
        for (int r = 0; r < md.rows(i); ++r)
            for (int a = 0; a < k; ++a)
                for (int b = 0; b < k; ++b)
                    md.s_star[a * k + b] += lambda[i] * X[(i * D + r) * D + a] * X[(i * D + r) * D + b];
    for (int l = 0; l < k; ++l)
        if (!(md.s_star[l * k + l] > 0.0) || !std::isfinite(md.s_star[l * k + l]))
            throw std::invalid_argument("every teacher unit needs a positive, finite Q-norm");
    return md;
}

namespace detail {

class NetworkChainEngine {
public:
    NetworkChainEngine(const NetworkModes& md, const NetworkKernels& kern, double* X, double lr,
                       int batch, std::uint64_t key, long long step0, double* records,
                       double* online_loss, const ModeChainOptions& opt, double window0_sum,
                       long long window0_count);

    StepOutcome advance(long long k);
    StepOutcome flush(long long k) { return StepOutcome::taken(k); }  // X is always current
    void record(std::size_t row, long long k);
    double window_sum() const { return loss_sum_; }
    long long window_count() const { return loss_count_; }

private:
    void project_block(std::size_t bl, std::uint64_t sample);
    void update_mode(std::size_t i, std::uint64_t sample, const double* L, int q, double* acc);
    // Xi (rows x q, upper triangular when nu >= q) with Xi^T Xi ~ Wishart_q(nu, I).
    int complement_factor(std::size_t i, std::uint64_t sample, int q, double* xi) const;
    bool batch_coefficients(std::uint64_t sample);

    const NetworkModes& md_;
    const NetworkKernels& kern_;
    NetworkView scalars_;  // what write_network_record reads: p, k, S*, noise
    double* X_;
    double lr_;
    std::size_t B_;
    int D_;
    long long step0_;
    std::size_t nb_;
    int threads_;
    NormalStream normals_;
    GammaStream gammas_;
    double sigma_;
    double* records_;
    double* online_loss_out_;
    double loss_sum_;
    long long loss_count_;
    BlockedSums red_;
    double limit_ = 0.0;
    std::vector<double> alpha_, proj_part_, su_part_, proj_, g_, ov_;
    std::vector<GammaShape> shapes_;  // per mode: chi-square(nu - i) / 2 for i < min(B, p)
};

inline NetworkChainEngine::NetworkChainEngine(const NetworkModes& md, const NetworkKernels& kern,
                                              double* X, double lr, int batch, std::uint64_t key,
                                              long long step0, double* records,
                                              double* online_loss, const ModeChainOptions& opt,
                                              double window0_sum, long long window0_count)
    : md_(md), kern_(kern), X_(X), lr_(lr), B_(static_cast<std::size_t>(batch)), D_(md.D()),
      step0_(step0), nb_(block_count(md.m)), threads_(chain_threads(md.m, opt.threads)),
      normals_(key, opt.simd), gammas_(key, opt.simd), sigma_(std::sqrt(md.noise)),
      records_(records), online_loss_out_(online_loss), loss_sum_(window0_sum),
      loss_count_(window0_count), red_(md.m, opt.threads, static_cast<std::size_t>(md.width())) {
    if (kern.p() != md.p || kern.k() != md.k)
        throw std::invalid_argument("the readouts' lengths must be the units p and k");
    scalars_.p = md.p;
    scalars_.k = md.k;
    scalars_.s_star = md.s_star;
    scalars_.noise = md.noise;
    scalars_.dim = md.dim;
    alpha_.resize(md.m * B_ * D_);
    proj_part_.resize(nb_ * B_ * D_);
    su_part_.resize(nb_ * md.p);
    proj_.resize(B_ * D_);
    g_.resize(B_ * md.p);
    ov_.resize(md.width());
    const int q = std::min<int>(batch, md.p);
    shapes_.resize(md.m * q);
    for (std::size_t i = 0; i < md.m; ++i) {
        const double nu = md.count[i] - md.rows(i);
        for (int j = 0; j < q; ++j)
            if (nu - j >= 1.0) shapes_[i * q + j] = GammaShape::chi_square(nu - j);
    }
    network_mode_overlaps(md_, X_, red_, ov_.data());
    limit_ = network_divergence_limit(scalars_, ov_.data(), opt.divergence_factor);
}

inline StepOutcome NetworkChainEngine::advance(long long k) {
    const std::uint64_t sample = static_cast<std::uint64_t>(k - 1);
    const int p = md_.p, D = D_;
    for_blocks(nb_, threads_, [&](std::size_t bl) { project_block(bl, sample); });
    std::fill(proj_.begin(), proj_.end(), 0.0);
    for (std::size_t bl = 0; bl < nb_; ++bl)
        for (std::size_t q = 0; q < B_ * D; ++q) proj_[q] += proj_part_[bl * B_ * D + q];
    if (!batch_coefficients(sample)) return StepOutcome::diverged_at(k);
    // L with L L^T = G G^T: G itself (B <= p columns), or E sqrt(eigenvalues) of G G^T.
    const int q = std::min<int>(static_cast<int>(B_), p);
    std::vector<double> L(p * q, 0.0);
    if (static_cast<int>(B_) <= p) {
        for (std::size_t b = 0; b < B_; ++b)
            for (int j = 0; j < p; ++j) L[j * q + b] = g_[b * p + j];
    } else {
        std::vector<double> gg(p * p, 0.0), ev(p), E(p * p);
        for (std::size_t b = 0; b < B_; ++b)
            for (int j = 0; j < p; ++j)
                for (int l = 0; l < p; ++l) gg[j * p + l] += g_[b * p + j] * g_[b * p + l];
        small::symmetric_eigen(p, gg.data(), ev.data(), E.data());
        for (int j = 0; j < p; ++j)
            for (int c = 0; c < p; ++c) L[j * p + c] = E[j * p + c] * std::sqrt(std::max(ev[c], 0.0));
    }
    for_blocks(nb_, threads_, [&](std::size_t bl) {
        double* acc = su_part_.data() + bl * p;
        std::fill(acc, acc + p, 0.0);
        const std::size_t lo = bl * kBlock, hi = std::min(md_.m, lo + kBlock);
        for (std::size_t i = lo; i < hi; ++i) update_mode(i, sample, L.data(), q, acc);
    });
    for (int j = 0; j < p; ++j) {
        double s = 0.0;
        for (std::size_t bl = 0; bl < nb_; ++bl) s += su_part_[bl * p + j];
        if (!std::isfinite(s) || s > limit_) return StepOutcome::diverged_at(k);
    }
    return StepOutcome::taken(k);
}

// alpha of `sample` on the modes of block bl (kept for the update) and their projections.
inline void NetworkChainEngine::project_block(std::size_t bl, std::uint64_t sample) {
    const int D = D_;
    const std::size_t BD = B_ * D, lo = bl * kBlock, hi = std::min(md_.m, lo + kBlock);
    double* part = proj_part_.data() + bl * BD;
    std::fill(part, part + BD, 0.0);
    normals_.fill(sample, kNetChainAlphaDomain, lo * BD, hi * BD, alpha_.data() + lo * BD);
    for (std::size_t i = lo; i < hi; ++i) {
        const double s = std::sqrt(md_.lambda[i]);
        const double* x = X_ + i * D * D;
        const double* a = alpha_.data() + i * BD;
        const int r = md_.rows(i);
        for (std::size_t b = 0; b < B_; ++b)
            for (int row = 0; row < r; ++row) {
                const double sa = s * a[b * D + row];
                for (int c = 0; c < D; ++c) part[b * D + c] += sa * x[row * D + c];
            }
    }
}

// g_b from the projections (columns [h* h]) and the labels; the online loss. False when a
// coefficient is not finite.
inline bool NetworkChainEngine::batch_coefficients(std::uint64_t sample) {
    const int p = md_.p, k = md_.k, D = D_;
    double sp[kMaxUnits];
    bool finite = true;
    for (std::size_t b = 0; b < B_; ++b) {
        const double* hb = proj_.data() + b * D;
        const double f = kern_.prediction(hb + k, sp);
        double y = kern_.teacher_output(hb);
        if (sigma_ > 0) y += sigma_ * normals_.one(sample, kNetChainLabelDomain, b);
        const double r = f - y;
        loss_sum_ += r * r;
        kern_.sample_gradient(r, sp, g_.data() + b * p);
        for (int j = 0; j < p; ++j) finite = finite && std::isfinite(g_[b * p + j]);
    }
    loss_count_ += static_cast<long long>(B_);
    return finite;
}

inline int NetworkChainEngine::complement_factor(std::size_t i, std::uint64_t sample, int q,
                                                 double* xi) const {
    const double nu = md_.count[i] - md_.rows(i);
    const std::uint64_t base = static_cast<std::uint64_t>(i) * q * q;
    std::fill(xi, xi + q * q, 0.0);
    if (nu >= q) {  // Bartlett
        for (int a = 0; a < q; ++a) {
            xi[a * q + a] = std::sqrt(2.0 * gammas_.draw(shapes_[i * q + a], sample, i * q + a));
            for (int b = a + 1; b < q; ++b)
                xi[a * q + b] = normals_.one(sample, kNetChainXiDomain, base + a * q + b);
        }
        return q;
    }
    const int rows = static_cast<int>(nu);
    for (int a = 0; a < rows; ++a)
        for (int b = 0; b < q; ++b) xi[a * q + b] = normals_.one(sample, kNetChainXiDomain, base + a * q + b);
    return rows;
}

// Mode i's update: the in-frame part, then the complement's Wishart share folded back into
// D frame rows by a QR; adds lambda_i sum_rows X_W^2 (S_jj) into acc.
inline void NetworkChainEngine::update_mode(std::size_t i, std::uint64_t sample, const double* L,
                                            int q, double* acc) {
    const int p = md_.p, k = md_.k, D = D_, r = md_.rows(i);
    double* x = X_ + i * D * D;
    const double* a = alpha_.data() + i * B_ * D;
    const double kappa = (lr_ / static_cast<double>(B_)) * std::sqrt(md_.lambda[i]);
    for (int row = 0; row < r; ++row)
        for (int j = 0; j < p; ++j) {
            double s = 0.0;
            for (std::size_t b = 0; b < B_; ++b) s += a[b * D + row] * g_[b * p + j];
            x[row * D + k + j] -= kappa * s;
        }
    if (md_.count[i] > r) {
        double xi[kMaxUnits * kMaxUnits];
        const int extra = complement_factor(i, sample, q, xi);
        std::vector<double> st(static_cast<std::size_t>((D + extra) * D), 0.0);
        std::copy(x, x + D * D, st.begin());
        for (int e = 0; e < extra; ++e)
            for (int j = 0; j < p; ++j) {
                double s = 0.0;
                for (int c = 0; c < q; ++c) s += xi[e * q + c] * L[j * q + c];
                st[(D + e) * D + k + j] = kappa * s;
            }
        small::householder_r(D + extra, D, st.data());
        std::copy(st.begin(), st.begin() + D * D, x);
    }
    for (int row = 0; row < r; ++row)
        for (int j = 0; j < p; ++j) acc[j] += md_.lambda[i] * x[row * D + k + j] * x[row * D + k + j];
}

inline void NetworkChainEngine::record(std::size_t row, long long k) {
    network_mode_overlaps(md_, X_, red_, ov_.data());
    write_network_record(records_ + row * network_record_width(md_.p, md_.k),
                         static_cast<double>(k) * lr_, scalars_, kern_, ov_.data());
    if (!online_loss_out_) return;
    if (k == step0_) {
        online_loss_out_[row] = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    online_loss_out_[row] = loss_sum_ / static_cast<double>(loss_count_);
    loss_sum_ = 0.0;
    loss_count_ = 0;
}

}  // namespace detail

// Runs steps step0+1 .. step_end of the network mode chain on X (m x D x D, in place: per
// mode the frame coordinates of [W* W], rows beyond min(n_m, D) zero), learning rate lr,
// batch `batch`, label-noise variance md.noise; records, online losses, windows and the
// result as run_network_sgd's.
inline SgdResult run_network_chain(const NetworkModes& md, const NetworkKernels& kern, double* X,
                                   double lr, int batch, std::uint64_t seed, long long step0,
                                   long long step_end, const long long* record_steps,
                                   std::size_t n_records, double* out, double* online_loss,
                                   const ModeChainOptions& opt = {},
                                   const ProgressHook& hook = nullptr, double window0_sum = 0.0,
                                   long long window0_count = 0) {
    detail::require_online_run(lr, batch, step0, step_end);
    if (static_cast<double>(md.m) * batch * md.D() >= 0x1.0p40)
        throw std::invalid_argument("modes * batch * (p + k) must be < 2^40");
    detail::NetworkChainEngine engine(md, kern, X, lr, batch, stream_seed(seed, md.dim, opt.streams),
                                      step0, out, online_loss, opt, window0_sum, window0_count);
    return run_online_loop(engine, {step0, step_end, record_steps, n_records, lr,
                                    opt.progress_every}, hook);
}

// R independent chains (an ensemble over seeds), members in parallel: member r starts from
// X + r m D^2; each runs single-threaded and is bit-identical to run_network_chain alone.
inline std::vector<SgdResult> run_network_chain_ensemble(
    const NetworkModes& md, const NetworkKernels& kern, double* X, std::size_t members,
    const std::uint64_t* seeds, double lr, int batch, long long step_end,
    const long long* record_steps, std::size_t n_records, double* out, double* online_loss,
    int threads, const ModeChainOptions& opt = {}, const ProgressHook& hook = nullptr) {
    const auto member_opt = member_options(opt);
    const std::size_t width = static_cast<std::size_t>(network_record_width(md.p, md.k));
    const std::size_t state = md.m * md.D() * md.D();
    return run_members<SgdResult>(
        members, threads, member_opt.progress_every, lr, hook,
        [&](std::size_t r, const ProgressHook& member_hook) {
            return run_network_chain(md, kern, X + r * state, lr, batch, seeds[r], 0, step_end,
                                     record_steps, n_records, out + r * n_records * width,
                                     online_loss ? online_loss + r * n_records : nullptr,
                                     member_opt, member_hook);
        });
}

}  // namespace pyscale
