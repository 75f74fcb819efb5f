// Linear solves with the network flow's shifted Jacobian in O(d p (p + k)) (networks page:
// The flow's Jacobian and the cost of a Rosenbrock step).
//
// A Rosenbrock stage solves (I - hg J) X = R (hg = h gamma) with
//     J X = Q X A + Q V C(V^T Q X),   V = [W W*] (d x m, m = p + k),
// A (p x p, symmetric) and the coupling C (r x r on vec((p + k) x p), r = p m) taken at the
// step's start (model/network.hpp). The block part D = I - hg Q (x) A is inverted coordinate
// by coordinate in the eigenbasis A = E diag(mu) E^T: coordinate i's row x becomes
// ((x E) / (1 - hg lambda_i mu)) E^T. The coupling goes through Woodbury in push-through
// form, valid for a singular or indefinite C (as woodbury.hpp for single-index models):
//     (I - hg G C) Y = V^T Q D^-1 R,   G(Z) = V^T Q D^-1 Q V Z,   X = D^-1 (R + hg Q V C(Y)).
// G is block diagonal in the rotated column n: (G(Z) E)_{.n} = Gamma_n (Z E)_{.n},
//     Gamma_n = sum_i lambda_i^2 V_i^T V_i / (1 - hg lambda_i mu_n),
// p symmetric m x m blocks formed in one pass per step; the r x r capacitance matrix and its
// LU cost O(r^3), independent of d. Each stage then costs two rotations, one projection
// V^T Q (.) and one expansion Q V (.) per coordinate.
//
// NetworkStageSolver holds one step's data; the integrator (network_integrator.hpp) calls its
// per-coordinate pieces inside its fused passes. solve_network_stage is the whole solve
// written as plain loops (callers, tests).
#pragma once

#include <cstddef>
#include <vector>

#include "../model/network.hpp"
#include "../util/small_matrix.hpp"

namespace pyscale {

class NetworkStageSolver {
public:
    NetworkStageSolver(int p, int k)
        : p_(p), k_(k), m_(p + k), r_(p * (p + k)), E_(p * p), mu_(p),
          C_(static_cast<std::size_t>(r_) * r_), lu_(static_cast<std::size_t>(r_) * r_),
          piv_(r_) {}

    int p() const { return p_; }
    int k() const { return k_; }
    int m() const { return m_; }
    int r() const { return r_; }
    // Entries of the Gamma sums: p packed upper triangles of m x m.
    int gamma_width() const { return p_ * m_ * (m_ + 1) / 2; }
    const double* eigenvalues() const { return mu_.data(); }

    // The step's A (its eigenbasis) and coupling C (r x r, as NetworkKernels writes it).
    void set_jacobian(const double* A, const double* C) {
        small::symmetric_eigen(p_, A, mu_.data(), E_.data());
        std::copy(C, C + static_cast<std::size_t>(r_) * r_, C_.begin());
    }
    double mu_max() const { return mu_[p_ - 1]; }

    // sc[n] = 1 / (1 - hg lambda mu_n) of one coordinate.
    void scales(double lambda, double hg, double* sc) const {
        for (int n = 0; n < p_; ++n) sc[n] = 1.0 / (1.0 - hg * lambda * mu_[n]);
    }
    // out = D_i^-1 x = ((x E) sc) E^T for one coordinate's row x (out may alias x).
    void divide(const double* x, const double* sc, double* out) const {
        double v[kMaxUnits];
        for (int n = 0; n < p_; ++n) {
            double a = 0.0;
            for (int c = 0; c < p_; ++c) a += x[c] * E_[c * p_ + n];
            v[n] = a * sc[n];
        }
        for (int c = 0; c < p_; ++c) {
            double a = 0.0;
            for (int n = 0; n < p_; ++n) a += v[n] * E_[c * p_ + n];
            out[c] = a;
        }
    }
    // One coordinate's share of the Gamma_n: lambda^2 sc_n V_i^T V_i (packed upper triangles).
    void accumulate_gamma(double* acc, double lambda, const double* v, const double* sc) const {
        double outer[2 * kMaxUnits * (2 * kMaxUnits + 1) / 2];
        const double l2 = lambda * lambda;
        int q = 0;
        for (int a = 0; a < m_; ++a)
            for (int b = a; b < m_; ++b) outer[q++] = l2 * v[a] * v[b];
        for (int n = 0; n < p_; ++n, acc += q)
            for (int t = 0; t < q; ++t) acc[t] += sc[n] * outer[t];
    }
    // The capacitance matrix I - hg G C from the Gamma sums, factored. False when it is
    // numerically singular (the integrator then rejects the step and retries a shorter one).
    bool factor(const double* gamma, double hg);
    // Z = C(Y), (I - hg G C) vec(Y) = vec(P): P = V^T Q D^-1 R ((p + k) x p).
    void solve(const double* P, double* Z) const {
        std::vector<double> y(P, P + r_);
        small::lu_solve(r_, lu_.data(), piv_.data(), y.data());
        for (int q = 0; q < r_; ++q) {
            double a = 0.0;
            const double* row = C_.data() + static_cast<std::size_t>(q) * r_;
            for (int c = 0; c < r_; ++c) a += row[c] * y[c];
            Z[q] = a;
        }
    }

private:
    // The m x m block Gamma_n (full) from its packed triangle.
    void unpack(const double* gamma, int n, double* out) const {
        const double* g = gamma + n * (m_ * (m_ + 1) / 2);
        int q = 0;
        for (int a = 0; a < m_; ++a)
            for (int b = a; b < m_; ++b, ++q) out[a * m_ + b] = out[b * m_ + a] = g[q];
    }

    int p_, k_, m_, r_;
    std::vector<double> E_, mu_, C_, lu_;
    std::vector<int> piv_;
};

inline bool NetworkStageSolver::factor(const double* gamma, double hg) {
    const int p = p_, m = m_, r = r_;
    std::vector<double> blocks(static_cast<std::size_t>(p) * m * m);
    for (int n = 0; n < p; ++n) unpack(gamma, n, blocks.data() + n * m * m);
    std::vector<double> zc(r), w(r), o(r);
    for (int c = 0; c < r; ++c) {
        for (int q = 0; q < r; ++q) zc[q] = C_[static_cast<std::size_t>(q) * r + c];
        for (int a = 0; a < m; ++a)  // W = Zc E
            for (int n = 0; n < p; ++n) {
                double s = 0.0;
                for (int col = 0; col < p; ++col) s += zc[a * p + col] * E_[col * p + n];
                w[a * p + n] = s;
            }
        for (int n = 0; n < p; ++n)  // O_{.n} = Gamma_n W_{.n}
            for (int a = 0; a < m; ++a) {
                const double* g = blocks.data() + n * m * m + a * m;
                double s = 0.0;
                for (int b = 0; b < m; ++b) s += g[b] * w[b * p + n];
                o[a * p + n] = s;
            }
        for (int a = 0; a < m; ++a)  // column c of G C = vec(O E^T)
            for (int col = 0; col < p; ++col) {
                double s = 0.0;
                for (int n = 0; n < p; ++n) s += o[a * p + n] * E_[col * p + n];
                lu_[static_cast<std::size_t>(a * p + col) * r + c] =
                    (a * p + col == c ? 1.0 : 0.0) - hg * s;
            }
    }
    return small::lu_factor(r, lu_.data(), piv_.data());
}

// X with (I - hg J) X = R at W (overlaps ov), all in plain loops: what the integrator's passes
// compute, for callers and tests. W, R, X are n x p row-major; threads as the engines'.
inline void solve_network_stage(const NetworkView& v, const NetworkKernels& kern,
                                const double* w, double hg, const double* R, double* X,
                                int threads = 0) {
    const int p = v.p, k = v.k, m = p + k;
    std::vector<double> ov(v.width()), A(p * p), B(p * k);
    BlockedSums red(v.n, threads, static_cast<std::size_t>(v.width()));
    network_overlaps(v, w, red, ov.data());
    kern.gradient(ov.data(), v.s_star.data(), A.data(), B.data());
    NetworkStageSolver solver(p, k);
    std::vector<double> C(static_cast<std::size_t>(solver.r()) * solver.r());
    kern.coupling_matrix(kern.jets(ov.data(), v.s_star.data()), C.data());
    solver.set_jacobian(A.data(), C.data());
    BlockedSums sums(v.n, threads, static_cast<std::size_t>(solver.gamma_width() + m * p));
    const auto& tot = sums.run([&](std::size_t b, std::size_t e, double* acc) {
        double sc[kMaxUnits], t[kMaxUnits], vi[2 * kMaxUnits];
        for (std::size_t i = b; i < e; ++i) {
            for (int c = 0; c < p; ++c) vi[c] = w[i * p + c];
            for (int l = 0; l < k; ++l) vi[p + l] = v.w_star[i * k + l];
            solver.scales(v.lambda[i], hg, sc);
            solver.accumulate_gamma(acc, v.lambda[i], vi, sc);
            solver.divide(R + i * p, sc, t);
            for (int a = 0; a < m; ++a)
                for (int c = 0; c < p; ++c)
                    acc[solver.gamma_width() + a * p + c] += v.lambda[i] * vi[a] * t[c];
        }
    });
    std::vector<double> gamma(tot.begin(), tot.begin() + solver.gamma_width());
    std::vector<double> P(tot.begin() + solver.gamma_width(), tot.end()), Z(m * p);
    if (!solver.factor(gamma.data(), hg))
        throw std::domain_error("I - h gamma J is singular at this step size");
    solver.solve(P.data(), Z.data());
    for (std::size_t i = 0; i < v.n; ++i) {
        double sc[kMaxUnits], x[kMaxUnits];
        solver.scales(v.lambda[i], hg, sc);
        for (int c = 0; c < p; ++c) {
            double vz = 0.0;
            for (int a = 0; a < p; ++a) vz += w[i * p + a] * Z[a * p + c];
            for (int l = 0; l < k; ++l) vz += v.w_star[i * k + l] * Z[(p + l) * p + c];
            x[c] = R[i * p + c] + hg * v.lambda[i] * vz;
        }
        solver.divide(x, sc, X + i * p);
    }
}

}  // namespace pyscale
