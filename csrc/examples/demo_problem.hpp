// The problem the examples run (model page: Data model): the power-law spectrum
// lambda_i = i^-a / H_{d,a} (so tr Q = 1), a target w* with s* = w*^T Q w* = 1 and a start
// w(0) on the unit sphere. The entries of w* and w(0) are fixed quasi-random numbers,
// sin(1.7 i + 0.3) and cos(2.3 i + 1.1) before normalisation, rather than draws from
// <random>, whose distributions differ between standard libraries: every platform (and
// NumPy, in the project's tests) builds the same problem.
//
// The arrays are owned here; pyscale::ProblemView only points at them, so a DemoProblem
// must outlive every view and run made from it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#include <pyscale/pyscale.hpp>

struct DemoProblem {
    std::vector<double> lambda, w_star, w0;

    DemoProblem(std::size_t d, double a) : lambda(d), w_star(d), w0(d) {
        double harmonic = 0.0;  // H_{d,a}, summed smallest term first for accuracy
        for (std::size_t i = d; i >= 1; --i) harmonic += std::pow(double(i), -a);
        double q_norm = 0.0, norm = 0.0;
        for (std::size_t i = 0; i < d; ++i) {
            lambda[i] = std::pow(double(i + 1), -a) / harmonic;
            w_star[i] = std::sin(1.7 * double(i) + 0.3);
            w0[i] = std::cos(2.3 * double(i) + 1.1);
            q_norm += lambda[i] * w_star[i] * w_star[i];
            norm += w0[i] * w0[i];
        }
        for (std::size_t i = 0; i < d; ++i) {
            w_star[i] /= std::sqrt(q_norm);
            w0[i] /= std::sqrt(norm);
        }
    }

    // A view with label-noise variance `noise` (sigma^2; used by SGD only).
    pyscale::ProblemView view(double noise = 0.0) const {
        return pyscale::make_problem_view(lambda.size(), lambda.data(), w_star.data(),
                                          double(lambda.size()), noise);
    }
};

// Command-line argument i as a number, or `fallback` when absent.
inline double demo_arg(int argc, char** argv, int i, double fallback) {
    return argc > i ? std::atof(argv[i]) : fallback;
}

// n integers spread log-uniformly over [1, last], preceded by 0 and strictly increasing
// (duplicates from rounding dropped): record steps for the step engines.
inline std::vector<long long> log_spaced_steps(long long last, int n) {
    std::vector<long long> steps = {0};
    for (int k = 0; k < n; ++k) {
        const double x = std::pow(double(last), double(k) / double(n - 1));
        const long long s = std::llround(x);
        if (s > steps.back() && s <= last) steps.push_back(s);
    }
    if (steps.back() != last) steps.push_back(last);
    return steps;
}

// Runs an example's body and turns an exception (bad arguments: std::invalid_argument; an
// allocation the core cannot make: pyscale::AllocationError) into a one-line message and
// exit status 2.
inline int run_demo(int (*body)(int, char**), int argc, char** argv) {
    try {
        return body(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "demo", e.what());
        return 2;
    }
}
