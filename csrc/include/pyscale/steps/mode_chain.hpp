// Online SGD on modes, exact in law (model page: Mode chain): the cost of a step does not
// grow with the dimension d, only with the number of modes.
//
// A mode m holds n_m physical coordinates with one eigenvalue lambda_m; its blocks of the
// target and of the iterate are W*_m (norm r_m, fixed) and W_m = c1_m e1 + c2_m e2 with
// e1 = W*_m / r_m and e2 the unit vector along the part of W_m orthogonal to W*_m
// (c2_m >= 0). A sample's block is sqrt(lambda_m) z, z ~ N(0, I): its components alpha on
// e1 and beta on e2 are independent N(0, 1), the rest zeta is N(0, I) on the (n_m - 2)-
// dimensional complement. Step k with batch B, label-noise variance sigma_noise^2:
//     p_j = sum_m sqrt(lambda_m) (alpha_jm c1_m + beta_jm c2_m),  q_j = sum_m sqrt(lambda_m)
//     alpha_jm r_m,  y_j = tau(q_j) + sigma_noise xi_j,  g_j = 2 (sigma(p_j) - y_j) sigma'(p_j),
//     kappa_m = (lr / B) sqrt(lambda_m),
//     c1_m <- c1_m - kappa_m sum_j g_j alpha_jm,   v_m = c2_m - kappa_m sum_j g_j beta_jm,
//     c2_m <- sqrt(v_m^2 + kappa_m^2 (sum_j g_j^2) chi2_{n_m - 2}).
// Given the g's, sum_j g_j zeta_jm is N(0, sum_j g_j^2 I) on the complement and only its
// norm enters later steps, so (c1, c2) is a Markov chain with exactly the law of the full
// SGD's (c1, c2) — a chi-square draw (gamma.hpp) replaces n_m - 2 Gaussians. n_m = 1: alpha
// only, c2 = 0; n_m = 2: c2 <- |v|. Only g_j depends on the link pair (student sigma,
// teacher tau; model/link_pair.hpp; the square: g_j = 4 (p_j^2 - y_j) p_j). Statistics:
// s = sum lambda (c1^2 + c2^2), u = sum lambda c1 r, s2 / u2 with lambda^2,
// ||w -+ w*||^2 = sum (c1 -+ r)^2 + c2^2.
//
// Randomness, keyed by (seed, step, mode) so that bits do not depend on the thread count
// and a resumed run continues exactly: alpha_jm and beta_jm are NormalStream draws of
// sample k - 1 at coordinate m B + j (domains kChainAlphaDomain, kChainBetaDomain), xi_j
// at coordinate j (kChainLabelDomain), the chi-square of mode m is GammaStream draw
// (k - 1, m). The key is stream_seed(seed, d, streams) as for the full engine (sgd.hpp).
//
// One sweep per step, over fixed blocks of kBlock modes (parallel.hpp; partial sums added
// in block order), on the shared step loop (step_loop.hpp) as online SGD's engine: per
// chunk, the pending update of step k - 1 (its chi-squares drawn, (c1, c2) updated, s and u
// accumulated for the divergence check), then step k's alpha, beta (kept for its update)
// and p, q; then the B scalars g_j (detail::ModeChainEngine).
// Cost: about 2 B Gaussians per mode with n_m >= 2 (B for n_m = 1) plus one gamma draw
// per mode with n_m >= 3 (~1 Gaussian + 1 uniform, rejections < 5%); beta and the
// chi-squares are drawn only on the modes that use them. The sums p_j, q_j are added in 8
// lanes per chunk (mode i of a chunk starting at c in lane (i - c) mod 8, the lanes combined
// in one fixed tree, chunk partials in order): their bits are the run's, the same on every
// path and thread count, and 8 independent chains are not bound by the adder's latency.
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
#include "../random/gamma.hpp"
#include "../random/philox.hpp"
#include "../util/errors.hpp"
#include "../util/parallel.hpp"
#include "ensemble.hpp"
#include "sgd.hpp"
#include "step_loop.hpp"

namespace pyscale {

constexpr std::uint32_t kChainAlphaDomain = 2;  // alpha: component of z along e1
constexpr std::uint32_t kChainBetaDomain = 3;   // beta: component along e2
constexpr std::uint32_t kChainLabelDomain = 4;  // label noise xi

// The modes of a problem (non-owning): eigenvalue, number of physical coordinates n_m
// (a whole number >= 1, stored as a double) and r_m = ||W*_m|| (a sign is allowed: for
// n_m = 1 the mode is one signed coordinate).
struct ModeView {
    std::size_t m = 0;
    const double* lambda = nullptr;
    const double* count = nullptr;
    const double* r = nullptr;
    double s_star = 0.0;  // sum lambda r^2
    double dim = 0.0;     // true dimension d (MSE normalisation, stream key)
    double noise = 0.0;   // label-noise variance sigma^2
};

inline ModeView make_mode_view(std::size_t m, const double* lambda, const double* count,
                               const double* r, double dim, double noise) {
    if (m == 0) throw std::invalid_argument("the mode chain needs at least one mode");
    if (m >= (std::size_t(1) << 32)) throw std::invalid_argument("at most 2^32 modes");
    if (!(dim >= 1.0) || !std::isfinite(dim)) throw std::invalid_argument("dim must be >= 1");
    if (!(noise >= 0.0) || !std::isfinite(noise))
        throw std::invalid_argument("noise variance must be finite and >= 0");
    double s_star = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        if (!(lambda[i] > 0.0) || !std::isfinite(lambda[i]))
            throw std::invalid_argument("mode eigenvalues must be finite and > 0");
        if (!(count[i] >= 1.0) || count[i] != std::floor(count[i]) || count[i] > 0x1.0p53)
            throw std::invalid_argument("mode counts must be whole numbers in [1, 2^53]");
        if (!std::isfinite(r[i])) throw std::invalid_argument("mode norms r must be finite");
        s_star += lambda[i] * r[i] * r[i];
    }
    if (!(s_star > 0.0) || !std::isfinite(s_star))
        throw std::invalid_argument("w_star must have a positive, finite Q-norm");
    return ModeView{m, lambda, count, r, s_star, dim, noise};
}

struct ModeChainOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 4096;  // steps between progress-hook calls
    // Diverged once anything is non-finite or s exceeds this multiple of max(1, s*, s(0));
    // both are checked every step (s costs nothing extra here).
    double divergence_factor = 1e30;
    bool simd = true;                         // allow the AVX2 Philox path (same bits)
    Streams streams = Streams::kIndependent;  // see stream_seed (sgd.hpp)
};

// Below this many modes a step is too short for threads to pay off (~10 ns per mode).
constexpr std::size_t kChainParallelThreshold = std::size_t(1) << 13;

inline int chain_threads(std::size_t m, int requested) {
#ifdef _OPENMP
    if (m < kChainParallelThreshold) return 1;
    const int t = requested > 0 ? requested : omp_get_max_threads();
    return std::max(1, std::min<int>(t, static_cast<int>(block_count(m))));
#else
    (void)m;
    (void)requested;
    return 1;
#endif
}

// Bytes run_mode_chain allocates: sqrt(lambda), kappa, the gamma shapes, alpha and beta
// (B per mode each), chunk flags, block partials and the p, q sums' lanes (8 per sum).
inline std::size_t mode_chain_workspace_bytes(std::size_t m, int batch) {
    const std::size_t b = static_cast<std::size_t>(batch);
    const std::size_t chunks = (m + NormalStream::kChunk - 1) / NormalStream::kChunk;
    return m * (2 * sizeof(double) + GammaShapeTable::bytes_per_shape()) +
           2 * b * m * sizeof(double) + chunks * 4 * sizeof(std::size_t) +
           block_count(m) * (2 * b * 9 + 2) * sizeof(double);
}

// s, u, s2, u2 and the two distances of the chain state (model page: Mode chain).
template <int NS, int NMAX>
Moments mode_moments(const ModeView& p, const double* c1, const double* c2,
                     BlockedReducer<NS, NMAX>& red) {
    static_assert(NS >= 6, "mode_moments() needs a reducer with at least 6 slots");
    auto a = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) {
            const double l = p.lambda[i], n2 = c1[i] * c1[i] + c2[i] * c2[i];
            const double cr = c1[i] * p.r[i];
            const double dm = c1[i] - p.r[i], dp = c1[i] + p.r[i], e2 = c2[i] * c2[i];
            acc[0] += l * n2;
            acc[1] += l * cr;
            acc[2] += l * l * n2;
            acc[3] += l * l * cr;
            acc[4] += dm * dm + e2;
            acc[5] += dp * dp + e2;
        }
    });
    return Moments{a[0], a[1], a[2], a[3], a[4], a[5]};
}

namespace detail {

// The mode chain as a step-loop engine (step_loop.hpp), with the passes of online SGD's
// engine (sgd.hpp): the update of step k needs the batch's g_j, which need the projections
// p_j of step k's samples on the state after k - 1 steps, so it is deferred ("pending") and
// fused into step k + 1's sweep over the modes — per chunk: apply the pending update (and
// draw its chi-squares), then draw step k + 1's alpha, beta and accumulate p, q on the
// updated modes. One sweep per step; the update is applied on its own (flush) only where
// the state itself is needed: records, progress checks and the end. s and u of the
// updated state come with the update at no extra cost, so the divergence test runs every
// step: a state found diverged in the sweep of step k is that of step k - 1.
template <class Pair>
class ModeChainEngine {
public:
    ModeChainEngine(const ModeView& p, const Pair& pair, double* c1, double* c2, double lr,
                    int batch, std::uint64_t key_seed, long long step0, double* records,
                    double* online_loss, const ModeChainOptions& opt, double window0_sum,
                    long long window0_count)
        : p_(p), pair_(pair), c1_(c1), c2_(c2), lr_(lr), B_(static_cast<std::size_t>(batch)),
          step0_(step0), nb_(block_count(p.m)), threads_(chain_threads(p.m, opt.threads)),
          normals_(key_seed, opt.simd), gammas_(key_seed, opt.simd),
          sigma_(std::sqrt(p.noise)), records_(records), online_loss_out_(online_loss),
          loss_sum_(window0_sum), loss_count_(window0_count), red_(p.m, opt.threads) {
        const std::size_t m = p.m, chunks = (m + kC - 1) / kC;
        try {
            sl_.resize(m);
            kappa_.resize(m);
            shapes_ = GammaShapeTable(m);
            alpha_.resize(B_ * m);
            beta_.resize(B_ * m);
            pairs_.assign(chunks, ModeRange{});
            chis_.assign(chunks, ModeRange{});
            pq_part_.resize(nb_ * 2 * B_);
            lanes_.resize(nb_ * 2 * B_ * kLanes);
            su_part_.resize(nb_ * 2);
            pq_.resize(2 * B_);
            g_.resize(B_);
        } catch (const std::bad_alloc&) {
            throw AllocationError("the mode-chain workspace", mode_chain_workspace_bytes(m, batch));
        } catch (const std::length_error&) {
            throw AllocationError("the mode-chain workspace", mode_chain_workspace_bytes(m, batch));
        }
        for (std::size_t i = 0; i < m; ++i) {
            sl_[i] = std::sqrt(p.lambda[i]);
            kappa_[i] = (lr / static_cast<double>(B_)) * sl_[i];
            const double n = p.count[i];
            if (n >= 3.0) shapes_.set(i, GammaShape::chi_square(n - 2.0));
            if (n >= 2.0) pairs_[i / kC].add(i);
            if (n >= 3.0) chis_[i / kC].add(i);
        }
        scalars_.s_star = p.s_star;  // what write_record reads: s*, d, sigma^2
        scalars_.dim = p.dim;
        scalars_.noise = p.noise;
        const Moments m0 = mode_moments(p_, c1_, c2_, red_);
        limit_ = opt.divergence_factor * std::fmax(1.0, std::fmax(p.s_star, m0.s));
    }

    StepOutcome advance(long long k);
    StepOutcome flush(long long k);
    void record(std::size_t row, long long k);

    double window_sum() const { return loss_sum_; }
    long long window_count() const { return loss_count_; }

private:
    static constexpr std::size_t kC = NormalStream::kChunk;  // modes per chunk
    static constexpr std::size_t kLanes = 8;                  // lanes of the p, q sums
    // The kLanes lanes of a sum, added in one fixed tree: lane l with l + 4, then with
    // l + 2, then the two halves (the order of a 512 -> 256 -> 128 -> 64-bit reduction).
    static double lane_total(const double* l) {
        const double h0 = l[0] + l[4], h1 = l[1] + l[5], h2 = l[2] + l[6], h3 = l[3] + l[7];
        return (h0 + h2) + (h1 + h3);
    }

    struct Sweep {
        bool update;          // apply the pending update (samples of pending_sample_)
        bool draw;            // then draw and project the samples of `sample`
        std::uint64_t sample;
    };
    void sweep(const Sweep& plan);
    bool state_ok();  // s, u of the state the last update left: finite and s <= limit
    void project_chunk(std::uint64_t sample, std::size_t c, std::size_t ce, double* part,
                       double* lanes);
    void update_chunk(std::size_t c, std::size_t ce, double* acc);
#ifdef PYSCALE_PHILOX_AVX2
    void project_avx512(std::size_t c, std::size_t ce, double* part);
    std::size_t update_avx512(std::size_t c, std::size_t ce, const double* chi, double* acc);
#endif
    // y_j = tau(q_j) + sigma_noise xi_j.
    double label(std::uint64_t sample, std::size_t j, double q) const {
        return sigma_ > 0 ? pair_.teacher(q) + sigma_ * normals_.one(sample, kChainLabelDomain, j)
                          : pair_.teacher(q);
    }

    const ModeView& p_;
    Pair pair_;
    double* c1_;
    double* c2_;
    double lr_;
    std::size_t B_;
    long long step0_;
    std::size_t nb_;
    int threads_;
    NormalStream normals_;
    GammaStream gammas_;
    double sigma_;  // label-noise standard deviation
    double* records_;
    double* online_loss_out_;
    double loss_sum_;  // online-loss window: sum of per-sample losses since the last record
    long long loss_count_;
    BlockedReducer<6> red_;  // the statistics of records
    ProblemView scalars_;
    double limit_ = 0.0;               // divergence threshold on s
    bool pending_ = false;             // an update computed but not yet applied
    std::uint64_t pending_sample_ = 0;  // its samples' index (step - 1)
    double G_ = 0.0;                    // its sum_j g_j^2
    std::vector<double> sl_, kappa_, alpha_, beta_, pq_part_, lanes_, su_part_, pq_, g_;
    GammaShapeTable shapes_;  // per mode: chi-square(n - 2) / 2 (n >= 3)
    // Per chunk, the modes [lo, hi) that need beta (n >= 2) / a chi-square (n >= 3): the
    // draws outside are skipped (in compressed power laws n grows along the modes, so the
    // ranges are where the draws are used; the draws are pure functions of their
    // counters, so a sub-range gives the same numbers).
    struct ModeRange {
        std::size_t lo = 0, hi = 0;
        void add(std::size_t i) {
            if (lo == hi) lo = i;
            hi = i + 1;
        }
        bool empty() const { return lo == hi; }
    };
    std::vector<ModeRange> pairs_, chis_;
};

template <class Pair>
StepOutcome ModeChainEngine<Pair>::advance(long long k) {
    const std::uint64_t sample = static_cast<std::uint64_t>(k - 1);
    const bool had_update = pending_;
    sweep(Sweep{pending_, true, sample});
    pending_ = false;
    if (had_update && !state_ok()) return StepOutcome::diverged_at(k - 1);
    std::fill(pq_.begin(), pq_.end(), 0.0);
    for (std::size_t bl = 0; bl < nb_; ++bl)
        for (std::size_t j = 0; j < 2 * B_; ++j) pq_[j] += pq_part_[bl * 2 * B_ + j];
    double G = 0.0;
    for (std::size_t j = 0; j < B_; ++j) {
        const double pj = pq_[2 * j];
        const SampleTerms st = pair_.sample_terms(pj, label(sample, j, pq_[2 * j + 1]));
        const double rj = st.residual;
        loss_sum_ += rj * rj;
        g_[j] = pair_.gradient_scale() * rj * st.weight;
        G += g_[j] * g_[j];
    }
    loss_count_ += static_cast<long long>(B_);
    if (!std::isfinite(G)) return StepOutcome::diverged_at(k);  // the update of step k overflows
    pending_ = true;
    pending_sample_ = sample;
    G_ = G;
    return StepOutcome::taken(k);
}

template <class Pair>
StepOutcome ModeChainEngine<Pair>::flush(long long k) {
    sweep(Sweep{true, false, 0});
    pending_ = false;
    return state_ok() ? StepOutcome::taken(k) : StepOutcome::diverged_at(k);
}

template <class Pair>
void ModeChainEngine<Pair>::record(std::size_t row, long long k) {
    write_record(records_ + row * kRecordWidth, static_cast<double>(k) * lr_, scalars_, pair_,
                 mode_moments(p_, c1_, c2_, red_));
    if (!online_loss_out_) return;
    if (k == step0_) {  // no steps yet: no online loss
        online_loss_out_[row] = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    online_loss_out_[row] = loss_sum_ / static_cast<double>(loss_count_);
    loss_sum_ = 0.0;
    loss_count_ = 0;
}

template <class Pair>
bool ModeChainEngine<Pair>::state_ok() {
    double s = 0.0, u = 0.0;
    for (std::size_t bl = 0; bl < nb_; ++bl) {
        s += su_part_[2 * bl];
        u += su_part_[2 * bl + 1];
    }
    return std::isfinite(s) && std::isfinite(u) && !(s > limit_);
}

// One sweep over fixed blocks of modes (partial sums kept per block, added in block order).
template <class Pair>
void ModeChainEngine<Pair>::sweep(const Sweep& plan) {
    for_blocks(nb_, threads_, [&](std::size_t bl) {
        double* part = pq_part_.data() + bl * 2 * B_;
        double* lanes = lanes_.data() + bl * 2 * B_ * kLanes;
        std::fill(part, part + 2 * B_, 0.0);
        double acc[2] = {0.0, 0.0};
        const std::size_t lo = bl * kBlock, hi = std::min(p_.m, lo + kBlock);
        for (std::size_t c = lo; c < hi; c += kC) {
            const std::size_t ce = std::min(hi, c + kC);
            if (plan.update) update_chunk(c, ce, acc);
            if (plan.draw) project_chunk(plan.sample, c, ce, part, lanes);
        }
        su_part_[2 * bl] = acc[0];
        su_part_[2 * bl + 1] = acc[1];
    });
}

// Draws alpha, beta of `sample` on modes [c, ce) and adds their p_j, q_j to part. Each sum
// runs in kLanes lanes (mode i in lane (i - c) mod kLanes: independent chains, not one
// latency-bound one), combined at the chunk's end by lane_total; every path (the AVX-512
// one for batch 1, the scalar one with its explicit lanes) rounds each product and sum in
// the same order, so all give the same bits. lanes: 2 B kLanes doubles of scratch.
template <class Pair>
void ModeChainEngine<Pair>::project_chunk(std::uint64_t sample, std::size_t c, std::size_t ce,
                                           double* part, double* lanes) {
    double* al = alpha_.data() + c * B_;
    double* be = beta_.data() + c * B_;
    normals_.fill(sample, kChainAlphaDomain, c * B_, ce * B_, al);
    // beta only where n >= 2; 0 on modes of one coordinate (c2 = 0 there: beta unused)
    const ModeRange pr = pairs_[c / kC];
    const std::size_t blo = pr.empty() ? ce : pr.lo, bhi = pr.empty() ? ce : pr.hi;
    std::fill(be, be + (blo - c) * B_, 0.0);
    if (bhi > blo) normals_.fill(sample, kChainBetaDomain, blo * B_, bhi * B_, be + (blo - c) * B_);
    std::fill(be + (bhi - c) * B_, be + (ce - c) * B_, 0.0);
#ifdef PYSCALE_PHILOX_AVX2
    if (B_ == 1 && normals_.wide()) {
        project_avx512(c, ce, part);
        return;
    }
#endif
    // Local non-aliasing pointers (the lanes are written, the rest only read).
    const double* __restrict a = al;
    const double* __restrict b = be;
    const double* __restrict sl = sl_.data();
    const double* __restrict c1 = c1_;
    const double* __restrict c2 = c2_;
    const double* __restrict r = p_.r;
    double* __restrict ln = lanes;
    const std::size_t B = B_;
    std::fill(ln, ln + 2 * B * kLanes, 0.0);
    for (std::size_t i = c; i < ce; ++i) {
        const std::size_t l = (i - c) % kLanes;
        const double s = sl[i];
        const double* ai = a + (i - c) * B;
        const double* bi = b + (i - c) * B;
        for (std::size_t j = 0; j < B; ++j) {
            const double x = ai[j] * c1[i], y = bi[j] * c2[i], z = ai[j] * r[i];
            ln[(2 * j) * kLanes + l] += s * (x + y);
            ln[(2 * j + 1) * kLanes + l] += s * z;
        }
    }
    for (std::size_t j = 0; j < 2 * B; ++j) part[j] += lane_total(ln + j * kLanes);
}

#ifdef PYSCALE_PHILOX_AVX2
// project_chunk's sums for batch 1, eight modes per AVX-512 operation: lane l of the
// accumulators is the scalar path's lane l, and every product and sum is an explicitly
// rounded operation in its order (never contracted into an FMA); a tail of fewer than
// eight modes adds into its lanes only (the others keep their bits, -0 included).
template <class Pair>
__attribute__((target("avx512f,avx512dq"))) void ModeChainEngine<Pair>::project_avx512(
    std::size_t c, std::size_t ce, double* part) {
    static_assert(kLanes == 8, "project_avx512: one lane per double of a 512-bit register");
    constexpr int R = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const double* __restrict al = alpha_.data() + c;
    const double* __restrict be = beta_.data() + c;
    const double* __restrict sl = sl_.data() + c;
    const double* __restrict c1 = c1_ + c;
    const double* __restrict c2 = c2_ + c;
    const double* __restrict r = p_.r + c;
    const std::size_t n = ce - c;
    __m512d pp = _mm512_setzero_pd(), qq = _mm512_setzero_pd();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d a = _mm512_loadu_pd(al + i), s = _mm512_loadu_pd(sl + i);
        const __m512d x = _mm512_mul_round_pd(a, _mm512_loadu_pd(c1 + i), R);
        const __m512d y = _mm512_mul_round_pd(_mm512_loadu_pd(be + i), _mm512_loadu_pd(c2 + i), R);
        const __m512d z = _mm512_mul_round_pd(a, _mm512_loadu_pd(r + i), R);
        pp = _mm512_add_round_pd(pp, _mm512_mul_round_pd(s, _mm512_add_round_pd(x, y, R), R), R);
        qq = _mm512_add_round_pd(qq, _mm512_mul_round_pd(s, z, R), R);
    }
    if (i < n) {
        const __mmask8 k = static_cast<__mmask8>((1u << (n - i)) - 1u);
        const __m512d a = _mm512_maskz_loadu_pd(k, al + i), s = _mm512_maskz_loadu_pd(k, sl + i);
        const __m512d x = _mm512_mul_round_pd(a, _mm512_maskz_loadu_pd(k, c1 + i), R);
        const __m512d y = _mm512_mul_round_pd(_mm512_maskz_loadu_pd(k, be + i),
                                              _mm512_maskz_loadu_pd(k, c2 + i), R);
        const __m512d z = _mm512_mul_round_pd(a, _mm512_maskz_loadu_pd(k, r + i), R);
        pp = _mm512_mask_add_round_pd(pp, k, pp,
                                      _mm512_mul_round_pd(s, _mm512_add_round_pd(x, y, R), R), R);
        qq = _mm512_mask_add_round_pd(qq, k, qq, _mm512_mul_round_pd(s, z, R), R);
    }
    alignas(64) double lanes[2 * kLanes];
    _mm512_store_pd(lanes, pp);
    _mm512_store_pd(lanes + kLanes, qq);
    part[0] += lane_total(lanes);
    part[1] += lane_total(lanes + kLanes);
}
#endif

// The pending update on modes [c, ce) (its chi-squares drawn here); adds s, u of the
// updated modes to acc.
template <class Pair>
void ModeChainEngine<Pair>::update_chunk(std::size_t c, std::size_t ce, double* acc) {
    double chi[kC];
    const ModeRange cr = chis_[c / kC];
    if (!cr.empty()) {  // chi-squares where n >= 3 (0 elsewhere: unused)
        std::fill(chi, chi + (ce - c), 0.0);
        gammas_.fill(shapes_, cr.lo, pending_sample_, cr.lo, cr.hi, chi + (cr.lo - c));
    }
    // Local non-aliasing pointers: the state is written, the constants only read (else the
    // compiler reloads every array pointer per mode).
    const double* __restrict al = alpha_.data() + c * B_;
    const double* __restrict be = beta_.data() + c * B_;
    const double* __restrict g = g_.data();
    const double* __restrict lam = p_.lambda;
    const double* __restrict cnt = p_.count;
    const double* __restrict r = p_.r;
    const double* __restrict kap = kappa_.data();
    double* __restrict c1 = c1_;
    double* __restrict c2 = c2_;
    const double G = G_;
    const std::size_t B = B_;
    double s = 0.0, u = 0.0;
    std::size_t i = c;
#ifdef PYSCALE_PHILOX_AVX2
    if (B == 1 && normals_.wide())
        i = update_avx512(c, ce, cr.empty() ? nullptr : chi, acc);
#endif
    for (; i < ce; ++i) {
        const double* ai = al + (i - c) * B;
        const double* bi = be + (i - c) * B;
        double ga = 0.0, gb = 0.0;
        for (std::size_t j = 0; j < B; ++j) {
            ga += g[j] * ai[j];
            gb += g[j] * bi[j];
        }
        const double k = kap[i], n = cnt[i];
        const double x1 = c1[i] - k * ga;
        double x2 = 0.0;
        if (n >= 3.0) {
            const double v = c2[i] - k * gb;
            x2 = std::sqrt(v * v + (k * k) * G * (2.0 * chi[i - c]));
        } else if (n >= 2.0) {
            x2 = std::fabs(c2[i] - k * gb);
        }
        c1[i] = x1;
        c2[i] = x2;
        s += lam[i] * (x1 * x1 + x2 * x2);
        u += lam[i] * x1 * r[i];
    }
    acc[0] += s;
    acc[1] += u;
}

#ifdef PYSCALE_PHILOX_AVX2
// update_chunk for batch 1, eight modes at a time: the same (c1, c2) bits (each product,
// sum and square root an explicitly rounded AVX-512 operation in the scalar loop's order:
// never contracted into an FMA), with s and u summed in eight lanes (they only feed the
// divergence test). chi: the chunk's chi-squares, or nullptr when it has no mode of n >= 3.
// Returns the first mode left to the scalar loop.
template <class Pair>
__attribute__((target("avx512f,avx512dq"))) std::size_t ModeChainEngine<Pair>::update_avx512(
    std::size_t c, std::size_t ce, const double* chi, double* acc) {
    constexpr int R = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512d zero = _mm512_setzero_pd(), two = _mm512_set1_pd(2.0);
    const __m512d three = _mm512_set1_pd(3.0);
    const __m512d g = _mm512_set1_pd(g_[0]), G = _mm512_set1_pd(G_);
    // Local non-aliasing pointers, as in update_chunk (else every member pointer is
    // reloaded after each store).
    const double* __restrict al = alpha_.data() + c;
    const double* __restrict be = beta_.data() + c;
    const double* __restrict kap = kappa_.data();
    const double* __restrict cnt = p_.count;
    const double* __restrict lamp = p_.lambda;
    const double* __restrict rp = p_.r;
    double* __restrict c1 = c1_;
    double* __restrict c2 = c2_;
    __m512d s = zero, u = zero;
    std::size_t i = c;
    for (; i + 8 <= ce; i += 8) {
        // ga = 0 + g alpha, as the scalar loop's sum over one sample (-0 becomes +0)
        const __m512d ga = _mm512_add_round_pd(
            zero, _mm512_mul_round_pd(g, _mm512_loadu_pd(al + (i - c)), R), R);
        const __m512d gb = _mm512_add_round_pd(
            zero, _mm512_mul_round_pd(g, _mm512_loadu_pd(be + (i - c)), R), R);
        const __m512d k = _mm512_loadu_pd(kap + i);
        const __m512d n = _mm512_loadu_pd(cnt + i);
        const __m512d x1 =
            _mm512_sub_round_pd(_mm512_loadu_pd(c1 + i), _mm512_mul_round_pd(k, ga, R), R);
        const __m512d v =
            _mm512_sub_round_pd(_mm512_loadu_pd(c2 + i), _mm512_mul_round_pd(k, gb, R), R);
        const __mmask8 pair = _mm512_cmp_pd_mask(n, two, _CMP_GE_OQ);
        __m512d x2 = _mm512_mask_abs_pd(zero, pair, v);  // n = 2: |v|; n = 1: 0
        const __mmask8 rest = _mm512_cmp_pd_mask(n, three, _CMP_GE_OQ);
        if (chi && rest) {
            const __m512d e = _mm512_mul_round_pd(
                _mm512_mul_round_pd(_mm512_mul_round_pd(k, k, R), G, R),
                _mm512_mul_round_pd(two, _mm512_loadu_pd(chi + (i - c)), R), R);
            const __m512d r2 = _mm512_add_round_pd(_mm512_mul_round_pd(v, v, R), e, R);
            x2 = _mm512_mask_sqrt_round_pd(x2, rest, r2, R);
        }
        _mm512_storeu_pd(c1 + i, x1);
        _mm512_storeu_pd(c2 + i, x2);
        const __m512d lam = _mm512_loadu_pd(lamp + i);
        s = _mm512_add_pd(s, _mm512_mul_pd(lam, _mm512_add_pd(_mm512_mul_pd(x1, x1),
                                                              _mm512_mul_pd(x2, x2))));
        u = _mm512_add_pd(u, _mm512_mul_pd(_mm512_mul_pd(lam, x1), _mm512_loadu_pd(rp + i)));
    }
    acc[0] += _mm512_reduce_add_pd(s);
    acc[1] += _mm512_reduce_add_pd(u);
    return i;
}
#endif

}  // namespace detail

// Runs steps step0+1 .. step_end of the mode chain on (c1, c2) (in place; c2 >= 0 entries,
// c2 = 0 where n_m = 1), learning rate lr, batch `batch`, label-noise variance p.noise;
// t = step * lr. The step loop (step_loop.hpp), records, online losses, windows, the
// progress hook and the result are those of run_sgd (sgd.hpp): row r of `out` gets
// (t, s, u, s2, u2, loss, mse) after record_steps[r] steps, online_loss[r] the mean
// per-sample loss since the previous record.
template <class Pair>
SgdResult run_mode_chain(const ModeView& p, const Pair& pair, double* c1, double* c2, double lr,
                         int batch, std::uint64_t seed, long long step0, long long step_end,
                         const long long* record_steps, std::size_t n_records, double* out,
                         double* online_loss, const ModeChainOptions& opt = {},
                         const ProgressHook& hook = nullptr, double window0_sum = 0.0,
                         long long window0_count = 0) {
    static_assert(is_pair_v<Pair>, "run_mode_chain: Pair must derive from PairBase<Pair>");
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (batch < 1) throw std::invalid_argument("batch must be >= 1");
    if (step0 < 0 || step_end < step0) throw std::invalid_argument("need 0 <= step0 <= step_end");
    if (static_cast<double>(p.m) * batch >= 0x1.0p40)
        throw std::invalid_argument("modes * batch must be < 2^40");
    for (std::size_t i = 0; i < p.m; ++i)
        if (!(c2[i] >= 0.0) || (p.count[i] < 2.0 && c2[i] != 0.0))
            throw std::invalid_argument("c2 must be >= 0, and 0 on modes of one coordinate");
    detail::ModeChainEngine<Pair> engine(p, pair, c1, c2, lr, batch,
                                         stream_seed(seed, p.dim, opt.streams), step0, out,
                                         online_loss, opt, window0_sum, window0_count);
    return run_online_loop(engine, {step0, step_end, record_steps, n_records, lr,
                                    opt.progress_every}, hook);
}

// R independent chains (an ensemble over seeds), members in parallel: member r starts from
// rows r of C1, C2 (R x m, caller-owned) with seed seeds[r] and writes its records to
// out + r n_records kRecordWidth and online_loss + r n_records. Each member runs single-
// threaded, so member r is bit-identical to run_mode_chain with seeds[r] alone; progress
// and stopping as for run_sgd_ensemble (ensemble.hpp).
template <class Pair>
std::vector<SgdResult> run_mode_chain_ensemble(
    const ModeView& p, const Pair& pair, double* C1, double* C2, std::size_t members,
    const std::uint64_t* seeds, double lr, int batch, long long step_end,
    const long long* record_steps, std::size_t n_records, double* out, double* online_loss,
    int threads,
    const ModeChainOptions& opt = {}, const ProgressHook& hook = nullptr) {
    const auto member_opt = member_options(opt);
    return run_members<SgdResult>(
        members, threads, member_opt.progress_every, lr, hook,
        [&](std::size_t r, const ProgressHook& member_hook) {
            return run_mode_chain(p, pair, C1 + r * p.m, C2 + r * p.m, lr, batch, seeds[r], 0,
                                  step_end, record_steps, n_records,
                                  out + r * n_records * kRecordWidth,
                                  online_loss ? online_loss + r * n_records : nullptr,
                                  member_opt, member_hook);
        });
}

}  // namespace pyscale
