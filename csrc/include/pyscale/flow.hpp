// Population gradient flow, SPEC §2:  dw_i/dt = lambda_i [4 (s* - 3 s) w_i + 8 u w*_i].
//
// Why a Rosenbrock method: the head directions relax on a time scale 1/lambda_1 while the
// tail needs ~d^a, so explicit schemes need ~t/7 steps. The flow's Jacobian
//     J = 4 (s* - 3 s) Q - 24 (Qw)(Qw)^T + 8 (Qw*)(Qw*)^T
// is diagonal plus rank two, so each linear solve with  G = I/(h gamma) - J  costs O(d)
// through the Woodbury identity with a 2x2 capacitance matrix. The scheme is the L-stable
// 4-stage Rosenbrock method of order 4 with an embedded order-3 error estimate
// ("ROS4", Hairer & Wanner, Solving ODEs II, §IV.7), three right-hand sides per step.
//
// Error control is on what the flow is for. Each coordinate is linear given (s, u) (SPEC §2,
// Duhamel), so a local error e_i matters only through its effect on s, u (which drive every
// coordinate) and on the MSE. A step is accepted when the first-order bounds
//   2 sum lambda_i |w_i| |e_i| <= rtol s,   sum lambda_i |w*_i| |e_i| <= rtol |u|,
//   2 sum |w_i -+ w*_i| |e_i| <= rtol ||w -+ w*||^2
// hold, and every coordinate is within kComponentSlack * (atol + rtol |w_i|) (max norm: unlike
// an RMS norm it does not dilute an error in one head direction by 1/sqrt(d)). Per-coordinate
// control at rtol itself would spend ~10x more steps resolving the decay of coordinates whose
// contribution to every observable is already far below the tolerance.
//
// Memory: besides the caller's lambda, w* and w, four stage vectors of length n.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "parallel.hpp"
#include "errors.hpp"
#include "problem.hpp"
#include "progress.hpp"
#include "stats.hpp"

namespace pyscale {

struct FlowOptions {
    double rtol = 1e-9;
    double atol = -1.0;  // per-coordinate floor; < 0: rtol * 1e-2 * rms(w*), see default_atol()
    double h0 = 0.0;     // first step; <= 0: chosen from the head time scale
    double hmax = std::numeric_limits<double>::infinity();
    long long max_steps = 100000000;
    int threads = 0;
    long long progress_every = 64;  // accepted steps between progress-hook calls
};

struct FlowResult {
    RunStatus status = RunStatus::kCompleted;
    double t = 0.0;       // time of the state left in w
    double h_next = 0.0;  // step the integrator would try next (for exact resume)
    long long steps = 0;     // accepted steps
    long long rejected = 0;  // rejected step attempts
    long long rhs_evals = 0; // right-hand-side evaluations (each one O(d) pass)
    long long passes = 0;    // all O(d) passes over the state
    std::size_t records_written = 0;
};

// Caller-owned scratch: the four Rosenbrock stage vectors.
class FlowWorkspace {
public:
    explicit FlowWorkspace(std::size_t n) : n_(n) {
        try {
            k1_.resize(n);
            k2_.resize(n);
            k3_.resize(n);
            k4_.resize(n);
        } catch (const std::bad_alloc&) {
            throw AllocationError("flow workspace (4 stage vectors)", bytes_needed(n));
        } catch (const std::length_error&) {
            throw AllocationError("flow workspace (4 stage vectors)", bytes_needed(n));
        }
    }
    std::size_t size() const { return n_; }
    static std::size_t bytes_needed(std::size_t n) { return 4 * n * sizeof(double); }

private:
    friend class FlowIntegrator;
    std::size_t n_;
    std::vector<double> k1_, k2_, k3_, k4_;
};

// Per-coordinate error allowed relative to the observables' tolerance (see above).
constexpr double kComponentSlack = 1e3;
// The MSE decays by many decades while errors committed early in slow coordinates persist,
// so its global error is the sum of many local ones: control it 10x tighter than s and u.
constexpr double kDistanceTightening = 0.1;

namespace ros4 {
// Stage coefficients in the "K-increment" form: Y_i = y + sum_j A_ij K_j,
// G K_i = f(Y_i) + sum_j (C_ij / h) K_j, y_new = y + sum_j M_j K_j, err = sum_j E_j K_j.
constexpr double gamma = 0.57282;
constexpr double a21 = 2.0;
constexpr double a31 = 1.867943637803922, a32 = 0.2344449711399156;
constexpr double c21 = -7.137615036412310;
constexpr double c31 = 2.580708087951457, c32 = 0.6515950076447975;
constexpr double c41 = -2.137148994382534, c42 = -0.3214669691237626,
                 c43 = -0.6949742501781779;
constexpr double m1 = 2.255570073418735, m2 = 0.2870493262186792, m3 = 0.4353179431840180,
                 m4 = 1.093502252409163;
constexpr double e1 = -0.2815431932141155, e2 = -0.07276199124938920,
                 e3 = -0.1082196201495311, e4 = -1.093502252409163;
constexpr double error_order = 4.0;  // min(order, embedded order) + 1
}  // namespace ros4

inline double default_atol(const ProblemView& p, double rtol, int threads = 0) {
    BlockedReducer<1> red(p.n, threads);
    auto r = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) acc[0] += p.w_star[i] * p.w_star[i];
    });
    const double rms = std::sqrt(r[0] / static_cast<double>(p.n));
    return rtol * 1e-2 * (rms > 0 ? rms : 1.0);
}

class FlowIntegrator {
public:
    FlowIntegrator(const ProblemView& p, FlowWorkspace& ws, const FlowOptions& opt)
        : p_(p), ws_(ws), opt_(opt), red2_(p.n, opt.threads), red5_(p.n, opt.threads),
          red6_(p.n, opt.threads), redfin_(p.n, opt.threads) {
        if (ws.size() != p.n) throw std::invalid_argument("workspace size != problem size");
        if (!(opt.rtol > 0.0) || !(opt.rtol < 1.0))
            throw std::invalid_argument("rtol must lie in (0, 1)");
        atol_ = opt.atol >= 0.0 ? opt.atol : default_atol(p, opt.rtol, opt.threads);
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
    FlowResult run(double* w, double t0, const double* t_records, std::size_t n_records,
                   double* out, const ProgressHook& hook = nullptr) {
        FlowResult res;
        res.t = t0;
        double* y = w;
        double* spare = ws_.k4_.data();  // K4's storage doubles as the proposed new state
        Moments m = moments(p_, y, red6_);
        res.passes += 1;
        std::size_t next = 0;
        while (next < n_records && t_records[next] < t0) ++next;
        if (next < n_records && t_records[next] == t0) {
            write_record(out + next * kRecordWidth, t0, p_, m);
            ++next;
        }
        double t = t0;
        double h = opt_.h0 > 0.0 ? opt_.h0 : initial_step(m);
        bool last_rejected = false;
        while (next < n_records) {
            if (res.steps >= opt_.max_steps) {
                res.status = RunStatus::kStepLimit;
                break;
            }
            const double target = t_records[next];
            h = std::min(h, opt_.hmax);
            // Keep G well away from singular during growth (s < s*/3): the step is then
            // limited by accuracy long before this bound binds.
            const double growth = 4.0 * (p_.s_star - 3.0 * m.s) * lambda_max_;
            if (growth > 0.0) h = std::min(h, 0.5 / (ros4::gamma * growth));
            bool hits_record = false;
            double step = h;
            if (t + step >= target * (1.0 - 4 * std::numeric_limits<double>::epsilon())) {
                step = target - t;
                hits_record = true;
            }
            if (!(step > std::max(std::abs(t), 1.0) * 1e-15)) {
                res.status = RunStatus::kStepLimit;
                break;
            }
            Moments m_new;
            const double err = attempt(y, spare, m, step, m_new, res);
            if (!(err <= 1.0)) {  // also catches NaN
                ++res.rejected;
                const double fac = std::isfinite(err)
                                       ? std::max(0.2, 0.9 * std::pow(err, -1.0 / ros4::error_order))
                                       : 0.2;
                h = step * fac;
                last_rejected = true;
                continue;
            }
            std::swap(y, spare);
            ++res.steps;
            t = hits_record ? target : t + step;
            m = m_new;
            double fac = std::min(5.0, std::max(0.2, 0.9 * std::pow(std::max(err, 1e-10),
                                                                    -1.0 / ros4::error_order)));
            if (last_rejected) fac = std::min(fac, 1.0);
            last_rejected = false;
            const double h_new = step * fac;
            // A step shortened to land on a record says little about the scale of the
            // solution: do not let it shrink the next step below the one planned.
            h = hits_record ? std::max(h_new, std::min(h, h_new * 5.0)) : h_new;
            if (hits_record) {
                write_record(out + next * kRecordWidth, t, p_, m);
                ++next;
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

private:
    double initial_step(const Moments& m) const {
        const double rate = lambda_max_ * (4.0 * p_.s_star + 12.0 * std::abs(m.s) + 1.0);
        return std::pow(opt_.rtol, 0.25) / rate;
    }

    // One Rosenbrock step of size h from y (moments m). Writes the proposal into y_new and
    // its moments into m_new; returns the scaled max-norm error (> 1: reject).
    double attempt(const double* y, double* y_new, const Moments& m, double h, Moments& m_new,
                   FlowResult& res) {
        using namespace ros4;
        const std::size_t n = p_.n;
        const double* lam = p_.lambda;
        const double* ws = p_.w_star;
        double* k1 = ws_.k1_.data();
        double* k2 = ws_.k2_.data();
        double* k3 = ws_.k3_.data();
        double* k4 = y_new;  // K4 is consumed element by element as y_new is written
        const double sstar = p_.s_star;
        const double gh = 1.0 / (h * gamma);
        const double c0 = 4.0 * (sstar - 3.0 * m.s);
        const double inv_h = 1.0 / h;
        // f_i(Y) = lambda_i [4 (s* - 3 s_Y) Y_i + 8 u_Y w*_i]
        auto coef = [sstar](double s) { return 4.0 * (sstar - 3.0 * s); };

        // Pass 1: capacitance sums P = U^T M^-1 U, and q = U^T M^-1 r1 with r1 = f(y).
        const double cy = coef(m.s), uy8 = 8.0 * m.u;
        auto s1 = red5_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double r = cy * lw + uy8 * lws;
                acc[0] += lw * lw * inv_m;
                acc[1] += lw * lws * inv_m;
                acc[2] += lws * lws * inv_m;
                acc[3] += lw * r * inv_m;
                acc[4] += lws * r * inv_m;
            }
        });
        ++res.rhs_evals;
        res.passes += 1;
        // Capacitance K = C^-1 - P with C = diag(-24, 8).
        const double k11 = -1.0 / 24.0 - s1[0], k12 = -s1[1], k22 = 1.0 / 8.0 - s1[2];
        const double det = k11 * k22 - k12 * k12;
        const double scale = std::abs(k11 * k22) + k12 * k12;
        if (!(std::abs(det) > 1e-13 * scale) || !std::isfinite(det))
            return std::numeric_limits<double>::infinity();
        auto solve2 = [&](double q1, double q2, double& z1, double& z2) {
            z1 = (k22 * q1 - k12 * q2) / det;
            z2 = (k11 * q2 - k12 * q1) / det;
        };
        double z1, z2;
        solve2(s1[3], s1[4], z1, z2);

        // Pass 2: K1, and the moments of Y2 = y + a21 K1.
        auto s2 = red2_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double r = cy * lw + uy8 * lws;
                const double k = (r + lw * z1 + lws * z2) / (gh - c0 * lam[i]);
                k1[i] = k;
                const double y2 = y[i] + a21 * k;
                acc[0] += lam[i] * y2 * y2;
                acc[1] += lam[i] * y2 * ws[i];
            }
        });
        const double cy2 = coef(s2[0]), uy28 = 8.0 * s2[1];

        // Pass 3: q for r2 = f(Y2) + c21/h K1.
        auto q2 = red2_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double y2 = y[i] + a21 * k1[i];
                const double r = lam[i] * (cy2 * y2 + uy28 * ws[i]) + c21 * inv_h * k1[i];
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                acc[0] += lam[i] * y[i] * r * inv_m;
                acc[1] += lam[i] * ws[i] * r * inv_m;
            }
        });
        ++res.rhs_evals;
        solve2(q2[0], q2[1], z1, z2);

        // Pass 4: K2, and the moments of Y3 = y + a31 K1 + a32 K2.
        auto s3 = red2_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double y2 = y[i] + a21 * k1[i];
                const double r = lam[i] * (cy2 * y2 + uy28 * ws[i]) + c21 * inv_h * k1[i];
                const double k = (r + lw * z1 + lws * z2) / (gh - c0 * lam[i]);
                k2[i] = k;
                const double y3 = y[i] + a31 * k1[i] + a32 * k;
                acc[0] += lam[i] * y3 * y3;
                acc[1] += lam[i] * y3 * ws[i];
            }
        });
        const double cy3 = coef(s3[0]), uy38 = 8.0 * s3[1];

        // Pass 5: q for r3 = f(Y3) + (c31 K1 + c32 K2)/h.
        auto q3 = red2_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double y3 = y[i] + a31 * k1[i] + a32 * k2[i];
                const double r = lam[i] * (cy3 * y3 + uy38 * ws[i]) +
                                 inv_h * (c31 * k1[i] + c32 * k2[i]);
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                acc[0] += lam[i] * y[i] * r * inv_m;
                acc[1] += lam[i] * ws[i] * r * inv_m;
            }
        });
        ++res.rhs_evals;
        solve2(q3[0], q3[1], z1, z2);

        // Pass 6: K3, and q for r4 = f(Y3) + (c41 K1 + c42 K2 + c43 K3)/h (stage 4 reuses
        // the right-hand side of stage 3: Y4 = Y3 for this method).
        auto q4 = red2_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                const double y3 = y[i] + a31 * k1[i] + a32 * k2[i];
                const double f3 = lam[i] * (cy3 * y3 + uy38 * ws[i]);
                const double r3 = f3 + inv_h * (c31 * k1[i] + c32 * k2[i]);
                const double k = (r3 + lw * z1 + lws * z2) * inv_m;
                k3[i] = k;
                const double r4 = f3 + inv_h * (c41 * k1[i] + c42 * k2[i] + c43 * k);
                acc[0] += lw * r4 * inv_m;
                acc[1] += lws * r4 * inv_m;
            }
        });
        solve2(q4[0], q4[1], z1, z2);

        // Pass 7: K4, the new state, its moments and the error measures.
        const double rtol = opt_.rtol;
        const double comp_rtol = kComponentSlack * rtol, comp_atol = kComponentSlack * atol_;
        auto fin = redfin_.run([&](std::size_t b, std::size_t e, double* acc) {
            for (std::size_t i = b; i < e; ++i) {
                const double lw = lam[i] * y[i], lws = lam[i] * ws[i];
                const double inv_m = 1.0 / (gh - c0 * lam[i]);
                const double y3 = y[i] + a31 * k1[i] + a32 * k2[i];
                const double f3 = lam[i] * (cy3 * y3 + uy38 * ws[i]);
                const double r4 = f3 + inv_h * (c41 * k1[i] + c42 * k2[i] + c43 * k3[i]);
                const double k = (r4 + lw * z1 + lws * z2) * inv_m;
                const double yn = y[i] + m1 * k1[i] + m2 * k2[i] + m3 * k3[i] + m4 * k;
                const double err = std::abs(e1 * k1[i] + e2 * k2[i] + e3 * k3[i] + e4 * k);
                k4[i] = yn;
                const double lyn = lam[i] * yn;
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
                const double sc = comp_atol + comp_rtol * std::max(std::abs(y[i]), std::abs(yn));
                const double ratio = err / sc;
                // NaN must poison the max: comparisons with NaN are false.
                acc[11] = (ratio > acc[11] || ratio != ratio) ? ratio : acc[11];
            }
        });
        res.passes += 6;
        (void)n;
        m_new = Moments{fin[0], fin[1], fin[2], fin[3], fin[4], fin[5]};
        // Tolerances on the observables. u's scale is floored by a fraction of
        // sum |lambda w w*| so that a sign change of u does not stall the integrator.
        // The floors are far below anything physical: they only guard exact zeros.
        const double tol_s = rtol * (m_new.s + 1e-10 * p_.s_star);
        const double tol_u = rtol * (std::max(std::abs(m_new.u), 1e-2 * fin[10]) + 1e-10 * p_.s_star);
        const double tol_minus = kDistanceTightening * rtol * (m_new.dist_minus + 1e-10 * star_norm2_);
        const double tol_plus = kDistanceTightening * rtol * (m_new.dist_plus + 1e-10 * star_norm2_);
        const double err_obs = std::max(std::max(fin[6] / tol_s, fin[7] / tol_u),
                                        std::min(fin[8] / tol_minus, fin[9] / tol_plus));
        if (err_obs != err_obs) return err_obs;
        return std::max(err_obs, fin[11]);
    }

    const ProblemView& p_;
    FlowWorkspace& ws_;
    FlowOptions opt_;
    double atol_ = 0.0;
    double lambda_max_ = 0.0;
    double star_norm2_ = 0.0;  // ||w*||^2, the scale of ||w -+ w*||^2
    BlockedReducer<2> red2_;
    BlockedReducer<5> red5_;
    BlockedReducer<6> red6_;
    BlockedReducer<12, 1> redfin_;
};

// Convenience: run the flow with a workspace of its own.
inline FlowResult run_flow(const ProblemView& p, double* w, double t0, const double* t_records,
                           std::size_t n_records, double* out, const FlowOptions& opt = {},
                           const ProgressHook& hook = nullptr) {
    FlowWorkspace ws(p.n);
    FlowIntegrator integ(p, ws, opt);
    return integ.run(w, t0, t_records, n_records, out, hook);
}

}  // namespace pyscale
