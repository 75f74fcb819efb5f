// Events along the flow's dense output (model page: Phases).
//
// After every accepted step the integrator hands the step's dense row (dense.hpp) to an
// optional observer. The observer locates whatever it watches inside the step (the record
// fields are O(1) functions of theta there) and answers theta in [0, 1] to stop the run at
// t0 + theta h (a terminal event), or a negative number to go on. The integrator then
// leaves the dense state at that time in w, so that the caller can continue from it.
#pragma once

#include <functional>

namespace pyscale {

using StepObserver = std::function<double(const double* dense_row)>;

// Returned by an observer that lets the run go on.
constexpr double kContinue = -1.0;

}  // namespace pyscale
