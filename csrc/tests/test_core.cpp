// Tests of the C++ core on its own (no Python): compiled and run by tests/test_cpp.py.
// Each check prints a line; the program exits non-zero on the first failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <pyscale/pyscale.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++failures;
}

struct Fixture {
    std::vector<double> lambda, w_star, w0;
    explicit Fixture(std::size_t d, double a) : lambda(d), w_star(d), w0(d) {
        double h = 0;
        for (std::size_t i = d; i >= 1; --i) h += std::pow(double(i), -a);
        double q = 0, n = 0;
        for (std::size_t i = 0; i < d; ++i) {
            lambda[i] = std::pow(double(i + 1), -a) / h;
            // Deterministic pseudo-random entries (no <random>: identical on every platform).
            w_star[i] = std::sin(1.7 * double(i) + 0.3);
            w0[i] = std::cos(2.3 * double(i) + 1.1);
            q += lambda[i] * w_star[i] * w_star[i];
            n += w0[i] * w0[i];
        }
        for (std::size_t i = 0; i < d; ++i) {
            w_star[i] /= std::sqrt(q);
            w0[i] /= std::sqrt(n);
        }
    }
    pyscale::ProblemView view() const {
        return pyscale::make_problem_view(lambda.size(), lambda.data(), w_star.data(),
                                          double(lambda.size()));
    }
};

void test_gd_matches_a_plain_loop() {
    Fixture f(300, 2.0);
    auto p = f.view();
    std::vector<double> w = f.w0, ref = f.w0;
    const double lr = 0.05;
    const long long steps = 2000, rec[] = {steps};
    double out[pyscale::kRecordWidth];
    auto r = pyscale::run_gd(p, w.data(), lr, 0, steps, rec, 1, out);
    for (long long k = 0; k < steps; ++k) {
        double s = 0, u = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) {
            s += f.lambda[i] * ref[i] * ref[i];
            u += f.lambda[i] * ref[i] * f.w_star[i];
        }
        for (std::size_t i = 0; i < ref.size(); ++i)
            ref[i] -= lr * f.lambda[i] * ((12 * s - 4 * p.s_star) * ref[i] - 8 * u * f.w_star[i]);
    }
    double worst = 0;
    for (std::size_t i = 0; i < w.size(); ++i) worst = std::fmax(worst, std::abs(w[i] - ref[i]));
    check(r.status == pyscale::RunStatus::kCompleted && worst < 1e-12, "gd == plain loop");
}

void test_flow_converges_and_loss_decreases() {
    Fixture f(500, 2.0);
    auto p = f.view();
    std::vector<double> w = f.w0;
    std::vector<double> t = {0, 1, 10, 100, 1e3, 1e4, 1e6, 1e9};
    std::vector<double> out(t.size() * pyscale::kRecordWidth);
    auto r = pyscale::run_flow(p, w.data(), 0.0, t.data(), t.size(), out.data());
    bool monotone = true;
    for (std::size_t k = 1; k < t.size(); ++k)
        monotone &= out[k * pyscale::kRecordWidth + pyscale::kLoss] <=
                    out[(k - 1) * pyscale::kRecordWidth + pyscale::kLoss] + 1e-13;
    const double u_end = out[(t.size() - 1) * pyscale::kRecordWidth + pyscale::kU];
    check(r.status == pyscale::RunStatus::kCompleted, "flow completes");
    check(monotone, "flow loss non-increasing");
    check(std::abs(std::abs(u_end) - 1.0) < 1e-3, "flow reaches |u| ~ 1");
}

void test_flow_is_thread_count_independent() {
    Fixture f(100000, 1.5);
    auto p = f.view();
    std::vector<double> t = {0, 1, 10};
    std::vector<double> a(t.size() * pyscale::kRecordWidth), b(a.size());
    std::vector<double> w1 = f.w0, w2 = f.w0;
    pyscale::FlowOptions one, two;
    one.rtol = two.rtol = 1e-7;
    one.threads = 1;
    two.threads = 2;
    pyscale::run_flow(p, w1.data(), 0.0, t.data(), t.size(), a.data(), one);
    pyscale::run_flow(p, w2.data(), 0.0, t.data(), t.size(), b.data(), two);
    check(a == b && w1 == w2, "flow bitwise identical with 1 and 2 threads");
}

void test_bad_input_throws() {
    std::vector<double> lam = {1.0, 2.0}, ws = {0.0, 0.0};
    bool threw = false;
    try {
        pyscale::make_problem_view(2, lam.data(), ws.data(), 2.0);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    check(threw, "zero Q-norm target rejected");
    threw = false;
    try {
        pyscale::FlowWorkspace ws_huge(std::size_t(1) << 50);
    } catch (const pyscale::AllocationError& e) {
        threw = e.bytes() == pyscale::FlowWorkspace::bytes_needed(std::size_t(1) << 50);
    }
    check(threw, "impossible allocation reports its size");
}

}  // namespace

int main() {
    test_gd_matches_a_plain_loop();
    test_flow_converges_and_loss_decreases();
    test_flow_is_thread_count_independent();
    test_bad_input_throws();
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
