// Umbrella header: the whole pyscale C++ core (header-only, C++17, no Python).
#pragma once

#include "ensemble.hpp"
#include "erm.hpp"
#include "errors.hpp"
#include "flow.hpp"
#include "gamma.hpp"
#include "gd.hpp"
#include "mode_chain.hpp"
#include "normal.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "problem.hpp"
#include "progress.hpp"
#include "sgd.hpp"
#include "sgd_kernels.hpp"
#include "stats.hpp"
#include "step_loop.hpp"
