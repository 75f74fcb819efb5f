// An ensemble of online SGD runs from plain C++ (model page: SGD floor): R members with
// seeds 1 .. R run in parallel, each single-threaded, so member r is bit-identical to a
// lone run_sgd with its seed. Prints the ensemble mean of the MSE with its standard error.
//
//   ./ensemble_demo [d=500] [a=2] [members=16] [lr=0.01] [steps=50000] [threads=0]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include <pyscale/pyscale.hpp>

#include "demo_problem.hpp"

namespace {

int example_main(int argc, char** argv) {
    const auto d = static_cast<std::size_t>(demo_arg(argc, argv, 1, 500));
    const double a = demo_arg(argc, argv, 2, 2.0);
    const auto members = static_cast<std::size_t>(demo_arg(argc, argv, 3, 16));
    const double lr = demo_arg(argc, argv, 4, 0.01);
    const auto steps = static_cast<long long>(demo_arg(argc, argv, 5, 50000));
    const int threads = static_cast<int>(demo_arg(argc, argv, 6, 0));  // <= 0: OpenMP default
    if (members < 2)
        throw std::invalid_argument("members must be >= 2 (a standard error needs two runs)");
    const DemoProblem demo(d, a);
    const pyscale::ProblemView problem = demo.view();

    // Caller-owned: one copy of w(0) per member (row r of `w`), and member r's records at
    // rows r * n_records .. (r + 1) * n_records - 1 of `records`.
    std::vector<std::uint64_t> seeds(members);
    std::vector<double> w(members * d);
    for (std::size_t r = 0; r < members; ++r) {
        seeds[r] = r + 1;
        std::copy(demo.w0.begin(), demo.w0.end(), w.begin() + r * d);
    }
    const std::vector<long long> record_steps = log_spaced_steps(steps, 9);
    const std::size_t n_rec = record_steps.size();
    std::vector<double> records(members * n_rec * pyscale::kRecordWidth);

    const int batch = 1;
    const std::vector<pyscale::SgdResult> results = pyscale::run_sgd_ensemble(
        problem, pyscale::SquarePair{}, w.data(), members, seeds.data(), lr, batch, steps,
        record_steps.data(), n_rec, records.data(), nullptr, threads);
    for (const pyscale::SgdResult& res : results)
        if (res.status != pyscale::RunStatus::kCompleted) {
            std::fprintf(stderr, "a member stopped early: %s\n", pyscale::status_name(res.status));
            return 1;
        }

    std::printf("d=%zu a=%g lr=%g members=%zu seeds=1..%zu\n", d, a, lr, members, members);
    std::printf("%10s %12s %16s %16s\n", "step", "t", "mean_mse", "stderr_mse");
    auto mse = [&](std::size_t r, std::size_t k) {  // member r at record k
        return records[(r * n_rec + k) * pyscale::kRecordWidth + pyscale::kMse];
    };
    for (std::size_t k = 0; k < n_rec; ++k) {
        // Two passes (mean, then squared deviations): the members agree to many digits
        // early on, where one-pass sums of squares would cancel.
        double mean = 0.0, dev2 = 0.0;
        for (std::size_t r = 0; r < members; ++r) mean += mse(r, k);
        mean /= double(members);
        for (std::size_t r = 0; r < members; ++r) dev2 += (mse(r, k) - mean) * (mse(r, k) - mean);
        const double std_err = std::sqrt(dev2 / double(members - 1) / double(members));
        std::printf("%10lld %12.4g %16.10g %16.10g\n", record_steps[k],
                    double(record_steps[k]) * lr, mean, std_err);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_demo(example_main, argc, argv); }
