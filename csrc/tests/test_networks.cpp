// Tests of the two-layer network engines (no Python): the small dense linear algebra, the
// kernel sums' coefficients A, B against finite differences of the loss and their coupling
// C against finite differences of A, B, the Woodbury stage solve against a dense solve, and
// every network engine at p = k = 1 against the single-index engine it generalises, plus
// the determinism rules (thread counts) of the stochastic ones.
// Compiled and run by tests/test_cpp.py and CTest; exits non-zero on any failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <pyscale/pyscale.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what, double value = NAN) {
    if (value == value)
        std::printf("%s %s (%.3g)\n", ok ? "ok  " : "FAIL", what, value);
    else
        std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++failures;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double worst = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    return worst;
}

double max_abs(const std::vector<double>& a) {
    double m = 0.0;
    for (double x : a) m = std::max(m, std::abs(x));
    return m;
}

// A small network problem: power-law lambda (a = 1.5), W* and W0 from fixed sines and
// cosines (teacher columns scaled to unit Q-norm, student columns to norm 1/2).
struct Net {
    std::size_t n;
    int p, k;
    std::vector<double> lam, ws, w0;
    Net(std::size_t n_, int p_, int k_) : n(n_), p(p_), k(k_), lam(n_), ws(n_ * k_), w0(n_ * p_) {
        double h = 0.0;
        for (std::size_t i = 0; i < n; ++i) h += std::pow(double(i + 1), -1.5);
        for (std::size_t i = 0; i < n; ++i) lam[i] = std::pow(double(i + 1), -1.5) / h;
        for (int l = 0; l < k; ++l) {
            double q = 0.0;
            for (std::size_t i = 0; i < n; ++i) {
                ws[i * k + l] = std::sin(1.7 * i + 0.9 * l + 0.3);
                q += lam[i] * ws[i * k + l] * ws[i * k + l];
            }
            for (std::size_t i = 0; i < n; ++i) ws[i * k + l] /= std::sqrt(q);
        }
        for (int j = 0; j < p; ++j) {
            double q = 0.0;
            for (std::size_t i = 0; i < n; ++i) {
                w0[i * p + j] = std::cos(2.3 * i + 1.3 * j + 1.1);
                q += w0[i * p + j] * w0[i * p + j];
            }
            for (std::size_t i = 0; i < n; ++i) w0[i * p + j] *= 0.5 / std::sqrt(q);
        }
    }
    pyscale::NetworkView view(double noise = 0.0) const {
        return pyscale::make_network_view(n, p, k, lam.data(), ws.data(), double(n), noise, 1);
    }
};

std::vector<double> readouts(int p, double base) {
    std::vector<double> a(p);
    for (int j = 0; j < p; ++j) a[j] = base * (1.0 + 0.25 * j);
    return a;
}

void test_small_matrix() {
    const int n = 5;
    std::vector<double> a(n * n), vals(n), vecs(n * n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) a[i * n + j] = 1.0 / (1.0 + i + j) + (i == j ? 0.3 * i : 0.0);
    pyscale::small::symmetric_eigen(n, a.data(), vals.data(), vecs.data());
    double worst = 0.0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            double s = 0.0;
            for (int q = 0; q < n; ++q) s += vecs[i * n + q] * vals[q] * vecs[j * n + q];
            worst = std::max(worst, std::abs(s - a[i * n + j]));
        }
    check(worst < 1e-13 && std::is_sorted(vals.begin(), vals.end()),
          "symmetric_eigen reconstructs A = V diag V^T", worst);
    // The same matrix with its rows shifted cyclically: the pivots need row exchanges.
    std::rotate(a.begin(), a.begin() + 2 * n, a.end());
    std::vector<double> lu = a, b = {1, 2, 3, 4, 5}, x = b;
    std::vector<int> piv(n);
    const bool ok = pyscale::small::lu_factor(n, lu.data(), piv.data());
    pyscale::small::lu_solve(n, lu.data(), piv.data(), x.data());
    double res = 0.0;
    for (int i = 0; i < n; ++i) {
        double s = 0.0;
        for (int j = 0; j < n; ++j) s += a[i * n + j] * x[j];
        res = std::max(res, std::abs(s - b[i]));
    }
    check(ok && res < 1e-12, "lu_factor / lu_solve solve A x = b", res);
    const int rows = 7, cols = 4;
    std::vector<double> m(rows * cols), r;
    for (int i = 0; i < rows * cols; ++i) m[i] = std::sin(0.7 * i + 0.2);
    r = m;
    pyscale::small::householder_r(rows, cols, r.data());
    double gram = 0.0, lower = 0.0;
    for (int i = 0; i < cols; ++i)
        for (int j = 0; j < cols; ++j) {
            double g1 = 0.0, g2 = 0.0;
            for (int q = 0; q < rows; ++q) {
                g1 += m[q * cols + i] * m[q * cols + j];
                g2 += r[q * cols + i] * r[q * cols + j];
            }
            gram = std::max(gram, std::abs(g1 - g2));
            if (i > j) lower = std::max(lower, std::abs(r[i * cols + j]));
        }
    check(gram < 1e-13 && lower == 0.0, "householder_r: R^T R = M^T M, R upper", gram);
}

// [S | U] of the state w of net (plain loops).
std::vector<double> overlaps(const Net& net, const std::vector<double>& w) {
    const int p = net.p, k = net.k;
    std::vector<double> ov(p * p + p * k, 0.0);
    for (std::size_t i = 0; i < net.n; ++i)
        for (int j = 0; j < p; ++j) {
            for (int l = 0; l < p; ++l) ov[j * p + l] += net.lam[i] * w[i * p + j] * w[i * p + l];
            for (int l = 0; l < k; ++l)
                ov[p * p + j * k + l] += net.lam[i] * w[i * p + j] * net.ws[i * k + l];
        }
    return ov;
}

// A, B against central differences of l in the overlaps; C against central differences of
// (A, B) along a symmetric dS and a dU.
void test_coefficients(const char* name, const pyscale::Link& sigma, const pyscale::Link& tau) {
    const Net net(40, 3, 2);
    const auto v = net.view();
    const pyscale::NetworkKernels kern(sigma, tau, readouts(3, 0.4), readouts(2, 0.6));
    const int p = 3, k = 2, W = p * p + p * k;
    std::vector<double> ov = overlaps(net, net.w0), A(p * p), B(p * k);
    for (int q = 0; q < W; ++q) ov[q] *= q < p * p ? 4.0 : 2.0;  // W -> 2 W, W* fixed
    kern.gradient(ov.data(), v.s_star.data(), A.data(), B.data());
    const double eps = 1e-5;
    double worst = 0.0, scale = std::max(max_abs(A), max_abs(B));
    auto loss_at = [&](int q1, int q2, double e) {
        std::vector<double> o = ov;
        o[q1] += e;
        if (q2 != q1) o[q2] += e;
        return kern.loss(o.data(), v.s_star.data());
    };
    for (int j = 0; j < p; ++j)
        for (int l = 0; l < p; ++l) {
            const double d = (loss_at(j * p + l, l * p + j, eps) - loss_at(j * p + l, l * p + j, -eps)) /
                             (2 * eps);
            worst = std::max(worst, std::abs((j == l ? -2.0 * d : -d) - A[j * p + l]));
        }
    for (int q = 0; q < p * k; ++q) {
        const double d = (loss_at(p * p + q, p * p + q, eps) - loss_at(p * p + q, p * p + q, -eps)) /
                         (2 * eps);
        worst = std::max(worst, std::abs(-d - B[q]));
    }
    char what[160];
    std::snprintf(what, sizeof what, "%s: A, B = -dl/d(S, U) by central differences", name);
    check(worst < 1e-7 * scale, what, worst / scale);
    // C along Y = [T; R] with dS = T + T^T, dU = R^T.
    const int r = p * (p + k);
    std::vector<double> Y(r), Z(r), Cm(r * r);
    for (int q = 0; q < r; ++q) Y[q] = std::sin(1.3 * q + 0.4);
    kern.apply_coupling(kern.jets(ov.data(), v.s_star.data()), Y.data(), Z.data());
    auto coef_at = [&](double e, std::vector<double>& a, std::vector<double>& b) {
        std::vector<double> o = ov;
        for (int j = 0; j < p; ++j)
            for (int l = 0; l < p; ++l) o[j * p + l] += e * (Y[j * p + l] + Y[l * p + j]);
        for (int j = 0; j < p; ++j)
            for (int l = 0; l < k; ++l) o[p * p + j * k + l] += e * Y[(p + l) * p + j];
        kern.gradient(o.data(), v.s_star.data(), a.data(), b.data());
    };
    std::vector<double> a1(p * p), b1(p * k), a2(p * p), b2(p * k);
    coef_at(eps, a1, b1);
    coef_at(-eps, a2, b2);
    double cw = 0.0, cs = max_abs(Z);
    for (int q = 0; q < p * p; ++q) cw = std::max(cw, std::abs((a1[q] - a2[q]) / (2 * eps) - Z[q]));
    for (int j = 0; j < p; ++j)
        for (int l = 0; l < k; ++l)
            cw = std::max(cw, std::abs((b1[j * k + l] - b2[j * k + l]) / (2 * eps) -
                                       Z[(p + l) * p + j]));
    std::snprintf(what, sizeof what, "%s: the coupling C = d(A, B) by central differences", name);
    check(cw < 1e-6 * cs, what, cw / cs);
}

// The stage solve against a dense solve of (I - hg J) X = R, J built column by column.
void test_stage_solve() {
    const Net net(9, 3, 2);
    const auto v = net.view();
    const pyscale::NetworkKernels kern(pyscale::Link::erf(), pyscale::Link::erf(),
                                       readouts(3, 0.5), readouts(2, 0.5));
    const int p = 3, k = 2, N = int(net.n) * p;
    std::vector<double> w = net.w0;
    for (double& x : w) x *= 4.0;
    const auto ov = overlaps(net, w);
    std::vector<double> A(p * p), B(p * k), C(p * (p + k) * p * (p + k));
    kern.gradient(ov.data(), v.s_star.data(), A.data(), B.data());
    const auto jets = kern.jets(ov.data(), v.s_star.data());
    const double hg = 30.0;
    std::vector<double> M(N * N), R(N), X(N), Xd(N);
    for (int c = 0; c < N; ++c) {  // column c of I - hg J
        std::vector<double> e(N, 0.0), Y((p + k) * p, 0.0), Z((p + k) * p);
        e[c] = 1.0;
        for (std::size_t i = 0; i < net.n; ++i)
            for (int col = 0; col < p; ++col) {
                for (int a = 0; a < p; ++a) Y[a * p + col] += net.lam[i] * w[i * p + a] * e[i * p + col];
                for (int l = 0; l < k; ++l)
                    Y[(p + l) * p + col] += net.lam[i] * net.ws[i * k + l] * e[i * p + col];
            }
        kern.apply_coupling(jets, Y.data(), Z.data());
        for (std::size_t i = 0; i < net.n; ++i)
            for (int col = 0; col < p; ++col) {
                double jx = 0.0;
                for (int a = 0; a < p; ++a) jx += e[i * p + a] * A[a * p + col] + w[i * p + a] * Z[a * p + col];
                for (int l = 0; l < k; ++l) jx += net.ws[i * k + l] * Z[(p + l) * p + col];
                M[(i * p + col) * N + c] = (int(i * p + col) == c ? 1.0 : 0.0) - hg * net.lam[i] * jx;
            }
    }
    for (int q = 0; q < N; ++q) R[q] = std::cos(0.9 * q);
    Xd = R;
    std::vector<int> piv(N);
    pyscale::small::lu_factor(N, M.data(), piv.data());
    pyscale::small::lu_solve(N, M.data(), piv.data(), Xd.data());
    pyscale::solve_network_stage(v, kern, w.data(), hg, R.data(), X.data(), 1);
    const double err = max_abs_diff(X, Xd) / max_abs(Xd);
    check(err < 1e-11, "stage solve (Woodbury) = dense solve of (I - hg J) X = R", err);
}

// The network flow at p = k = 1, a = a* = 1 against the single-index flow of the same link
// pair, both at rtol 1e-12: s, u and the loss agree to the integrators' accuracy.
template <class Pair>
void test_flow_single_unit(const char* name, const Pair& pair, const pyscale::Link& sigma,
                           const pyscale::Link& tau) {
    const Net net(200, 1, 1);
    const auto view = net.view();
    const auto pview = pyscale::make_problem_view(net.n, net.lam.data(), net.ws.data(),
                                                  double(net.n), 0.0, 1);
    const pyscale::NetworkKernels kern(sigma, tau, {1.0}, {1.0});
    const std::vector<double> times = {0.5, 3.0, 20.0, 200.0, 2000.0};
    pyscale::FlowOptions opt;
    opt.rtol = 1e-12;
    opt.threads = 1;
    std::vector<double> w1 = net.w0, w2 = net.w0;
    std::vector<double> out1(times.size() * pyscale::kRecordWidth), out2(times.size() * 4);
    const auto r1 = pyscale::run_flow(pview, pair, w1.data(), 0.0, times.data(), times.size(),
                                      out1.data(), opt);
    const auto r2 = pyscale::run_network_flow(view, kern, w2.data(), 0.0, times.data(),
                                              times.size(), out2.data(), opt);
    double worst = 0.0;
    for (std::size_t q = 0; q < times.size(); ++q) {
        worst = std::max(worst, std::abs(out1[q * pyscale::kRecordWidth + pyscale::kS] - out2[q * 4 + 2]));
        worst = std::max(worst, std::abs(out1[q * pyscale::kRecordWidth + pyscale::kU] - out2[q * 4 + 3]));
        worst = std::max(worst, std::abs(out1[q * pyscale::kRecordWidth + pyscale::kLoss] - out2[q * 4 + 1]));
    }
    char what[160];
    std::snprintf(what, sizeof what, "%s: network flow at p = k = 1 = single-index flow", name);
    check(r1.status == pyscale::RunStatus::kCompleted &&
              r2.status == pyscale::RunStatus::kCompleted && worst < 1e-9,
          what, worst);
}


// Relative difference of the single-index records (s, u, loss columns) and the network
// records at p = k = 1 (columns loss, S, U).
double single_unit_diff(const std::vector<double>& single, const std::vector<double>& net,
                        std::size_t rows) {
    double worst = 0.0;
    for (std::size_t q = 0; q < rows; ++q) {
        const double* a = single.data() + q * pyscale::kRecordWidth;
        const double* b = net.data() + q * 4;
        const double pairs[3][2] = {{a[pyscale::kS], b[2]}, {a[pyscale::kU], b[3]},
                                    {a[pyscale::kLoss], b[1]}};
        for (const auto& x : pairs)
            worst = std::max(worst, std::abs(x[0] - x[1]) / std::max(std::abs(x[0]), 1e-3));
    }
    return worst;
}

// GD, online SGD (the same samples: same seed, same streams) and ERM at p = k = 1 against
// the single-index engines: agreement to rounding (the sums run in other orders).
void test_steps_single_unit() {
    const Net net(300, 1, 1);
    const auto view = net.view(0.05);
    const auto pview = pyscale::make_problem_view(net.n, net.lam.data(), net.ws.data(),
                                                  double(net.n), 0.05, 1);
    const pyscale::SquarePair pair;
    const pyscale::NetworkKernels kern(pyscale::Link::square(), pyscale::Link::square(), {1.0},
                                       {1.0});
    const long long rec[3] = {0, 150, 400};
    std::vector<double> w1 = net.w0, w2 = net.w0, o1(3 * pyscale::kRecordWidth), o2(3 * 4);
    pyscale::run_gd(pview, pair, w1.data(), 0.05, 0, 400, rec, 3, o1.data());
    pyscale::run_network_gd(view, kern, w2.data(), 0.05, 0, 400, rec, 3, o2.data());
    double d = single_unit_diff(o1, o2, 3);
    check(d < 1e-12, "GD at p = k = 1 = single-index GD", d);
    w1 = net.w0, w2 = net.w0;
    std::vector<double> l1(3), l2(3);
    pyscale::run_sgd(pview, pair, w1.data(), 0.02, 2, 17, 0, 400, rec, 3, o1.data(), l1.data());
    pyscale::run_network_sgd(view, kern, w2.data(), 0.02, 2, 17, 0, 400, rec, 3, o2.data(),
                             l2.data());
    d = std::max(single_unit_diff(o1, o2, 3), std::abs(l1[2] - l2[2]) / l1[2]);
    check(d < 1e-10, "online SGD at p = k = 1 = single-index SGD (same samples)", d);
    const std::size_t N = 50;
    std::vector<double> X1(N * net.n), y1(N), X2(N * net.n), y2(N);
    pyscale::erm_make_data(pview, pair, 5, N, X1.data(), y1.data(), 1);
    pyscale::network_erm_make_data(view, kern, 5, N, X2.data(), y2.data(), 1);
    check(X1 == X2 && max_abs_diff(y1, y2) < 1e-13 * max_abs(y1),
          "ERM data at p = k = 1 = single-index ERM data", max_abs_diff(y1, y2));
    w1 = net.w0, w2 = net.w0;
    pyscale::run_erm(pview, pair, X1.data(), y1.data(), N, w1.data(), 0.01, 0, 400, rec, 3,
                     o1.data(), l1.data());
    pyscale::run_network_erm(view, kern, X2.data(), y2.data(), N, w2.data(), 0.01, 0, 400, rec,
                             3, o2.data(), l2.data());
    d = std::max(single_unit_diff(o1, o2, 3), std::abs(l1[2] - l2[2]) / l1[2]);
    check(d < 1e-10, "ERM at p = k = 1 = single-index ERM", d);
}

// Online SGD and the mode chain give the same bits for any thread count and sample storage.
void test_stochastic_determinism() {
    const Net net(70000, 2, 1);  // above kParallelThreshold: the passes split
    const auto view = net.view(0.01);
    const pyscale::NetworkKernels kern(pyscale::Link::erf(), pyscale::Link::erf(), {0.5, 0.5},
                                       {1.0});
    const long long rec[2] = {0, 12};
    std::vector<std::vector<double>> outs;
    for (int variant = 0; variant < 3; ++variant) {
        pyscale::SgdOptions opt;
        opt.threads = variant == 1 ? 2 : 1;
        opt.sample_storage = variant == 2 ? pyscale::SampleStorage::kRegenerate
                                          : pyscale::SampleStorage::kStore;
        std::vector<double> w = net.w0, out(2 * 8);
        pyscale::run_network_sgd(view, kern, w.data(), 0.1, 3, 11, 0, 12, rec, 2, out.data(),
                                 nullptr, opt);
        out.insert(out.end(), w.begin(), w.end());
        outs.push_back(out);
    }
    check(outs[0] == outs[1] && outs[0] == outs[2],
          "network SGD: the same bits for 1 and 2 threads, stored and regenerated samples");
    // A chain of 20000 modes of 50 coordinates (D = 3 frame rows each).
    const std::size_t M = 20000;
    std::vector<double> lam(M), cnt(M, 50.0), X0(M * 9, 0.0);
    for (std::size_t i = 0; i < M; ++i) {
        lam[i] = 1.0 / ((i + 1.0) * (i + 1.0));
        for (int a = 0; a < 3; ++a)
            for (int b = a; b < 3; ++b) X0[i * 9 + a * 3 + b] = std::sin(0.3 * i + a + 2.0 * b) * 0.1;
    }
    const auto md = pyscale::make_network_modes(M, 2, 1, lam.data(), cnt.data(), X0.data(),
                                                double(M) * 50, 0.01);
    std::vector<std::vector<double>> chains;
    for (int threads : {1, 2}) {
        pyscale::ModeChainOptions opt;
        opt.threads = threads;
        std::vector<double> X = X0, out(2 * 8);
        pyscale::run_network_chain(md, kern, X.data(), 0.1, 3, 4, 0, 12, rec, 2, out.data(),
                                   nullptr, opt);
        out.insert(out.end(), X.begin(), X.end());
        chains.push_back(out);
    }
    check(chains[0] == chains[1], "network mode chain: the same bits for 1 and 2 threads");
}

}  // namespace

int main() {
    test_small_matrix();
    test_coefficients("square", pyscale::Link::square(), pyscale::Link::square());
    test_coefficients("erf", pyscale::Link::erf(), pyscale::Link::erf());
    test_coefficients("relu/abs", pyscale::Link::relu(), pyscale::Link::abs());
    test_coefficients("tanh", pyscale::Link::tanh(), pyscale::Link::tanh());
    test_stage_solve();
    test_flow_single_unit("square", pyscale::SquarePair(), pyscale::Link::square(),
                          pyscale::Link::square());
    test_steps_single_unit();
    test_stochastic_determinism();
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
