// Two-layer networks (networks page: The model): p student units, k teacher units, both
// readouts fixed. Student f(x) = sum_j a_j sigma(x . w_j), teacher f*(x) = sum_l a*_l
// tau(x . w*_l), labels y = f*(x) + xi, loss L = E[(f - y)^2] (no 1/2).
//
// The state W (d x p) and the teacher W* (d x k) are stored row-major: row i holds
// coordinate i's p (or k) entries, so that every engine walks the coordinates in the fixed
// blocks of util/parallel.hpp exactly as the single-index engines do. The overlaps
//     S = W^T Q W (p x p),   U = W^T Q W* (p x k),   S* = W*^T Q W* (k x k, fixed)
// are all the population needs (networks page: The loss as sums of one kernel):
//     l(S, U) = sum_jl a_j a_l k_ss(S_jj, S_ll, S_jl) - 2 sum_jl a_j a*_l k_st(S_jj, S*_ll, U_jl)
//             + sum_lm a*_l a*_m k_tt(S*_ll, S*_mm, S*_lm),
// the k's the Gaussian kernels of model/gaussian_kernel.hpp (the diagonal terms
// k(v, v, v) = E[f(z)^2] are GaussianMoment's). The flow is dW/dt = Q (W A + W* B^T) with
// (networks page: The gradient: coefficients A and B)
//     A_jl = -2 a_j a_l k_c (j != l),
//     A_jj = -2 a_j^2 e'(S_jj) - 4 a_j sum_{l != j} a_l k_1 + 4 a_j sum_l a*_l k'_1,
//     B_jl = 2 a_j a*_l k'_c,
// (k = k_ss at (S_jj, S_ll, S_jl), k' = k_st at (S_jj, S*_ll, U_jl), e(v) = k_ss(v, v, v))
// and its Jacobian J X = Q X A + Q [W W*] C([W W*]^T Q X) (networks page: The flow's
// Jacobian), C the linear map (dS, dU) -> (dA, dB) from the kernels' second derivatives.
// For p = k = 1, a = a* = 1 these are the single-index c0, c1 and C (model/link.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../util/parallel.hpp"
#include "gaussian_kernel.hpp"
#include "link.hpp"

namespace pyscale {

// The most units of either layer an engine accepts (the flow's coupling has size
// p (p + k); per-coordinate scratch lives on the stack).
constexpr int kMaxUnits = 32;

// The data model as the network engines see it (non-owning but for S*).
struct NetworkView {
    std::size_t n = 0;               // stored coordinates
    int p = 0, k = 0;                // student and teacher units
    const double* lambda = nullptr;  // eigenvalues of Q, length n, all > 0
    const double* w_star = nullptr;  // W*, n x k row-major
    double dim = 0.0;                // true dimension d
    double noise = 0.0;              // label-noise variance sigma^2
    std::vector<double> s_star;      // S* = W*^T Q W*, k x k row-major
    int width() const { return p * p + p * k; }  // the overlaps [S | U] of a state
};

// Adds coordinate i's share of the overlaps of a state whose row i is wi (p entries) into
// acc: lambda_i wi^T wi (upper triangle of S, row-major p x p) and lambda_i wi^T W*_i (U).
// Every engine forms its overlaps with this one loop, so their bits agree.
inline void add_row_overlaps(const NetworkView& v, std::size_t i, const double* wi,
                             double* acc) {
    const int p = v.p, k = v.k;
    const double* si = v.w_star + i * k;
    const double lam = v.lambda[i];
    for (int j = 0; j < p; ++j) {
        const double lw = lam * wi[j];
        for (int l = j; l < p; ++l) acc[j * p + l] += lw * wi[l];
        for (int l = 0; l < k; ++l) acc[p * p + j * k + l] += lw * si[l];
    }
}

// [S | U] (S full and symmetric) from sums whose S part holds only the upper triangle.
inline void symmetrise_overlaps(int p, int k, const double* sums, double* ov) {
    for (int j = 0; j < p; ++j)
        for (int l = 0; l < p; ++l) ov[j * p + l] = l >= j ? sums[j * p + l] : sums[l * p + j];
    for (int q = p * p; q < p * p + p * k; ++q) ov[q] = sums[q];
}

// S and U of W into out[0 .. p^2) (S, full and symmetric) and out[p^2 .. p^2 + pk) (U), in
// the fixed blocks of `red` (width >= p^2 + pk sums).
inline void network_overlaps(const NetworkView& v, const double* w, BlockedSums& red,
                             double* out) {
    const int p = v.p;
    const auto& tot = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) add_row_overlaps(v, i, w + i * p, acc);
    });
    symmetrise_overlaps(v.p, v.k, tot.data(), out);
}

// Row i of the flow's right-hand side, f_i = lambda_i (Y_i A + W*_i B^T), for a row yi and
// coefficients (A, B), into out (p).
inline void network_row_rhs(const NetworkView& v, std::size_t i, const double* yi,
                            const double* A, const double* B, double* out) {
    const int p = v.p, k = v.k;
    const double* si = v.w_star + i * k;
    for (int c = 0; c < p; ++c) {
        double a = 0.0;
        for (int j = 0; j < p; ++j) a += yi[j] * A[j * p + c];
        for (int l = 0; l < k; ++l) a += si[l] * B[c * k + l];
        out[c] = v.lambda[i] * a;
    }
}

inline NetworkView make_network_view(std::size_t n, int p, int k, const double* lambda,
                                     const double* w_star, double dim, double noise,
                                     int threads = 0) {
    if (n == 0) throw std::invalid_argument("problem has no coordinates");
    if (p < 1 || k < 1 || p > kMaxUnits || k > kMaxUnits)
        throw std::invalid_argument("a network needs 1 to " + std::to_string(kMaxUnits) +
                                    " units in each layer");
    if (!(dim >= 1.0)) throw std::invalid_argument("dimension must be >= 1");
    if (!(noise >= 0.0) || !std::isfinite(noise))
        throw std::invalid_argument("noise variance must be finite and >= 0");
    NetworkView v;
    v.n = n;
    v.p = p;
    v.k = k;
    v.lambda = lambda;
    v.w_star = w_star;
    v.dim = dim;
    v.noise = noise;
    // S* through the overlap pass of a "student" equal to W* (p = k).
    NetworkView t = v;
    t.p = k;
    BlockedSums red(n, threads, static_cast<std::size_t>(k * k + k * k));
    std::vector<double> out(static_cast<std::size_t>(2 * k * k));
    network_overlaps(t, w_star, red, out.data());
    v.s_star.assign(out.begin(), out.begin() + k * k);
    for (int l = 0; l < k; ++l)
        if (!(v.s_star[l * k + l] > 0.0) || !std::isfinite(v.s_star[l * k + l]))
            throw std::invalid_argument("every teacher unit needs a positive, finite Q-norm");
    return v;
}

// The kernels' second derivatives at one (S, U), what the Jacobian's coupling C needs.
struct NetworkJets {
    int p = 0, k = 0;
    std::vector<double> e2;      // (p): e''(S_jj)
    std::vector<KernelJet> ss;   // (p x p): k_ss at (S_jj, S_ll, S_jl), j != l
    std::vector<KernelJet> st;   // (p x k): k_st at (S_jj, S*_ll, U_jl)
};

class NetworkKernels {
public:
    NetworkKernels(const Link& student, const Link& teacher, std::vector<double> readout,
                   std::vector<double> teacher_readout)
        : sigma_(student), tau_(teacher), ss_(student, student), st_(student, teacher),
          tt_(teacher, teacher), self_(student), teacher_self_(teacher),
          a_(std::move(readout)), b_(std::move(teacher_readout)) {
        for (double x : a_)
            if (!std::isfinite(x)) throw std::invalid_argument("readouts must be finite");
        for (double x : b_)
            if (!std::isfinite(x)) throw std::invalid_argument("teacher readouts must be finite");
        if (a_.empty() || b_.empty() || int(a_.size()) > kMaxUnits || int(b_.size()) > kMaxUnits)
            throw std::invalid_argument("a network needs 1 to " + std::to_string(kMaxUnits) +
                                        " units in each layer");
    }
    NetworkKernels(const LinkPair& pair, std::vector<double> readout,
                   std::vector<double> teacher_readout)
        : NetworkKernels(pair.student_link(), pair.teacher_link(), std::move(readout),
                         std::move(teacher_readout)) {}

    int p() const { return int(a_.size()); }
    int k() const { return int(b_.size()); }
    const std::vector<double>& readout() const { return a_; }
    const std::vector<double>& teacher_readout() const { return b_; }
    const Link& student_link() const { return sigma_; }
    const Link& teacher_link() const { return tau_; }
    int width() const { return p() * p() + p() * k(); }

    // l(S, U) at fixed S* (label noise excluded); ov = [S | U] as network_overlaps writes it.
    double loss(const double* ov, const double* s_star) const {
        const int p = this->p(), k = this->k();
        const double* S = ov;
        const double* U = ov + p * p;
        check(S);
        double l = 0.0;
        for (int j = 0; j < p; ++j) {
            l += a_[j] * a_[j] * self_.value(S[j * p + j]);
            for (int m = 0; m < p; ++m)
                if (m != j) l += a_[j] * a_[m] * ss_.value(S[j * p + j], S[m * p + m], S[j * p + m]);
            for (int m = 0; m < k; ++m)
                l -= 2.0 * a_[j] * b_[m] * st_.value(S[j * p + j], s_star[m * k + m], U[j * k + m]);
        }
        for (int l1 = 0; l1 < k; ++l1) {
            l += b_[l1] * b_[l1] * teacher_self_.value(s_star[l1 * k + l1]);
            for (int m = 0; m < k; ++m)
                if (m != l1)
                    l += b_[l1] * b_[m] *
                         tt_.value(s_star[l1 * k + l1], s_star[m * k + m], s_star[l1 * k + m]);
        }
        return l;
    }

    // A (p x p, symmetric) and B (p x k) of dW/dt = Q (W A + W* B^T) at ov = [S | U].
    void gradient(const double* ov, const double* s_star, double* A, double* B) const {
        const int p = this->p(), k = this->k();
        const double* S = ov;
        const double* U = ov + p * p;
        check(S);
        for (int j = 0; j < p; ++j) {
            const double vj = S[j * p + j];
            double diag = -2.0 * a_[j] * a_[j] * self_.jet(vj, 1).m1;
            for (int l = 0; l < p; ++l) {
                if (l == j) continue;
                const KernelJet kj = ss_.jet(vj, S[l * p + l], S[j * p + l], 1);
                if (l > j) A[j * p + l] = A[l * p + j] = -2.0 * a_[j] * a_[l] * kj.kc;
                diag -= 4.0 * a_[j] * a_[l] * kj.k1;
            }
            for (int l = 0; l < k; ++l) {
                const KernelJet m = st_.jet(vj, s_star[l * k + l], U[j * k + l], 1);
                B[j * k + l] = 2.0 * a_[j] * b_[l] * m.kc;
                diag += 4.0 * a_[j] * b_[l] * m.k1;
            }
            A[j * p + j] = diag;
        }
    }

    // The second derivatives C needs, at ov = [S | U].
    NetworkJets jets(const double* ov, const double* s_star) const {
        const int p = this->p(), k = this->k();
        const double* S = ov;
        const double* U = ov + p * p;
        check(S);
        NetworkJets J;
        J.p = p;
        J.k = k;
        J.e2.resize(p);
        J.ss.resize(static_cast<std::size_t>(p * p));
        J.st.resize(static_cast<std::size_t>(p * k));
        for (int j = 0; j < p; ++j) {
            J.e2[j] = self_.jet(S[j * p + j], 2).m2;
            for (int l = 0; l < p; ++l)
                if (l != j) J.ss[j * p + l] = ss_.jet(S[j * p + j], S[l * p + l], S[j * p + l], 2);
            for (int l = 0; l < k; ++l)
                J.st[j * k + l] = st_.jet(S[j * p + j], s_star[l * k + l], U[j * k + l], 2);
        }
        return J;
    }

    // C: Y = [T; R] ((p + k) x p, T = W^T Q X, R = W*^T Q X) -> Z = [dA; dB^T] with
    // dS = T + T^T, dU = R^T (networks page: The flow's Jacobian). k_12 = k_cc / 4 (the heat
    // equation: d/dv1 = (1/2) d^2/dz1^2, d/dc = d^2/(dz1 dz2)).
    void apply_coupling(const NetworkJets& J, const double* Y, double* Z) const {
        const int p = J.p, k = J.k;
        auto dS = [&](int j, int l) { return Y[j * p + l] + Y[l * p + j]; };
        auto dU = [&](int j, int l) { return Y[(p + l) * p + j]; };
        for (int j = 0; j < p; ++j) {
            const double dsj = dS(j, j);
            double diag = -2.0 * a_[j] * a_[j] * J.e2[j] * dsj;
            for (int l = 0; l < p; ++l) {
                if (l == j) continue;
                const KernelJet& K = J.ss[j * p + l];
                const double dsl = dS(l, l), dsjl = dS(j, l);
                if (l > j)
                    Z[j * p + l] = Z[l * p + j] =
                        -2.0 * a_[j] * a_[l] *
                        (K.k1c * dsj + J.ss[l * p + j].k1c * dsl + K.kcc * dsjl);
                diag -= 4.0 * a_[j] * a_[l] * (K.k11 * dsj + 0.25 * K.kcc * dsl + K.k1c * dsjl);
            }
            for (int l = 0; l < k; ++l) {
                const KernelJet& M = J.st[j * k + l];
                const double du = dU(j, l);
                diag += 4.0 * a_[j] * b_[l] * (M.k11 * dsj + M.k1c * du);
                Z[(p + l) * p + j] = 2.0 * a_[j] * b_[l] * (M.k1c * dsj + M.kcc * du);
            }
            Z[j * p + j] = diag;
        }
    }

    // C as an r x r matrix on vec(Y) (row-major Y), r = p (p + k): column c is C(e_c).
    void coupling_matrix(const NetworkJets& J, double* C) const {
        const int r = J.p * (J.p + J.k);
        std::vector<double> y(static_cast<std::size_t>(r), 0.0), z(static_cast<std::size_t>(r));
        for (int c = 0; c < r; ++c) {
            y[c] = 1.0;
            apply_coupling(J, y.data(), z.data());
            for (int q = 0; q < r; ++q) C[q * r + c] = z[q];
            y[c] = 0.0;
        }
    }

    // Per sample: f = sum_j a_j sigma(h_j), and g_j = 2 (f - y) a_j sigma'(h_j) given the
    // teacher's label y = sum_l a*_l tau(h*_l) + noise (the caller adds the noise).
    double prediction(const double* h, double* sigma_prime) const {
        double f = 0.0, d[2] = {0.0, 0.0};
        for (int j = 0; j < p(); ++j) {
            sigma_.derivatives(h[j], 1, d);
            f += a_[j] * d[0];
            sigma_prime[j] = d[1];
        }
        return f;
    }
    double teacher_output(const double* hs) const {
        double y = 0.0, d[1] = {0.0};
        for (int l = 0; l < k(); ++l) {
            tau_.derivatives(hs[l], 0, d);
            y += b_[l] * d[0];
        }
        return y;
    }
    // g (p) from the residual r = f - y and sigma'(h): g_j = 2 r a_j sigma'(h_j).
    void sample_gradient(double r, const double* sigma_prime, double* g) const {
        for (int j = 0; j < p(); ++j) g[j] = 2.0 * r * a_[j] * sigma_prime[j];
    }

private:
    // NaN passes through (a diverged state gives NaN coefficients, not an exception).
    void check(const double* S) const {
        for (int j = 0; j < p(); ++j) {
            const double v = S[j * p() + j];
            if (v < 0.0) throw std::domain_error("S_jj = w_j^T Q w_j must be >= 0");
            if (v <= 0.0 && sigma_.kinked())
                throw std::domain_error(
                    "a unit with S_jj = 0 and the kinked student '" + sigma_.name() +
                    "': its loss is not differentiable at w_j = 0, so start every unit with "
                    "w_j != 0");
        }
    }

    Link sigma_, tau_;
    GaussianKernel ss_, st_, tt_;
    GaussianMoment self_, teacher_self_;
    std::vector<double> a_, b_;
};

// Width of one network record row: t, loss, S (p^2, row-major), U (p k, row-major).
inline int network_record_width(int p, int k) { return 2 + p * p + p * k; }

// One record row of the state with overlaps ov = [S | U]: t, l(S, U) + sigma^2, S, U.
inline void write_network_record(double* row, double t, const NetworkView& v,
                                 const NetworkKernels& kern, const double* ov) {
    row[0] = t;
    row[1] = kern.loss(ov, v.s_star.data()) + v.noise;
    for (int q = 0; q < v.width(); ++q) row[2 + q] = ov[q];
}

// The engines' checks that a view and kernels describe one network.
inline void check_network(const NetworkView& v, const NetworkKernels& kern) {
    if (kern.p() != v.p || kern.k() != v.k)
        throw std::invalid_argument("the readouts' lengths must be the units p and k of W, W*");
}

}  // namespace pyscale
