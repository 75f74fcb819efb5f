// Tests of the link-pair concept and of the engines on pairs other than the square (no
// Python): the square's closed forms against what PairBase derives from its primitives, the
// flow's Jacobian against finite differences of its vector field, the O(d) Woodbury solve
// against a dense solve for singular, indefinite and coupled C, and the flow, GD and online
// SGD on pairs with C = 0 and with a coupled, indefinite C against independent references.
// Compiled and run by tests/test_cpp.py and CTest; exits non-zero on the first failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <pyscale/pyscale.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++failures;
}

double rel_err(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

// max_i |a_i - b_i| / max_i |b_i|: the error of a against the reference b.
double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double worst = 0.0, scale = 0.0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        worst = std::max(worst, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return worst / scale;
}

// sigma = tau = z (linear regression): l = s - 2 u + s*, c0 = -2, c1 = 2, C = 0 (singular).
class LinearPair : public pyscale::PairBase<LinearPair> {
public:
    pyscale::LossDerivatives loss_derivatives(double s, double u, double s_star) const {
        return {loss(s, u, s_star), 1.0, -2.0, 0.0, 0.0, 0.0};
    }
    double loss(double s, double u, double s_star) const { return s - 2.0 * u + s_star; }
    double student(double z) const { return z; }
    double student_prime(double) const { return 1.0; }
    double teacher(double z) const { return z; }
    pyscale::MseKind mse_kind() const { return pyscale::MseKind::kPlain; }
};

// sigma = tau = z^3 (Isserlis): l = 15 s^3 - 18 s s* u - 12 u^3 + 15 s*^3, so
// C = [[-360 s, 36 s*], [36 s*, 72 u]]: coupled, indefinite, singular where u = -s*^2/(20 s).
class CubePair : public pyscale::PairBase<CubePair> {
public:
    pyscale::LossDerivatives loss_derivatives(double s, double u, double ss) const {
        return {loss(s, u, ss),  45.0 * s * s - 18.0 * ss * u, -18.0 * s * ss - 36.0 * u * u,
                90.0 * s,        -18.0 * ss,                   -72.0 * u};
    }
    double loss(double s, double u, double ss) const {
        return 15.0 * s * s * s - 18.0 * s * ss * u - 12.0 * u * u * u + 15.0 * ss * ss * ss;
    }
    double student(double z) const { return z * z * z; }
    double student_prime(double z) const { return 3.0 * z * z; }
    double teacher(double z) const { return z * z * z; }
    pyscale::MseKind mse_kind() const { return pyscale::MseKind::kPlain; }
};

// A small problem: lambda_i = (i + 1)^-1.5, w* normalised to s* = 1, w(0) with u(0) > 0.
struct Small {
    std::vector<double> lambda, w_star, w0;
    explicit Small(std::size_t n, double scale = 0.3) : lambda(n), w_star(n), w0(n) {
        double q = 0;
        for (std::size_t i = 0; i < n; ++i) {
            lambda[i] = std::pow(double(i + 1), -1.5);
            w_star[i] = 1.0 + 0.4 * std::sin(1.3 * double(i));
            q += lambda[i] * w_star[i] * w_star[i];
        }
        for (std::size_t i = 0; i < n; ++i) {
            w_star[i] /= std::sqrt(q);
            w0[i] = scale * (w_star[i] + 0.5 * std::cos(2.1 * double(i) + 0.4));
        }
    }
    pyscale::ProblemView view() const {
        return pyscale::make_problem_view(lambda.size(), lambda.data(), w_star.data(),
                                          double(lambda.size()));
    }
};

void test_square_closed_forms_are_the_derived_hooks() {
    const pyscale::SquarePair sq;
    const pyscale::PairBase<pyscale::SquarePair>& base = sq;  // the derivations from primitives
    double worst = 0.0;
    bool coupling_exact = true;
    for (double s : {0.0, 0.3, 1.0, 2.5})
        for (double u : {-0.7, 0.0, 0.4, 1.2}) {
            const double ss = 1.3, lr = 0.05;
            const auto f = sq.flow_coefficients(s, u, ss), fb = base.flow_coefficients(s, u, ss);
            const auto g = sq.gd_coefficients(lr, s, u, ss);
            const auto gb = base.gd_coefficients(lr, s, u, ss);
            const auto c = sq.jacobian_coupling(s, u, ss), cb = base.jacobian_coupling(s, u, ss);
            for (double e : {f.c0 - fb.c0, f.c1 - fb.c1, g.a - gb.a, g.b - gb.b})
                worst = std::max(worst, std::abs(e));
            coupling_exact &= c.c11 == cb.c11 && c.c12 == cb.c12 && c.c22 == cb.c22;
            for (double p : {-1.5, 0.2, 3.0})  // g = scale * r * weight(p) = 2 r sigma'(p)
                worst = std::max(worst, std::abs(sq.gradient_scale() * sq.gradient_weight(p) -
                                                 base.gradient_scale() * base.gradient_weight(p)));
            const double loss = 3 * s * s - 2 * s * ss - 4 * u * u + 3 * ss * ss;
            worst = std::max(worst, std::abs(sq.record_loss(s, u, ss, 0.1) - (loss + 0.1)));
        }
    check(worst < 1e-13 && coupling_exact,
          "square: closed-form hooks = PairBase's derivations from l and its derivatives");
    check(sq.record_mse(0.5, 0.2, 10.0) == 0.02 && LinearPair().record_mse(0.5, 0.2, 10.0) == 0.05,
          "record mse: sign-invariant for the square, plain for an odd pair");
}

// Central differences of l against loss_derivatives (second derivatives from the first).
template <class Pair>
double derivative_error(const Pair& pair, double s, double u, double ss) {
    const double h = 1e-5;
    const auto d = pair.loss_derivatives(s, u, ss);
    const auto ds_p = pair.loss_derivatives(s + h, u, ss);
    const auto ds_m = pair.loss_derivatives(s - h, u, ss);
    const auto du_p = pair.loss_derivatives(s, u + h, ss);
    const auto du_m = pair.loss_derivatives(s, u - h, ss);
    const double fd[5] = {(pair.loss(s + h, u, ss) - pair.loss(s - h, u, ss)) / (2 * h),
                          (pair.loss(s, u + h, ss) - pair.loss(s, u - h, ss)) / (2 * h),
                          (ds_p.ls - ds_m.ls) / (2 * h), (du_p.ls - du_m.ls) / (2 * h),
                          (du_p.lu - du_m.lu) / (2 * h)};
    const double exact[5] = {d.ls, d.lu, d.lss, d.lsu, d.luu};
    double worst = std::abs(d.l - pair.loss(s, u, ss));
    for (int k = 0; k < 5; ++k)
        worst = std::max(worst, std::abs(fd[k] - exact[k]) / (1 + std::abs(exact[k])));
    return worst;
}

void test_loss_derivatives_by_finite_differences() {
    double worst = 0.0;
    for (double s : {0.2, 1.0, 1.7})
        for (double u : {-0.5, 0.3, 0.9}) {
            worst = std::max(worst, derivative_error(pyscale::SquarePair(), s, u, 1.3));
            worst = std::max(worst, derivative_error(LinearPair(), s, u, 1.3));
            worst = std::max(worst, derivative_error(CubePair(), s, u, 1.3));
        }
    check(worst < 1e-8, "loss_derivatives = finite differences of loss (square, linear, cube)");
}

// J v against (f(w + h v) - f(w - h v)) / (2 h).
template <class Pair>
double jacobian_error(const Pair& pair) {
    const Small f(9, 0.8);
    const auto p = f.view();
    const pyscale::VectorField<Pair> field(p, pair);
    const std::size_t n = p.n;
    std::vector<double> v(n), jv(n), wp(n), wm(n), fp(n), fm(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(0.9 * double(i) + 0.2);
    field.jacobian_times(f.w0.data(), v.data(), jv.data(), 1);
    const double h = 1e-6;
    for (std::size_t i = 0; i < n; ++i) {
        wp[i] = f.w0[i] + h * v[i];
        wm[i] = f.w0[i] - h * v[i];
    }
    field.evaluate(wp.data(), fp.data(), 1);
    field.evaluate(wm.data(), fm.data(), 1);
    double worst = 0.0, scale = 0.0;
    for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(jv[i]));
    for (std::size_t i = 0; i < n; ++i)
        worst = std::max(worst, std::abs((fp[i] - fm[i]) / (2 * h) - jv[i]) / scale);
    return worst;
}

void test_jacobian_by_finite_differences() {
    check(jacobian_error(pyscale::SquarePair()) < 1e-7 && jacobian_error(LinearPair()) < 1e-7 &&
              jacobian_error(CubePair()) < 1e-7,
          "flow Jacobian c0 Q + U C U^T = finite differences of f (square, linear, cube)");
}

// x = G^-1 r by Gaussian elimination with partial pivoting on the dense G.
std::vector<double> dense_solve(std::vector<double> G, std::vector<double> r) {
    const std::size_t n = r.size();
    for (std::size_t k = 0; k < n; ++k) {
        std::size_t piv = k;
        for (std::size_t i = k + 1; i < n; ++i)
            if (std::abs(G[i * n + k]) > std::abs(G[piv * n + k])) piv = i;
        for (std::size_t j = 0; j < n; ++j) std::swap(G[k * n + j], G[piv * n + j]);
        std::swap(r[k], r[piv]);
        for (std::size_t i = k + 1; i < n; ++i) {
            const double f = G[i * n + k] / G[k * n + k];
            for (std::size_t j = k; j < n; ++j) G[i * n + j] -= f * G[k * n + j];
            r[i] -= f * r[k];
        }
    }
    std::vector<double> x(n);
    for (std::size_t k = n; k-- > 0;) {
        double acc = r[k];
        for (std::size_t j = k + 1; j < n; ++j) acc -= G[k * n + j] * x[j];
        x[k] = acc / G[k * n + k];
    }
    return x;
}

// max |x_woodbury - x_dense| / max |x_dense| for G = g I - c0 Q - U C U^T.
double woodbury_error(const pyscale::Coupling& c, double g, double c0) {
    const Small f(7, 1.0);
    const std::size_t n = 7;
    std::vector<double> G(n * n), r(n), x(n);
    for (std::size_t i = 0; i < n; ++i) {
        r[i] = std::cos(1.1 * double(i) + 0.3);
        const double ai = f.lambda[i] * f.w0[i], bi = f.lambda[i] * f.w_star[i];
        for (std::size_t j = 0; j < n; ++j) {
            const double aj = f.lambda[j] * f.w0[j], bj = f.lambda[j] * f.w_star[j];
            G[i * n + j] = -(ai * (c.c11 * aj + c.c12 * bj) + bi * (c.c12 * aj + c.c22 * bj));
        }
        G[i * n + i] += g - c0 * f.lambda[i];
    }
    const std::vector<double> ref = dense_solve(G, r);
    if (!pyscale::solve_shifted_jacobian(n, f.lambda.data(), f.w0.data(), f.w_star.data(), g, c0,
                                         c, r.data(), x.data()))
        return INFINITY;
    return max_rel_diff(x, ref);
}

void test_woodbury_against_a_dense_solve() {
    struct Case {
        pyscale::Coupling c;
        bool inverse_form;
        const char* what;
    };
    const Case cases[] = {
        {{-24.0, 0.0, 8.0}, true, "woodbury: the square's diag(-24, 8) (inverse form) = dense"},
        {{0.0, 0.0, 0.0}, false, "woodbury: C = 0 = dense"},
        {{-24.0, 0.0, 0.0}, false, "woodbury: singular diagonal C = diag(-24, 0) = dense"},
        {{-8.0, 4.0, -2.0}, false, "woodbury: singular coupled C (rank one) = dense"},
        {{-3.0, 2.0, 5.0}, false, "woodbury: coupled indefinite C = dense"},
    };
    for (const Case& k : cases) {
        pyscale::Capacitance cap;
        const bool form_ok = cap.factor(k.c, 1.0, 0.0, 1.0) && cap.inverse_form() == k.inverse_form;
        const double e1 = woodbury_error(k.c, 4.0, -1.5);  // M = diag(g - c0 lambda) > 0
        const double e2 = woodbury_error(k.c, 0.7, 1.5);   // an indefinite M
        check(e1 < 1e-12 && e2 < 1e-11 && form_ok, k.what);
    }
    pyscale::Capacitance cap;  // P = C^-1 makes G singular: the step must be refused
    check(!cap.factor({-24.0, 0.0, 8.0}, -1.0 / 24.0, 0.0, 1.0 / 8.0) &&
              !cap.factor({-3.0, 2.0, 5.0}, -5.0 / 19.0, 2.0 / 19.0, 3.0 / 19.0),
          "woodbury: a singular capacitance system is reported");
}

// The flow for the linear pair is linear: w(t) = w* + exp(-2 lambda t) (w(0) - w*).
void test_flow_linear_pair_exact_solution() {
    const Small f(40, 0.5);
    const auto p = f.view();
    std::vector<double> w = f.w0;
    const std::vector<double> t = {0.0, 0.5, 3.0, 20.0, 200.0};
    std::vector<double> out(t.size() * pyscale::kRecordWidth);
    pyscale::FlowOptions opt;
    opt.rtol = 1e-10;
    const auto r = pyscale::run_flow(p, LinearPair(), w.data(), 0.0, t.data(), t.size(),
                                     out.data(), opt);
    double worst = 0.0;
    for (std::size_t k = 0; k < t.size(); ++k) {
        double s = 0, u = 0;
        for (std::size_t i = 0; i < p.n; ++i) {
            const double decay = std::exp(-2 * f.lambda[i] * t[k]);
            const double wi = f.w_star[i] + decay * (f.w0[i] - f.w_star[i]);
            s += f.lambda[i] * wi * wi;
            u += f.lambda[i] * wi * f.w_star[i];
        }
        const double* row = &out[k * pyscale::kRecordWidth];
        worst = std::max({worst, rel_err(row[pyscale::kS], s), rel_err(row[pyscale::kU], u)});
    }
    check(r.status == pyscale::RunStatus::kCompleted && worst < 1e-8,
          "flow, linear pair (C = 0): s, u = the exact solution to 1e-8");
}

// Classical RK4 with a small step: the reference for pairs without a closed-form flow.
template <class Pair>
std::vector<double> rk4(const pyscale::ProblemView& p, const Pair& pair, std::vector<double> w,
                        double t_end, long long steps) {
    const pyscale::VectorField<Pair> field(p, pair);
    const std::size_t n = p.n;
    const double h = t_end / double(steps);
    std::vector<double> k1(n), k2(n), k3(n), k4(n), y(n);
    for (long long s = 0; s < steps; ++s) {
        field.evaluate(w.data(), k1.data(), 1);
        for (std::size_t i = 0; i < n; ++i) y[i] = w[i] + 0.5 * h * k1[i];
        field.evaluate(y.data(), k2.data(), 1);
        for (std::size_t i = 0; i < n; ++i) y[i] = w[i] + 0.5 * h * k2[i];
        field.evaluate(y.data(), k3.data(), 1);
        for (std::size_t i = 0; i < n; ++i) y[i] = w[i] + h * k3[i];
        field.evaluate(y.data(), k4.data(), 1);
        for (std::size_t i = 0; i < n; ++i)
            w[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
    return w;
}

void test_flow_cube_pair_against_rk4() {
    const Small f(12, 0.6);
    const auto p = f.view();
    const CubePair pair;
    const double t_end = 2.0;
    const std::vector<double> ref = rk4(p, pair, f.w0, t_end, 40000);
    bool ok = true;
    for (auto method : {pyscale::FlowMethod::kRodas4, pyscale::FlowMethod::kRos4}) {
        std::vector<double> w = f.w0;
        const double t[] = {t_end};
        double out[pyscale::kRecordWidth];
        pyscale::FlowOptions opt;
        opt.rtol = 1e-10;
        opt.method = method;
        const auto r = pyscale::run_flow(p, pair, w.data(), 0.0, t, 1, out, opt);
        ok = ok && r.status == pyscale::RunStatus::kCompleted && max_rel_diff(w, ref) < 1e-7 &&
             r.steps > 3;
    }
    check(ok, "flow, cube pair (coupled indefinite C): RODAS4 and ROS4 = RK4 to 1e-7");
}

// GD on the cube pair against its explicit iteration w <- w + lr (c0 Q w + c1 Q w*).
void test_gd_cube_pair_against_a_plain_loop() {
    const Small f(30, 0.6);
    const auto p = f.view();
    const CubePair pair;
    const double lr = 0.01;
    const long long steps = 300, rec[] = {steps};
    std::vector<double> w = f.w0, ref = f.w0;
    double out[pyscale::kRecordWidth];
    const auto r = pyscale::run_gd(p, pair, w.data(), lr, 0, steps, rec, 1, out);
    for (long long k = 0; k < steps; ++k) {
        double s = 0, u = 0;
        for (std::size_t i = 0; i < p.n; ++i) {
            s += f.lambda[i] * ref[i] * ref[i];
            u += f.lambda[i] * ref[i] * f.w_star[i];
        }
        const auto d = pair.loss_derivatives(s, u, p.s_star);
        for (std::size_t i = 0; i < p.n; ++i)
            ref[i] += lr * f.lambda[i] * (-2.0 * d.ls * ref[i] - d.lu * f.w_star[i]);
    }
    double worst = 0.0;
    for (std::size_t i = 0; i < p.n; ++i) worst = std::max(worst, std::abs(w[i] - ref[i]));
    const double loss = pair.loss(out[pyscale::kS], out[pyscale::kU], p.s_star);
    check(r.status == pyscale::RunStatus::kCompleted && worst < 1e-12 &&
              rel_err(out[pyscale::kLoss], loss) < 1e-15,
          "gd, cube pair: the explicit iteration, records with the pair's loss");
}

// Online SGD on the cube pair against the same samples drawn from the generator here:
// w <- w - lr 2 (sigma(p) - tau(q)) sigma'(p) x, p = x.w, q = x.w* (batch 1, no noise).
void test_sgd_cube_pair_against_a_plain_loop() {
    const Small f(50, 0.4);
    const auto p = f.view();
    const CubePair pair;
    const double lr = 2e-4;
    const long long steps = 300, rec[] = {steps};
    const std::uint64_t seed = 11;
    std::vector<double> w = f.w0, ref = f.w0;
    double out[pyscale::kRecordWidth];
    const auto r = pyscale::run_sgd(p, pair, w.data(), lr, 1, seed, 0, steps, rec, 1, out,
                                    nullptr);
    const pyscale::NormalStream gen(
        pyscale::stream_seed(seed, p.dim, pyscale::Streams::kIndependent));
    std::vector<double> z(p.n), x(p.n);
    for (long long k = 0; k < steps; ++k) {
        gen.fill(static_cast<std::uint64_t>(k), pyscale::kFeatureDomain, 0, p.n, z.data());
        double pw = 0, qw = 0;
        for (std::size_t i = 0; i < p.n; ++i) {
            x[i] = std::sqrt(f.lambda[i]) * z[i];
            pw += x[i] * ref[i];
            qw += x[i] * f.w_star[i];
        }
        const double g = 2.0 * (pw * pw * pw - qw * qw * qw) * 3.0 * pw * pw;
        for (std::size_t i = 0; i < p.n; ++i) ref[i] -= lr * g * x[i];
    }
    const double moved = max_rel_diff(f.w0, ref);  // the run is not a no-op
    check(r.status == pyscale::RunStatus::kCompleted && max_rel_diff(w, ref) < 1e-11 &&
              moved > 1e-3,
          "sgd, cube pair: the plain loop on the same samples, to 1e-11");
}

// ERM on the cube pair: labels tau(x.w*) of the data set, and full-batch GD on it against
// w <- w - lr (2 / N) sum_j (sigma(p_j) - y_j) sigma'(p_j) x_j.
void test_erm_cube_pair_against_a_plain_loop() {
    const Small f(20, 0.4);
    const auto p = f.view();
    const CubePair pair;
    const std::size_t N = 40, n = p.n;
    std::vector<double> X(N * n), y(N);
    pyscale::erm_make_data(p, pair, 3, N, X.data(), y.data(), 1);
    double label_err = 0.0;
    for (std::size_t j = 0; j < N; ++j) {
        double q = 0;
        for (std::size_t i = 0; i < n; ++i) q += X[j * n + i] * f.w_star[i];
        label_err = std::max(label_err, rel_err(y[j], q * q * q));
    }
    const double lr = 5e-3;
    const long long steps = 100, rec[] = {steps};
    std::vector<double> w = f.w0, ref = f.w0, grad(n);
    double out[pyscale::kRecordWidth], train[1];
    const auto r = pyscale::run_erm(p, pair, X.data(), y.data(), N, w.data(), lr, 0, steps, rec,
                                    1, out, train);
    for (long long k = 0; k < steps; ++k) {
        std::fill(grad.begin(), grad.end(), 0.0);
        for (std::size_t j = 0; j < N; ++j) {
            double pj = 0;
            for (std::size_t i = 0; i < n; ++i) pj += X[j * n + i] * ref[i];
            const double g = 2.0 * (pj * pj * pj - y[j]) * 3.0 * pj * pj / double(N);
            for (std::size_t i = 0; i < n; ++i) grad[i] += g * X[j * n + i];
        }
        for (std::size_t i = 0; i < n; ++i) ref[i] -= lr * grad[i];
    }
    check(r.status == pyscale::RunStatus::kCompleted && label_err < 1e-12 &&
              max_rel_diff(w, ref) < 1e-11,
          "erm, cube pair: labels tau(x.w*), and the plain full-batch loop to 1e-11");
}

// LinkPair as an engine pair: its two overrides equal what PairBase derives from its
// primitives, the square LinkPair runs the flow as SquarePair does, and a kinked student that
// reaches s = 0 ends a run with kOutOfDomain and the records before it.
void test_link_pair_is_an_engine_pair() {
    static_assert(pyscale::is_pair_v<pyscale::LinkPair>, "LinkPair is a pair");
    const pyscale::LinkPair relu(pyscale::Link::relu()), erf(pyscale::Link::erf());
    const pyscale::LinkPair mixed(pyscale::Link::square(), pyscale::Link::abs());
    double worst = 0.0;
    bool terms = true;
    for (const pyscale::LinkPair* pair : {&relu, &erf, &mixed}) {
        for (double s : {0.05, 0.7, 2.0}) {
            const pyscale::LossDerivatives d = pair->loss_derivatives(s, 0.3 * s, 1.2);
            const pyscale::FlowCoefficients f = pair->flow_coefficients(s, 0.3 * s, 1.2);
            worst = std::max({worst, rel_err(f.c0, -2.0 * d.ls), rel_err(f.c1, -d.lu)});
        }
        for (double z : {-1.3, 0.2, 2.5}) {
            const pyscale::SampleTerms t = pair->sample_terms(z, 0.4);
            terms = terms && t.residual == pair->student(z) - 0.4 &&
                    t.weight == pair->student_prime(z);
        }
    }
    check(worst < 1e-14 && terms, "LinkPair: flow_coefficients and sample_terms = PairBase's");

    const Small f(30, 0.5);
    const auto p = f.view();
    const std::vector<double> t = {0.0, 0.5, 5.0, 50.0};
    std::vector<double> a(t.size() * pyscale::kRecordWidth), b(a.size());
    std::vector<double> wa = f.w0, wb = f.w0;
    const pyscale::LinkPair square(pyscale::Link::square());
    pyscale::run_flow(p, pyscale::SquarePair(), wa.data(), 0.0, t.data(), t.size(), a.data());
    pyscale::run_flow(p, square, wb.data(), 0.0, t.data(), t.size(), b.data());
    // Its first step differs (PairBase's rate_bound counts the rank-two part): rtol-level.
    check(max_rel_diff(b, a) < 1e-8, "flow: LinkPair(square) = SquarePair to 1e-8 (rtol 1e-9)");

    // |z| student, odd teacher: l = s + const, c0 = -2; GD at lr lambda = 1/2 gives w = 0.
    const std::vector<double> lam(4, 0.5), ws(4, 1.0);
    std::vector<double> w(4, 0.3), out(3 * pyscale::kRecordWidth);
    const auto q = pyscale::make_problem_view(4, lam.data(), ws.data(), 4.0);
    const long long rec[] = {0, 1, 2};
    const auto r = pyscale::run_gd(q, pyscale::LinkPair(pyscale::Link::abs(), pyscale::Link::erf()),
                                   w.data(), 1.0, 0, 5, rec, 3, out.data());
    check(r.status == pyscale::RunStatus::kOutOfDomain && r.last_step == 1 &&
              r.records_written == 1 && w[0] == 0.0,
          "gd: s = 0 with a kinked student stops at the state, kOutOfDomain, records kept");
}

}  // namespace

int main() {
    test_square_closed_forms_are_the_derived_hooks();
    test_loss_derivatives_by_finite_differences();
    test_jacobian_by_finite_differences();
    test_woodbury_against_a_dense_solve();
    test_flow_linear_pair_exact_solution();
    test_flow_cube_pair_against_rk4();
    test_gd_cube_pair_against_a_plain_loop();
    test_sgd_cube_pair_against_a_plain_loop();
    test_erm_cube_pair_against_a_plain_loop();
    test_link_pair_is_an_engine_pair();
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
