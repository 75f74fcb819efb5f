// Umbrella header: the whole pyscale C++ core (header-only, C++17, no Python).
//
// The folders are layers; a header includes only its own folder and the ones above it here:
//   util/    parallel (fixed-block reductions), errors, progress (hooks, run status)
//   random/  philox (counter-based generator), normal, gamma
//   model/   problem (the data model's view), link_pair (the pair concept, SquarePair),
//            loss_terms, link_function, gaussian_rule, gaussian_kernel, link (LinkPair: any
//            student and teacher links), stats (moments and the record row)
//   flow/    vector_field (f and its Jacobian from the pair), woodbury (the O(d) solve),
//            tableau, controller, dense, events, integrator (the solver)
//   steps/   step_loop, gd, sgd_kernels, sgd, erm, ensemble, mode_chain
#pragma once

#include "util/errors.hpp"
#include "util/parallel.hpp"
#include "util/progress.hpp"

#include "random/gamma.hpp"
#include "random/normal.hpp"
#include "random/philox.hpp"

#include "model/gaussian_kernel.hpp"
#include "model/gaussian_rule.hpp"
#include "model/link.hpp"
#include "model/link_function.hpp"
#include "model/link_pair.hpp"
#include "model/loss_terms.hpp"
#include "model/problem.hpp"
#include "model/stats.hpp"

#include "flow/controller.hpp"
#include "flow/dense.hpp"
#include "flow/events.hpp"
#include "flow/integrator.hpp"
#include "flow/tableau.hpp"
#include "flow/vector_field.hpp"
#include "flow/woodbury.hpp"

#include "steps/ensemble.hpp"
#include "steps/erm.hpp"
#include "steps/gd.hpp"
#include "steps/mode_chain.hpp"
#include "steps/sgd.hpp"
#include "steps/sgd_kernels.hpp"
#include "steps/step_loop.hpp"
