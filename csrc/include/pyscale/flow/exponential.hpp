// The flow's exponential scheme (model page: Gradient flow, Exponential steps): exact in every
// coordinate given one scalar function, collocated on seven points of a step.
//
// In the internal time theta, d theta = c0 dt, the flow dw_i/dt = lambda_i (c0 w_i + c1 w*_i)
// reads
//     dw_i / d theta = lambda_i (w_i + G w*_i),      G = c1 / c0,
// diagonal with constant rates lambda_i and ONE scalar forcing G(theta) common to all
// coordinates. If G is a polynomial on a step, G(nu dth) = sum_m a_m nu^m (nu in [0, 1], dth
// the step in theta), every coordinate is exact (Duhamel, with the phi-functions
// phi_k(x) = int_0^1 e^{(1 - r) x} r^{k-1} / (k-1)! dr):
//     w_i(nu) = e^{z nu} w_i(0) + w*_i sum_m a_m P_m(z, nu),
//     P_m(z, nu) = z m! nu^{m+1} phi_{m+1}(z nu),        z = lambda_i dth.
// So the only approximation is G's polynomial, and the only unknowns of a step are its values
// at the collocation points: an exponential collocation method (Hochbruck & Ostermann, "Exponential
// Runge-Kutta methods for parabolic problems", Appl. Numer. Math. 53, 2005) whose stage
// equations, G(nu_q) c0(s_q, u_q) = c1(s_q, u_q), involve the states only through
// s_q = sum lambda w(nu_q)^2 and u_q = sum lambda w(nu_q) w*: u_q is affine and s_q quadratic
// in the monomial coefficients a, with coefficients that are O(d) sums. One pass forms them
// (44 per point); the implicit stage equations are then solved by Newton's method on six
// scalars, with no further pass over the coordinates. A second pass forms the new state.
//
// Points: the Lobatto-Kronrod extension of the 4-point Lobatto rule, nu in {0, x, n1, 1/2, n2,
// 1 - x, 1} with n1,2 = (5 -+ sqrt 5)/10, x = (1 - sqrt(2/3))/2: G of degree 6 (stage order
// 7); the time of the step, h = int dth / c0, by the 7-point rule (exact for degree 9).
// The embedded solution is the 4-point Lobatto collocation (points 0, n1, n2, 1; degree 3),
// solved from the same sums; its distance to the 7-point one (plus the 4-point rule's time
// error times |dw/dt|) is the error estimate the integrator controls, on the same observables
// as RODAS4's (integrator.hpp). It over-estimates the propagated solution's error: rtol keeps
// its meaning with room to spare.
//
// The reparametrisation needs c0 away from 0: where s crosses the value at which c0 changes
// sign (the square: s = s*/3, Phase IIa), G has a pole. The integrator takes RODAS4 steps
// there (FlowScheme::kExponential: exponential steps while |c0| >= kExponentialMargin times
// the pair's rate scale, RODAS4 steps otherwise) and rejects an exponential attempt whose c0
// changes sign on its points.
//
// phi-functions, in chunks of coordinates with branch-free loops over the chunk: e^x by exp,
// three per coordinate for the six points of pass A (the others are their squares and
// quotients); phi_1..phi_7 for |x| < 4 from phi_7's series (as many terms as the chunk's
// largest |x| needs: 27 at 4, 3 at 1e-6) and the stable downward recurrence
// phi_k = 1/k! + x phi_{k+1}; for |x| >= 4 by the upward one phi_{k+1} = (phi_k - 1/k!) / x
// (at most half a digit lost there).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../model/link_pair.hpp"

namespace pyscale {

// Exponential steps while |c0| >= this times the pair's rate scale (the square: away from
// |s* - 3 s| < 0.1 s*); closer to c0 = 0, RODAS4 steps.
constexpr double kExponentialMargin = 0.05;

namespace expo {

constexpr int kPoints = 7;                         // nu_0 = 0 ... nu_6 = 1
constexpr int kMonomials = 7;                      // G of degree 6
constexpr int kPairs = kMonomials * (kMonomials + 1) / 2;
constexpr int kPointSums = 2 + 2 * kMonomials + kPairs;  // u0, um[7], s0, s1[7], s2[28]
constexpr int kSums = (kPoints - 1) * kPointSums;        // one pass: 264 sums
// Offsets inside a point's sums.
constexpr int kU0 = 0, kUm = 1, kS0 = 1 + kMonomials, kS1 = 2 + kMonomials,
              kS2 = 2 + 2 * kMonomials;
// The 4-point embedded Lobatto collocation uses points 0, 2, 4, 6 and monomials 0..3.
constexpr int kEmbedded[4] = {0, 2, 4, 6};
// The phi-functions' series branch: |x| below this (beyond it, the upward recurrence).
constexpr double kSeriesRadius = 4.0;
// The passes' exponentials are floored at e^{kExpFloor} (floored_exp).
constexpr double kExpFloor = -100.0;

// 1/k! for k = 0..33.
struct InverseFactorials {
    double v[34];
    InverseFactorials() {
        v[0] = 1.0;
        for (int k = 1; k < 34; ++k) v[k] = v[k - 1] / k;
    }
};

// Solves the n x n system A x = b (row-major, n <= 7) by Gaussian elimination with partial
// pivoting, in place (x in b). False if singular.
inline bool solve_small(double* A, double* b, int n) {
    for (int c = 0; c < n; ++c) {
        int piv = c;
        for (int r = c + 1; r < n; ++r)
            if (std::fabs(A[r * n + c]) > std::fabs(A[piv * n + c])) piv = r;
        if (!(std::fabs(A[piv * n + c]) > 0.0)) return false;
        if (piv != c) {
            for (int k = 0; k < n; ++k) std::swap(A[c * n + k], A[piv * n + k]);
            std::swap(b[c], b[piv]);
        }
        for (int r = c + 1; r < n; ++r) {
            const double f = A[r * n + c] / A[c * n + c];
            for (int k = c; k < n; ++k) A[r * n + k] -= f * A[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; --c) {
        double s = b[c];
        for (int k = c + 1; k < n; ++k) s -= A[c * n + k] * b[k];
        b[c] = s / A[c * n + c];
    }
    return std::isfinite(b[0]);
}

// The points, their quadrature weights, the inverse Vandermonde matrices (monomials of the
// interpolants), and the per-point constants m! nu^{m+1} of P_m.
struct Nodes {
    double nu[kPoints];
    double w7[kPoints];              // 7-point rule on [0, 1]
    double w4[4];                    // 4-point Lobatto rule
    double v7[kMonomials][kPoints];  // a = v7 G (G at the 7 points)
    double v4[4][4];                 // a = v4 G (G at the embedded points)
    double c[kPoints][kMonomials];   // m! nu_q^{m+1}
    InverseFactorials inv_fact;

    Nodes() {
        const double r5 = std::sqrt(5.0), x = 0.5 * (1.0 - std::sqrt(2.0 / 3.0));
        const double pts[kPoints] = {0.0, x, 0.1 * (5.0 - r5), 0.5, 0.1 * (5.0 + r5), 1.0 - x,
                                     1.0};
        const double w[kPoints] = {11.0 / 420, 36.0 / 245, 125.0 / 588, 8.0 / 35,
                                   125.0 / 588, 36.0 / 245, 11.0 / 420};
        for (int q = 0; q < kPoints; ++q) {
            nu[q] = pts[q];
            w7[q] = w[q];
        }
        w4[0] = w4[3] = 1.0 / 12;
        w4[1] = w4[2] = 5.0 / 12;
        invert_vandermonde(nu, kPoints, &v7[0][0]);
        const double e4[4] = {nu[0], nu[2], nu[4], nu[6]};
        invert_vandermonde(e4, 4, &v4[0][0]);
        for (int q = 0; q < kPoints; ++q) {
            double fact = 1.0, pw = nu[q];
            for (int m = 0; m < kMonomials; ++m) {
                c[q][m] = fact * pw;
                fact *= (m + 1);
                pw *= nu[q];
            }
        }
    }

    // out[m][j] with sum_j out[m][j] G_j = the m-th monomial coefficient of the interpolant.
    static void invert_vandermonde(const double* p, int n, double* out) {
        for (int j = 0; j < n; ++j) {
            double A[49], b[7];
            for (int r = 0; r < n; ++r) {
                double pw = 1.0;
                for (int m = 0; m < n; ++m) {
                    A[r * n + m] = pw;  // V[r][m] = p_r^m
                    pw *= p[r];
                }
                b[r] = r == j ? 1.0 : 0.0;
            }
            solve_small(A, b, n);
            for (int m = 0; m < n; ++m) out[m * n + j] = b[m];
        }
    }
};

// ------------------------------------------------------------------ phi-functions, by chunks
// The passes walk the coordinates kLanes at a time: every loop below runs over the lanes of
// one chunk, with no branch inside (the compiler vectorises them); a chunk picks its branch
// of the phi-functions once, from its largest |x|. A short last chunk is padded with
// lambda = 0 lanes, whose contributions are zero.
constexpr int kLanes = 8;
using Lanes = double[kLanes];

// Terms of phi_7's series that reach rounding for |x| <= r (r <= kSeriesRadius): the first
// term left out, r^n 7! / (n + 7)!, is below 1e-18 (27 terms at r = 4).
inline int series_terms(double r) {
    int n = 0;
    double t = 1.0;
    while (t >= 1e-18 && n < 27) {
        ++n;
        t *= r / (n + 7);
    }
    return std::max(n, 1);
}

// phi[k][j] = phi_k(x_j), k = 1..7 (phi[0] unused), given e[j] = e^{x_j}.
inline void phi_chunk(const double* x, const double* e, Lanes* phi, const InverseFactorials& f) {
    double small_max = 0.0;
    int n_small = 0;
    for (int j = 0; j < kLanes; ++j) {
        const double ax = std::fabs(x[j]);
        const bool small = ax < kSeriesRadius;
        n_small += small ? 1 : 0;
        small_max = small ? std::max(small_max, ax) : small_max;
    }
    if (n_small > 0) {
        const int n = series_terms(small_max);
        Lanes s;
        for (int j = 0; j < kLanes; ++j) s[j] = f.v[n + 6];
        for (int t = n - 2; t >= 0; --t)
            for (int j = 0; j < kLanes; ++j) s[j] = f.v[t + 7] + x[j] * s[j];
        for (int j = 0; j < kLanes; ++j) phi[7][j] = s[j];
        for (int k = 6; k >= 1; --k)
            for (int j = 0; j < kLanes; ++j) phi[k][j] = f.v[k] + x[j] * phi[k + 1][j];
    }
    if (n_small == kLanes) return;
    Lanes r, up[8];
    for (int j = 0; j < kLanes; ++j) {
        r[j] = 1.0 / x[j];
        up[1][j] = (e[j] - 1.0) * r[j];
    }
    for (int k = 1; k < 7; ++k)
        for (int j = 0; j < kLanes; ++j) up[k + 1][j] = (up[k][j] - f.v[k]) * r[j];
    if (n_small == 0) {
        for (int k = 1; k <= 7; ++k)
            for (int j = 0; j < kLanes; ++j) phi[k][j] = up[k][j];
        return;
    }
    for (int k = 1; k <= 7; ++k)  // a mixed chunk: the branch by lane (a blend)
        for (int j = 0; j < kLanes; ++j)
            phi[k][j] = std::fabs(x[j]) < kSeriesRadius ? phi[k][j] : up[k][j];
}

// e^x for the passes, floored at e^{kExpFloor}: a coordinate that decays further is zero
// for every purpose (e^{-100} ~ 4e-44 of its value, 28 digits below rounding), and neither
// exp's underflow path nor subnormal products (slow on most CPUs) are ever taken.
inline double floored_exp(double x) { return std::exp(std::max(x, kExpFloor)); }

// e^{z nu_q} at the six points q = 1..6 (E[0] = 1) from three exponentials: nu = 1/2 and 1
// share one (e^z = (e^{z/2})^2), and 1 - x, n2 = 1 - n1 are e^z over e^{z x}, e^{z n1} (at
// most the floor where those are floored).
inline void stage_exponentials(const Lanes z, const double* nu, Lanes* E) {
    for (int j = 0; j < kLanes; ++j) {
        E[0][j] = 1.0;
        E[1][j] = floored_exp(z[j] * nu[1]);
        E[2][j] = floored_exp(z[j] * nu[2]);
        const double half = floored_exp(0.5 * z[j]);
        E[3][j] = half;
        E[6][j] = half * half;
    }
    for (int j = 0; j < kLanes; ++j) {
        E[4][j] = E[6][j] / E[2][j];
        E[5][j] = E[6][j] / E[1][j];
    }
}

// P[m][j] = P_m(z_j, nu) = z_j m! nu^{m+1} phi_{m+1}(z_j nu) for m < kMonomials, and
// E[j] = e^{z_j nu}; exp_known: E already holds them.
inline void weights_chunk(const Nodes& nd, double nu, const Lanes z, Lanes E, Lanes* P,
                          bool exp_known = false) {
    Lanes x, phi[8];
    for (int j = 0; j < kLanes; ++j) x[j] = z[j] * nu;
    if (!exp_known)
        for (int j = 0; j < kLanes; ++j) E[j] = floored_exp(x[j]);
    phi_chunk(x, E, phi, nd.inv_fact);
    double fact = 1.0, pw = nu;
    for (int m = 0; m < kMonomials; ++m) {
        const double c = fact * pw;
        for (int j = 0; j < kLanes; ++j) P[m][j] = z[j] * c * phi[m + 1][j];
        fact *= (m + 1);
        pw *= nu;
    }
}

// One chunk of coordinates loaded for a pass: lambda, w(0), w* and z = lambda dth, padded
// with zeros past `count`.
struct Chunk {
    int count = 0;
    Lanes lam, y, ws, z;
    void load(const double* l, const double* y0, const double* w, std::size_t n, double dth) {
        count = static_cast<int>(n);
        for (int j = 0; j < kLanes; ++j) {
            const bool in = j < count;
            lam[j] = in ? l[j] : 0.0;
            y[j] = in ? y0[j] : 0.0;
            ws[j] = in ? w[j] : 0.0;
            z[j] = lam[j] * dth;
        }
    }
};

// Coordinates [0, n) of a block: their contributions to a step's 264 sums, into acc. Each
// sum is kept by lane through the block and the lanes added in order at its end.
inline void accumulate_point_sums(const Nodes& nd, double dth, const double* lam,
                                  const double* y, const double* ws, std::size_t n,
                                  double* acc) {
    Lanes lanes[kSums] = {};  // 17 KB of the caller's stack
    Chunk c;
    Lanes E[kPoints], P[kMonomials], wP[kMonomials], lw2, lyw, ly2, ey;
    for (std::size_t i0 = 0; i0 < n; i0 += kLanes) {
        c.load(lam + i0, y + i0, ws + i0, std::min<std::size_t>(kLanes, n - i0), dth);
        for (int j = 0; j < kLanes; ++j) {
            lw2[j] = c.lam[j] * c.ws[j] * c.ws[j];
            lyw[j] = c.lam[j] * c.y[j] * c.ws[j];
            ly2[j] = c.lam[j] * c.y[j] * c.y[j];
        }
        stage_exponentials(c.z, nd.nu, E);
        for (int q = 1; q < kPoints; ++q) {
            weights_chunk(nd, nd.nu[q], c.z, E[q], P, true);
            Lanes* a = lanes + (q - 1) * kPointSums;
            for (int j = 0; j < kLanes; ++j) {
                ey[j] = E[q][j] * lyw[j];
                a[kU0][j] += ey[j];
                a[kS0][j] += E[q][j] * E[q][j] * ly2[j];
            }
            for (int m = 0; m < kMonomials; ++m)
                for (int j = 0; j < kLanes; ++j) {
                    wP[m][j] = lw2[j] * P[m][j];
                    a[kUm + m][j] += wP[m][j];
                    a[kS1 + m][j] += ey[j] * P[m][j];
                }
            int p = kS2;
            for (int m = 0; m < kMonomials; ++m)
                for (int l = m; l < kMonomials; ++l, ++p)
                    for (int j = 0; j < kLanes; ++j) a[p][j] += wP[m][j] * P[l][j];
        }
    }
    for (int k = 0; k < kSums; ++k) {
        double s = 0.0;
        for (int j = 0; j < kLanes; ++j) s += lanes[k][j];
        acc[k] += s;
    }
}

// s and u at a point for monomial coefficients a[0..k) (k <= 7), and their gradients in a.
struct PointValue {
    double s = 0, u = 0;
    double ds[kMonomials] = {}, du[kMonomials] = {};
};

inline PointValue point_value(const double* sums, const double* a, int k) {
    PointValue v;
    v.u = sums[kU0];
    v.s = sums[kS0];
    for (int m = 0; m < k; ++m) {
        v.u += sums[kUm + m] * a[m];
        v.du[m] = sums[kUm + m];
        v.s += 2.0 * sums[kS1 + m] * a[m];
        v.ds[m] = 2.0 * sums[kS1 + m];
    }
    // quadratic part, packed upper triangle over all kMonomials
    int p = kS2;
    for (int m = 0; m < kMonomials; ++m) {
        for (int l = m; l < kMonomials; ++l, ++p) {
            if (m >= k || l >= k) continue;
            const double c = sums[p];
            if (m == l) {
                v.s += c * a[m] * a[m];
                v.ds[m] += 2.0 * c * a[m];
            } else {
                v.s += 2.0 * c * a[m] * a[l];
                v.ds[m] += 2.0 * c * a[l];
                v.ds[l] += 2.0 * c * a[m];
            }
        }
    }
    return v;
}

// Newton's method on the stage equations G_r c0(s_r, u_r) = c1(s_r, u_r) at the unknown
// points pts[0..n) (indices 1..6; point 0 holds the known G0), for the interpolant through
// {0} and pts with monomial matrix vinv (k x k, k = n + 1: a = vinv [G0, G]). G holds the
// initial guess and receives the solution, a its monomial coefficients. False if Newton
// does not converge (the attempt is then rejected).
template <class Pair>
bool solve_stages(const Pair& pair, double s_star, const double* sums, double G0,
                  const int* pts, int n, const double* vinv, double* G, double* a) {
    const int k = n + 1;
    double last = std::numeric_limits<double>::infinity();
    for (int it = 0; it < 40; ++it) {
        double full[kPoints];
        full[0] = G0;
        for (int r = 0; r < n; ++r) full[r + 1] = G[r];
        for (int m = 0; m < k; ++m) {
            double s = 0.0;
            for (int j = 0; j < k; ++j) s += vinv[m * k + j] * full[j];
            a[m] = s;
        }
        double J[kPoints * kPoints], F[kPoints];
        for (int r = 0; r < n; ++r) {
            const PointValue v = point_value(sums + (pts[r] - 1) * kPointSums, a, k);
            const FlowCoefficients f = pair.flow_coefficients(v.s, v.u, s_star);
            const Coupling c = pair.jacobian_coupling(v.s, v.u, s_star);
            // dc0/ds = C11/2, dc0/du = C12, dc1/ds = C12/2, dc1/du = C22 (link_pair.hpp)
            const double c0s = 0.5 * c.c11, c0u = c.c12, c1s = 0.5 * c.c12, c1u = c.c22;
            F[r] = -(G[r] * f.c0 - f.c1);
            for (int j = 0; j < n; ++j) {
                double dsj = 0.0, duj = 0.0;
                for (int m = 0; m < k; ++m) {
                    dsj += v.ds[m] * vinv[m * k + j + 1];
                    duj += v.du[m] * vinv[m * k + j + 1];
                }
                J[r * n + j] = (r == j ? f.c0 : 0.0) + G[r] * (c0s * dsj + c0u * duj) -
                               (c1s * dsj + c1u * duj);
            }
        }
        if (!solve_small(J, F, n)) return false;
        double step = 0.0, size = 1.0;
        for (int r = 0; r < n; ++r) {
            G[r] += F[r];
            step = std::max(step, std::fabs(F[r]));
            size = std::max(size, std::fabs(G[r]));
        }
        const double rel = step / size;
        if (!std::isfinite(rel)) return false;
        // Converged: a correction at rounding level, or one that stopped shrinking there.
        if (rel <= 1e-15 || (it >= 3 && rel <= 1e-12 && rel >= 0.5 * last)) {
            full[0] = G0;
            for (int r = 0; r < n; ++r) full[r + 1] = G[r];
            for (int m = 0; m < k; ++m) {
                double s = 0.0;
                for (int j = 0; j < k; ++j) s += vinv[m * k + j] * full[j];
                a[m] = s;
            }
            return true;
        }
        last = rel;
    }
    return false;
}

// One step's collocation in theta, from its sums: the 7-point solution (propagated), the
// 4-point embedded one, s, u, c0 at the points and the step's length in t.
struct Proposal {
    double dth = 0.0;
    double a[kMonomials] = {};      // G(nu dth) = sum a_m nu^m (7-point)
    double a4[4] = {};              // the embedded 4-point interpolant
    double s[kPoints] = {}, u[kPoints] = {}, c0[kPoints] = {};
    double q[kMonomials] = {};      // 1/c0(nu) = sum q_m nu^m
    double h = 0.0, h4 = 0.0;       // the step in t: 7-point and 4-point rules
    double c0_end = 0.0, c1_end = 0.0;

    // t(nu) - t(0) = dth int_0^nu 1/c0.
    double time_at(double nu) const {
        double t = 0.0, pw = nu;
        for (int m = 0; m < kMonomials; ++m, pw *= nu) t += q[m] * pw / (m + 1);
        return dth * t;
    }
    // nu in [0, 1] with time_at(nu) = tau (0 <= tau <= h): safeguarded Newton.
    double nu_at(double tau) const {
        double lo = 0.0, hi = 1.0, nu = h != 0.0 ? std::min(1.0, std::max(0.0, tau / h)) : 0.0;
        for (int it = 0; it < 60; ++it) {
            const double f = time_at(nu) - tau;
            if (f == 0.0) break;
            if (f < 0.0) lo = nu; else hi = nu;
            double dq = 0.0, pw = 1.0;
            for (int m = 0; m < kMonomials; ++m, pw *= nu) dq += q[m] * pw;
            double next = nu - f / (dth * dq);
            if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
            if (std::fabs(next - nu) <= 1e-16) {
                nu = next;
                break;
            }
            nu = next;
        }
        return nu;
    }
};

// The stage solves of one attempt from its sums (nodes nd, known start: s0, u0 there, G0 =
// c1/c0). False: Newton failed, or c0 vanishes or changes sign on the points.
template <class Pair>
bool collocate(const Nodes& nd, const Pair& pair, double s_star, const double* sums, double dth,
               double s0, double u0, Proposal& out) {
    const FlowCoefficients f0 = pair.flow_coefficients(s0, u0, s_star);
    const double G0 = f0.c1 / f0.c0;
    out.dth = dth;
    // The embedded 4-point collocation first (from G constant), then the 7-point one from it.
    const int pts4[3] = {2, 4, 6}, pts7[6] = {1, 2, 3, 4, 5, 6};
    double G4[3] = {G0, G0, G0};
    if (!solve_stages(pair, s_star, sums, G0, pts4, 3, &nd.v4[0][0], G4, out.a4)) return false;
    double G7[6];
    for (int r = 0; r < 6; ++r) {
        const double nu = nd.nu[r + 1];
        double g = 0.0, pw = 1.0;
        for (int m = 0; m < 4; ++m, pw *= nu) g += out.a4[m] * pw;
        G7[r] = g;
    }
    if (!solve_stages(pair, s_star, sums, G0, pts7, 6, &nd.v7[0][0], G7, out.a)) return false;
    out.s[0] = s0;
    out.u[0] = u0;
    double inv_c0[kPoints];
    for (int q = 0; q < kPoints; ++q) {
        if (q > 0) {
            const PointValue v = point_value(sums + (q - 1) * kPointSums, out.a, kMonomials);
            out.s[q] = v.s;
            out.u[q] = v.u;
        }
        out.c0[q] = pair.flow_coefficients(out.s[q], out.u[q], s_star).c0;
        if (!(out.c0[q] * f0.c0 > 0.0)) return false;  // c0 must keep its sign
        inv_c0[q] = 1.0 / out.c0[q];
    }
    double h = 0.0;
    for (int q = 0; q < kPoints; ++q) h += nd.w7[q] * inv_c0[q];
    out.h = dth * h;
    double h4 = nd.w4[0] / f0.c0;
    for (int r = 0; r < 3; ++r) {
        const PointValue v = point_value(sums + (pts4[r] - 1) * kPointSums, out.a4, 4);
        const double c0 = pair.flow_coefficients(v.s, v.u, s_star).c0;
        if (!(c0 * f0.c0 > 0.0)) return false;
        h4 += nd.w4[r + 1] / c0;
    }
    out.h4 = dth * h4;
    for (int m = 0; m < kMonomials; ++m) {
        double s = 0.0;
        for (int j = 0; j < kPoints; ++j) s += nd.v7[m][j] * inv_c0[j];
        out.q[m] = s;
    }
    const FlowCoefficients fe = pair.flow_coefficients(out.s[6], out.u[6], s_star);
    out.c0_end = fe.c0;
    out.c1_end = fe.c1;
    return std::isfinite(out.h) && out.h > 0.0;
}

}  // namespace expo
}  // namespace pyscale
