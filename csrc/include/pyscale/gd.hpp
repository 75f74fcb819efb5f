// Population gradient descent, SPEC §2: w <- w - lr * grad L(w) with
// grad L = (12 s - 4 s*) Q w - 8 u Q w*, exactly that iteration.
//
// One fused pass per step: the update of w and the sums s, u that the next step needs are
// computed together, so each step reads lambda, w*, w once and writes w once.
#pragma once

#include <cmath>
#include <cstddef>
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
    Moments m = moments(p, w, full);
    const double limit = opt.divergence_factor * std::fmax(1.0, std::fmax(p.s_star, m.s));
    std::size_t next = 0;
    while (next < n_records && record_steps[next] < step0) ++next;
    if (next < n_records && record_steps[next] == step0) {
        write_record(out + next * kRecordWidth, step0 * lr, p, m);
        ++next;
    }
    double s = m.s, u = m.u;
    for (long long k = step0 + 1; k <= step_end; ++k) {
        const double a = lr * (12.0 * s - 4.0 * p.s_star);
        const double b = 8.0 * lr * u;
        const bool record = next < n_records && record_steps[next] == k;
        if (record) {
            auto r = full.run([&](std::size_t lo, std::size_t hi, double* acc) {
                for (std::size_t i = lo; i < hi; ++i) {
                    const double wi = w[i] - lam[i] * (a * w[i] - b * ws[i]);
                    w[i] = wi;
                    const double lw = lam[i] * wi, lws = lam[i] * ws[i];
                    const double dm = wi - ws[i], dp = wi + ws[i];
                    acc[0] += lw * wi;
                    acc[1] += lw * ws[i];
                    acc[2] += lw * lw;
                    acc[3] += lw * lws;
                    acc[4] += dm * dm;
                    acc[5] += dp * dp;
                }
            });
            m = Moments{r[0], r[1], r[2], r[3], r[4], r[5]};
            s = m.s;
            u = m.u;
        } else {
            auto r = fast.run([&](std::size_t lo, std::size_t hi, double* acc) {
                for (std::size_t i = lo; i < hi; ++i) {
                    const double wi = w[i] - lam[i] * (a * w[i] - b * ws[i]);
                    w[i] = wi;
                    const double lw = lam[i] * wi;
                    acc[0] += lw * wi;
                    acc[1] += lw * ws[i];
                }
            });
            s = r[0];
            u = r[1];
        }
        res.last_step = k;
        if (!std::isfinite(s) || !std::isfinite(u) || s > limit) {
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = k;
            break;
        }
        if (record) {
            write_record(out + next * kRecordWidth, k * lr, p, m);
            ++next;
        }
        if (hook && (k - step0) % opt.progress_every == 0 && !hook(k * lr, k - step0)) {
            res.status = RunStatus::kInterrupted;
            break;
        }
    }
    res.records_written = next;
    return res;
}

}  // namespace pyscale
