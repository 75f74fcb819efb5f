// The population flow of a two-layer network (networks page: Each row is linear given the
// overlaps; The flow's Jacobian and the cost of a Rosenbrock step):
//     dW/dt = Q (W A + W* B^T),   row by row  dW_i/dt = lambda_i (W_i A + W*_i B^T),
// (A, B) from the overlaps (S, U) and the kernels (model/network.hpp). W is n x p, row-major.
//
// The solver is the single-index flow's (integrator.hpp), on the network's state: the same
// Rosenbrock tableaux (tableau.hpp, RODAS4 by default), step-size controller (controller.hpp)
// with its stability bound while the flow grows (here lambda_max mu_max(A)), options and
// result types (FlowOptions, FlowResult), workspace (one stage vector of n p doubles per
// stage), record modes, and continuous extension (dense.hpp's basis: RODAS4's stage form, or
// the cubic Hermite interpolant for ROS4). What differs is the linear algebra: each stage
// solves with the per-coordinate p x p blocks lambda_i A plus the coupling of rank <= p (p + k),
// through the Woodbury stage solve of network_solve.hpp, O(d p (p + k)) per stage plus one
// Gamma pass per step.
//
// Passes per attempt (each one sweep over the coordinates, in the fixed blocks of
// util/parallel.hpp, so the bits do not depend on the thread count): stage 1's right-hand
// side with the Gamma sums; then per stage i the completion of K_i fused with the overlaps
// of the next stage state Y_{i+1}, and stage i+1's right-hand side, divided by the blocks and
// projected on V = [W W*]; the last stage's completion is fused with the new state, its
// overlaps and the error measures. RODAS4: 12 passes per attempt.
//
// Error control is the single-index rule (integrator.hpp) per unit: a step is accepted when
// the first-order effects of its local error e on the observables hold,
//     2 sum_i lambda_i |W_ij| |e_ij| <= 10 rtol S_jj,
//     sum_i lambda_i |W*_il| |e_ij| <= 10 rtol max_l |U_jl|   (row j of U as one scale,
//         floored by 1e-2 max_l sum_i lambda_i |W_ij W*_il|: an entry passing through zero
//         needs no relative accuracy of its own; per-entry control costs ~1.8x the steps),
// and every entry within kComponentSlack (atol + rtol |W_ij|) (max norm). Records carry t,
// the loss and the overlaps (network_record_width); by default they are read off the dense
// output of the step that contains them (one pass per step with records).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "../model/network.hpp"
#include "../util/parallel.hpp"
#include "../util/progress.hpp"
#include "controller.hpp"
#include "dense.hpp"
#include "integrator.hpp"
#include "network_solve.hpp"
#include "tableau.hpp"

namespace pyscale {

// The default per-coordinate floor: rtol 1e-2 times the RMS entry of W* per physical
// coordinate (a compressed problem stores few, large entries).
inline double default_network_atol(const NetworkView& v, double rtol, int threads = 0) {
    BlockedReducer<1> red(v.n, threads);
    const int k = v.k;
    auto r = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i)
            for (int l = 0; l < k; ++l) acc[0] += v.w_star[i * k + l] * v.w_star[i * k + l];
    });
    const double rms = std::sqrt(r[0] / (v.dim * k));
    return rtol * 1e-2 * (rms > 0 ? rms : 1.0);
}

class NetworkFlowIntegrator {
public:
    NetworkFlowIntegrator(const NetworkView& v, const NetworkKernels& kern, FlowWorkspace& ws,
                          const FlowOptions& opt)
        : v_(v), kern_(kern), ws_(ws), opt_(opt), tab_(tableau(opt.method)), solver_(v.p, v.k),
          W_(v.width()), m_(v.p + v.k), ov_red_(v.n, opt.threads, W_),
          b_red_(v.n, opt.threads, solver_.gamma_width() + m_ * v.p),
          p_red_(v.n, opt.threads, m_ * v.p), c_red_(v.n, opt.threads, W_),
          f_red_(v.n, opt.threads, W_ + v.p + 2 * v.p * v.k, 1) {
        check_network(v, kern);
        if (ws.size() != v.n * static_cast<std::size_t>(v.p))
            throw std::invalid_argument("workspace size != n p");
        if (ws.stages() < tab_.stages)
            throw std::invalid_argument("workspace has fewer stage vectors than the method");
        if (!(opt.rtol > 0.0) || !(opt.rtol < 1.0))
            throw std::invalid_argument("rtol must lie in (0, 1)");
        atol_ = opt.atol >= 0.0 ? opt.atol : default_network_atol(v, opt.rtol, opt.threads);
        controller_.error_order = tab_.error_order;
        controller_.hmax = opt.hmax;
        for (std::size_t i = 0; i < v.n; ++i) lambda_max_ = std::max(lambda_max_, v.lambda[i]);
        for (int l = 0; l < v.k; ++l) s_scale_ += v.s_star[l * v.k + l] / v.k;
        const int p = v.p, k = v.k;
        A0_.resize(p * p), B0_.resize(p * k), A_.resize(p * p), B_.resize(p * k);
        C_.resize(static_cast<std::size_t>(solver_.r()) * solver_.r());
        P_.resize(m_ * p), Z_.resize(m_ * p), ov_.resize(W_), ovs_.resize(W_), ov_new_.resize(W_);
    }

    // Integrates W (n x p, in place) from t0 through the increasing record times; row r of
    // out (network_record_width(p, k) doubles) receives the record at t_records[r]. Records
    // before t0 are skipped (rows untouched); a record equal to t0 is the initial state.
    FlowResult run(double* w, double t0, const double* t_records, std::size_t n_records,
                   double* out, const ProgressHook& hook = nullptr);

    double atol() const { return atol_; }
    int record_width() const { return network_record_width(v_.p, v_.k); }

private:
    struct Run {
        double* y = nullptr;
        double* spare = nullptr;
        double t = 0.0, h = 0.0;
        std::size_t next = 0;
        bool last_rejected = false;
        FlowResult res;
        const double* t_records = nullptr;
        std::size_t n_records = 0;
        double* out = nullptr;
    };
    struct Attempt {
        double step = 0.0, target = 0.0;
        bool lands = false;
    };

    bool interpolating() const { return opt_.record_mode == RecordMode::kInterpolate; }
    std::size_t rows() const { return v_.n; }
    void write(double* out, std::size_t row, double t, const double* ov) const {
        write_network_record(out + row * record_width(), t, v_, kern_, ov);
    }

    Run start(double* w, double t0, const double* t_records, std::size_t n_records, double* out);
    bool plan(Run& r, Attempt& a);
    void accept(Run& r, const Attempt& a, double err);
    void prepare(const double* y);
    double attempt(const double* y, double* y_new, double h, FlowResult& res);
    void first_stage(const double* y, double hg);
    void finish_stage(int i, const double* y, double hg);
    void next_stage(int i, const double* y, double hg, double inv_h);
    void final_pass(const double* y, double* y_new, double hg);
    double scaled_error() const;
    void dense_records(Run& r, double t_start, double step, std::size_t last);
    // Coordinate i's row of W with the row of W*: V_i = [W_i W*_i] (m entries).
    void v_row(const double* y, std::size_t i, double* vi) const {
        for (int c = 0; c < v_.p; ++c) vi[c] = y[i * v_.p + c];
        for (int l = 0; l < v_.k; ++l) vi[v_.p + l] = v_.w_star[i * v_.k + l];
    }
    // Coordinate i's Woodbury correction x = D_i^-1 (hg lam_i V_i Z), with V_i into vi and
    // D_i's scales into sc: what finish_stage and final_pass add to a stage's K_i.
    void woodbury_row(const double* y, std::size_t i, double lam, double hg, double* vi,
                      double* sc, double* x) const {
        v_row(y, i, vi);
        solver_.scales(lam, hg, sc);
        for (int c = 0; c < v_.p; ++c) {
            double vz = 0.0;
            for (int a = 0; a < m_; ++a) vz += vi[a] * Z_[a * v_.p + c];
            x[c] = hg * lam * vz;
        }
        solver_.divide(x, sc, x);
    }
    void rhs_row(const double* yi, std::size_t i, const double* A, const double* B,
                 double* out) const {
        network_row_rhs(v_, i, yi, A, B, out);
    }
    void add_overlaps(double* acc, std::size_t i, const double* yi) const {
        add_row_overlaps(v_, i, yi, acc);
    }
    void symmetrise(const double* sums, double* ov) const {
        symmetrise_overlaps(v_.p, v_.k, sums, ov);
    }

    const NetworkView& v_;
    const NetworkKernels& kern_;
    FlowWorkspace& ws_;
    FlowOptions opt_;
    const RosenbrockTableau& tab_;
    StepController controller_;
    NetworkStageSolver solver_;
    int W_, m_;
    double atol_ = 0.0, lambda_max_ = 0.0, s_scale_ = 0.0;
    bool prepared_ = false;  // A0_, B0_ and the solver's Jacobian belong to the current state
    BlockedSums ov_red_, b_red_, p_red_, c_red_, f_red_;
    std::vector<double> A0_, B0_, A_, B_, C_, P_, Z_, ov_, ovs_, ov_new_, gamma_, fin_;
    double* K_[6] = {};  // the stage vectors of the attempt (K_L: the proposal's storage)
};

inline FlowResult NetworkFlowIntegrator::run(double* w, double t0, const double* t_records,
                                             std::size_t n_records, double* out,
                                             const ProgressHook& hook) {
    Run r = start(w, t0, t_records, n_records, out);
    while (r.next < n_records) {
        Attempt a;
        if (r.res.steps >= opt_.max_steps || !plan(r, a)) {
            r.res.status = RunStatus::kStepLimit;
            break;
        }
        const double err = attempt(r.y, r.spare, a.step, r.res);
        if (!(err <= 1.0)) {  // also catches NaN
            ++r.res.rejected;
            r.h = controller_.after_reject(a.step, err);
            r.last_rejected = true;
            continue;
        }
        accept(r, a, err);
        if (hook && r.res.steps % opt_.progress_every == 0 && !hook(r.t, r.res.steps)) {
            r.res.status = RunStatus::kInterrupted;
            break;
        }
    }
    if (r.y != w) std::memcpy(w, r.y, rows() * v_.p * sizeof(double));
    r.res.t = r.t;
    r.res.h_next = r.h;
    r.res.records_written = r.next;
    return r.res;
}

inline NetworkFlowIntegrator::Run NetworkFlowIntegrator::start(double* w, double t0,
                                                               const double* t_records,
                                                               std::size_t n_records,
                                                               double* out) {
    Run r;
    r.res.t = t0;
    r.y = w;
    // The last stage's storage doubles as the proposed state; on acceptance the two buffers
    // swap roles (as in the single-index integrator).
    r.spare = ws_.stage(tab_.stages - 1);
    network_overlaps(v_, r.y, ov_red_, ov_.data());
    r.res.passes += 1;
    r.t_records = t_records;
    r.n_records = n_records;
    r.out = out;
    while (r.next < n_records && t_records[r.next] < t0) ++r.next;
    if (r.next < n_records && t_records[r.next] == t0) write(out, r.next++, t0, ov_.data());
    r.t = t0;
    prepare(r.y);
    double amax = 0.0;
    for (double x : A0_) amax = std::max(amax, std::abs(x));
    r.h = opt_.h0 > 0.0 ? opt_.h0 : std::pow(opt_.rtol, 0.25) / (lambda_max_ * (amax + 1.0));
    return r;
}

// The coefficients, A's eigenbasis and the coupling at the current state (once per state:
// rejected attempts reuse them).
inline void NetworkFlowIntegrator::prepare(const double*) {
    if (prepared_) return;
    kern_.gradient(ov_.data(), v_.s_star.data(), A0_.data(), B0_.data());
    kern_.coupling_matrix(kern_.jets(ov_.data(), v_.s_star.data()), C_.data());
    solver_.set_jacobian(A0_.data(), C_.data());
    prepared_ = true;
}

inline bool NetworkFlowIntegrator::plan(Run& r, Attempt& a) {
    a.target = interpolating() ? r.t_records[r.n_records - 1] : r.t_records[r.next];
    prepare(r.y);
    const double growth = lambda_max_ * solver_.mu_max();
    r.h = controller_.limit(r.h, growth, tab_.gamma);
    a.step = r.h;
    a.lands = StepController::lands(r.t, a.step, a.target);
    if (a.lands) a.step = a.target - r.t;
    return !StepController::too_small(a.step, r.t);
}

inline void NetworkFlowIntegrator::accept(Run& r, const Attempt& a, double err) {
    std::swap(r.y, r.spare);  // spare: the state at the start of the step
    ++r.res.steps;
    const double t_start = r.t;
    r.t = a.lands ? a.target : r.t + a.step;
    std::size_t last = r.next;  // records strictly inside the step: [next, last)
    while (interpolating() && last < r.n_records && r.t_records[last] < r.t) ++last;
    if (last > r.next) dense_records(r, t_start, a.step, last);  // uses A0_, B0_ of y0
    if (r.next < r.n_records && r.t_records[r.next] == r.t)
        write(r.out, r.next++, r.t, ov_new_.data());
    ov_.swap(ov_new_);
    prepared_ = false;
    r.h = controller_.after_accept(a.step, err, r.last_rejected, a.lands, r.h);
    r.last_rejected = false;
}

// One Rosenbrock step of size h from y: the proposal into y_new (the last stage's storage),
// its overlaps into ov_new_; returns the scaled error (> 1: reject).
inline double NetworkFlowIntegrator::attempt(const double* y, double* y_new, double h,
                                             FlowResult& res) {
    const int L = tab_.stages - 1;
    const double hg = tab_.gamma * h, inv_h = 1.0 / h;
    prepare(y);
    for (int j = 0; j < L; ++j) K_[j] = ws_.stage(j);
    K_[L] = y_new;
    first_stage(y, hg);
    res.passes += 1;
    ++res.rhs_evals;
    if (!solver_.factor(gamma_.data(), hg)) return std::numeric_limits<double>::infinity();
    solver_.solve(P_.data(), Z_.data());
    for (int i = 0; i < L; ++i) {
        finish_stage(i, y, hg);
        kern_.gradient(ovs_.data(), v_.s_star.data(), A_.data(), B_.data());
        next_stage(i + 1, y, hg, inv_h);
        solver_.solve(P_.data(), Z_.data());
        res.passes += 2;
        ++res.rhs_evals;
    }
    final_pass(y, y_new, hg);
    res.passes += 1;
    return scaled_error();
}

// Stage 1: K_1's block part D^-1 (hg f(y)) stored, its projection P = V^T Q (.) and the
// Gamma sums of the step.
inline void NetworkFlowIntegrator::first_stage(const double* y, double hg) {
    const int p = v_.p, m = m_, G = solver_.gamma_width();
    double* K0 = K_[0];
    const auto& tot = b_red_.run([&](std::size_t b, std::size_t e, double* acc) {
        double sc[kMaxUnits], f[kMaxUnits], t[kMaxUnits], vi[2 * kMaxUnits];
        for (std::size_t i = b; i < e; ++i) {
            const double lam = v_.lambda[i];
            v_row(y, i, vi);
            solver_.scales(lam, hg, sc);
            solver_.accumulate_gamma(acc, lam, vi, sc);
            rhs_row(y + i * p, i, A0_.data(), B0_.data(), f);
            for (int c = 0; c < p; ++c) f[c] *= hg;
            solver_.divide(f, sc, t);
            for (int c = 0; c < p; ++c) K0[i * p + c] = t[c];
            for (int a = 0; a < m; ++a)
                for (int c = 0; c < p; ++c) acc[G + a * p + c] += lam * vi[a] * t[c];
        }
    });
    gamma_.assign(tot.begin(), tot.begin() + G);
    P_.assign(tot.begin() + G, tot.end());
}

// Completes K_i = D^-1 (hg r_i) + hg D^-1 (Q V Z) and forms the overlaps of the next stage
// state Y_{i+1} = y + sum_{j<=i} A_{i+1,j} K_j (into ovs_).
inline void NetworkFlowIntegrator::finish_stage(int i, const double* y, double hg) {
    const int p = v_.p;
    double* Ki = K_[i];
    const double* a_next = tab_.A[i + 1];
    const auto& tot = c_red_.run([&](std::size_t b, std::size_t e, double* acc) {
        double sc[kMaxUnits], x[kMaxUnits], yn[kMaxUnits], vi[2 * kMaxUnits];
        for (std::size_t n = b; n < e; ++n) {
            const double lam = v_.lambda[n];
            woodbury_row(y, n, lam, hg, vi, sc, x);
            for (int c = 0; c < p; ++c) {
                Ki[n * p + c] += x[c];
                double s = y[n * p + c];
                for (int j = 0; j <= i; ++j) s += a_next[j] * K_[j][n * p + c];
                yn[c] = s;
            }
            add_overlaps(acc, n, yn);
        }
    });
    symmetrise(tot.data(), ovs_.data());
}

// Stage i's block part: r_i = f(Y_i) + sum_{j<i} (C_ij / h) K_j with f's coefficients
// (A_, B_) at Y_i; D^-1 (hg r_i) stored in K_i and projected, P = V^T Q (.).
inline void NetworkFlowIntegrator::next_stage(int i, const double* y, double hg, double inv_h) {
    const int p = v_.p, m = m_;
    double* Ki = K_[i];
    const double* ai = tab_.A[i];
    const double* ci = tab_.C[i];
    const auto& tot = p_red_.run([&](std::size_t b, std::size_t e, double* acc) {
        double sc[kMaxUnits], f[kMaxUnits], t[kMaxUnits], yi[kMaxUnits], vi[2 * kMaxUnits];
        for (std::size_t n = b; n < e; ++n) {
            const double lam = v_.lambda[n];
            for (int c = 0; c < p; ++c) {
                double s = y[n * p + c], cs = 0.0;
                for (int j = 0; j < i; ++j) {
                    s += ai[j] * K_[j][n * p + c];
                    cs += ci[j] * K_[j][n * p + c];
                }
                yi[c] = s;
                t[c] = cs;
            }
            rhs_row(yi, n, A_.data(), B_.data(), f);
            for (int c = 0; c < p; ++c) f[c] = hg * (f[c] + inv_h * t[c]);
            solver_.scales(lam, hg, sc);
            solver_.divide(f, sc, t);
            v_row(y, n, vi);
            for (int c = 0; c < p; ++c) Ki[n * p + c] = t[c];
            for (int a = 0; a < m; ++a)
                for (int c = 0; c < p; ++c) acc[a * p + c] += lam * vi[a] * t[c];
        }
    });
    P_.assign(tot.begin(), tot.end());
}

// The last stage's completion, the new state y_new = y + sum_j M_j K_j (written over K_L),
// its overlaps (ov_new_) and the error measures (fin_: overlaps, then per unit the effect
// on S_jj, on row j of U and U's floor, then the per-entry maximum).
inline void NetworkFlowIntegrator::final_pass(const double* y, double* y_new, double hg) {
    const int p = v_.p, k = v_.k, L = tab_.stages - 1, W = W_;
    const double crt = kComponentSlack * opt_.rtol, cat = kComponentSlack * atol_;
    const int slot = W + p + 2 * p * k;
    const auto& tot = f_red_.run([&](std::size_t b, std::size_t e, double* acc) {
        double sc[kMaxUnits], x[kMaxUnits], yn[kMaxUnits], er[kMaxUnits], vi[2 * kMaxUnits];
        for (std::size_t n = b; n < e; ++n) {
            const double lam = v_.lambda[n];
            const double* si = v_.w_star + n * k;
            woodbury_row(y, n, lam, hg, vi, sc, x);
            for (int c = 0; c < p; ++c) {
                const double kl = y_new[n * p + c] + x[c];
                double s = y[n * p + c] + tab_.M[L] * kl, r = tab_.E[L] * kl;
                for (int j = 0; j < L; ++j) {
                    s += tab_.M[j] * K_[j][n * p + c];
                    r += tab_.E[j] * K_[j][n * p + c];
                }
                yn[c] = s;
                er[c] = std::abs(r);
            }
            for (int c = 0; c < p; ++c) {
                y_new[n * p + c] = yn[c];
                acc[W + c] += 2.0 * lam * std::abs(yn[c]) * er[c];
                for (int l = 0; l < k; ++l) {
                    acc[W + p + c * k + l] += lam * std::abs(si[l]) * er[c];
                    acc[W + p + p * k + c * k + l] += lam * std::abs(yn[c] * si[l]);
                }
                const double ratio =
                    er[c] / (cat + crt * std::max(std::abs(y[n * p + c]), std::abs(yn[c])));
                acc[slot] = (ratio > acc[slot] || ratio != ratio) ? ratio : acc[slot];
            }
            add_overlaps(acc, n, yn);
        }
    });
    fin_.assign(tot.begin(), tot.end());
    symmetrise(fin_.data(), ov_new_.data());
}

// The attempt's error from fin_: per unit, the effects on S_jj and on row j of U against
// their tolerances, and the per-entry maximum. NaN propagates (a rejected attempt).
inline double NetworkFlowIntegrator::scaled_error() const {
    const int p = v_.p, k = v_.k, W = W_;
    const double tol = kLocalSlack * opt_.rtol, guard = 1e-10 * s_scale_;
    double err = fin_[W + p + 2 * p * k];
    auto take = [&err](double x) { err = (x > err || x != x) ? x : err; };
    for (int j = 0; j < p; ++j) {
        take(fin_[W + j] / (tol * (ov_new_[j * p + j] + guard)));
        double umax = 0.0, floor = 0.0;
        for (int l = 0; l < k; ++l) {
            umax = std::max(umax, std::abs(ov_new_[p * p + j * k + l]));
            floor = std::max(floor, fin_[W + p + p * k + j * k + l]);
        }
        const double scale = std::max(umax, 1e-2 * floor) + guard;
        for (int l = 0; l < k; ++l) take(fin_[W + p + j * k + l] / (tol * scale));
    }
    return err;
}

// Records [next, last) strictly inside the step just accepted (from r.spare to r.y, size
// step), read off its continuous extension in one pass: RODAS4's stage form, or ROS4's
// cubic Hermite interpolant of (y0, f(y0)) and (y1, f(y1)).
inline void NetworkFlowIntegrator::dense_records(Run& r, double t_start, double step,
                                                 std::size_t last) {
    const int p = v_.p, W = W_, L = tab_.stages - 1;
    const std::size_t q_count = last - r.next;
    std::vector<DenseBasis> basis;
    for (std::size_t q = 0; q < q_count; ++q)
        basis.emplace_back((r.t_records[r.next + q] - t_start) / step);
    const bool stage_form = tab_.has_stage_dense_output;
    if (!stage_form) kern_.gradient(ov_new_.data(), v_.s_star.data(), A_.data(), B_.data());
    const double* y0 = r.spare;
    const double* y1 = r.y;
    BlockedSums red(v_.n, opt_.threads, q_count * W);
    const auto& tot = red.run([&](std::size_t b, std::size_t e, double* acc) {
        double c2[kMaxUnits], c3[kMaxUnits], f0[kMaxUnits], f1[kMaxUnits], wq[kMaxUnits];
        for (std::size_t n = b; n < e; ++n) {
            const double* a0 = y0 + n * p;
            const double* a1 = y1 + n * p;
            if (stage_form) {
                for (int c = 0; c < p; ++c) {
                    c2[c] = c3[c] = 0.0;
                    for (int j = 0; j < L; ++j) {
                        c2[c] += tab_.D2[j] * ws_.stage(j)[n * p + c];
                        c3[c] += tab_.D3[j] * ws_.stage(j)[n * p + c];
                    }
                }
            } else {
                rhs_row(a0, n, A0_.data(), B0_.data(), f0);
                rhs_row(a1, n, A_.data(), B_.data(), f1);
                for (int c = 0; c < p; ++c) {
                    const double dy = a1[c] - a0[c];
                    c2[c] = step * f0[c] - dy;
                    c3[c] = 2.0 * dy - step * f0[c] - step * f1[c];
                }
            }
            for (std::size_t q = 0; q < q_count; ++q) {
                const double* bq = basis[q].b;
                for (int c = 0; c < p; ++c)
                    wq[c] = bq[0] * a0[c] + bq[1] * a1[c] + bq[2] * c2[c] + bq[3] * c3[c];
                add_overlaps(acc + q * W, n, wq);
            }
        }
    });
    r.res.passes += 1;
    std::vector<double> ov(W);
    for (std::size_t q = 0; q < q_count; ++q, ++r.next) {
        symmetrise(tot.data() + q * W, ov.data());
        write(r.out, r.next, r.t_records[r.next], ov.data());
    }
}

// Convenience: the network flow with a workspace of its own.
inline FlowResult run_network_flow(const NetworkView& v, const NetworkKernels& kern, double* w,
                                   double t0, const double* t_records, std::size_t n_records,
                                   double* out, const FlowOptions& opt = {},
                                   const ProgressHook& hook = nullptr) {
    FlowWorkspace ws(v.n * static_cast<std::size_t>(v.p), opt.method);
    NetworkFlowIntegrator integ(v, kern, ws, opt);
    return integ.run(w, t0, t_records, n_records, out, hook);
}

}  // namespace pyscale
