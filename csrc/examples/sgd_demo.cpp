// Online SGD from plain C++ (model page: SGD floor): one fresh sample per step, drawn from
// the counter-based generator, so a seed fixes the run bit for bit whatever the thread
// count. A progress hook acts as a wall-clock deadline: when it returns false the run stops
// cleanly, with every record up to that point written.
//
//   ./sgd_demo [d=1000] [a=2] [lr=0.01] [steps=200000] [seed=7] [deadline_s=60] [noise=0]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <pyscale/pyscale.hpp>

#include "demo_problem.hpp"

namespace {

int example_main(int argc, char** argv) {
    const auto d = static_cast<std::size_t>(demo_arg(argc, argv, 1, 1000));
    const double a = demo_arg(argc, argv, 2, 2.0);
    const double lr = demo_arg(argc, argv, 3, 0.01);
    const auto steps = static_cast<long long>(demo_arg(argc, argv, 4, 200000));
    const auto seed = static_cast<std::uint64_t>(demo_arg(argc, argv, 5, 7));
    const double deadline_s = demo_arg(argc, argv, 6, 60.0);
    const double noise = demo_arg(argc, argv, 7, 0.0);
    const DemoProblem demo(d, a);
    const pyscale::ProblemView problem = demo.view(noise);

    std::vector<double> w = demo.w0;
    const std::vector<long long> record_steps = log_spaced_steps(steps, 11);
    std::vector<double> records(record_steps.size() * pyscale::kRecordWidth);
    // Mean per-sample loss of the steps since the previous record: what a user without
    // the population statistics would monitor.
    std::vector<double> online_loss(record_steps.size());

    // The hook runs every options.progress_every steps with (t, steps taken).
    pyscale::SgdOptions options;
    options.progress_every = 1024;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(deadline_s);
    const pyscale::ProgressHook before_deadline = [&](double, long long) {
        return std::chrono::steady_clock::now() < deadline;
    };

    const int batch = 1;
    const pyscale::SgdResult result = pyscale::run_sgd(
        problem, pyscale::SquarePair{}, w.data(), lr, batch, seed, 0, steps, record_steps.data(),
        record_steps.size(), records.data(), online_loss.data(), options, before_deadline);

    std::printf("d=%zu a=%g lr=%g seed=%llu status=%s last_step=%lld\n", d, a, lr,
                static_cast<unsigned long long>(seed), pyscale::status_name(result.status),
                result.last_step);
    std::printf("%10s %12s %16s %16s %16s\n", "step", "t", "u", "mse", "online_loss");
    for (std::size_t r = 0; r < result.records_written; ++r) {
        const double* row = &records[r * pyscale::kRecordWidth];
        std::printf("%10lld %12.4g %16.10f %16.10g %16.10g\n", record_steps[r],
                    row[pyscale::kT], row[pyscale::kU], row[pyscale::kMse], online_loss[r]);
    }
    // Stopping at the deadline is an expected outcome, divergence is not.
    return result.status == pyscale::RunStatus::kDiverged ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return run_demo(example_main, argc, argv); }
