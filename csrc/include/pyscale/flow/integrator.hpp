// The population flow's integrator (model page: Gradient flow):
//     dw_i/dt = lambda_i [4 (s* - 3 s) w_i + 8 u w*_i].
//
// Why a Rosenbrock method: the head directions relax on a time scale 1/lambda_1 while the
// tail needs ~d^a, so explicit schemes need ~t/7 steps. The flow's Jacobian
//     J = 4 (s* - 3 s) Q - 24 (Qw)(Qw)^T + 8 (Qw*)(Qw*)^T
// is diagonal plus rank two, so each linear solve with  G = I/(h gamma) - J  costs O(d)
// through the Woodbury identity with a 2x2 capacitance matrix.
//
// The default scheme is RODAS4 (tableau.hpp): 6 stages, order 4, stiffly accurate, with an
// embedded order-3 estimate. Stiff accuracy matters here: once the head directions sit on
// their slow manifold (driven by slowly varying s, u), a method that is only L-stable
// (ROS4, also available) suffers order reduction. Measured at t = 1000, a = 2, d = 1000:
// one step of h = 10 errs by 2e-7 in s with ROS4 and by 2e-10 with RODAS4.
//
// Error control is on what the flow is for. Each coordinate is linear given (s, u)
// (model page: Gradient flow, Duhamel), so a local error e_i matters only through its
// effect on s, u (which drive every coordinate) and on the MSE. A step is accepted when the
// first-order bounds
//   2 sum lambda_i |w_i| |e_i| <= 10 rtol s,   sum lambda_i |w*_i| |e_i| <= 10 rtol |u|,
//   2 sum |w_i -+ w*_i| |e_i| <= rtol ||w -+ w*||^2 / 10
// hold, and every coordinate is within kComponentSlack * (atol + rtol |w_i|) (max norm: unlike
// an RMS norm it does not dilute an error in one head direction by 1/sqrt(d)). Per-coordinate
// control at rtol itself would spend many more steps resolving the decay of coordinates whose
// contribution to every observable is already far below the tolerance. The step size itself
// is chosen by StepController (controller.hpp).
//
// Records. By default (RecordMode::kInterpolate) the integrator steps freely towards the
// last record time and reads every earlier record off the dense output (dense.hpp) of the
// step that contains it, in O(1) each: records cost no steps. RecordMode::kStep instead
// shortens a step onto every record time (the behaviour of earlier versions).
//
// Memory: besides the caller's lambda, w* and w, one vector of length n per stage.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../errors.hpp"
#include "../parallel.hpp"
#include "../problem.hpp"
#include "../progress.hpp"
#include "../stats.hpp"
#include "controller.hpp"
#include "dense.hpp"
#include "events.hpp"
#include "tableau.hpp"

namespace pyscale {

// Per-coordinate error allowed relative to the observables' tolerance (see above).
constexpr double kComponentSlack = 1e3;
// The MSE decays by many decades while errors committed early in slow coordinates persist,
// so its global error is the sum of many local ones: control it 10x tighter than s and u.
constexpr double kDistanceTightening = 0.1;
// Errors in s and u, by contrast, do not pile up: the flow contracts them after the escape
// (measured: global error 1/20 of the local tolerance over t in [0, 1e12]). A local
// tolerance of 10 rtol makes the global error in s and u about rtol (0.2-1 rtol measured for
// a in [0, 4], d in [200, 2000]), i.e. rtol means what a user expects it to mean, with
// ~1.8x fewer steps than a local tolerance of rtol.
constexpr double kLocalSlack = 10.0;

// How records are produced: read off the dense output (no step lands on them but the
// last), or by shortening a step onto each of them.
enum class RecordMode : int { kInterpolate = 0, kStep = 1 };

struct FlowOptions {
    FlowMethod method = FlowMethod::kRodas4;
    double rtol = 1e-9;
    double atol = -1.0;  // per-coordinate floor; < 0: rtol * 1e-2 * ||w*|| / sqrt(d)
    double h0 = 0.0;     // first step; <= 0: chosen from the head time scale
    double hmax = std::numeric_limits<double>::infinity();
    long long max_steps = 100000000;
    int threads = 0;
    long long progress_every = 64;  // accepted steps between progress-hook calls
    RecordMode record_mode = RecordMode::kInterpolate;
    // Every dense row with all its fields (for events on s^(2), u^(2), the MSE); otherwise
    // rows carry s and u everywhere and the other fields only where a record needs them.
    bool dense_every_step = false;
};

struct FlowResult {
    RunStatus status = RunStatus::kCompleted;
    double t = 0.0;           // time of the state left in w
    double h_next = 0.0;      // step the integrator would try next (for exact resume)
    long long steps = 0;      // accepted steps
    long long rejected = 0;   // rejected step attempts
    long long rhs_evals = 0;  // right-hand-side evaluations
    long long passes = 0;     // O(d) passes over the state (each fuses several operations)
    std::size_t records_written = 0;
    bool stopped_by_event = false;  // the observer stopped the run at t (inside a step)
};

// Caller-owned scratch: one vector of length n per Rosenbrock stage.
class FlowWorkspace {
public:
    explicit FlowWorkspace(std::size_t n, FlowMethod method = FlowMethod::kRodas4)
        : n_(n), stages_(tableau(method).stages) {
        try {
            k_.resize(static_cast<std::size_t>(stages_) * n);
        } catch (const std::bad_alloc&) {
            throw AllocationError(describe(), bytes_needed(n, method));
        } catch (const std::length_error&) {
            throw AllocationError(describe(), bytes_needed(n, method));
        }
    }
    std::size_t size() const { return n_; }
    int stages() const { return stages_; }
    double* stage(int j) { return k_.data() + static_cast<std::size_t>(j) * n_; }
    static std::size_t bytes_needed(std::size_t n, FlowMethod method = FlowMethod::kRodas4) {
        return static_cast<std::size_t>(tableau(method).stages) * n * sizeof(double);
    }

private:
    std::string describe() const {
        return "flow workspace (" + std::to_string(stages_) + " stage vectors)";
    }
    std::size_t n_;
    int stages_;
    std::vector<double> k_;
};

inline double default_atol(const ProblemView& p, double rtol, int threads = 0) {
    BlockedReducer<1> red(p.n, threads);
    auto r = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) acc[0] += p.w_star[i] * p.w_star[i];
    });
    // Per physical coordinate: a compressed problem stores few, large entries.
    const double rms = std::sqrt(r[0] / p.dim);
    return rtol * 1e-2 * (rms > 0 ? rms : 1.0);
}

class FlowIntegrator {
public:
    FlowIntegrator(const ProblemView& p, FlowWorkspace& ws, const FlowOptions& opt)
        : p_(p), ws_(ws), opt_(opt), tab_(tableau(opt.method)), capacitance_sums_(p.n, opt.threads),
          stage_sums_(p.n, opt.threads), moment_sums_(p.n, opt.threads),
          final_sums_(p.n, opt.threads), final_dense_sums_(p.n, opt.threads),
          final_full_sums_(p.n, opt.threads), dense_all_sums_(p.n, opt.threads),
          final_direct_sums_(p.n, opt.threads) {
        if (ws.size() != p.n) throw std::invalid_argument("workspace size != problem size");
        if (ws.stages() < tab_.stages)
            throw std::invalid_argument("workspace has fewer stage vectors than the method");
        if (!(opt.rtol > 0.0) || !(opt.rtol < 1.0))
            throw std::invalid_argument("rtol must lie in (0, 1)");
        atol_ = opt.atol >= 0.0 ? opt.atol : default_atol(p, opt.rtol, opt.threads);
        controller_.error_order = tab_.error_order;
        controller_.hmax = opt.hmax;
        lambda_max_ = 0.0;
        star_norm2_ = 0.0;
        for (std::size_t i = 0; i < p.n; ++i) {
            lambda_max_ = std::max(lambda_max_, p.lambda[i]);
            star_norm2_ += p.w_star[i] * p.w_star[i];
        }
    }

    // Integrates w (in place) from t0 through the increasing record times; row r of out
    // (kRecordWidth doubles) receives the state at t_records[r]. Records before t0 are
    // skipped (their rows untouched); a record equal to t0 is the initial state.
    // dense_log (optional) receives one row of kDenseWidth doubles per accepted step;
    // observer (optional) may stop the run inside a step (events.hpp).
    FlowResult run(double* w, double t0, const double* t_records, std::size_t n_records,
                   double* out, const ProgressHook& hook = nullptr,
                   const StepObserver& observer = nullptr,
                   std::vector<double>* dense_log = nullptr) {
        FlowResult res;
        res.t = t0;
        double* y = w;
        // The last stage's storage doubles as the proposed new state; on acceptance the two
        // buffers swap roles, so a step never copies the state.
        double* spare = ws_.stage(tab_.stages - 1);
        Moments m = moments(p_, y, moment_sums_);
        res.passes += 1;
        std::size_t next = 0;
        while (next < n_records && t_records[next] < t0) ++next;
        if (next < n_records && t_records[next] == t0) {
            write_record(out + next * kRecordWidth, t0, p_, m);
            ++next;
        }
        const bool interpolate = opt_.record_mode == RecordMode::kInterpolate;
        double t = t0;
        double h = opt_.h0 > 0.0 ? opt_.h0 : initial_step(m);
        bool last_rejected = false;
        double row[kDenseWidth];
        while (next < n_records) {
            if (res.steps >= opt_.max_steps) {
                res.status = RunStatus::kStepLimit;
                break;
            }
            // Interpolated records need no step of their own: only the last one is a target.
            const double target = interpolate ? t_records[n_records - 1] : t_records[next];
            const double growth = 4.0 * (p_.s_star - 3.0 * m.s) * lambda_max_;
            h = controller_.limit(h, growth, tab_.gamma);
            double step = h;
            const bool lands = StepController::lands(t, step, target);
            if (lands) step = target - t;
            if (StepController::too_small(step, t)) {
                res.status = RunStatus::kStepLimit;
                break;
            }
            // Records strictly inside the step need the dense output's extra sums (RODAS4
            // forms them in the attempt's last pass, ROS4 in one more pass).
            // A few records: their moments directly at their theta; many: the dense row's
            // extra sums (both formed in the attempt's last pass for RODAS4).
            const double t_planned = lands ? target : t + step;
            std::size_t inside = 0;
            while (interpolate && next + inside < n_records &&
                   t_records[next + inside] < t_planned && inside <= kInlineRecords)
                ++inside;
            const bool direct = tab_.has_stage_dense_output && !opt_.dense_every_step &&
                                inside > 0 && inside <= kInlineRecords;
            const bool extras = opt_.dense_every_step || (inside > 0 && !direct);
            inline_count_ = direct ? static_cast<int>(inside) : 0;
            for (int q = 0; q < inline_count_; ++q)
                inline_theta_[q] = (t_records[next + q] - t) / step;
            Moments m_new;
            const double err = attempt(y, spare, m, step, m_new, extras, res);
            if (!(err <= 1.0)) {  // also catches NaN
                ++res.rejected;
                h = controller_.after_reject(step, err);
                last_rejected = true;
                continue;
            }
            std::swap(y, spare);  // spare: the state at the start of the step
            ++res.steps;
            const double t_start = t;
            t = lands ? target : t + step;
            dense_row(row, spare, y, m, m_new, t_start, step, extras, res);
            const Moments m_start = m;
            m = m_new;
            h = controller_.after_accept(step, err, last_rejected, lands, h);
            last_rejected = false;
            if (dense_log) dense_log->insert(dense_log->end(), row, row + kDenseWidth);
            double stop = observer ? observer(row) : kContinue;
            const bool stopping = stop >= 0.0;
            stop = std::min(stop, 1.0);
            const double t_end = stopping && stop < 1.0 ? t_start + stop * step : t;
            if (interpolate) {
                next = write_dense_records(out, t_records, n_records, next, row, t_end, t, m);
            } else if (lands && t <= t_end) {
                write_record(out + next * kRecordWidth, t, p_, m);
                ++next;
            }
            if (stopping) {
                if (t_end < t) {
                    dense_state(spare, y, m_start, m, stop, step, res);
                    std::swap(y, spare);
                    t = t_end;
                }
                res.stopped_by_event = true;
                break;
            }
            if (hook && res.steps % opt_.progress_every == 0 && !hook(t, res.steps)) {
                res.status = RunStatus::kInterrupted;
                break;
            }
        }
        if (y != w) std::memcpy(w, y, p_.n * sizeof(double));
        res.t = t;
        res.h_next = h;
        res.records_written = next;
        return res;
    }

    double atol() const { return atol_; }
    const StepController& controller() const { return controller_; }

private:
    double initial_step(const Moments& m) const {
        const double rate = lambda_max_ * (4.0 * p_.s_star + 12.0 * std::abs(m.s) + 1.0);
        return std::pow(opt_.rtol, 0.25) / rate;
    }

    // Records r >= next with t_records[r] <= t_end, read off the dense row of the step that
    // ends at t (moments m there: a record at t itself is the integrator's state).
    std::size_t write_dense_records(double* out, const double* t_records, std::size_t n_records,
                                    std::size_t next, const double* row, double t_end, double t,
                                    const Moments& m) const {
        const double t_start = row[kDenseT0], step = row[kDenseH];
        for (int q = 0; next < n_records && t_records[next] <= t_end; ++next, ++q) {
            const double tr = t_records[next];
            Moments mr = m;
            if (tr != t) {
                mr = dense_moments(row, (tr - t_start) / step);
                if (q < inline_count_) {  // formed at this very theta in the last pass
                    const double* d = direct_sums_.data() + 4 * q;
                    mr.s2 = d[0];
                    mr.u2 = d[1];
                    mr.dist_minus = d[2];
                    mr.dist_plus = d[3];
                }
            }
            write_record(out + next * kRecordWidth, tr, p_, mr);
        }
        return next;
    }

    // f(y)_i = lambda_i (a y_i + b w*_i): the coefficients a, b from the moments of y.
    double rhs_coef(const Moments& m) const { return 4.0 * (p_.s_star - 3.0 * m.s); }

    // The dense row of the step just accepted (y0 -> y1, size h); `extras`: also the sums
    // that records need (dense.hpp). RODAS4's scalar sums come from its last stage pass;
    // ROS4's Hermite cubic needs f(y1), known only now: one more pass.
    void dense_row(double* row, const double* y0, const double* y1, const Moments& m0,
                   const Moments& m1, double t0, double h, bool extras, FlowResult& res) {
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        if (tab_.has_stage_dense_output) {
            dense_row_from_sums(row, t0, h, final_dense_.data(),
                                extras ? final_extras_.data() : nullptr);
            return;
        }
        const double a0 = h * rhs_coef(m0), b0 = h * 8.0 * m0.u;
        const double a1 = h * rhs_coef(m1), b1 = h * 8.0 * m1.u;
        auto sums = dense_all_sums_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double hf0 = lam[i] * (a0 * y0[i] + b0 * ws[i]);
                const double hf1 = lam[i] * (a1 * y1[i] + b1 * ws[i]);
                const double dy = y1[i] - y0[i];
                const DenseCoordinate x{lam[i], ws[i], y0[i], y1[i], hf0 - dy,
                                        2.0 * dy - hf0 - hf1};
                accumulate_dense_scalars(acc, x);
                if (extras) accumulate_dense_extras(acc + kDenseScalarSums, x);
            }
        });
        res.passes += 1;
        dense_row_from_sums(row, t0, h, sums.data(),
                            extras ? sums.data() + kDenseScalarSums : nullptr);
    }

    // Overwrites y0 (the state at the start of the accepted step, y1 at its end) with the
    // dense state at theta. RODAS4 reads its stage vectors, still intact.
    void dense_state(double* y0, const double* y1, const Moments& m0, const Moments& m1,
                     double theta, double h, FlowResult& res) {
        const DenseBasis basis(theta);
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        if (tab_.has_stage_dense_output) {
            const int last = tab_.stages - 1;
            for (std::size_t i = 0; i < p_.n; ++i) {
                double c2 = 0.0, c3 = 0.0;
                for (int j = 0; j < last; ++j) {
                    c2 += tab_.D2[j] * ws_.stage(j)[i];
                    c3 += tab_.D3[j] * ws_.stage(j)[i];
                }
                y0[i] = basis.b[0] * y0[i] + basis.b[1] * y1[i] + basis.b[2] * c2 +
                        basis.b[3] * c3;
            }
        } else {
            const double a0 = h * rhs_coef(m0), b0 = h * 8.0 * m0.u;
            const double a1 = h * rhs_coef(m1), b1 = h * 8.0 * m1.u;
            for (std::size_t i = 0; i < p_.n; ++i) {
                const double hf0 = lam[i] * (a0 * y0[i] + b0 * ws[i]);
                const double hf1 = lam[i] * (a1 * y1[i] + b1 * ws[i]);
                const double dy = y1[i] - y0[i];
                y0[i] = basis.b[0] * y0[i] + basis.b[1] * y1[i] + basis.b[2] * (hf0 - dy) +
                        basis.b[3] * (2.0 * dy - hf0 - hf1);
            }
        }
        res.passes += 1;
    }

    double attempt(const double* y, double* y_new, const Moments& m, double h, Moments& m_new,
                   bool extras, FlowResult& res) {
        if (opt_.method == FlowMethod::kRos4)
            return attempt_with<kRos4, kNoExtras>(y, y_new, m, h, m_new, res, final_sums_);
        if (extras)
            return attempt_with<kRodas4, kGramExtras>(y, y_new, m, h, m_new, res,
                                                      final_full_sums_);
        if (inline_count_ > 0)
            return attempt_with<kRodas4, kDirectRecords>(y, y_new, m, h, m_new, res,
                                                         final_direct_sums_);
        return attempt_with<kRodas4, kNoExtras>(y, y_new, m, h, m_new, res, final_dense_sums_);
    }

    // Slots of the last pass: 11 sums, then (RODAS4) the dense output's sums, then one max.
    static constexpr int kFinalSums = 11;
    using FinalReducer = BlockedReducer<kFinalSums + 1, 1>;
    using FinalDenseReducer = BlockedReducer<kFinalSums + kDenseScalarSums + 1, 1>;
    using FinalFullReducer =
        BlockedReducer<kFinalSums + kDenseScalarSums + kDenseExtraSums + 1, 1>;
    // What the last pass adds for records inside the step: nothing, the dense row's extra
    // sums, or (at most kInlineRecords records) s^(2), u^(2), ||w -+ w*||^2 at each one's theta.
    static constexpr int kNoExtras = 0, kGramExtras = 1, kDirectRecords = 2;
    static constexpr int kInlineRecords = 4;  // beyond that the dense row's sums are cheaper
    static constexpr int kDirectSums = 4 * kInlineRecords;
    using FinalDirectReducer = BlockedReducer<kFinalSums + kDenseScalarSums + kDirectSums + 1, 1>;

    // One Rosenbrock step of size h from y (moments m). Writes the proposal into y_new (the
    // last stage's storage) and its moments into m_new; returns the scaled error (> 1:
    // reject). The tableau is a template parameter so that every stage's coefficient loops
    // unroll into straight-line code.
    //
    // S + 1 passes per attempt: the first sets up the capacitance matrix and stage 1's
    // solve; each stage's pass forms K_i = M^-1 (r_i + U z) (r_i recomputed on the fly, never
    // stored) together with what the next stage needs; the last forms the new state, its
    // moments, the error and (RODAS4) the inner products of the dense output.
    // M = diag(1/(h gamma) - c0 lambda), U = [Qy, Qw*].
    template <const RosenbrockTableau& T, int kExtraMode, class Reducer>
    double attempt_with(const double* y, double* y_new, const Moments& m, double h,
                        Moments& m_new, FlowResult& res, Reducer& final_reducer) {
        constexpr int S = T.stages;
        constexpr int L = S - 1;
        constexpr bool kDense = T.has_stage_dense_output;
        constexpr bool kExtras = kExtraMode == kGramExtras;
        constexpr bool kDirect = kExtraMode == kDirectRecords;
        static_assert(kDense || kExtraMode == kNoExtras, "records need a stage dense output");
        constexpr int kExtraSlot = kFinalSums + kDenseScalarSums;
        constexpr int kMaxSlot =
            kDense ? kExtraSlot + (kExtras ? kDenseExtraSums : kDirect ? kDirectSums : 0)
                   : kFinalSums;
        DenseBasis basis[kInlineRecords] = {DenseBasis(0.0), DenseBasis(0.0), DenseBasis(0.0),
                                            DenseBasis(0.0)};
        const int n_direct = kDirect ? inline_count_ : 0;
        for (int q = 0; q < n_direct; ++q) basis[q] = DenseBasis(inline_theta_[q]);
        StepContext c;
        c.y = y;
        for (int j = 0; j < L; ++j) c.K[j] = ws_.stage(j);
        c.K[L] = y_new;  // consumed element by element as y_new is written
        c.gh = 1.0 / (h * T.gamma);
        c.c0 = 4.0 * (p_.s_star - 3.0 * m.s);
        c.inv_h = 1.0 / h;
        c.coef = c.c0;
        c.u8 = 8.0 * m.u;
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        const double gh = c.gh, c0 = c.c0;

        // Pass 1: capacitance sums P = U^T M^-1 U, and q for stage 1 (r_1 = f(y)).
        auto s1 = capacitance_sums_.run([&](std::size_t b, std::size_t e, double* acc) {
            const double coef = c.coef, u8 = c.u8;
            for (std::size_t i = b; i < e; ++i) {
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double r = coef * lw + u8 * lws;
                acc[0] += lw * lw * inv_m;
                acc[1] += lw * lws * inv_m;
                acc[2] += lws * lws * inv_m;
                acc[3] += lw * r * inv_m;
                acc[4] += lws * r * inv_m;
            }
        });
        res.passes += 1;
        // Capacitance K = C^-1 - P with C = diag(-24, 8) (the rank-2 part of J).
        c.p12 = s1[1];
        c.p22 = s1[2];
        c.k11 = -1.0 / 24.0 - s1[0];
        c.k12 = -s1[1];
        c.k22 = 1.0 / 8.0 - s1[2];
        c.det = c.k11 * c.k22 - c.k12 * c.k12;
        const double scale = std::abs(c.k11 * c.k22) + c.k12 * c.k12;
        if (!(std::abs(c.det) > 1e-13 * scale) || !std::isfinite(c.det))
            return std::numeric_limits<double>::infinity();
        c.solve_capacitance(s1[3], s1[4]);
        stages<T, 0>(c, res);

        // Last pass: K_S, the new state, its moments and the error measures.
        const double rtol = opt_.rtol;
        const double comp_rtol = kComponentSlack * rtol, comp_atol = kComponentSlack * atol_;
        auto fin = final_reducer.run([&](std::size_t b, std::size_t e, double* acc) {
            const StepContext cc = c;
            for (std::size_t i = b; i < e; ++i) {
                const double kl = cc.template solve_stage<T, L>(lam, ws, i);
                double yn = y[i] + T.M[L] * kl;
                double err = T.E[L] * kl;
                for (int j = 0; j < L; ++j) {
                    yn += T.M[j] * cc.K[j][i];
                    err += T.E[j] * cc.K[j][i];
                }
                err = std::abs(err);
                y_new[i] = yn;  // K_S's slot: kl is not needed any more
                const double lyn = lam[i] * yn, lws = lam[i] * ws[i];
                const double dm = yn - ws[i], dp = yn + ws[i];
                acc[0] += lyn * yn;
                acc[1] += lyn * ws[i];
                acc[2] += lyn * lyn;
                acc[3] += lyn * lws;
                acc[4] += dm * dm;
                acc[5] += dp * dp;
                // First-order effect of this coordinate's error on s, u, ||w -+ w*||^2.
                acc[6] += 2.0 * std::abs(lyn) * err;
                acc[7] += std::abs(lws) * err;
                acc[8] += 2.0 * std::abs(dm) * err;
                acc[9] += 2.0 * std::abs(dp) * err;
                acc[10] += std::abs(lyn * ws[i]);
                if constexpr (kDense) {
                    double c2 = 0.0, c3 = 0.0;
                    for (int j = 0; j < L; ++j) {
                        c2 += T.D2[j] * cc.K[j][i];
                        c3 += T.D3[j] * cc.K[j][i];
                    }
                    const DenseCoordinate x{lam[i], ws[i], y[i], yn, c2, c3};
                    accumulate_dense_scalars(acc + kFinalSums, x);
                    if constexpr (kExtras) accumulate_dense_extras(acc + kExtraSlot, x);
                    if constexpr (kDirect) {
                        const double lws_i = lam[i] * ws[i];
                        for (int q = 0; q < n_direct; ++q) {
                            const double* b = basis[q].b;
                            const double wq = b[0] * y[i] + b[1] * yn + b[2] * c2 + b[3] * c3;
                            const double lwq = lam[i] * wq;
                            const double dmq = wq - ws[i], dpq = wq + ws[i];
                            double* a = acc + kExtraSlot + 4 * q;
                            a[0] += lwq * lwq;
                            a[1] += lwq * lws_i;
                            a[2] += dmq * dmq;
                            a[3] += dpq * dpq;
                        }
                    }
                }
                const double sc = comp_atol + comp_rtol * std::max(std::abs(y[i]), std::abs(yn));
                const double ratio = err / sc;
                // NaN must poison the max: comparisons with NaN are false.
                acc[kMaxSlot] = (ratio > acc[kMaxSlot] || ratio != ratio) ? ratio : acc[kMaxSlot];
            }
        });
        res.passes += 1;
        ++res.rhs_evals;
        if constexpr (kDense)
            std::copy(fin.begin() + kFinalSums, fin.begin() + kFinalSums + kDenseScalarSums,
                      final_dense_.begin());
        if constexpr (kExtras)
            std::copy(fin.begin() + kExtraSlot, fin.begin() + kExtraSlot + kDenseExtraSums,
                      final_extras_.begin());
        if constexpr (kDirect)
            std::copy(fin.begin() + kExtraSlot, fin.begin() + kExtraSlot + kDirectSums,
                      direct_sums_.begin());
        m_new = Moments{fin[0], fin[1], fin[2], fin[3], fin[4], fin[5]};
        // Tolerances on the observables. u's scale is floored by a fraction of
        // sum |lambda w w*| so that a sign change of u does not stall the integrator; the
        // other floors are far below anything physical and only guard exact zeros.
        const double sstar = p_.s_star;
        const double tol_s = kLocalSlack * rtol * (m_new.s + 1e-10 * sstar);
        const double tol_u =
            kLocalSlack * rtol * (std::max(std::abs(m_new.u), 1e-2 * fin[10]) + 1e-10 * sstar);
        const double tol_minus =
            kDistanceTightening * rtol * (m_new.dist_minus + 1e-10 * star_norm2_);
        const double tol_plus =
            kDistanceTightening * rtol * (m_new.dist_plus + 1e-10 * star_norm2_);
        const double err_obs = std::max(std::max(fin[6] / tol_s, fin[7] / tol_u),
                                        std::min(fin[8] / tol_minus, fin[9] / tol_plus));
        if (err_obs != err_obs) return err_obs;
        return std::max(err_obs, fin[kMaxSlot]);
    }

    // What the stages of one step share: the state, the stage vectors, the linear-system
    // data and the current stage's f coefficients (from the moments of Y_i).
    struct StepContext {
        const double* y = nullptr;
        double* K[6] = {};
        double gh = 0, c0 = 0, inv_h = 0;
        double coef = 0, u8 = 0;  // f(Y_i) = lambda (coef Y_i + u8 w*)
        double k11 = 0, k12 = 0, k22 = 0, det = 1, z1 = 0, z2 = 0;
        double p12 = 0, p22 = 0;  // entries of U^T M^-1 U

        void solve_capacitance(double q1, double q2) {
            z1 = (k22 * q1 - k12 * q2) / det;
            z2 = (k11 * q2 - k12 * q1) / det;
        }
        template <const RosenbrockTableau& T, int I>
        double stage_state(std::size_t e) const {
            double yi = y[e];
            for (int j = 0; j < I; ++j) yi += T.A[I][j] * K[j][e];
            return yi;
        }
        // r_I at coordinate e: lambda (coef Y_I + u8 w*) + sum_{j<I} (C_Ij / h) K_j.
        template <const RosenbrockTableau& T, int I>
        double stage_rhs(const double* lam, const double* ws, std::size_t e) const {
            double cs = 0.0;
            for (int j = 0; j < I; ++j) cs += T.C[I][j] * K[j][e];
            return lam[e] * (coef * stage_state<T, I>(e) + u8 * ws[e]) + inv_h * cs;
        }
        // K_I at coordinate e = M^-1 (r_I + U z).
        template <const RosenbrockTableau& T, int I>
        double solve_stage(const double* lam, const double* ws, std::size_t e) const {
            const double r = stage_rhs<T, I>(lam, ws, e);
            return (r + lam[e] * (y[e] * z1 + ws[e] * z2)) / (gh - c0 * lam[e]);
        }
    };

    // Stages I .. S-2 (K_I stored), and the capacitance solve for stage S-1.
    //
    // One pass per stage. Stage I+1's right-hand side
    //     r = lambda (coef Y + u8 w*) + (1/h) sum_j C_{I+1,j} K_j
    // is linear in the two scalars coef, u8 that only the end of this pass knows (they come
    // from the moments of Y_{I+1}); so the pass accumulates the pieces of q = U^T M^-1 r
    // separately and combines them afterwards, instead of sweeping the vectors again.
    template <const RosenbrockTableau& T, int I>
    void stages(StepContext& c, FlowResult& res) {
        constexpr int L = T.stages - 1;
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        const double gh = c.gh, c0 = c.c0;
        const double* y = c.y;
        if constexpr (I < L) {
            double* Ki = c.K[I];
            // Each block works on a private copy of the context: stores into the stage
            // vectors could otherwise alias its fields and force reloads in the inner loop.
            auto sums = stage_sums_.run([&](std::size_t b, std::size_t e, double* acc) {
                const StepContext cc = c;
                for (std::size_t k = b; k < e; ++k) {
                    Ki[k] = cc.template solve_stage<T, I>(lam, ws, k);
                    const double yn = cc.template stage_state<T, I + 1>(k);
                    double ck = 0.0;
                    for (int j = 0; j <= I; ++j) ck += T.C[I + 1][j] * cc.K[j][k];
                    const double inv_m = 1.0 / (gh - c0 * lam[k]);
                    const double ly = lam[k] * y[k] * inv_m, lws = lam[k] * ws[k] * inv_m;
                    const double lyn = lam[k] * yn;
                    acc[0] += lyn * yn;
                    acc[1] += lyn * ws[k];
                    acc[2] += ly * lyn;
                    acc[3] += lws * lyn;
                    acc[4] += ly * ck;
                    acc[5] += lws * ck;
                }
            });
            res.passes += 1;
            ++res.rhs_evals;
            c.coef = 4.0 * (p_.s_star - 3.0 * sums[0]);
            c.u8 = 8.0 * sums[1];
            // p12 = sum (lambda y)(lambda w*)/m, p22 = sum (lambda w*)^2/m from the first pass.
            const double q1 = c.coef * sums[2] + c.u8 * c.p12 + c.inv_h * sums[4];
            const double q2 = c.coef * sums[3] + c.u8 * c.p22 + c.inv_h * sums[5];
            c.solve_capacitance(q1, q2);
            stages<T, I + 1>(c, res);
        }
    }

    const ProblemView& p_;
    FlowWorkspace& ws_;
    FlowOptions opt_;
    const RosenbrockTableau& tab_;
    StepController controller_;
    double atol_ = 0.0;
    double lambda_max_ = 0.0;
    double star_norm2_ = 0.0;  // ||w*||^2, the scale of ||w -+ w*||^2
    BlockedReducer<5> capacitance_sums_;
    BlockedReducer<6> stage_sums_;
    BlockedReducer<6> moment_sums_;
    FinalReducer final_sums_;
    FinalDenseReducer final_dense_sums_;
    FinalFullReducer final_full_sums_;
    BlockedReducer<kDenseScalarSums + kDenseExtraSums> dense_all_sums_;
    std::array<double, kDenseScalarSums> final_dense_{};  // the last attempt's dense-output sums
    std::array<double, kDenseExtraSums> final_extras_{};
    FinalDirectReducer final_direct_sums_;
    // The records of the step being attempted whose moments its last pass forms directly.
    int inline_count_ = 0;
    double inline_theta_[kInlineRecords] = {};
    std::array<double, kDirectSums> direct_sums_{};
};

// Convenience: run the flow with a workspace of its own.
inline FlowResult run_flow(const ProblemView& p, double* w, double t0, const double* t_records,
                           std::size_t n_records, double* out, const FlowOptions& opt = {},
                           const ProgressHook& hook = nullptr) {
    FlowWorkspace ws(p.n, opt.method);
    FlowIntegrator integ(p, ws, opt);
    return integ.run(w, t0, t_records, n_records, out, hook);
}

}  // namespace pyscale
