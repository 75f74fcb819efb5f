// Population gradient descent from plain C++ (model page: Time and steps): the iteration
// w <- w - lr grad L(w), whose step k sits at time t = k lr. Prints the statistics at
// log-spaced steps; for small lr they follow the flow of flow_demo.
//
//   ./gd_demo [d=1000] [a=2] [lr=0.1] [steps=100000]
#include <cstdio>
#include <vector>

#include <pyscale/pyscale.hpp>

#include "demo_problem.hpp"

namespace {

int example_main(int argc, char** argv) {
    const auto d = static_cast<std::size_t>(demo_arg(argc, argv, 1, 1000));
    const double a = demo_arg(argc, argv, 2, 2.0);
    const double lr = demo_arg(argc, argv, 3, 0.1);
    const auto steps = static_cast<long long>(demo_arg(argc, argv, 4, 100000));
    const DemoProblem demo(d, a);
    const pyscale::ProblemView problem = demo.view();

    std::vector<double> w = demo.w0;  // advanced in place to step `steps`
    const std::vector<long long> record_steps = log_spaced_steps(steps, 11);
    std::vector<double> records(record_steps.size() * pyscale::kRecordWidth);

    // Too large an lr makes GD blow up: the run then stops with status "diverged" and
    // the records up to that step.
    const pyscale::GdResult result =
        pyscale::run_gd(problem, pyscale::SquarePair{}, w.data(), lr, 0, steps,
                        record_steps.data(), record_steps.size(), records.data());

    std::printf("d=%zu a=%g lr=%g status=%s last_step=%lld\n", d, a, lr,
                pyscale::status_name(result.status), result.last_step);
    std::printf("%10s %12s %16s %16s %16s\n", "step", "t", "u", "loss", "mse");
    for (std::size_t r = 0; r < result.records_written; ++r) {
        const double* row = &records[r * pyscale::kRecordWidth];
        std::printf("%10lld %12.4g %16.10f %16.10g %16.10g\n", record_steps[r],
                    row[pyscale::kT], row[pyscale::kU], row[pyscale::kLoss],
                    row[pyscale::kMse]);
    }
    return result.status == pyscale::RunStatus::kCompleted ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return run_demo(example_main, argc, argv); }
