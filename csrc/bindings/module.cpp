// pybind11 binding of the pyscale C++ core, `pyscale._core`: typed options, results and
// resumable state, enums, caller-visible buffers as NumPy arrays, the GIL released while an
// engine runs. Marshalling only: no numerics here (csrc/include/pyscale/).
//
// One translation unit per area, each with its register_* function (as boost-histogram
// does), each filling one submodule with its own stub file (pyscale/_core/<area>.pyi):
//   module.cpp            _core: build facts (HAS_OPENMP, HAS_AVX2), RunStatus, AllocationError
//   register_model.cpp    _core.model: CoreProblem, the link pairs, the record schema,
//                         statistics
//   register_flow.cpp     _core.flow: FlowOptions, FlowState, FlowRun, run_flow
//   register_steps.cpp    _core.steps: StepState, StepRun, EnsembleRun, Gd/Sgd/Erm options,
//                         run_gd, run_sgd, run_sgd_ensemble, erm_make_data, run_erm
//   register_chain.cpp    _core.chain: run_mode_chain, run_mode_chain_ensemble
//   register_testing.cpp  _core.testing: generator internals the tests and benchmarks probe
// Engine entry points are registered once per link pair (bindings.hpp, BoundPairs).
#include "bindings.hpp"

namespace pyscale_bind {
namespace {

void register_core(py::module_& m) {
#ifdef _OPENMP
    m.attr("HAS_OPENMP") = true;
#else
    m.attr("HAS_OPENMP") = false;
#endif
    m.attr("HAS_AVX2") = pyscale::cpu_has_avx2();
    py::enum_<pyscale::RunStatus>(m, "RunStatus", "How a run ended.")
        .value("completed", pyscale::RunStatus::kCompleted)
        .value("interrupted", pyscale::RunStatus::kInterrupted)
        .value("diverged", pyscale::RunStatus::kDiverged)
        .value("step_limit", pyscale::RunStatus::kStepLimit)
        .value("out_of_domain", pyscale::RunStatus::kOutOfDomain);
    // std::invalid_argument -> ValueError and std::bad_alloc -> MemoryError are pybind11's
    // own translations; an AllocationError says how many bytes it needed.
    py::register_exception<pyscale::AllocationError>(m, "AllocationError", PyExc_MemoryError);
}

}  // namespace
}  // namespace pyscale_bind

PYBIND11_MODULE(_core, m) {
    using namespace pyscale_bind;
    m.doc() = "pyscale C++ core (header-only library under csrc/include/pyscale)";
    register_core(m);
    // In layer order: each area's functions name only types registered before them.
    py::module_ model = m.def_submodule("model", "The data model: problem, link pairs, records.");
    register_model(model);
    py::module_ flow = m.def_submodule("flow", "The population gradient flow.");
    register_flow(flow);
    py::module_ steps = m.def_submodule("steps", "GD, online SGD and its ensembles, ERM.");
    register_steps(steps);
    py::module_ chain =
        m.def_submodule("chain", "Online SGD on the modes of a compressed problem.");
    register_chain(chain);
    py::module_ testing =
        m.def_submodule("testing", "Generator and workspace internals, for tests and benchmarks.");
    register_testing(testing);
}
