// Population gradient descent, SPEC §2: w <- w - lr * grad L(w) with
// grad L = (12 s - 4 s*) Q w - 8 u Q w*, exactly that iteration.
//
// One fused pass per step: the update of w and the sums s, u that the next step needs are
// computed together, so each step reads lambda, w*, w once and writes w once. Recorded steps
// take one more pass for the remaining statistics.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "parallel.hpp"
#include "problem.hpp"
#include "progress.hpp"
#include "stats.hpp"

namespace pyscale {

struct GdOptions {
    int threads = 0;                  // <= 0: OpenMP default
    long long progress_every = 4096;  // steps between progress-hook calls
    // The run is declared diverged once s exceeds this multiple of max(1, s*, s(0)),
    // or once anything becomes non-finite.
    double divergence_factor = 1e30;
};

struct GdResult {
    RunStatus status = RunStatus::kCompleted;
    long long last_step = 0;        // step index of the state left in w
    long long diverged_at_step = -1;
    std::size_t records_written = 0;
};

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
                            const double* __restrict lam, const double* __restrict ws, double a,
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
        const v2d t0 = detail::load2(ws + i), t1 = detail::load2(ws + i + 2);
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
        const double wi = w[i] - lam[i] * (a * w[i] - b * ws[i]);
        w[i] = wi;
        const double li = lam[i] * wi;
        s += li * wi;
        u += li * ws[i];
    }
    acc[0] += s;
    acc[1] += u;
}

// Runs steps step0+1 .. step_end on w (in place). record_steps must be increasing and in
// [step0, step_end]; row r of out (kRecordWidth doubles) receives the state after
// record_steps[r] steps, with t = step * lr.
inline GdResult run_gd(const ProblemView& p, double* w, double lr, long long step0,
                       long long step_end, const long long* record_steps,
                       std::size_t n_records, double* out, const GdOptions& opt = {},
                       const ProgressHook& hook = nullptr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("lr must be positive");
    if (step_end < step0) throw std::invalid_argument("step_end < step0");
    BlockedReducer<6> full(p.n, opt.threads);
    BlockedReducer<2> fast(p.n, opt.threads);
    const double* lam = p.lambda;
    const double* ws = p.w_star;

    GdResult res;
    res.last_step = step0;
    // s and u that drive the iteration always come from gd_update_block's summation order
    // (a = b = 0 leaves w unchanged), whichever path a step takes: a run resumed from any
    // step then repeats the uninterrupted one bit for bit.
    auto update = [&](double a, double b) {
        return fast.run([&](std::size_t lo, std::size_t hi, double* acc) {
            gd_update_block(lo, hi, w, lam, ws, a, b, acc);
        });
    };
    Moments m = moments(p, w, full);
    const double limit = opt.divergence_factor * std::fmax(1.0, std::fmax(p.s_star, m.s));
    RecordCursor rec(record_steps, n_records, step0);
    if (rec.due(step0)) {
        write_record(out + rec.row() * kRecordWidth, step0 * lr, p, m);
        rec.advance();
    }
    auto su = update(0.0, 0.0);
    double s = su[0], u = su[1];
    for (long long k = step0 + 1; k <= step_end; ++k) {
        su = update(lr * (12.0 * s - 4.0 * p.s_star), 8.0 * lr * u);
        s = su[0];
        u = su[1];
        const bool record = rec.due(k);
        if (record) m = moments(p, w, full);  // one extra pass, on record steps only
        res.last_step = k;
        if (!std::isfinite(s) || !std::isfinite(u) || s > limit) {
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = k;
            break;
        }
        if (record) {
            write_record(out + rec.row() * kRecordWidth, k * lr, p, m);
            rec.advance();
        }
        if (hook && (k - step0) % opt.progress_every == 0 && !hook(k * lr, k - step0)) {
            res.status = RunStatus::kInterrupted;
            break;
        }
    }
    res.records_written = rec.written();
    return res;
}

}  // namespace pyscale
