// Umbrella header: the whole pyscale C++ core (header-only, C++17, no Python).
#pragma once

#include "errors.hpp"
#include "flow.hpp"
#include "gd.hpp"
#include "parallel.hpp"
#include "problem.hpp"
#include "progress.hpp"
#include "stats.hpp"
