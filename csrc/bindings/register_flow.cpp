// _core.flow: the population gradient flow (flow/integrator.hpp): its options, resumable
// state and result, and run_flow for each bound link pair.
#include "bindings.hpp"

namespace pyscale_bind {
namespace {

// Where a flow run stands: its time and the step it would try next (resume is bitwise).
// The observer (a Python callable on one dense row, or None) runs with the GIL.
pyscale::StepObserver step_observer(const py::object& observer) {
    if (observer.is_none()) return nullptr;
    return [&observer](const double* row) {
        py::gil_scoped_acquire gil;
        py::array_t<double> r(static_cast<py::ssize_t>(pyscale::kDenseWidth));
        std::copy(row, row + pyscale::kDenseWidth, r.mutable_data());
        return observer(r).cast<double>();
    };
}

py::array_t<double> dense_rows(const std::vector<double>& log) {
    const auto rows = static_cast<py::ssize_t>(log.size() / pyscale::kDenseWidth);
    py::array_t<double> out({rows, static_cast<py::ssize_t>(pyscale::kDenseWidth)});
    std::copy(log.begin(), log.end(), out.mutable_data());
    return out;
}

template <class Pair>
FlowRun run_flow(const CoreProblem& problem, const Pair& pair, State w, const FlowState& start,
                 const Array& t_records, const pyscale::FlowOptions& opt, py::object callback,
                 py::object observer) {
    require_state(problem, w);
    const auto& p = problem.view();
    const std::size_t nrec = static_cast<std::size_t>(t_records.size());
    FlowRun run;
    run.records = record_buffer(nrec);
    PythonHook hook{std::move(callback)};
    const pyscale::StepObserver observe = step_observer(observer);
    std::vector<double> dense_log;
    pyscale::FlowResult r;
    {
        py::gil_scoped_release release;
        pyscale::FlowWorkspace ws(p.n, opt.method);
        pyscale::FlowOptions o = opt;
        if (start.h_next > 0.0 && o.h0 <= 0.0) o.h0 = start.h_next;
        pyscale::FlowIntegrator<Pair> integ(p, pair, ws, o);
        run.atol = integ.atol();
        r = integ.run(w.mutable_data(), start.t, t_records.data(), nrec,
                      run.records.mutable_data(), std::ref(hook), observe, &dense_log);
    }
    run.dense = dense_rows(dense_log);
    fill_flow_run(run, r, hook);
    run.threads = pyscale::threads_for(p.n, opt.threads);
    return run;
}

void register_flow_types(py::module_& m) {
    py::enum_<pyscale::FlowMethod>(m, "FlowScheme",
                                   "Scheme of the flow: Rosenbrock (rodas4, ros4), the "
                                   "exponential collocation with RODAS4 near c0 = 0, or auto "
                                   "(the default: exponential for t_end >= 1e6 at rtol <= "
                                   "1e-8, rodas4 otherwise; choose_flow_scheme).")
        .value("rodas4", pyscale::FlowMethod::kRodas4)
        .value("ros4", pyscale::FlowMethod::kRos4)
        .value("exponential", pyscale::FlowMethod::kExponential)
        .value("auto", pyscale::FlowMethod::kAuto);
    py::enum_<pyscale::RecordMode>(m, "FlowRecordMode",
                                   "How the flow writes records: off its dense output, or "
                                   "by landing a step on each.")
        .value("interpolate", pyscale::RecordMode::kInterpolate)
        .value("step", pyscale::RecordMode::kStep);
    py::class_<pyscale::FlowOptions>(m, "FlowOptions")
        .def(py::init<>())
        .def_readwrite("scheme", &pyscale::FlowOptions::method,
                       "FlowScheme.auto (the default; choose_flow_scheme), rodas4, ros4 or "
                       "exponential.")
        .def_readwrite("rtol", &pyscale::FlowOptions::rtol)
        .def_readwrite("atol", &pyscale::FlowOptions::atol)
        .def_readwrite("h0", &pyscale::FlowOptions::h0)
        .def_readwrite("hmax", &pyscale::FlowOptions::hmax)
        .def_readwrite("max_steps", &pyscale::FlowOptions::max_steps)
        .def_readwrite("threads", &pyscale::FlowOptions::threads)
        .def_readwrite("progress_every", &pyscale::FlowOptions::progress_every)
        .def_readwrite("record_mode", &pyscale::FlowOptions::record_mode)
        .def_readwrite("dense_every_step", &pyscale::FlowOptions::dense_every_step);
    py::class_<FlowState>(m, "FlowState", "Where a flow run stands (exact resume).")
        .def(py::init<double, double>(), py::arg("t") = 0.0, py::arg("h_next") = 0.0)
        .def_readonly("t", &FlowState::t)
        .def_readonly("h_next", &FlowState::h_next);
    py::class_<FlowRun>(m, "FlowRun")
        .def_readonly("records", &FlowRun::records)
        .def_readonly("status", &FlowRun::status)
        .def_readonly("signalled", &FlowRun::signalled)
        .def_readonly("state", &FlowRun::state)
        .def_readonly("steps", &FlowRun::steps)
        .def_readonly("rejected", &FlowRun::rejected)
        .def_readonly("rhs_evals", &FlowRun::rhs_evals)
        .def_readonly("passes", &FlowRun::passes)
        .def_readonly("exponential_steps", &FlowRun::exponential_steps)
        .def_readonly("scheme", &FlowRun::scheme)
        .def_readonly("records_written", &FlowRun::records_written)
        .def_readonly("atol", &FlowRun::atol)
        .def_readonly("threads", &FlowRun::threads)
        .def_readonly("dense", &FlowRun::dense)
        .def_readonly("stopped_by_event", &FlowRun::stopped_by_event);
}

void register_flow_constants(py::module_& m) {
    m.attr("FLOW_DENSE_WIDTH") = static_cast<int>(pyscale::kDenseWidth);
    using C = pyscale::StepController;
    py::dict c;
    c["SAFETY"] = C::kSafety;
    c["MIN_FACTOR"] = C::kMinFactor;
    c["MAX_FACTOR"] = C::kMaxFactor;
    c["MAX_FACTOR_AFTER_REJECT"] = C::kMaxFactorAfterReject;
    c["LANDING_RECOVERY"] = C::kLandingRecovery;
    c["ERROR_FLOOR"] = C::kErrorFloor;
    c["LANDING_SLACK"] = C::kLandingSlack;
    m.attr("FLOW_CONTROLLER") = c;
    m.def(
        "flow_workspace_bytes",
        [](std::size_t n, pyscale::FlowMethod scheme) {
            return pyscale::FlowWorkspace::bytes_needed(n, scheme);
        },
        py::arg("n"), py::arg("scheme") = pyscale::FlowMethod::kRodas4);
    m.def("choose_flow_scheme", &pyscale::choose_flow_method, py::arg("scheme"),
          py::arg("rtol"), py::arg("t_end"),
          "The scheme a flow run asking for `scheme` uses at rtol up to the last record time "
          "t_end: auto is exponential for t_end >= 1e6 at rtol <= 1e-8, rodas4 otherwise; "
          "any other scheme is itself.");
}

}  // namespace

void register_flow(py::module_& m) {
    register_flow_types(m);
    for_each_pair([&](auto tag) {
        m.def("run_flow", &run_flow<typename decltype(tag)::type>, py::arg("problem"),
              py::arg("pair"), py::arg("w"), py::arg("start"), py::arg("t_records"),
              py::arg("options"), py::arg("callback") = py::none(),
              py::arg("observer") = py::none());
    });
    register_flow_constants(m);
}

}  // namespace pyscale_bind
