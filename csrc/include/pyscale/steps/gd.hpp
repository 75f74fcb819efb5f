// Population gradient descent (model page: Gradient flow; model page: Time and steps):
// w <- w - lr * grad L(w) with grad L = -(c0 Q w + c1 Q w*), (c0, c1) from (s, u) and the
// link pair, exactly that iteration: w_i <- w_i - lambda_i (a w_i - b w*_i) with
// (a, b) = pair.gd_coefficients (the square: (lr (12 s - 4 s*), 8 lr u)).
//
// One fused pass per step: the update of w and the sums s, u that the next step needs are
// computed together, so each step reads lambda, w*, w once and writes w once. Recorded steps
// take one more pass for the remaining statistics.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "../model/link_pair.hpp"
#include "../model/problem.hpp"
#include "../model/stats.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "step_loop.hpp"

namespace pyscale {

struct GdOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 4096;  // steps between progress-hook calls
    // The run is declared diverged once s exceeds this multiple of max(1, s*, s(0)),
    // or once anything becomes non-finite.
    double divergence_factor = 1e30;
};

// status, last_step (the step index of the state left in w), diverged_at_step (-1 unless
// diverged), records_written: see StepLoopResult.
struct GdResult : StepLoopResult {};

// The hot loop of one GD step on [lo, hi): w_i -= lambda_i (a w_i - b w*_i), and the new
// s, u accumulated on the fly. Written with explicit two-wide vectors (GCC/Clang vector
// extensions, plain SSE2 on x86-64): left to itself the auto-vectoriser interleaves the two
// reductions with shuffles and runs ~2x slower. Independent partial sums per lane also keep
// the loop from waiting on the latency of one addition per element.
#if defined(__GNUC__)
namespace detail {
typedef double v2d __attribute__((vector_size(16)));
inline v2d load2(const double* p) {
    v2d v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store2(double* p, v2d v) { std::memcpy(p, &v, sizeof v); }
}  // namespace detail
#endif

inline void gd_update_block(std::size_t lo, std::size_t hi, double* __restrict w,
                            const double* __restrict lam, const double* __restrict w_star, double a,
                            double b, double* acc) {
    double s = 0, u = 0;
    std::size_t i = lo;
#if defined(__GNUC__)
    using detail::v2d;
    const v2d va = {a, a}, vb = {b, b};
    v2d s0 = {0, 0}, s1 = {0, 0}, u0 = {0, 0}, u1 = {0, 0};
    for (; i + 4 <= hi; i += 4) {
        v2d w0 = detail::load2(w + i), w1 = detail::load2(w + i + 2);
        const v2d l0 = detail::load2(lam + i), l1 = detail::load2(lam + i + 2);
        const v2d t0 = detail::load2(w_star + i), t1 = detail::load2(w_star + i + 2);
        w0 = w0 - l0 * (va * w0 - vb * t0);
        w1 = w1 - l1 * (va * w1 - vb * t1);
        detail::store2(w + i, w0);
        detail::store2(w + i + 2, w1);
        const v2d q0 = l0 * w0, q1 = l1 * w1;
        s0 += q0 * w0;
        s1 += q1 * w1;
        u0 += q0 * t0;
        u1 += q1 * t1;
    }
    const v2d sv = s0 + s1, uv = u0 + u1;
    s = sv[0] + sv[1];
    u = uv[0] + uv[1];
#endif
    for (; i < hi; ++i) {
        const double wi = w[i] - lam[i] * (a * w[i] - b * w_star[i]);
        w[i] = wi;
        const double li = lam[i] * wi;
        s += li * wi;
        u += li * w_star[i];
    }
    acc[0] += s;
    acc[1] += u;
}

namespace detail {

// One GD step per advance: the fused update of w and of the s, u the next step needs, with
// the divergence check on those s, u every step (it costs nothing extra).
template <class Pair>
class GdEngine {
public:
    GdEngine(const ProblemView& p, const Pair& pair, double* w, double lr, double* records,
             const GdOptions& opt)
        : p_(p), pair_(pair), w_(w), lr_(lr), records_(records), full_(p.n, opt.threads),
          fast_(p.n, opt.threads) {
        const double s0 = moments(p_, w_, full_).s;
        limit_ = opt.divergence_factor * std::fmax(1.0, std::fmax(p_.s_star, s0));
        // s and u that drive the iteration always come from gd_update_block's summation
        // order (a = b = 0 leaves w unchanged), whichever path a step takes: a run resumed
        // from any step then repeats the uninterrupted one bit for bit.
        update(0.0, 0.0);
    }

    // w_k = w_{k-1} + lr (c0 Q w + c1 Q w*) (model page: Gradient flow).
    StepOutcome advance(long long k) {
        const GdCoefficients g = pair_.gd_coefficients(lr_, s_, u_, p_.s_star);
        update(g.a, g.b);
        if (!std::isfinite(s_) || !std::isfinite(u_) || s_ > limit_)
            return StepOutcome::diverged_at(k);
        return StepOutcome::taken(k);
    }
    StepOutcome flush(long long k) { return StepOutcome::taken(k); }  // w is always current
    void record(std::size_t row, long long k) {
        write_record(records_ + row * kRecordWidth, static_cast<double>(k) * lr_, p_, pair_,
                     moments(p_, w_, full_));  // one extra pass, on record steps only
    }

private:
    void update(double a, double b) {
        const double* lam = p_.lambda;
        const double* w_star = p_.w_star;
        double* w = w_;
        const auto su = fast_.run([&](std::size_t lo, std::size_t hi, double* acc) {
            gd_update_block(lo, hi, w, lam, w_star, a, b, acc);
        });
        s_ = su[0];
        u_ = su[1];
    }

    const ProblemView& p_;
    Pair pair_;
    double* w_;
    double lr_;
    double* records_;
    BlockedReducer<6> full_;
    BlockedReducer<2> fast_;
    double limit_ = 0.0;   // divergence threshold on s
    double s_ = 0, u_ = 0;  // s, u of the current w
};

}  // namespace detail

// Runs steps step0+1 .. step_end on w (in place). record_steps must be increasing and in
// [step0, step_end]; row r of out (kRecordWidth doubles) receives the state after
// record_steps[r] steps, with t = step * lr.
template <class Pair>
GdResult run_gd(const ProblemView& p, const Pair& pair, double* w, double lr, long long step0,
                long long step_end, const long long* record_steps, std::size_t n_records,
                double* out, const GdOptions& opt = {}, const ProgressHook& hook = nullptr) {
    static_assert(is_pair_v<Pair>, "run_gd: Pair must derive from PairBase<Pair>");
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (step_end < step0) throw std::invalid_argument("step_end < step0");
    detail::GdEngine<Pair> engine(p, pair, w, lr, out, opt);
    const StepSchedule schedule{step0, step_end, record_steps, n_records, lr,
                                opt.progress_every};
    return GdResult{run_step_loop(engine, schedule, hook)};
}

}  // namespace pyscale
