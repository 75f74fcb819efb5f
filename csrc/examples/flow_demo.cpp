// The population gradient flow from plain C++ (model page: Gradient flow): integrate
// dw/dt = -grad L(w) from w(0) to t = 1e5 with the adaptive Rosenbrock integrator and print
// the statistics at eight record times.
//
//   ./flow_demo [d=1000] [a=2]
#include <cstdio>
#include <vector>

#include <pyscale/pyscale.hpp>

#include "demo_problem.hpp"

namespace {

int example_main(int argc, char** argv) {
    const auto d = static_cast<std::size_t>(demo_arg(argc, argv, 1, 1000));
    const double a = demo_arg(argc, argv, 2, 2.0);
    const DemoProblem demo(d, a);
    const pyscale::ProblemView problem = demo.view();

    // Caller-owned buffers: the state (advanced in place), the record times and one row of
    // kRecordWidth doubles (t, s, u, s2, u2, loss, mse) per record time.
    std::vector<double> w = demo.w0;
    const std::vector<double> times = {0.0, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5};
    std::vector<double> records(times.size() * pyscale::kRecordWidth);

    pyscale::FlowOptions options;
    options.rtol = 1e-9;  // relative accuracy of s and u along the whole trajectory
    // The integrator's scratch (one vector of length d per stage), also caller-owned: reuse
    // one workspace for many runs of the same size.
    pyscale::FlowWorkspace workspace(d);
    // The link pair: phase retrieval, student and teacher z^2 (model/link_pair.hpp).
    const pyscale::SquarePair pair;
    pyscale::FlowIntegrator flow(problem, pair, workspace, options);
    const pyscale::FlowResult result =
        flow.run(w.data(), 0.0, times.data(), times.size(), records.data());

    std::printf("d=%zu a=%g status=%s steps=%lld rhs=%lld\n", d, a,
                pyscale::status_name(result.status), result.steps, result.rhs_evals);
    std::printf("%12s %16s %16s %16s\n", "t", "u", "s", "mse");
    for (std::size_t r = 0; r < result.records_written; ++r) {
        const double* row = &records[r * pyscale::kRecordWidth];
        std::printf("%12.4g %16.10f %16.10f %16.10g\n", row[pyscale::kT], row[pyscale::kU],
                    row[pyscale::kS], row[pyscale::kMse]);
    }
    return result.status == pyscale::RunStatus::kCompleted ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return run_demo(example_main, argc, argv); }
