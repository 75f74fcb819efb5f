// Ensembles over seeds: R independent runs of one engine, in parallel over the members.
// Shared by online SGD (sgd.hpp) and the mode chain (mode_chain.hpp).
//
// Each member runs single-threaded through run_one(r, member_hook), so member r is
// bit-identical to the same run alone (any thread count) and the ensemble does not depend
// on `threads`. The progress hook is called by one member at a time with the ensemble's
// mean progress, (lr S / R, S / R), S the steps all members have reported so far (each
// member reports every `progress_every` steps; monotone, ends at the run's last step).
// When the hook returns false, or a member throws, every member stops at its next check
// (their status says which); the first exception is rethrown once all have stopped.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../model/stats.hpp"
#include "../util/progress.hpp"

namespace pyscale {

// A member's options: single-threaded (members run in parallel instead), reporting progress
// at least every step it is asked to (progress_every >= 1: the ensemble's hook counts on it).
template <class Options>
Options member_options(const Options& opt) {
    Options member = opt;
    member.threads = 1;
    member.progress_every = std::max<long long>(1, opt.progress_every);
    return member;
}

template <class Result, class RunOne>
std::vector<Result> run_members(std::size_t members, int threads, long long progress_every,
                                double lr, const ProgressHook& hook, RunOne&& run_one) {
    std::vector<Result> results(members);
    std::atomic<bool> stop{false};
    long long done = 0;  // member steps reported to the hook (under hook_mutex)
    std::mutex hook_mutex, error_mutex;
    std::exception_ptr error;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = threads > 0 ? threads : omp_get_max_threads();
    nthreads = std::max(1, std::min<int>(nthreads, static_cast<int>(members)));
#else
    (void)threads;
    (void)nthreads;
#endif
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nthreads > 1)
#endif
    for (long long r = 0; r < static_cast<long long>(members); ++r) {
        const std::size_t ri = static_cast<std::size_t>(r);
        if (stop.load()) {
            results[ri].status = RunStatus::kInterrupted;
            continue;
        }
        auto member_hook = [&](double, long long) -> bool {
            if (stop.load()) return false;
            if (!hook) return true;
            std::lock_guard<std::mutex> lock(hook_mutex);
            if (stop.load()) return false;
            // Each call is progress_every more steps of one member; counted under the lock,
            // so the hook sees a monotone sequence.
            done += progress_every;
            const long long avg = done / static_cast<long long>(members);
            if (!hook(static_cast<double>(avg) * lr, avg)) {
                stop.store(true);
                return false;
            }
            return true;
        };
        try {
            results[ri] = run_one(ri, ProgressHook(member_hook));
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            stop.store(true);
        }
    }
    if (error) std::rethrow_exception(error);
    return results;
}

}  // namespace pyscale
