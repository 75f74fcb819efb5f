// The pyscale core from plain C++ (no Python): build a power-law problem, run the
// population gradient flow (model page: Gradient flow) to t = 1e5 and print the recorded
// statistics.
//
//   g++ -std=c++17 -O3 -fopenmp -Icsrc/include csrc/examples/flow_demo.cpp -o flow_demo
//   ./flow_demo [d] [a]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include <pyscale/pyscale.hpp>

int main(int argc, char** argv) {
    const std::size_t d = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
    const double a = argc > 2 ? std::atof(argv[2]) : 2.0;

    // lambda_i = i^-a / H_{d,a}; w* = g / ||Q^{1/2} g||; w(0) uniform on the sphere (model page:
    // Data model).
    std::vector<double> lambda(d), w_star(d), w(d);
    double harmonic = 0.0;
    for (std::size_t i = d; i >= 1; --i) harmonic += std::pow(double(i), -a);
    for (std::size_t i = 0; i < d; ++i) lambda[i] = std::pow(double(i + 1), -a) / harmonic;
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal;
    double q_norm = 0.0, norm = 0.0;
    for (std::size_t i = 0; i < d; ++i) {
        w_star[i] = normal(rng);
        w[i] = normal(rng);
        q_norm += lambda[i] * w_star[i] * w_star[i];
        norm += w[i] * w[i];
    }
    for (std::size_t i = 0; i < d; ++i) {
        w_star[i] /= std::sqrt(q_norm);
        w[i] /= std::sqrt(norm);
    }

    const pyscale::ProblemView problem =
        pyscale::make_problem_view(d, lambda.data(), w_star.data(), double(d));
    std::vector<double> times = {0.0, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5};
    std::vector<double> records(times.size() * pyscale::kRecordWidth);

    pyscale::FlowOptions options;
    options.rtol = 1e-9;
    pyscale::FlowWorkspace workspace(d);  // caller-owned scratch: 4 vectors of length d
    pyscale::FlowIntegrator flow(problem, workspace, options);
    const pyscale::FlowResult result =
        flow.run(w.data(), 0.0, times.data(), times.size(), records.data());

    std::printf("d=%zu a=%g status=%s steps=%lld rhs=%lld\n", d, a,
                pyscale::status_name(result.status), result.steps, result.rhs_evals);
    std::printf("%12s %14s %14s %14s\n", "t", "u", "s", "mse");
    for (std::size_t r = 0; r < result.records_written; ++r) {
        const double* row = &records[r * pyscale::kRecordWidth];
        std::printf("%12.4g %14.8f %14.8f %14.8g\n", row[pyscale::kT], row[pyscale::kU],
                    row[pyscale::kS], row[pyscale::kMse]);
    }
    return result.status == pyscale::RunStatus::kCompleted ? 0 : 1;
}
