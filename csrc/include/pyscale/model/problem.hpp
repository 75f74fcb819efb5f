// The data model (model page: Data model) as the engines see it: a non-owning view of the diagonal
// of Q, the target w*, and the scalars every engine needs.
//
// Coordinates need not be the physical ones: a compressed problem (model page: Compression) stores
// a few "virtual" coordinates per group of equal eigenvalues whose inner products equal the
// group's exact sums. Everything the engines compute is an inner product, so they run
// unchanged; only the MSE is normalised by the true dimension `dim`.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "../util/parallel.hpp"

namespace pyscale {

struct ProblemView {
    std::size_t n = 0;               // stored coordinates
    const double* lambda = nullptr;  // eigenvalues of Q, length n, all > 0
    const double* w_star = nullptr;  // target, length n
    double s_star = 0.0;             // w*^T Q w*  (model page: Data model)
    double dim = 0.0;                // true dimension d (MSE normalisation)
    double noise = 0.0;              // label-noise variance sigma^2
};

// Builds a view and computes s* = sum lambda_i w*_i^2. Throws std::invalid_argument on
// input that no engine can run (the Python layer reports these with more context).
inline ProblemView make_problem_view(std::size_t n, const double* lambda, const double* w_star,
                                     double dim, double noise = 0.0, int threads = 0) {
    if (n == 0) throw std::invalid_argument("problem has no coordinates");
    if (!(dim >= 1.0)) throw std::invalid_argument("dimension must be >= 1");
    if (!(noise >= 0.0) || !std::isfinite(noise))
        throw std::invalid_argument("noise variance must be finite and >= 0");
    ProblemView p;
    p.n = n;
    p.lambda = lambda;
    p.w_star = w_star;
    p.dim = dim;
    p.noise = noise;
    BlockedReducer<1> red(n, threads);
    auto sums = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) acc[0] += lambda[i] * w_star[i] * w_star[i];
    });
    p.s_star = sums[0];
    if (!(p.s_star > 0.0) || !std::isfinite(p.s_star))
        throw std::invalid_argument("w_star must have a positive, finite Q-norm");
    return p;
}

}  // namespace pyscale
