// Tests of the C++ core on its own (no Python): compiled and run by tests/test_cpp.py.
// Each check prints a line; the program exits non-zero on the first failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <pyscale/pyscale.hpp>

namespace {

int failures = 0;
const pyscale::SquarePair kSquare{};  // phase retrieval, the pair every test below runs

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
    auto r = pyscale::run_gd(p, kSquare, w.data(), lr, 0, steps, rec, 1, out);
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
    auto r = pyscale::run_flow(p, kSquare, w.data(), 0.0, t.data(), t.size(), out.data());
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
    pyscale::run_flow(p, kSquare, w1.data(), 0.0, t.data(), t.size(), a.data(), one);
    pyscale::run_flow(p, kSquare, w2.data(), 0.0, t.data(), t.size(), b.data(), two);
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


// ---- the shared step loop -------------------------------------------------------------

// A policy that logs what the loop asks of it: "a3" advance(3), "f3" flush(3), "r0:3"
// record(row 0, step 3). It diverges at step `bad` (in advance, or in flush when
// bad_in_flush), reporting `bad_step` as the diverged state's step.
struct LoggingEngine {
    std::vector<std::string> log;
    long long bad = -1, bad_step = -1;
    bool bad_in_flush = false;
    pyscale::StepOutcome advance(long long k) {
        log.push_back("a" + std::to_string(k));
        if (k == bad && !bad_in_flush) return pyscale::StepOutcome::diverged_at(bad_step);
        return pyscale::StepOutcome::taken(k);
    }
    pyscale::StepOutcome flush(long long k) {
        log.push_back("f" + std::to_string(k));
        if (k == bad && bad_in_flush) return pyscale::StepOutcome::diverged_at(bad_step);
        return pyscale::StepOutcome::taken(k);
    }
    void record(std::size_t row, long long k) {
        log.push_back("r" + std::to_string(row) + ":" + std::to_string(k));
    }
    std::string joined() const {
        std::string s;
        for (const auto& e : log) s += (s.empty() ? "" : " ") + e;
        return s;
    }
};

void test_step_loop_contract() {
    const long long rec[] = {0, 2, 5};
    {
        LoggingEngine e;
        std::vector<std::pair<double, long long>> calls;
        pyscale::ProgressHook hook = [&](double t, long long steps) {
            calls.emplace_back(t, steps);
            return true;
        };
        // progress every 4 steps from step0 = 0: checks at 4; sync points 2, 4, 5 (= end).
        auto r = pyscale::run_step_loop(e, {0, 5, rec, 3, 0.5, 4}, hook);
        check(e.joined() == "r0:0 a1 a2 f2 r1:2 a3 a4 f4 a5 f5 r2:5",
              "step loop: record at step0, flush exactly at records, checks and the end");
        check(r.status == pyscale::RunStatus::kCompleted && r.last_step == 5 &&
                  r.diverged_at_step == -1 && r.records_written == 3,
              "step loop: completed run's bookkeeping");
        check(calls.size() == 1 && calls[0].first == 2.0 && calls[0].second == 4,
              "step loop: hook told (k lr, k - step0)");
    }
    {
        LoggingEngine e;
        e.bad = 4;
        e.bad_step = 3;  // a deferred state caught one step late
        auto r = pyscale::run_step_loop(e, {0, 5, rec, 3, 0.5, 4}, nullptr);
        check(e.joined() == "r0:0 a1 a2 f2 r1:2 a3 a4" &&
                  r.status == pyscale::RunStatus::kDiverged && r.last_step == 3 &&
                  r.diverged_at_step == 3 && r.records_written == 2,
              "step loop: divergence in a step stops at the reported state");
        LoggingEngine f;
        f.bad = 2;
        f.bad_step = 2;
        f.bad_in_flush = true;
        r = pyscale::run_step_loop(f, {0, 5, rec, 3, 0.5, 4}, nullptr);
        check(f.joined() == "r0:0 a1 a2 f2" && r.last_step == 2 && r.diverged_at_step == 2 &&
                  r.records_written == 1,
              "step loop: divergence found at a flush is not recorded");
    }
    {
        LoggingEngine e;
        auto r = pyscale::run_step_loop(e, {3, 6, rec, 3, 1.0, 2},
                                        [](double, long long) { return false; });
        // Rows before step0 belong to the run being resumed: they count as written.
        check(e.joined() == "a4 a5 f5 r2:5" && r.status == pyscale::RunStatus::kInterrupted &&
                  r.last_step == 5 && r.records_written == 3,
              "step loop: resumed at step0 = 3, the hook stops it at its first check");
        LoggingEngine f;
        r = pyscale::run_step_loop(f, {0, 3, rec, 0, 1.0, 0},
                                   [](double, long long) { return false; });
        check(f.joined() == "a1 a2 a3 f3" && r.status == pyscale::RunStatus::kCompleted,
              "step loop: progress_every <= 0 never calls the hook");
    }
}

// The contract of the loop as each engine meets it. `run` runs one engine from w (in
// place) over [step0, step_end]; the window pair carries SGD's open online-loss window.
struct EngineRun {
    const char* name;
    std::function<pyscale::StepLoopResult(std::vector<double>& w, long long step0,
                                          long long step_end, const long long* rec,
                                          std::size_t n_rec, double* out,
                                          const pyscale::ProgressHook& hook, double lr)>
        run;
};

bool same_bits(const double* a, const double* b, std::size_t n) {
    return std::memcmp(a, b, n * sizeof(double)) == 0;
}

void test_engine_contract(const EngineRun& e, const Fixture& f, double lr, double bad_lr) {
    constexpr std::size_t W = pyscale::kRecordWidth;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto p = f.view();
    const long long rec[] = {0, 1, 7, 40, 100};
    const std::size_t n_rec = 5;
    std::string tag = std::string(e.name) + ": ";

    // One uninterrupted run.
    std::vector<double> w = f.w0, out(n_rec * W, nan);
    auto r = e.run(w, 0, 100, rec, n_rec, out.data(), nullptr, lr);
    check(r.status == pyscale::RunStatus::kCompleted && r.last_step == 100 &&
              r.records_written == n_rec && r.diverged_at_step == -1,
          (tag + "completes with every record").c_str());

    // Record at step 0 is the initial state; the record at step 7 is the state after 7 steps.
    double row[W];
    pyscale::BlockedReducer<6> red(p.n, 1);
    pyscale::write_record(row, 0.0, p, kSquare, pyscale::moments(p, f.w0.data(), red));
    check(same_bits(row, out.data(), W), (tag + "record at step 0 = initial state").c_str());
    std::vector<double> w7 = f.w0, out7(W, nan);
    const long long rec7[] = {7};
    e.run(w7, 0, 7, rec7, 1, out7.data(), nullptr, lr);
    pyscale::write_record(row, 7 * lr, p, kSquare, pyscale::moments(p, w7.data(), red));
    check(same_bits(row, out.data() + 2 * W, W) && same_bits(row, out7.data(), W),
          (tag + "record at step 7 = the state after 7 steps, t = 7 lr").c_str());

    // Interrupted by the hook at its first check (progress_every = 16), then resumed.
    std::vector<double> wi = f.w0, outi(n_rec * W, nan);
    long long hook_steps = -1;
    auto ri = e.run(wi, 0, 100, rec, n_rec, outi.data(),
                    [&](double, long long steps) {
                        hook_steps = steps;
                        return false;
                    },
                    lr);
    check(ri.status == pyscale::RunStatus::kInterrupted && ri.last_step == 16 &&
              hook_steps == 16 && ri.records_written == 3 && std::isnan(outi[3 * W]),
          (tag + "the hook stops the run after 16 steps").c_str());
    auto rr = e.run(wi, ri.last_step, 100, rec, n_rec, outi.data(), nullptr, lr);
    check(rr.status == pyscale::RunStatus::kCompleted && rr.records_written == n_rec &&
              same_bits(wi.data(), w.data(), w.size()) &&
              same_bits(outi.data(), out.data(), out.size()),
          (tag + "resume continues the run bit for bit").c_str());

    // Divergence stops the run with the step it happened at; later rows stay untouched.
    std::vector<double> wd = f.w0, outd(n_rec * W, nan);
    for (double& x : wd) x *= 10.0;
    auto rd = e.run(wd, 0, 100, rec, n_rec, outd.data(), nullptr, bad_lr);
    bool untouched = true;
    for (std::size_t k = rd.records_written * W; k < outd.size(); ++k)
        untouched = untouched && std::isnan(outd[k]);
    check(rd.status == pyscale::RunStatus::kDiverged && rd.diverged_at_step > 0 &&
              rd.last_step == rd.diverged_at_step && rd.diverged_at_step < 100 && untouched &&
              rd.records_written >= 1 && rd.records_written < n_rec &&
              rec[rd.records_written - 1] < rd.diverged_at_step,
          (tag + "divergence stops with last_step = diverged_at_step").c_str());
}

void test_engines_meet_the_loop_contract() {
    const Fixture f(1000, 1.5);
    const auto p = f.view();
    EngineRun gd{"gd", [&](std::vector<double>& w, long long s0, long long s1,
                           const long long* rec, std::size_t n, double* out,
                           const pyscale::ProgressHook& hook, double lr) {
                     pyscale::GdOptions opt;
                     opt.progress_every = 16;
                     opt.divergence_factor = 1e6;
                     return pyscale::StepLoopResult(
                         pyscale::run_gd(p, kSquare, w.data(), lr, s0, s1, rec, n, out, opt, hook));
                 }};
    test_engine_contract(gd, f, 0.3, 5.0);

    const std::size_t N = 64;
    std::vector<double> X(N * p.n), y(N);
    pyscale::erm_make_data(p, kSquare, 5, N, X.data(), y.data(), 1);
    EngineRun erm{"erm", [&](std::vector<double>& w, long long s0, long long s1,
                             const long long* rec, std::size_t n, double* out,
                             const pyscale::ProgressHook& hook, double lr) {
                      pyscale::ErmOptions opt;
                      opt.progress_every = 16;
                      opt.divergence_factor = 1e6;
                      return pyscale::StepLoopResult(pyscale::run_erm(
                          p, kSquare, X.data(), y.data(), N, w.data(), lr, s0, s1, rec, n, out,
                          nullptr, opt, hook));
                  }};
    test_engine_contract(erm, f, 0.3, 5.0);

    for (int batch : {1, 4}) {
        for (auto storage :
             {pyscale::SampleStorage::kStore, pyscale::SampleStorage::kRegenerate}) {
            double window_sum = 0.0;
            long long window_count = 0;
            const bool store = storage == pyscale::SampleStorage::kStore;
            const char* names[2][2] = {{"sgd batch 1 regenerated", "sgd batch 1 stored"},
                                       {"sgd batch 4 regenerated", "sgd batch 4 stored"}};
            EngineRun sgd{
                names[batch == 1 ? 0 : 1][store ? 1 : 0],
                [&, batch, storage](std::vector<double>& w, long long s0, long long s1,
                                    const long long* rec, std::size_t n, double* out,
                                    const pyscale::ProgressHook& hook, double lr) {
                    pyscale::SgdOptions opt;
                    opt.progress_every = 16;
                    opt.divergence_factor = 1e6;
                    opt.sample_storage = storage;
                    if (s0 == 0) window_sum = 0.0, window_count = 0;
                    auto r = pyscale::run_sgd(p, kSquare, w.data(), lr, batch, 9, s0, s1, rec, n,
                                              out, nullptr, opt, hook, window_sum, window_count);
                    window_sum = r.window_sum;
                    window_count = r.window_count;
                    return pyscale::StepLoopResult(r);
                }};
            test_engine_contract(sgd, f, 0.01, 0.5);
        }
    }
}


// The mode chain (mode_chain.hpp) on modes of 1, 2, 3, 50 and 10^6 coordinates: records,
// interrupt and resume, ensembles and threads meet the same contract as the engines above.
struct ChainFixture {
    std::vector<double> lambda, count, r, c1, c2;
    explicit ChainFixture(std::size_t m) : lambda(m), count(m), r(m), c1(m), c2(m) {
        const double counts[] = {1, 2, 3, 50, 1e6};
        double q = 0, trace = 0;
        for (std::size_t i = 0; i < m; ++i) {
            count[i] = counts[i % 5];
            trace += count[i] * std::pow(double(i + 1), -1.5);
        }
        for (std::size_t i = 0; i < m; ++i) {
            lambda[i] = std::pow(double(i + 1), -1.5) / trace;  // tr Q = 1
            r[i] = 1.0 + 0.5 * std::sin(1.3 * double(i));
            q += lambda[i] * r[i] * r[i];
        }
        for (std::size_t i = 0; i < m; ++i) {
            r[i] /= std::sqrt(q);
            c1[i] = 0.1 * std::cos(0.7 * double(i));
            c2[i] = count[i] >= 2 ? 0.3 + 0.1 * std::sin(double(i)) : 0.0;
        }
    }
    pyscale::ModeView view() const {
        double dim = 0;
        for (double n : count) dim += n;
        return pyscale::make_mode_view(lambda.size(), lambda.data(), count.data(), r.data(),
                                       dim, 0.05);
    }
};

void test_mode_chain_contract() {
    constexpr std::size_t W = pyscale::kRecordWidth;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const ChainFixture f(200);
    const auto p = f.view();
    const long long rec[] = {0, 1, 7, 40, 100};
    const std::size_t n_rec = 5, m = f.lambda.size();
    pyscale::ModeChainOptions opt;
    opt.progress_every = 16;
    opt.divergence_factor = 1e6;
    auto run = [&](std::vector<double>& c1, std::vector<double>& c2, std::uint64_t seed,
                   long long s0, double* out, double* loss, const pyscale::ProgressHook& hook,
                   double window_sum, long long window_count, double lr = 0.01) {
        return pyscale::run_mode_chain(p, kSquare, c1.data(), c2.data(), lr, 2, seed, s0, 100, rec,
                                       n_rec, out, loss, opt, hook, window_sum, window_count);
    };
    std::vector<double> a1 = f.c1, a2 = f.c2, out(n_rec * W, nan), loss(n_rec, nan);
    auto r = run(a1, a2, 5, 0, out.data(), loss.data(), nullptr, 0.0, 0);
    check(r.status == pyscale::RunStatus::kCompleted && r.last_step == 100 &&
              r.records_written == n_rec && std::isnan(loss[0]) && std::isfinite(loss[4]),
          "mode chain: completes with every record and online losses after step 0");
    double row[W];
    pyscale::BlockedReducer<6> red(m, 1);
    pyscale::ProblemView scalars;
    scalars.s_star = p.s_star;
    scalars.dim = p.dim;
    scalars.noise = p.noise;
    pyscale::write_record(row, 0.0, scalars, kSquare,
                          pyscale::mode_moments(p, f.c1.data(), f.c2.data(), red));
    check(same_bits(row, out.data(), W), "mode chain: record at step 0 = initial state");

    std::vector<double> b1 = f.c1, b2 = f.c2, outb(n_rec * W, nan), lossb(n_rec, nan);
    auto ri = run(b1, b2, 5, 0, outb.data(), lossb.data(),
                  [](double, long long) { return false; }, 0.0, 0);
    check(ri.status == pyscale::RunStatus::kInterrupted && ri.last_step == 16,
          "mode chain: the hook stops the run after 16 steps");
    auto rr = run(b1, b2, 5, ri.last_step, outb.data(), lossb.data(), nullptr, ri.window_sum,
                  ri.window_count);
    check(rr.status == pyscale::RunStatus::kCompleted && same_bits(b1.data(), a1.data(), m) &&
              same_bits(b2.data(), a2.data(), m) &&
              same_bits(outb.data(), out.data(), out.size()) &&
              same_bits(lossb.data(), loss.data(), n_rec),
          "mode chain: resume continues the run bit for bit (online losses included)");

    const std::uint64_t seeds[] = {3, 5, 8};
    std::vector<double> C1, C2;
    for (int k = 0; k < 3; ++k) {
        C1.insert(C1.end(), f.c1.begin(), f.c1.end());
        C2.insert(C2.end(), f.c2.begin(), f.c2.end());
    }
    std::vector<double> oute(3 * n_rec * W, nan), losse(3 * n_rec, nan);
    pyscale::run_mode_chain_ensemble(p, kSquare, C1.data(), C2.data(), 3, seeds, 0.01, 2, 100, rec,
                                     n_rec, oute.data(), losse.data(), 2, opt);
    check(same_bits(oute.data() + n_rec * W, out.data(), out.size()) &&
              same_bits(C1.data() + m, a1.data(), m) && same_bits(C2.data() + m, a2.data(), m),
          "mode chain: ensemble member 1 = the single run with its seed");

    std::vector<double> d1 = f.c1, d2 = f.c2, outd(n_rec * W, nan);
    for (std::size_t i = 0; i < m; ++i) d1[i] = 100.0, d2[i] *= 100.0;
    auto rd = run(d1, d2, 5, 0, outd.data(), nullptr, nullptr, 0.0, 0, 200.0);
    check(rd.status == pyscale::RunStatus::kDiverged && rd.diverged_at_step > 0 &&
              rd.last_step == rd.diverged_at_step && rd.records_written < n_rec,
          "mode chain: divergence stops with last_step = diverged_at_step");

    // Threads: enough modes for the parallel sweep (kChainParallelThreshold).
    const ChainFixture big(pyscale::kChainParallelThreshold + 1000);
    const auto pb = big.view();
    std::vector<double> o1(n_rec * W), o2(n_rec * W);
    std::vector<double> t1 = big.c1, t2 = big.c2, u1 = big.c1, u2 = big.c2;
    pyscale::ModeChainOptions one = opt, two = opt;
    one.threads = 1;
    two.threads = 2;
    pyscale::run_mode_chain(pb, kSquare, t1.data(), t2.data(), 0.005, 1, 7, 0, 100, rec, n_rec,
                            o1.data(), nullptr, one);
    pyscale::run_mode_chain(pb, kSquare, u1.data(), u2.data(), 0.005, 1, 7, 0, 100, rec, n_rec,
                            o2.data(), nullptr, two);
    check(same_bits(o1.data(), o2.data(), o1.size()) && same_bits(t2.data(), u2.data(), t2.size()),
          "mode chain: one thread and two give the same bits");
}

}  // namespace

int main() {
    test_gd_matches_a_plain_loop();
    test_flow_converges_and_loss_decreases();
    test_flow_is_thread_count_independent();
    test_bad_input_throws();
    test_step_loop_contract();
    test_engines_meet_the_loop_contract();
    test_mode_chain_contract();
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
