// Deterministic blocked loops: the one place where the core decides how work is split.
//
// Every O(d) pass of the engines walks the coordinates in fixed blocks of kBlock entries.
// Each block accumulates its partial sums serially; the partials are then added in block
// order by one thread. The floating-point result therefore depends on d only, never on
// the number of OpenMP threads (or on whether OpenMP is available at all).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyscale {

constexpr std::size_t kBlock = 4096;
// Below this many coordinates a pass is too short for threads to pay off.
constexpr std::size_t kParallelThreshold = 1u << 16;

inline std::size_t block_count(std::size_t n) { return (n + kBlock - 1) / kBlock; }

// Threads actually used for a pass of length n; `requested` <= 0 means "OpenMP default".
inline int threads_for(std::size_t n, int requested) {
#ifdef _OPENMP
    if (n < kParallelThreshold) return 1;
    int t = requested > 0 ? requested : omp_get_max_threads();
    return std::max(1, std::min<int>(t, static_cast<int>(block_count(n))));
#else
    (void)n;
    (void)requested;
    return 1;
#endif
}

// Scratch for block partials; owned by whoever runs the passes (an engine workspace),
// so repeated passes allocate nothing.
// body(b) for b < nb on `threads` OpenMP threads; with one thread, no parallel region at
// all: even an inactive one costs about a microsecond, as much as a GD step at d = 1000.
template <class Body>
inline void for_blocks(std::size_t nb, int threads, Body&& body) {
    if (threads > 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
        for (long long b = 0; b < static_cast<long long>(nb); ++b)
            body(static_cast<std::size_t>(b));
    } else {
        for (std::size_t b = 0; b < nb; ++b) body(b);
    }
}

// NS slots are reduced by summation; the last NMAX of them by maximum (for error norms).
template <int NS, int NMAX = 0>
class BlockedReducer {
public:
    BlockedReducer(std::size_t n, int threads)
        : n_(n), blocks_(block_count(n)), threads_(threads_for(n, threads)),
          partial_(blocks_ * NS) {}

    std::size_t size() const { return n_; }
    int threads() const { return threads_; }

    // body(begin, end, acc) adds its contributions for [begin, end) into acc[0..NS).
    template <class Body>
    std::array<double, NS> run(Body&& body) {
        const std::size_t nb = blocks_;
        double* part = partial_.data();
        for_blocks(nb, threads_, [&](std::size_t b) {
            const std::size_t begin = b * kBlock;
            const std::size_t end = std::min(n_, begin + kBlock);
            double acc[NS] = {};
            body(begin, end, acc);
            for (int k = 0; k < NS; ++k) part[b * NS + k] = acc[k];
        });
        std::array<double, NS> total{};
        for (std::size_t b = 0; b < nb; ++b) {
            for (int k = 0; k < NS - NMAX; ++k) total[k] += part[b * NS + k];
            for (int k = NS - NMAX; k < NS; ++k) {
                const double v = part[b * NS + k];
                if (v > total[k] || v != v) total[k] = v;  // NaN wins, and stays
            }
        }
        return total;
    }

private:
    std::size_t n_;
    std::size_t blocks_;
    int threads_;
    std::vector<double> partial_;
};

}  // namespace pyscale
