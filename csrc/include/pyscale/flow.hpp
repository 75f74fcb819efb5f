// Population gradient flow (model page: Gradient flow): the stiff Rosenbrock integrator
// with its dense output, records read off it, and events. One include for all of it:
//   flow/tableau.hpp     RODAS4 / ROS4 coefficients (Hairer & Wanner) and their dense output
//   flow/controller.hpp  the step-size controller and its constants
//   flow/dense.hpp       the dense output's basis and the record fields along a step
//   flow/events.hpp      the per-step observer that locates events and stops a run
//   flow/integrator.hpp  FlowOptions, FlowResult, FlowWorkspace, FlowIntegrator, run_flow
#pragma once

#include "flow/controller.hpp"
#include "flow/dense.hpp"
#include "flow/events.hpp"
#include "flow/integrator.hpp"
#include "flow/tableau.hpp"
