// The population flow's integrator (model page: Gradient flow): the solver only. The
// vector field is vector_field.hpp's,
//     dw_i/dt = lambda_i (c0 w_i + c1 w*_i),    (c0, c1) from (s, u) and the link pair,
// the square's (4 (s* - 3 s), 8 u).
//
// Why a Rosenbrock method: the head directions relax on a time scale 1/lambda_1 while the
// tail needs ~d^a, so explicit schemes need ~t/7 steps. The flow's Jacobian
//     J = c0 Q + [Qw, Qw*] C [Qw, Qw*]^T        (the square: C = diag(-24, 8))
// is diagonal plus rank two, so each linear solve with  G = I/(h gamma) - J  costs O(d)
// through the Woodbury identity with a 2x2 capacitance matrix (woodbury.hpp), for any C.
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

#include "../model/link_pair.hpp"
#include "../model/problem.hpp"
#include "../model/stats.hpp"
#include "../util/errors.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "controller.hpp"
#include "dense.hpp"
#include "events.hpp"
#include "exponential.hpp"
#include "tableau.hpp"
#include "vector_field.hpp"
#include "woodbury.hpp"

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
    FlowMethod method = FlowMethod::kAuto;  // resolved at the run's start (choose_flow_method)
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
    long long exponential_steps = 0;  // accepted steps of the exponential scheme
    FlowMethod method = FlowMethod::kRodas4;  // the method the run used (kAuto resolved)
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

template <class Pair>
class FlowIntegrator {
    static_assert(is_pair_v<Pair>, "FlowIntegrator<Pair>: Pair must derive from PairBase<Pair>");

public:
    FlowIntegrator(const ProblemView& p, const Pair& pair, FlowWorkspace& ws,
                   const FlowOptions& opt)
        : p_(p), field_(p, pair), ws_(ws), opt_(opt), tab_(tableau(opt.method)),
          capacitance_sums_(p.n, opt.threads), stage_sums_(p.n, opt.threads),
          moment_sums_(p.n, opt.threads), final_sums_(p.n, opt.threads),
          final_dense_sums_(p.n, opt.threads), final_full_sums_(p.n, opt.threads),
          dense_all_sums_(p.n, opt.threads), final_direct_sums_(p.n, opt.threads),
          expo_sums_(p.n, opt.threads), expo_final_(p.n, opt.threads),
          expo_final_full_(p.n, opt.threads), expo_final_direct_(p.n, opt.threads),
          expo_both_(p.n, opt.threads) {
        if (ws.size() != p.n) throw std::invalid_argument("workspace size != problem size");
        if (ws.stages() < tab_.stages)
            throw std::invalid_argument("workspace has fewer stage vectors than the method");
        if (!(opt.rtol > 0.0) || !(opt.rtol < 1.0))
            throw std::invalid_argument("rtol must lie in (0, 1)");
        atol_ = opt.atol >= 0.0 ? opt.atol : default_atol(p, opt.rtol, opt.threads);
        controller_.error_order = tab_.error_order;
        controller_.hmax = opt.hmax;
        expo_controller_.error_order = kExponentialErrorOrder;
        expo_controller_.hmax = opt.hmax;
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
    // observer (optional) may stop the run inside a step (events.hpp). A std::domain_error
    // from the pair (the state left its domain: link_pair.hpp) ends the run with status
    // kOutOfDomain at the last accepted state, the records before it kept.
    FlowResult run(double* w, double t0, const double* t_records, std::size_t n_records,
                   double* out, const ProgressHook& hook = nullptr,
                   const StepObserver& observer = nullptr,
                   std::vector<double>* dense_log = nullptr) {
        Run r;
        r.res.t = t0;
        r.t = t0;
        r.y = w;
        method_ = choose_flow_method(opt_.method, opt_.rtol,
                                     n_records > 0 ? t_records[n_records - 1] : t0);
        r.res.method = method_;
        try {
            start(r, t0, t_records, n_records, out);
            steps(r, hook, observer, dense_log);
        } catch (const std::domain_error&) {
            r.res.status = RunStatus::kOutOfDomain;
        }
        if (r.y != w) std::memcpy(w, r.y, p_.n * sizeof(double));
        r.res.t = r.t;
        r.res.h_next = r.h;
        r.res.records_written = r.next;
        return r.res;
    }

    double atol() const { return atol_; }
    const StepController& controller() const { return controller_; }
    const VectorField<Pair>& field() const { return field_; }

private:
    // A run between steps: where the state is (y; spare is the other buffer), its moments,
    // time, the next step size, the next record and the result so far.
    struct Run {
        double* y = nullptr;
        double* spare = nullptr;
        Moments m;
        double t = 0.0, h = 0.0;
        std::size_t next = 0;
        bool last_rejected = false;
        FlowResult res;
        const double* t_records = nullptr;
        std::size_t n_records = 0;
        double* out = nullptr;
    };
    // The next attempt: its size, whether it lands on the target, and whether its last
    // pass forms the dense row's extra sums (records inside the step).
    struct Attempt {
        double step = 0.0, target = 0.0;
        bool lands = false, extras = false;
        // An exponential step (exponential.hpp) ending at nu_end of its collocation
        // interval; fallback: the attempt did not apply (RODAS4 takes the step instead).
        bool exponential = false, fallback = false;
        double nu_end = 1.0, planned = 0.0;
    };

    bool interpolating() const { return opt_.record_mode == RecordMode::kInterpolate; }

    // The steps of a run until its last record, a stop or a failure.
    void steps(Run& r, const ProgressHook& hook, const StepObserver& observer,
               std::vector<double>* dense_log) {
        double row[kDenseWidth];
        while (r.next < r.n_records) {
            Attempt a;
            if (r.res.steps >= opt_.max_steps || !plan(r, a)) {
                r.res.status = RunStatus::kStepLimit;
                return;
            }
            Moments m_new;
            const double err = a.exponential
                                   ? attempt_exponential(r, a, m_new)
                                   : attempt(r.y, r.spare, r.m, a.step, m_new, a.extras, r.res);
            if (!(err <= 1.0)) {  // also catches NaN
                ++r.res.rejected;
                if (a.fallback) {  // c0 changing sign on the step: RODAS4 takes the steps
                    rodas_hold_ = true;
                    hold_sign_ = field_.coefficients(r.m.s, r.m.u).c0 > 0.0;
                    hold_fresh_ = true;
                    continue;
                }
                // An exponential attempt is sized by its planned step (its length in t is
                // known only after the collocation).
                r.h = a.exponential ? expo_controller_.after_reject(a.planned, err)
                                    : controller_.after_reject(a.step, err);
                r.last_rejected = true;
                continue;
            }
            if (accept(r, a, err, m_new, row, observer, dense_log)) return;  // an event
            if (hook && r.res.steps % opt_.progress_every == 0 && !hook(r.t, r.res.steps)) {
                r.res.status = RunStatus::kInterrupted;
                return;
            }
        }
    }

    // The initial moments (into r, whose y is the state at t0), the record at t0 (if
    // requested) and the first step size.
    void start(Run& r, double t0, const double* t_records, std::size_t n_records,
               double* out) {
        // The last stage's storage doubles as the proposed new state; on acceptance the two
        // buffers swap roles, so a step never copies the state.
        r.spare = ws_.stage(tab_.stages - 1);
        r.m = moments(p_, r.y, moment_sums_);
        r.res.passes += 1;
        r.t_records = t_records;
        r.n_records = n_records;
        r.out = out;
        while (r.next < n_records && t_records[r.next] < t0) ++r.next;
        if (r.next < n_records && t_records[r.next] == t0) {
            write_record(out + r.next * kRecordWidth, t0, p_, field_.pair(), r.m);
            ++r.next;
        }
        r.h = opt_.h0 > 0.0 ? opt_.h0 : initial_step(r.m);
        rodas_hold_ = hold_fresh_ = false;  // a run (or resumed segment) starts afresh
    }

    // Sizes the next attempt (false: the step would underflow) and chooses what its last
    // pass forms for the records strictly inside it: a few records, their moments directly
    // at their theta; many, the dense row's extra sums (both formed in the attempt's last
    // pass for RODAS4; ROS4 forms the extras in one more pass).
    bool plan(Run& r, Attempt& a) {
        const bool interpolate = interpolating();
        // Interpolated records need no step of their own: only the last one is a target.
        a.target = interpolate ? r.t_records[r.n_records - 1] : r.t_records[r.next];
        const double c0_now = field_.coefficients(r.m.s, r.m.u).c0;
        const double growth = c0_now * lambda_max_;
        // After a fallback RODAS4 keeps the steps through the crossing (c0 of the other sign
        // and the margin away from 0), or until c0 is twice the margin away from 0: so that
        // exponential attempts do not keep failing on the way to it.
        // At least one RODAS4 step is taken after a fallback (the attempt would fail again).
        if (rodas_hold_ && !hold_fresh_ &&
            exponential_applies(r.m, (c0_now > 0.0) != hold_sign_ ? 1.0 : 2.0))
            rodas_hold_ = false;
        a.exponential = method_ == FlowMethod::kExponential && !rodas_hold_ &&
                        exponential_applies(r.m);
        // The growth limit is RODAS4's (its linear system); exponential steps are exact in
        // the diagonal part whatever its sign.
        r.h = a.exponential ? std::min(r.h, opt_.hmax) : controller_.limit(r.h, growth, tab_.gamma);
        a.step = r.h;
        a.lands = StepController::lands(r.t, a.step, a.target);
        if (a.lands) a.step = a.target - r.t;
        if (StepController::too_small(a.step, r.t)) return false;
        if (a.exponential) return true;  // its records are known after the collocation
        const double t_planned = a.lands ? a.target : r.t + a.step;
        std::size_t inside = 0;
        while (interpolate && r.next + inside < r.n_records &&
               r.t_records[r.next + inside] < t_planned && inside <= kInlineRecords)
            ++inside;
        const bool direct = tab_.has_stage_dense_output && !opt_.dense_every_step &&
                            inside > 0 && inside <= kInlineRecords;
        a.extras = opt_.dense_every_step || (inside > 0 && !direct);
        inline_count_ = direct ? static_cast<int>(inside) : 0;
        for (int q = 0; q < inline_count_; ++q)
            inline_theta_[q] = (r.t_records[r.next + q] - r.t) / a.step;
        return true;
    }

    // Takes the accepted attempt (new state in r.spare): swaps the buffers, forms the step's
    // dense row, hands it to the observer and writes the records it holds. True when the
    // observer stopped the run (the dense state at the event is then left in r.y).
    bool accept(Run& r, const Attempt& a, double err, const Moments& m_new, double* row,
                const StepObserver& observer, std::vector<double>* dense_log) {
        std::swap(r.y, r.spare);  // spare: the state at the start of the step
        ++r.res.steps;
        const double t_start = r.t;
        r.t = a.lands ? a.target : r.t + a.step;
        last_exponential_ = a.exponential;
        if (!a.exponential) hold_fresh_ = false;
        r.res.exponential_steps += a.exponential ? 1 : 0;
        if (a.exponential)
            dense_row_from_sums(row, t_start, a.step, final_dense_.data(),
                                a.extras ? final_extras_.data() : nullptr);
        else
            dense_row(row, r.spare, r.y, r.m, m_new, t_start, a.step, a.extras, r.res);
        const Moments m_start = r.m;
        r.m = m_new;
        r.h = (a.exponential ? expo_controller_ : controller_)
                  .after_accept(a.step, err, r.last_rejected, a.lands, r.h);
        r.last_rejected = false;
        if (dense_log) dense_log->insert(dense_log->end(), row, row + kDenseWidth);
        double stop = observer ? observer(row) : kContinue;
        const bool stopping = stop >= 0.0;
        stop = std::min(stop, 1.0);
        const double t_end = stopping && stop < 1.0 ? t_start + stop * a.step : r.t;
        if (interpolating()) {
            r.next = write_dense_records(r.out, r.t_records, r.n_records, r.next, row, t_end,
                                         r.t, r.m);
        } else if (a.lands && r.t <= t_end) {
            write_record(r.out + r.next * kRecordWidth, r.t, p_, field_.pair(), r.m);
            ++r.next;
        }
        if (!stopping) return false;
        if (t_end < r.t) {
            if (a.exponential)
                exponential_state(r.spare, proposal_.nu_at(stop * a.step), r.res);
            else
                dense_state(r.spare, r.y, m_start, r.m, stop, a.step, r.res);
            std::swap(r.y, r.spare);
            r.t = t_end;
        }
        r.res.stopped_by_event = true;
        return true;
    }

    double initial_step(const Moments& m) const {
        const double rate = lambda_max_ * (field_.rate_bound(m.s, m.u) + 1.0);
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
                if (last_exponential_ && q < expo_inline_) {  // the exact state there
                    const double* d = expo_direct_.data() + 6 * q;
                    mr = Moments{d[0], d[1], d[2], d[3], d[4], d[5]};
                } else if (!last_exponential_ && q < inline_count_) {  // formed at this theta
                    const double* d = direct_sums_.data() + 4 * q;
                    mr.s2 = d[0];
                    mr.u2 = d[1];
                    mr.dist_minus = d[2];
                    mr.dist_plus = d[3];
                }
            }
            write_record(out + next * kRecordWidth, tr, p_, field_.pair(), mr);
        }
        return next;
    }

    // h f at the moments m: the coefficients (h c0, h c1) of h f_i = lambda_i (a y_i + b w*_i).
    FlowCoefficients scaled_coefficients(const Moments& m, double h) const {
        const FlowCoefficients f = field_.coefficients(m.s, m.u);
        return {h * f.c0, h * f.c1};
    }

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
        const FlowCoefficients hf0 = scaled_coefficients(m0, h), hf1 = scaled_coefficients(m1, h);
        auto sums = dense_all_sums_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double f0 = VectorField<Pair>::component(hf0, lam[i], y0[i], ws[i]);
                const double f1 = VectorField<Pair>::component(hf1, lam[i], y1[i], ws[i]);
                const double dy = y1[i] - y0[i];
                const DenseCoordinate x{lam[i], ws[i], y0[i], y1[i], f0 - dy, 2.0 * dy - f0 - f1};
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
            const FlowCoefficients hf0 = scaled_coefficients(m0, h);
            const FlowCoefficients hf1 = scaled_coefficients(m1, h);
            for (std::size_t i = 0; i < p_.n; ++i) {
                const double f0 = VectorField<Pair>::component(hf0, lam[i], y0[i], ws[i]);
                const double f1 = VectorField<Pair>::component(hf1, lam[i], y1[i], ws[i]);
                const double dy = y1[i] - y0[i];
                y0[i] = basis.b[0] * y0[i] + basis.b[1] * y1[i] + basis.b[2] * (f0 - dy) +
                        basis.b[3] * (2.0 * dy - f0 - f1);
            }
        }
        res.passes += 1;
    }

    double attempt(const double* y, double* y_new, const Moments& m, double h, Moments& m_new,
                   bool extras, FlowResult& res) {
        if (method_ == FlowMethod::kRos4)
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
    static constexpr int kExtraSlot = kFinalSums + kDenseScalarSums;
    // The last pass's max slot (the per-coordinate error ratio) for a tableau and mode.
    template <const RosenbrockTableau& T, int kExtraMode>
    static constexpr int max_slot() {
        if (!T.has_stage_dense_output) return kFinalSums;
        return kExtraSlot + (kExtraMode == kGramExtras     ? kDenseExtraSums
                             : kExtraMode == kDirectRecords ? kDirectSums
                                                            : 0);
    }

    // What the stages of one step share: the state, the stage vectors, the linear-system
    // data and the current stage's f coefficients (from the moments of Y_i).
    struct StepContext {
        const double* y = nullptr;
        double* K[6] = {};
        double gh = 0, c0 = 0, inv_h = 0;  // c0: the Jacobian's diagonal, from y
        FlowCoefficients f;                 // f(Y_i) = lambda (f.c0 Y_i + f.c1 w*)
        Capacitance cap;
        double z1 = 0, z2 = 0;
        double p12 = 0, p22 = 0;  // entries of U^T M^-1 U

        template <const RosenbrockTableau& T, int I>
        double stage_state(std::size_t e) const {
            double yi = y[e];
            for (int j = 0; j < I; ++j) yi += T.A[I][j] * K[j][e];
            return yi;
        }
        // r_I at coordinate e: lambda (f.c0 Y_I + f.c1 w*) + sum_{j<I} (C_Ij / h) K_j.
        template <const RosenbrockTableau& T, int I>
        double stage_rhs(const double* lam, const double* ws, std::size_t e) const {
            double cs = 0.0;
            for (int j = 0; j < I; ++j) cs += T.C[I][j] * K[j][e];
            return VectorField<Pair>::component(f, lam[e], stage_state<T, I>(e), ws[e]) +
                   inv_h * cs;
        }
        // K_I at coordinate e = M^-1 (r_I + U z).
        template <const RosenbrockTableau& T, int I>
        double solve_stage(const double* lam, const double* ws, std::size_t e) const {
            const double r = stage_rhs<T, I>(lam, ws, e);
            return (r + lam[e] * (y[e] * z1 + ws[e] * z2)) / (gh - c0 * lam[e]);
        }
    };

    // The records inside a step whose moments the last pass forms directly: s^(2), u^(2)
    // and ||w -+ w*||^2 of the dense state at each one's theta (4 slots per record).
    struct DirectRecords {
        DenseBasis basis[kInlineRecords] = {DenseBasis(0.0), DenseBasis(0.0), DenseBasis(0.0),
                                            DenseBasis(0.0)};
        int count = 0;
        void set(int n, const double* theta) {
            count = n;
            for (int q = 0; q < n; ++q) basis[q] = DenseBasis(theta[q]);
        }
        void accumulate(double* acc, const DenseCoordinate& x) const {
            const double lws = x.lam * x.ws;
            for (int q = 0; q < count; ++q) {
                const double* b = basis[q].b;
                const double wq = b[0] * x.y0 + b[1] * x.y1 + b[2] * x.c2 + b[3] * x.c3;
                const double lwq = x.lam * wq;
                const double dmq = wq - x.ws, dpq = wq + x.ws;
                double* a = acc + 4 * q;
                a[0] += lwq * lwq;
                a[1] += lwq * lws;
                a[2] += dmq * dmq;
                a[3] += dpq * dpq;
            }
        }
    };

    // One Rosenbrock step of size h from y (moments m). Writes the proposal into y_new (the
    // last stage's storage) and its moments into m_new; returns the scaled error (> 1:
    // reject). The tableau is a template parameter so that every stage's coefficient loops
    // unroll into straight-line code.
    //
    // S + 1 passes per attempt: the first sets up the capacitance matrix and stage 1's
    // solve (first_pass); each stage's pass forms K_i = M^-1 (r_i + U z) (r_i recomputed on
    // the fly, never stored) together with what the next stage needs (stages); the last
    // forms the new state, its moments, the error and (RODAS4) the inner products of the
    // dense output (final_pass). M = diag(1/(h gamma) - c0 lambda), U = [Qy, Qw*].
    template <const RosenbrockTableau& T, int kExtraMode, class Reducer>
    double attempt_with(const double* y, double* y_new, const Moments& m, double h,
                        Moments& m_new, FlowResult& res, Reducer& final_reducer) {
        constexpr bool kDense = T.has_stage_dense_output;
        static_assert(kDense || kExtraMode == kNoExtras, "records need a stage dense output");
        StepContext c;
        if (!first_pass<T>(c, y, y_new, m, h, res)) return std::numeric_limits<double>::infinity();
        stages<T, 0>(c, res);
        const auto fin = final_pass<T, kExtraMode>(c, y, y_new, final_reducer);
        res.passes += 1;
        ++res.rhs_evals;
        if constexpr (kDense)
            std::copy(fin.begin() + kFinalSums, fin.begin() + kFinalSums + kDenseScalarSums,
                      final_dense_.begin());
        if constexpr (kExtraMode == kGramExtras)
            std::copy(fin.begin() + kExtraSlot, fin.begin() + kExtraSlot + kDenseExtraSums,
                      final_extras_.begin());
        if constexpr (kExtraMode == kDirectRecords)
            std::copy(fin.begin() + kExtraSlot, fin.begin() + kExtraSlot + kDirectSums,
                      direct_sums_.begin());
        m_new = Moments{fin[0], fin[1], fin[2], fin[3], fin[4], fin[5]};
        return scaled_error(fin.data(), m_new, fin[max_slot<T, kExtraMode>()]);
    }

    // The step's linear-system data from the moments m of y: f's coefficients, the
    // Jacobian's coupling C, and (pass 1) P = U^T M^-1 U with stage 1's q (r_1 = f(y)).
    // False when the capacitance system is singular (the attempt is rejected).
    template <const RosenbrockTableau& T>
    bool first_pass(StepContext& c, const double* y, double* y_new, const Moments& m, double h,
                    FlowResult& res) {
        constexpr int L = T.stages - 1;
        c.y = y;
        for (int j = 0; j < L; ++j) c.K[j] = ws_.stage(j);
        c.K[L] = y_new;  // consumed element by element as y_new is written
        c.gh = 1.0 / (h * T.gamma);
        c.f = field_.coefficients(m.s, m.u);
        c.c0 = c.f.c0;
        c.inv_h = 1.0 / h;
        const Coupling coupling = field_.coupling(m.s, m.u);
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        const double gh = c.gh, c0 = c.c0;
        auto s1 = capacitance_sums_.run([&](std::size_t b, std::size_t e, double* acc) {
            const FlowCoefficients f = c.f;
            for (std::size_t i = b; i < e; ++i) {
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double r = f.c0 * lw + f.c1 * lws;
                acc[0] += lw * lw * inv_m;
                acc[1] += lw * lws * inv_m;
                acc[2] += lws * lws * inv_m;
                acc[3] += lw * r * inv_m;
                acc[4] += lws * r * inv_m;
            }
        });
        res.passes += 1;
        c.p12 = s1[1];
        c.p22 = s1[2];
        if (!c.cap.factor(coupling, s1[0], s1[1], s1[2])) return false;
        c.cap.solve(s1[3], s1[4], c.z1, c.z2);
        return true;
    }

    // The last pass: K_S, the new state into y_new, its moments, the error measures and the
    // dense output's sums (slots as kFinalSums and max_slot say).
    template <const RosenbrockTableau& T, int kExtraMode, class Reducer>
    auto final_pass(const StepContext& c, const double* y, double* y_new, Reducer& reducer) {
        constexpr int L = T.stages - 1;
        constexpr bool kDense = T.has_stage_dense_output;
        constexpr int kMaxSlot = max_slot<T, kExtraMode>();
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        const double comp_rtol = kComponentSlack * opt_.rtol, comp_atol = kComponentSlack * atol_;
        DirectRecords direct;
        if constexpr (kExtraMode == kDirectRecords) direct.set(inline_count_, inline_theta_);
        return reducer.run([&](std::size_t b, std::size_t e, double* acc) {
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
                accumulate_final(acc, lam[i], ws[i], yn, err);
                if constexpr (kDense) {
                    double c2 = 0.0, c3 = 0.0;
                    for (int j = 0; j < L; ++j) {
                        c2 += T.D2[j] * cc.K[j][i];
                        c3 += T.D3[j] * cc.K[j][i];
                    }
                    const DenseCoordinate x{lam[i], ws[i], y[i], yn, c2, c3};
                    accumulate_dense_scalars(acc + kFinalSums, x);
                    if constexpr (kExtraMode == kGramExtras)
                        accumulate_dense_extras(acc + kExtraSlot, x);
                    if constexpr (kExtraMode == kDirectRecords)
                        direct.accumulate(acc + kExtraSlot, x);
                }
                const double sc = comp_atol + comp_rtol * std::max(std::abs(y[i]), std::abs(yn));
                const double ratio = err / sc;
                // NaN must poison the max: comparisons with NaN are false.
                acc[kMaxSlot] = (ratio > acc[kMaxSlot] || ratio != ratio) ? ratio : acc[kMaxSlot];
            }
        });
    }

    // Slots 0..10 of the last pass at one coordinate: the new state's moments, then the
    // first-order effect of its error on s, u, ||w -+ w*||^2, and sum |lambda w w*|.
    static void accumulate_final(double* acc, double lam, double ws, double yn, double err) {
        const double lyn = lam * yn, lws = lam * ws;
        const double dm = yn - ws, dp = yn + ws;
        acc[0] += lyn * yn;
        acc[1] += lyn * ws;
        acc[2] += lyn * lyn;
        acc[3] += lyn * lws;
        acc[4] += dm * dm;
        acc[5] += dp * dp;
        acc[6] += 2.0 * std::abs(lyn) * err;
        acc[7] += std::abs(lws) * err;
        acc[8] += 2.0 * std::abs(dm) * err;
        acc[9] += 2.0 * std::abs(dp) * err;
        acc[10] += std::abs(lyn * ws);
    }

    // The attempt's error from the last pass's sums: the observables' first-order errors
    // against their tolerances, and the per-coordinate max (slot `component_max`).
    double scaled_error(const double* fin, const Moments& m_new, double component_max) const {
        // u's scale is floored by a fraction of sum |lambda w w*| so that a sign change of u
        // does not stall the integrator; the other floors are far below anything physical
        // and only guard exact zeros.
        const double rtol = opt_.rtol;
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
        return std::max(err_obs, component_max);
    }

    // Stages I .. S-2 (K_I stored), and the capacitance solve for stage S-1.
    //
    // One pass per stage. Stage I+1's right-hand side
    //     r = lambda (c0' Y + c1' w*) + (1/h) sum_j C_{I+1,j} K_j
    // is linear in the two scalars (c0', c1') = f's coefficients at Y_{I+1}, which only the
    // end of this pass knows (from the moments of Y_{I+1}); so the pass accumulates the
    // pieces of q = U^T M^-1 r separately and combines them afterwards, instead of sweeping
    // the vectors again.
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
            c.f = field_.coefficients(sums[0], sums[1]);
            // p12 = sum (lambda y)(lambda w*)/m, p22 = sum (lambda w*)^2/m from the first pass.
            const double q1 = c.f.c0 * sums[2] + c.f.c1 * c.p12 + c.inv_h * sums[4];
            const double q2 = c.f.c0 * sums[3] + c.f.c1 * c.p22 + c.inv_h * sums[5];
            c.cap.solve(q1, q2, c.z1, c.z2);
            stages<T, I + 1>(c, res);
        }
    }

    // ---------------------------------------------------------------- exponential steps
    // (exponential.hpp; FlowMethod::kExponential.) Two passes per attempt: the collocation's
    // sums, then the new state with its moments, error, dense row and exact records.

    // Whether an exponential step applies at these moments: c0 away from 0 relative to the
    // pair's rate scale (the square: |s* - 3 s| >= 0.1 s*).
    bool exponential_applies(const Moments& m, double widen = 1.0) const {
        const double c0 = field_.coefficients(m.s, m.u).c0;
        return std::abs(c0) >= widen * kExponentialMargin * field_.rate_bound(m.s, m.u);
    }

    // The exponential attempt from r.y: pass A and the collocation (a.fallback where it
    // does not apply), the step's end (a.step, a.lands, a.nu_end: a step reaching the
    // target ends there, inside its collocation interval), its records, then pass B.
    double attempt_exponential(Run& r, Attempt& a, Moments& m_new) {
        const double inf = std::numeric_limits<double>::infinity();
        const FlowCoefficients f0 = field_.coefficients(r.m.s, r.m.u);
        const double aim = a.lands ? (a.target - r.t) * (1.0 + kLandingOvershoot) : a.step;
        a.planned = aim;
        const double dth = f0.c0 * aim;
        // Growth e^{lambda dth} must stay finite (the escape); a decay underflows harmlessly.
        if (dth * lambda_max_ > kMaxGrowthExponent) return inf;
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        const double* y = r.y;
        const auto sums = expo_sums_.run([&](std::size_t b, std::size_t e, double* acc) {
            expo::accumulate_point_sums(nodes_, dth, lam + b, y + b, ws + b, e - b, acc);
        });
        r.res.passes += 1;
        ++r.res.rhs_evals;
        if (!expo::collocate(nodes_, field_.pair(), p_.s_star, sums.data(), dth, r.m.s, r.m.u,
                             proposal_)) {
            a.fallback = true;  // c0 changes sign on the step, or Newton failed
            return inf;
        }
        a.step = proposal_.h;
        a.nu_end = 1.0;
        a.lands = StepController::lands(r.t, proposal_.h, a.target);
        if (a.lands) {
            a.step = a.target - r.t;
            a.nu_end = a.step < proposal_.h ? proposal_.nu_at(a.step) : 1.0;
        }
        // Records inside the step are formed exactly, at most kExpInline of them: a step
        // that would hold more ends at the last of those (inside its collocation interval).
        std::size_t inside = 0;
        const double t_end = a.lands ? a.target : r.t + a.step;
        while (r.next + inside < r.n_records && r.t_records[r.next + inside] < t_end &&
               inside <= kExpInline)
            ++inside;
        if (inside > kExpInline) {
            a.target = r.t_records[r.next + kExpInline - 1];
            a.lands = true;
            a.step = a.target - r.t;
            a.nu_end = proposal_.nu_at(a.step);
            inside = kExpInline - 1;
        }
        a.extras = opt_.dense_every_step;  // events read every field off every dense row
        expo_inline_ = static_cast<int>(inside);
        for (int q = 0; q < expo_inline_; ++q)
            expo_inline_nu_[q] = proposal_.nu_at(r.t_records[r.next + q] - r.t);
        if (a.extras)
            return expo_inline_ > 0 ? exponential_pass<true, true>(r, a, m_new, expo_both_)
                                    : exponential_pass<true, false>(r, a, m_new, expo_final_full_);
        return expo_inline_ > 0 ? exponential_pass<false, true>(r, a, m_new, expo_final_direct_)
                                : exponential_pass<false, false>(r, a, m_new, expo_final_);
    }

    // Pass B: the state at nu_end into r.spare, and the same slots as RODAS4's last pass
    // (kFinalSums, the dense row's sums, the mode's extras, the max) — the dense row's cubic
    // through the exact states at the step's ends and at 1/3, 2/3 of nu_end.
    template <bool kExtras, bool kDirect, class Reducer>
    double exponential_pass(Run& r, const Attempt& a, Moments& m_new, Reducer& reducer) {
        constexpr int kDirectSlot = kExtraSlot + (kExtras ? kDenseExtraSums : 0);
        constexpr int kMaxSlot = kDirectSlot + (kDirect ? kExpDirectSums : 0);
        const expo::Proposal& pr = proposal_;
        const expo::Nodes& nd = nodes_;
        const double dth = pr.dth, nu_end = a.nu_end;
        // The dense row's inner points: a third and two thirds of the way in theta, so that
        // one exponential serves the three points (e^{z nu_end} = (e^{z nu_end / 3})^3), at
        // th_a, th_b of the step in t.
        const double nu_a = nu_end / 3.0, nu_b = 2.0 * nu_end / 3.0;
        const double th_a = pr.time_at(nu_a) / a.step, th_b = pr.time_at(nu_b) / a.step;
        const double inv_a = 1.0 / (th_a * (1.0 - th_a)), inv_b = 1.0 / (th_b * (1.0 - th_b)),
                     inv_ab = 1.0 / (th_b - th_a);
        // The embedded solution's time error, seen by each coordinate as |dw/dt| |h - h4|.
        const double dt4 = std::abs(pr.h - pr.h4);
        const double c0e = pr.c0_end, c1e = pr.c1_end;
        const double comp_rtol = kComponentSlack * opt_.rtol, comp_atol = kComponentSlack * atol_;
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        const double* y = r.y;
        double* y_new = r.spare;
        const int n_direct = kDirect ? expo_inline_ : 0;
        const double* nu_rec = expo_inline_nu_;
        const auto fin = reducer.run([&](std::size_t b, std::size_t e, double* acc) {
            expo::Chunk c;
            expo::Lanes E, Ea, Eb, P[expo::kMonomials], yn, y4, wa, wb, wq;
            for (std::size_t i0 = b; i0 < e; i0 += expo::kLanes) {
                c.load(lam + i0, y + i0, ws + i0, std::min<std::size_t>(expo::kLanes, e - i0),
                       dth);
                for (int j = 0; j < expo::kLanes; ++j) {
                    Ea[j] = expo::floored_exp(c.z[j] * nu_a);
                    Eb[j] = Ea[j] * Ea[j];
                    E[j] = Ea[j] * Eb[j];
                }
                expo::weights_chunk(nd, nu_end, c.z, E, P, true);
                states_chunk(c, E, P, pr.a, expo::kMonomials, yn);
                states_chunk(c, E, P, pr.a4, 4, y4);
                expo::weights_chunk(nd, nu_a, c.z, Ea, P, true);
                states_chunk(c, Ea, P, pr.a, expo::kMonomials, wa);
                expo::weights_chunk(nd, nu_b, c.z, Eb, P, true);
                states_chunk(c, Eb, P, pr.a, expo::kMonomials, wb);
                for (int j = 0; j < c.count; ++j) {
                    const double lj = c.lam[j], wsj = c.ws[j], yj = c.y[j], ynj = yn[j];
                    const double wdot = lj * (c0e * ynj + c1e * wsj);
                    const double err = std::abs(y4[j] - ynj) + std::abs(wdot) * dt4;
                    y_new[i0 + j] = ynj;
                    accumulate_final(acc, lj, wsj, ynj, err);
                    // w(theta) = (1 - theta) y + theta yn + theta (1 - theta) (c2 + theta c3)
                    // (dense.hpp's basis) through theta = th_a, th_b: c2 + th c3 = r(th).
                    const double ra = (wa[j] - (1.0 - th_a) * yj - th_a * ynj) * inv_a,
                                 rb = (wb[j] - (1.0 - th_b) * yj - th_b * ynj) * inv_b;
                    const double c3 = (rb - ra) * inv_ab, c2 = ra - th_a * c3;
                    const DenseCoordinate x{lj, wsj, yj, ynj, c2, c3};
                    accumulate_dense_scalars(acc + kFinalSums, x);
                    if constexpr (kExtras) accumulate_dense_extras(acc + kExtraSlot, x);
                    const double sc = comp_atol + comp_rtol * std::max(std::abs(yj), std::abs(ynj));
                    const double ratio = err / sc;
                    acc[kMaxSlot] =
                        (ratio > acc[kMaxSlot] || ratio != ratio) ? ratio : acc[kMaxSlot];
                }
                if constexpr (kDirect) {
                    for (int q = 0; q < n_direct; ++q) {
                        expo::weights_chunk(nd, nu_rec[q], c.z, E, P);
                        states_chunk(c, E, P, pr.a, expo::kMonomials, wq);
                        double* d = acc + kDirectSlot + 6 * q;
                        for (int j = 0; j < c.count; ++j) {
                            const double lj = c.lam[j], wsj = c.ws[j];
                            const double lwq = lj * wq[j], dm = wq[j] - wsj, dp = wq[j] + wsj;
                            d[0] += lwq * wq[j];
                            d[1] += lwq * wsj;
                            d[2] += lwq * lwq;
                            d[3] += lwq * lj * wsj;
                            d[4] += dm * dm;
                            d[5] += dp * dp;
                        }
                    }
                }
            }
        });
        r.res.passes += 1;
        std::copy(fin.begin() + kFinalSums, fin.begin() + kFinalSums + kDenseScalarSums,
                  final_dense_.begin());
        if constexpr (kExtras)
            std::copy(fin.begin() + kExtraSlot, fin.begin() + kExtraSlot + kDenseExtraSums,
                      final_extras_.begin());
        if constexpr (kDirect)
            std::copy(fin.begin() + kDirectSlot, fin.begin() + kDirectSlot + 6 * n_direct,
                      expo_direct_.begin());
        m_new = Moments{fin[0], fin[1], fin[2], fin[3], fin[4], fin[5]};
        return scaled_error(fin.data(), m_new, fin[kMaxSlot]);
    }

    // A chunk's states w = e^{z nu} y + w* sum_m a_m P_m(z, nu) from its weights (E, P) at nu
    // and the first k monomial coefficients a of the forcing.
    static void states_chunk(const expo::Chunk& c, const expo::Lanes E, const expo::Lanes* P,
                             const double* a, int k, expo::Lanes w) {
        expo::Lanes forced = {};
        for (int m = 0; m < k; ++m)
            for (int j = 0; j < expo::kLanes; ++j) forced[j] += a[m] * P[m][j];
        for (int j = 0; j < expo::kLanes; ++j) w[j] = E[j] * c.y[j] + c.ws[j] * forced[j];
    }

    // Overwrites y0 (the state at the start of the accepted exponential step) with its exact
    // state at nu (an event inside the step).
    void exponential_state(double* y0, double nu, FlowResult& res) {
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        expo::Chunk c;
        expo::Lanes E, P[expo::kMonomials], w;
        for (std::size_t i0 = 0; i0 < p_.n; i0 += expo::kLanes) {
            c.load(lam + i0, y0 + i0, ws + i0, std::min<std::size_t>(expo::kLanes, p_.n - i0),
                   proposal_.dth);
            expo::weights_chunk(nodes_, nu, c.z, E, P);
            states_chunk(c, E, P, proposal_.a, expo::kMonomials, w);
            for (int j = 0; j < c.count; ++j) y0[i0 + j] = w[j];
        }
        res.passes += 1;
    }

    // Exponential steps: the controller's error order (the 4-point embedded solution's local
    // error is O(h^5)), the records a step forms exactly (beyond: the dense row's cubic), the
    // target overshoot a landing step aims at (it then ends inside its interval), and the
    // largest growth exponent lambda_max dth tried (e^600 is finite).
    static constexpr double kExponentialErrorOrder = 5.0;
    static constexpr int kExpInline = 16;
    static constexpr int kExpDirectSums = 6 * kExpInline;
    static constexpr double kLandingOvershoot = 0.02;
    static constexpr double kMaxGrowthExponent = 600.0;
    using ExpoFinalReducer = BlockedReducer<kExtraSlot + 1, 1>;
    using ExpoFullReducer = BlockedReducer<kExtraSlot + kDenseExtraSums + 1, 1>;
    using ExpoDirectReducer = BlockedReducer<kExtraSlot + kExpDirectSums + 1, 1>;
    using ExpoBothReducer = BlockedReducer<kExtraSlot + kDenseExtraSums + kExpDirectSums + 1, 1>;

    const ProblemView& p_;
    VectorField<Pair> field_;
    FlowWorkspace& ws_;
    FlowOptions opt_;
    FlowMethod method_ = FlowMethod::kRodas4;  // opt_.method, kAuto resolved by run()
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
    // Exponential steps: the points, pass A's and pass B's reducers, the last collocation,
    // their controller, the records the last step formed exactly (6 moments each), and
    // whether RODAS4 holds the steps (after an attempt that did not apply).
    expo::Nodes nodes_;
    BlockedReducer<expo::kSums> expo_sums_;
    ExpoFinalReducer expo_final_;
    ExpoFullReducer expo_final_full_;
    ExpoDirectReducer expo_final_direct_;
    ExpoBothReducer expo_both_;
    expo::Proposal proposal_;
    StepController expo_controller_;
    bool rodas_hold_ = false, hold_sign_ = false, hold_fresh_ = false;
    bool last_exponential_ = false;
    int expo_inline_ = 0;
    double expo_inline_nu_[kExpInline] = {};
    std::array<double, kExpDirectSums> expo_direct_{};
};

// Convenience: run the flow with a workspace of its own.
template <class Pair>
FlowResult run_flow(const ProblemView& p, const Pair& pair, double* w, double t0,
                    const double* t_records, std::size_t n_records, double* out,
                    const FlowOptions& opt = {}, const ProgressHook& hook = nullptr) {
    FlowWorkspace ws(p.n, opt.method);
    FlowIntegrator<Pair> integ(p, pair, ws, opt);
    return integ.run(w, t0, t_records, n_records, out, hook);
}

}  // namespace pyscale
