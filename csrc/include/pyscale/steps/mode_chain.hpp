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
// chunk, the pending update of step k - 1 (its chi-squares drawn, (c1, c2) updated, s
// accumulated for the divergence check), then step k's alpha, beta (kept for its update)
// and p, q; then the B scalars g_j (detail::ModeChainEngine). For batch 1 the update and the
// sums run in vector paths (AVX-512, or AVX2: there the update and the sums of a chunk are
// one pass, the new alpha, beta drawn first into scratch), and the modes of one coordinate
// outside a chunk's modes of several skip the beta terms; every path gives the same bits.
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

// Bytes run_mode_chain allocates: sqrt(lambda), the gamma shapes, alpha and beta
// (B per mode each), chunk flags, block partials and the p, q sums' lanes (8 per sum).
inline std::size_t mode_chain_workspace_bytes(std::size_t m, int batch) {
    const std::size_t b = static_cast<std::size_t>(batch);
    const std::size_t chunks = (m + NormalStream::kChunk - 1) / NormalStream::kChunk;
    return m * (sizeof(double) + GammaShapeTable::bytes_per_shape()) +
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
// the state itself is needed: records, progress checks and the end. s of the
// updated state comes with the update at no extra cost, so the divergence test runs every
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
            shapes_ = GammaShapeTable(m);
            alpha_.resize(B_ * m);
            beta_.resize(B_ * m);
            pairs_.assign(chunks, ModeRange{});
            chis_.assign(chunks, ModeRange{});
            pq_part_.resize(nb_ * 2 * B_);
            lanes_.resize(nb_ * 2 * B_ * kLanes);
            s_part_.resize(nb_);
            pq_.resize(2 * B_);
            g_.resize(B_);
        } catch (const std::bad_alloc&) {
            throw AllocationError("the mode-chain workspace", mode_chain_workspace_bytes(m, batch));
        } catch (const std::length_error&) {
            throw AllocationError("the mode-chain workspace", mode_chain_workspace_bytes(m, batch));
        }
        for (std::size_t i = 0; i < m; ++i) {
            sl_[i] = std::sqrt(p.lambda[i]);
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
    bool state_ok();  // s of the state the last update left: finite and <= limit
    void project_chunk(std::uint64_t sample, std::size_t c, std::size_t ce, double* part,
                       double* lanes);
    void update_chunk(std::size_t c, std::size_t ce, double* acc);
    const double* draw_chis(std::size_t c, std::size_t ce, double* chi);
    void project_scalar(std::size_t c, std::size_t from, std::size_t to, double* lanes);
    void finish_lanes(double* part, const double* lanes) const {
        for (std::size_t j = 0; j < 2 * B_; ++j) part[j] += lane_total(lanes + j * kLanes);
    }
    void update_scalar(std::size_t c, std::size_t from, std::size_t to, const double* chi,
                       double* acc);
#ifdef PYSCALE_PHILOX_AVX2
    void project_avx512(std::size_t c, std::size_t ce, double* part);
    std::size_t update_avx512(std::size_t c, std::size_t ce, const double* chi, double* acc);
    void project_avx2(bool single, std::size_t from, std::size_t to, double* lanes);
    std::size_t update_avx2(bool single, std::size_t c, std::size_t from, std::size_t to,
                            const double* chi, double* acc);
    void fused_chunk(std::uint64_t sample, std::size_t c, std::size_t ce, double* part,
                     double* lanes, double* acc);
    void fused_avx2(bool single, std::size_t c, std::size_t from, std::size_t to,
                    const double* an, const double* bn, const double* chi, double* lanes,
                    double* acc);
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
    std::vector<double> sl_, alpha_, beta_, pq_part_, lanes_, s_part_, pq_, g_;
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
    // s finite bounds every lambda c^2, hence u = sum lambda c1 r too (|u| <= sqrt(s s*)):
    // s alone decides.
    double s = 0.0;
    for (std::size_t bl = 0; bl < nb_; ++bl) s += s_part_[bl];
    return std::isfinite(s) && !(s > limit_);
}

// One sweep over fixed blocks of modes (partial sums kept per block, added in block order).
template <class Pair>
void ModeChainEngine<Pair>::sweep(const Sweep& plan) {
    for_blocks(nb_, threads_, [&](std::size_t bl) {
        double* part = pq_part_.data() + bl * 2 * B_;
        double* lanes = lanes_.data() + bl * 2 * B_ * kLanes;
        std::fill(part, part + 2 * B_, 0.0);
        double acc = 0.0;
        const std::size_t lo = bl * kBlock, hi = std::min(p_.m, lo + kBlock);
        for (std::size_t c = lo; c < hi; c += kC) {
            const std::size_t ce = std::min(hi, c + kC);
#ifdef PYSCALE_PHILOX_AVX2
            if (plan.update && plan.draw && B_ == 1 && normals_.simd() && !normals_.wide()) {
                fused_chunk(plan.sample, c, ce, part, lanes, &acc);
                continue;
            }
#endif
            if (plan.update) update_chunk(c, ce, &acc);
            if (plan.draw) project_chunk(plan.sample, c, ce, part, lanes);
        }
        s_part_[bl] = acc;
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
    // beta only where n >= 2: outside that range it keeps the 0 it was allocated with
    // (never written; c2 = 0 there, so beta is unused)
    const ModeRange pr = pairs_[c / kC];
    const std::size_t plo = pr.empty() ? ce : pr.lo, phi = pr.empty() ? ce : pr.hi;
    if (phi > plo) normals_.fill(sample, kChainBetaDomain, plo * B_, phi * B_, be + (plo - c) * B_);
    std::fill(lanes, lanes + 2 * B_ * kLanes, 0.0);
    std::size_t i = c;
#ifdef PYSCALE_PHILOX_AVX2
    if (B_ == 1 && normals_.wide()) {
        project_avx512(c, ce, part);
        return;
    }
    if (B_ == 1 && normals_.simd()) {
        // Whole groups of eight (lanes 0-7) with AVX2: those of modes of one coordinate
        // before and after the pair range without the beta term, the rest in full.
        const std::size_t n8 = c + ((ce - c) & ~std::size_t(7));
        const std::size_t a = c + ((plo - c) & ~std::size_t(7));
        const std::size_t b = std::min(n8, c + ((phi - c + 7) & ~std::size_t(7)));
        project_avx2(true, c, a, lanes);
        project_avx2(false, a, b, lanes);
        project_avx2(true, b, n8, lanes);
        i = n8;
    }
#endif
    project_scalar(c, i, ce, lanes);
    finish_lanes(part, lanes);
}

// The scalar path of project_chunk on modes [from, to) of the chunk starting at c: mode i's
// products added to lane (i - c) mod kLanes of `lanes`.
template <class Pair>
void ModeChainEngine<Pair>::project_scalar(std::size_t c, std::size_t from, std::size_t to,
                                           double* lanes) {
    // Local non-aliasing pointers (the lanes are written, the rest only read).
    const double* __restrict a = alpha_.data() + c * B_;
    const double* __restrict b = beta_.data() + c * B_;
    const double* __restrict sl = sl_.data();
    const double* __restrict c1 = c1_;
    const double* __restrict c2 = c2_;
    const double* __restrict r = p_.r;
    double* __restrict ln = lanes;
    const std::size_t B = B_;
    for (std::size_t i = from; i < to; ++i) {
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

#ifdef PYSCALE_PHILOX_AVX2
// project_chunk's sums for batch 1 with AVX2 on modes [from, to), a whole number of groups
// of eight starting at lane 0: lanes 0-3 in one register, 4-7 in another, loaded from and
// stored back to `lanes` (2 kLanes doubles: p's, then q's). Every product and sum is a
// separate AVX2 operation in the scalar path's order (this target has no FMA, so nothing
// is contracted), so lane l is the scalar path's lane l. `single`: modes of one coordinate
// only, whose beta term b c2 is a zero (c2 = 0) and is left out: p's lane gets s (a c1)
// instead of s (a c1 + 0), the same bits (the two differ at most in the sign of a zero, and
// a lane, starting at +0, is never -0, so adding either zero leaves it unchanged).
template <class Pair>
__attribute__((target("avx2"))) void ModeChainEngine<Pair>::project_avx2(
    bool single, std::size_t from, std::size_t to, double* lanes) {
    static_assert(kLanes == 8, "project_avx2: eight lanes in two 256-bit registers");
    if (from >= to) return;
    const double* __restrict al = alpha_.data();
    const double* __restrict be = beta_.data();
    const double* __restrict sl = sl_.data();
    const double* __restrict c1 = c1_;
    const double* __restrict c2 = c2_;
    const double* __restrict r = p_.r;
    __m256d p0 = _mm256_loadu_pd(lanes), p1 = _mm256_loadu_pd(lanes + 4);
    __m256d q0 = _mm256_loadu_pd(lanes + kLanes), q1 = _mm256_loadu_pd(lanes + kLanes + 4);
    if (single) {
        for (std::size_t i = from; i < to; i += 8) {
            const __m256d a0 = _mm256_loadu_pd(al + i), a1 = _mm256_loadu_pd(al + i + 4);
            const __m256d s0 = _mm256_loadu_pd(sl + i), s1 = _mm256_loadu_pd(sl + i + 4);
            const __m256d x0 = _mm256_mul_pd(a0, _mm256_loadu_pd(c1 + i));
            const __m256d x1 = _mm256_mul_pd(a1, _mm256_loadu_pd(c1 + i + 4));
            const __m256d z0 = _mm256_mul_pd(a0, _mm256_loadu_pd(r + i));
            const __m256d z1 = _mm256_mul_pd(a1, _mm256_loadu_pd(r + i + 4));
            p0 = _mm256_add_pd(p0, _mm256_mul_pd(s0, x0));
            p1 = _mm256_add_pd(p1, _mm256_mul_pd(s1, x1));
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(s0, z0));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(s1, z1));
        }
    } else {
        for (std::size_t i = from; i < to; i += 8) {
            const __m256d a0 = _mm256_loadu_pd(al + i), a1 = _mm256_loadu_pd(al + i + 4);
            const __m256d s0 = _mm256_loadu_pd(sl + i), s1 = _mm256_loadu_pd(sl + i + 4);
            const __m256d x0 = _mm256_mul_pd(a0, _mm256_loadu_pd(c1 + i));
            const __m256d x1 = _mm256_mul_pd(a1, _mm256_loadu_pd(c1 + i + 4));
            const __m256d y0 = _mm256_mul_pd(_mm256_loadu_pd(be + i), _mm256_loadu_pd(c2 + i));
            const __m256d y1 =
                _mm256_mul_pd(_mm256_loadu_pd(be + i + 4), _mm256_loadu_pd(c2 + i + 4));
            const __m256d z0 = _mm256_mul_pd(a0, _mm256_loadu_pd(r + i));
            const __m256d z1 = _mm256_mul_pd(a1, _mm256_loadu_pd(r + i + 4));
            p0 = _mm256_add_pd(p0, _mm256_mul_pd(s0, _mm256_add_pd(x0, y0)));
            p1 = _mm256_add_pd(p1, _mm256_mul_pd(s1, _mm256_add_pd(x1, y1)));
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(s0, z0));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(s1, z1));
        }
    }
    _mm256_storeu_pd(lanes, p0);
    _mm256_storeu_pd(lanes + 4, p1);
    _mm256_storeu_pd(lanes + kLanes, q0);
    _mm256_storeu_pd(lanes + kLanes + 4, q1);
}
#endif

// The pending update on modes [c, ce) (its chi-squares drawn here); adds s of the updated
// modes to acc.
template <class Pair>
void ModeChainEngine<Pair>::update_chunk(std::size_t c, std::size_t ce, double* acc) {
    double chi[kC];
    const double* chis = draw_chis(c, ce, chi);
#ifdef PYSCALE_PHILOX_AVX2
    if (B_ == 1 && normals_.wide()) {
        update_scalar(c, update_avx512(c, ce, chis, acc), ce, chi, acc);
        return;
    }
    if (B_ == 1 && normals_.simd()) {
        // the modes of one coordinate before and after the pair range need c1 only
        const ModeRange pr = pairs_[c / kC];
        const std::size_t plo = pr.empty() ? ce : pr.lo, phi = pr.empty() ? ce : pr.hi;
        update_scalar(c, update_avx2(true, c, c, plo, chis, acc), plo, chi, acc);
        update_scalar(c, update_avx2(false, c, plo, phi, chis, acc), phi, chi, acc);
        update_scalar(c, update_avx2(true, c, phi, ce, chis, acc), ce, chi, acc);
        return;
    }
#endif
    update_scalar(c, c, ce, chi, acc);
}

// The chi-squares of the pending update on modes [c, ce) into chi[0 .. ce - c) where n >= 3
// (0 elsewhere: unused); returns chi, or nullptr when the chunk has no mode of n >= 3.
template <class Pair>
const double* ModeChainEngine<Pair>::draw_chis(std::size_t c, std::size_t ce, double* chi) {
    const ModeRange cr = chis_[c / kC];
    if (cr.empty()) return nullptr;
    std::fill(chi, chi + (cr.lo - c), 0.0);
    gammas_.fill(shapes_, cr.lo, pending_sample_, cr.lo, cr.hi, chi + (cr.lo - c));
    std::fill(chi + (cr.hi - c), chi + (ce - c), 0.0);
    return chi;
}

// The pending update on modes [from, to) of the chunk starting at c (chi: its chi-squares,
// read only on modes of n >= 3), one mode at a time; adds s of the updated modes to acc.
template <class Pair>
void ModeChainEngine<Pair>::update_scalar(std::size_t c, std::size_t from, std::size_t to,
                                          const double* chi, double* acc) {
    // Local non-aliasing pointers: the state is written, the constants only read (else the
    // compiler reloads every array pointer per mode).
    const double* __restrict al = alpha_.data() + c * B_;
    const double* __restrict be = beta_.data() + c * B_;
    const double* __restrict g = g_.data();
    const double* __restrict lam = p_.lambda;
    const double* __restrict cnt = p_.count;
    const double* __restrict sl = sl_.data();
    double* __restrict c1 = c1_;
    double* __restrict c2 = c2_;
    const double G = G_, step = lr_ / static_cast<double>(B_);  // kappa_m = step sl_m
    const std::size_t B = B_;
    double s = 0.0;
    for (std::size_t i = from; i < to; ++i) {
        const double* ai = al + (i - c) * B;
        const double* bi = be + (i - c) * B;
        double ga = 0.0, gb = 0.0;
        for (std::size_t j = 0; j < B; ++j) {
            ga += g[j] * ai[j];
            gb += g[j] * bi[j];
        }
        const double k = step * sl[i], n = cnt[i];
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
    }
    acc[0] += s;
}

#ifdef PYSCALE_PHILOX_AVX2
// update_chunk for batch 1, eight modes at a time: the same (c1, c2) bits (each product,
// sum and square root an explicitly rounded AVX-512 operation in the scalar loop's order:
// never contracted into an FMA), with s summed in eight lanes (it only feeds the
// divergence test). chi: the chunk's chi-squares, or nullptr when it has no mode of n >= 3.
// Returns the first mode left to the scalar loop.
template <class Pair>
__attribute__((target("avx512f,avx512dq"))) std::size_t ModeChainEngine<Pair>::update_avx512(
    std::size_t c, std::size_t ce, const double* chi, double* acc) {
    constexpr int R = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512d zero = _mm512_setzero_pd(), two = _mm512_set1_pd(2.0);
    const __m512d three = _mm512_set1_pd(3.0);
    const __m512d g = _mm512_set1_pd(g_[0]), G = _mm512_set1_pd(G_);
    const __m512d step = _mm512_set1_pd(lr_);  // kappa_m = lr sl_m (batch 1)
    // Local non-aliasing pointers, as in update_chunk (else every member pointer is
    // reloaded after each store).
    const double* __restrict al = alpha_.data() + c;
    const double* __restrict be = beta_.data() + c;
    const double* __restrict sl = sl_.data();
    const double* __restrict cnt = p_.count;
    const double* __restrict lamp = p_.lambda;
    double* __restrict c1 = c1_;
    double* __restrict c2 = c2_;
    __m512d s = zero;
    std::size_t i = c;
    for (; i + 8 <= ce; i += 8) {
        // ga = 0 + g alpha, as the scalar loop's sum over one sample (-0 becomes +0)
        const __m512d ga = _mm512_add_round_pd(
            zero, _mm512_mul_round_pd(g, _mm512_loadu_pd(al + (i - c)), R), R);
        const __m512d gb = _mm512_add_round_pd(
            zero, _mm512_mul_round_pd(g, _mm512_loadu_pd(be + (i - c)), R), R);
        const __m512d k = _mm512_mul_round_pd(step, _mm512_loadu_pd(sl + i), R);
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
    }
    acc[0] += _mm512_reduce_add_pd(s);
    return i;
}
#endif

#ifdef PYSCALE_PHILOX_AVX2
// update_chunk for batch 1 with AVX2, four modes at a time: the same (c1, c2) bits (each
// product, sum and square root a separate AVX2 operation in the scalar loop's order; this
// target has no FMA, so nothing is contracted), with s summed in four lanes (it only feeds
// the divergence test). chi as for update_avx512. Returns the first mode left to the
// scalar loop.
template <class Pair>
__attribute__((target("avx2"))) std::size_t ModeChainEngine<Pair>::update_avx2(
    bool single, std::size_t c, std::size_t from, std::size_t to, const double* chi,
    double* acc) {
    const __m256d zero = _mm256_setzero_pd(), two = _mm256_set1_pd(2.0);
    const __m256d three = _mm256_set1_pd(3.0), sign = _mm256_set1_pd(-0.0);
    const __m256d g = _mm256_set1_pd(g_[0]), G = _mm256_set1_pd(G_);
    const __m256d step = _mm256_set1_pd(lr_);  // kappa_m = lr sl_m (batch 1)
    // Local non-aliasing pointers, as in update_chunk.
    const double* __restrict al = alpha_.data() + c;
    const double* __restrict be = beta_.data() + c;
    const double* __restrict sl = sl_.data();
    const double* __restrict cnt = p_.count;
    const double* __restrict lamp = p_.lambda;
    double* __restrict c1 = c1_;
    double* __restrict c2 = c2_;
    __m256d s = zero;
    std::size_t i = from;
    if (single) {  // n = 1: c1 only (c2 = 0; x2 = 0 leaves the scalar loop's s unchanged)
        for (; i + 4 <= to; i += 4) {
            const __m256d ga =
                _mm256_add_pd(zero, _mm256_mul_pd(g, _mm256_loadu_pd(al + (i - c))));
            const __m256d k = _mm256_mul_pd(step, _mm256_loadu_pd(sl + i));
            const __m256d x1 = _mm256_sub_pd(_mm256_loadu_pd(c1 + i), _mm256_mul_pd(k, ga));
            _mm256_storeu_pd(c1 + i, x1);
            _mm256_storeu_pd(c2 + i, zero);
            const __m256d lam = _mm256_loadu_pd(lamp + i);
            s = _mm256_add_pd(s, _mm256_mul_pd(lam, _mm256_mul_pd(x1, x1)));
        }
        to = i;  // the full loop below has nothing left
    }
    for (; i + 4 <= to; i += 4) {
        // ga = 0 + g alpha, as the scalar loop's sum over one sample (-0 becomes +0)
        const __m256d ga = _mm256_add_pd(zero, _mm256_mul_pd(g, _mm256_loadu_pd(al + (i - c))));
        const __m256d gb = _mm256_add_pd(zero, _mm256_mul_pd(g, _mm256_loadu_pd(be + (i - c))));
        const __m256d k = _mm256_mul_pd(step, _mm256_loadu_pd(sl + i));
        const __m256d n = _mm256_loadu_pd(cnt + i);
        const __m256d x1 = _mm256_sub_pd(_mm256_loadu_pd(c1 + i), _mm256_mul_pd(k, ga));
        const __m256d v = _mm256_sub_pd(_mm256_loadu_pd(c2 + i), _mm256_mul_pd(k, gb));
        // n = 2: |v|; n = 1: 0
        __m256d x2 = _mm256_and_pd(_mm256_cmp_pd(n, two, _CMP_GE_OQ), _mm256_andnot_pd(sign, v));
        const __m256d rest = _mm256_cmp_pd(n, three, _CMP_GE_OQ);
        if (chi && _mm256_movemask_pd(rest)) {
            const __m256d e = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(k, k), G),
                                            _mm256_mul_pd(two, _mm256_loadu_pd(chi + (i - c))));
            x2 = _mm256_blendv_pd(x2, _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(v, v), e)), rest);
        }
        _mm256_storeu_pd(c1 + i, x1);
        _mm256_storeu_pd(c2 + i, x2);
        const __m256d lam = _mm256_loadu_pd(lamp + i);
        s = _mm256_add_pd(s, _mm256_mul_pd(lam, _mm256_add_pd(_mm256_mul_pd(x1, x1),
                                                              _mm256_mul_pd(x2, x2))));
    }
    alignas(32) double sv[4];
    _mm256_store_pd(sv, s);
    acc[0] += (sv[0] + sv[2]) + (sv[1] + sv[3]);
    return i;
}
#endif

#ifdef PYSCALE_PHILOX_AVX2
// update_chunk then project_chunk on modes [c, ce) for batch 1 with AVX2, in one pass over
// the modes: the new alpha, beta are drawn into the chunk's scratch first (the update still
// reads the pending ones), then each group of eight modes is updated, projected with the
// new draws and has them stored for its own update. Every value is computed by the same
// operations as in the two separate passes, so the bits are theirs.
template <class Pair>
void ModeChainEngine<Pair>::fused_chunk(std::uint64_t sample, std::size_t c, std::size_t ce,
                                        double* part, double* lanes, double* acc) {
    alignas(32) double an[kC], bn[kC], chi[kC];
    normals_.fill(sample, kChainAlphaDomain, c, ce, an);
    const ModeRange pr = pairs_[c / kC];
    const std::size_t plo = pr.empty() ? ce : pr.lo, phi = pr.empty() ? ce : pr.hi;
    const std::size_t n8 = c + ((ce - c) & ~std::size_t(7));
    const std::size_t a = c + ((plo - c) & ~std::size_t(7));
    const std::size_t b = std::min(n8, c + ((phi - c + 7) & ~std::size_t(7)));
    // beta: drawn on the pair range, 0 on the rest of the full pass and the tail (as in
    // beta_ there, which keeps its 0)
    std::fill(bn + (a - c), bn + (plo - c), 0.0);
    if (phi > plo) normals_.fill(sample, kChainBetaDomain, plo, phi, bn + (plo - c));
    std::fill(bn + (phi - c), bn + (std::max(b, ce) - c), 0.0);
    const double* chis = draw_chis(c, ce, chi);
    std::fill(lanes, lanes + 2 * kLanes, 0.0);
    fused_avx2(true, c, c, a, an, bn, chis, lanes, acc);
    fused_avx2(false, c, a, b, an, bn, chis, lanes, acc);
    fused_avx2(true, c, b, n8, an, bn, chis, lanes, acc);
    // the tail of fewer than eight modes: update, then store its draws and project
    update_scalar(c, n8, ce, chi, acc);
    std::copy(an + (n8 - c), an + (ce - c), alpha_.data() + n8);
    std::copy(bn + (n8 - c), bn + (ce - c), beta_.data() + n8);
    project_scalar(c, n8, ce, lanes);
    finish_lanes(part, lanes);
}

// One group of four modes m .. m + 3 of fused_chunk (lanes l .. l + 3 in pp, qq).
__attribute__((target("avx2"), always_inline)) inline void chain_fused4(
    bool single, std::size_t m, std::size_t o, __m256d g, __m256d G, __m256d step,
    const double* al, const double* be, const double* sl, const double* cnt,
    const double* lam, const double* r, const double* an, const double* bn, const double* chi,
    double* c1, double* c2, double* aw, double* bw, __m256d& s, __m256d& pp, __m256d& qq) {
    const __m256d zero = _mm256_setzero_pd(), two = _mm256_set1_pd(2.0);
    const __m256d three = _mm256_set1_pd(3.0), sign = _mm256_set1_pd(-0.0);
    // the update with the pending draws (update_avx2's operations)
    const __m256d sq = _mm256_loadu_pd(sl + m);
    const __m256d k = _mm256_mul_pd(step, sq);
    const __m256d ga = _mm256_add_pd(zero, _mm256_mul_pd(g, _mm256_loadu_pd(al + m)));
    const __m256d x1 = _mm256_sub_pd(_mm256_loadu_pd(c1 + m), _mm256_mul_pd(k, ga));
    __m256d x2 = zero;
    if (!single) {
        const __m256d gb = _mm256_add_pd(zero, _mm256_mul_pd(g, _mm256_loadu_pd(be + m)));
        const __m256d n = _mm256_loadu_pd(cnt + m);
        const __m256d v = _mm256_sub_pd(_mm256_loadu_pd(c2 + m), _mm256_mul_pd(k, gb));
        x2 = _mm256_and_pd(_mm256_cmp_pd(n, two, _CMP_GE_OQ), _mm256_andnot_pd(sign, v));
        const __m256d rest = _mm256_cmp_pd(n, three, _CMP_GE_OQ);
        if (chi && _mm256_movemask_pd(rest)) {
            const __m256d e = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(k, k), G),
                                            _mm256_mul_pd(two, _mm256_loadu_pd(chi + o)));
            x2 = _mm256_blendv_pd(x2, _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(v, v), e)),
                                  rest);
        }
    }
    _mm256_storeu_pd(c1 + m, x1);
    _mm256_storeu_pd(c2 + m, x2);
    const __m256d lm = _mm256_loadu_pd(lam + m);
    s = _mm256_add_pd(s, single ? _mm256_mul_pd(lm, _mm256_mul_pd(x1, x1))
                                : _mm256_mul_pd(lm, _mm256_add_pd(_mm256_mul_pd(x1, x1),
                                                                  _mm256_mul_pd(x2, x2))));
    // the projection with the new draws (project_avx2's operations), which are stored
    const __m256d a = _mm256_loadu_pd(an + o);
    const __m256d x = _mm256_mul_pd(a, x1);
    if (single) {
        pp = _mm256_add_pd(pp, _mm256_mul_pd(sq, x));
    } else {
        const __m256d b = _mm256_loadu_pd(bn + o);
        pp = _mm256_add_pd(pp, _mm256_mul_pd(sq, _mm256_add_pd(x, _mm256_mul_pd(b, x2))));
        _mm256_storeu_pd(bw + m, b);
    }
    qq = _mm256_add_pd(qq, _mm256_mul_pd(sq, _mm256_mul_pd(a, _mm256_loadu_pd(r + m))));
    _mm256_storeu_pd(aw + m, a);
}

// fused_chunk's pass over [from, to), whole groups of eight from lane 0 (single: modes of
// one coordinate, as in update_avx2 and project_avx2).
template <class Pair>
__attribute__((target("avx2"))) void ModeChainEngine<Pair>::fused_avx2(
    bool single, std::size_t c, std::size_t from, std::size_t to, const double* an,
    const double* bn, const double* chi, double* lanes, double* acc) {
    if (from >= to) return;
    const __m256d g = _mm256_set1_pd(g_[0]), G = _mm256_set1_pd(G_);
    const __m256d step = _mm256_set1_pd(lr_);  // kappa_m = lr sl_m (batch 1)
    double* al = alpha_.data();  // read (pending) and written (new) at the same modes
    double* be = beta_.data();
    const double* sl = sl_.data();
    const double* cnt = p_.count;
    const double* lam = p_.lambda;
    const double* r = p_.r;
    __m256d p0 = _mm256_loadu_pd(lanes), p1 = _mm256_loadu_pd(lanes + 4);
    __m256d q0 = _mm256_loadu_pd(lanes + kLanes), q1 = _mm256_loadu_pd(lanes + kLanes + 4);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;  // two chains: not bound by the adder's latency
    for (std::size_t i = from; i < to; i += 8) {
        chain_fused4(single, i, i - c, g, G, step, al, be, sl, cnt, lam, r, an, bn, chi, c1_,
                     c2_, al, be, s0, p0, q0);
        chain_fused4(single, i + 4, i + 4 - c, g, G, step, al, be, sl, cnt, lam, r, an, bn,
                     chi, c1_, c2_, al, be, s1, p1, q1);
    }
    const __m256d s = _mm256_add_pd(s0, s1);
    _mm256_storeu_pd(lanes, p0);
    _mm256_storeu_pd(lanes + 4, p1);
    _mm256_storeu_pd(lanes + kLanes, q0);
    _mm256_storeu_pd(lanes + kLanes + 4, q1);
    alignas(32) double sv[4];
    _mm256_store_pd(sv, s);
    acc[0] += (sv[0] + sv[2]) + (sv[1] + sv[3]);
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
