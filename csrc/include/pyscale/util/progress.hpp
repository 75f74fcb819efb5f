// How a long run talks to its caller: a progress hook that can also ask the run to stop
// (Ctrl-C in Python, a deadline in C++). An empty hook costs one branch per check.
#pragma once

#include <functional>

namespace pyscale {

// Called with (time reached, steps taken); returning false stops the run cleanly with
// everything recorded so far kept.
using ProgressHook = std::function<bool(double, long long)>;

enum class RunStatus : int {
    kCompleted = 0,    // every requested record was written
    kInterrupted = 1,  // the progress hook asked to stop
    kDiverged = 2,     // the iterate became non-finite or exploded
    kStepLimit = 3,    // the integrator hit its step budget or a step size underflow
    kOutOfDomain = 4,  // the state left the link pair's domain (s = 0, kinked student)
};

inline const char* status_name(RunStatus s) {
    switch (s) {
        case RunStatus::kCompleted: return "completed";
        case RunStatus::kInterrupted: return "interrupted";
        case RunStatus::kDiverged: return "diverged";
        case RunStatus::kStepLimit: return "step_limit";
        case RunStatus::kOutOfDomain: return "out_of_domain";
    }
    return "unknown";
}

}  // namespace pyscale
