// pybind11 binding of the pyscale C++ core: typed options, results and resumable state,
// enums for run status and record fields, caller-visible buffers as NumPy arrays, the GIL
// released while an engine runs. No numerics here; see csrc/include/pyscale/.
//
// Layout (one register_* function per part, as boost-histogram does):
//   register_enums    RunStatus, RecordField, FlowScheme, FlowRecordMode, SampleStorage
//   register_errors   C++ exceptions -> Python exception types (the one place they map)
//   register_problem  CoreProblem (the arrays an engine reads) and its statistics
//   register_flow     FlowOptions, FlowState, FlowRun, run_flow
//   register_steps    StepState, StepRun, Gd/Sgd/Erm options, run_gd / run_sgd / run_erm,
//                     run_sgd_ensemble, erm_make_data, workspace sizes
//   register_testing  _core.testing: generator internals the tests and benchmarks probe
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <string>
#include <vector>

#include <pyscale/pyscale.hpp>

namespace py = pybind11;
using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<long long, py::array::c_style | py::array::forcecast>;
using SeedArray = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;
using State = py::array_t<double, py::array::c_style>;  // written in place: no conversion

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void require_length(const char* name, const py::array& a, std::size_t n) {
    if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n)
        throw std::invalid_argument(std::string(name) + " must be 1-D of length " +
                                    std::to_string(n));
}

void require_writeable(const char* name, const State& a) {
    if (!a.writeable()) throw std::invalid_argument(std::string(name) + " must be writeable");
}

// The arrays an engine reads, kept alive for as long as the view is used.
class CoreProblem {
public:
    CoreProblem(Array eigenvalues, Array w_star, double dim, double noise)
        : eigenvalues_(std::move(eigenvalues)), w_star_(std::move(w_star)) {
        require_length("eigenvalues", eigenvalues_, static_cast<std::size_t>(eigenvalues_.size()));
        require_length("w_star", w_star_, static_cast<std::size_t>(eigenvalues_.size()));
        view_ = pyscale::make_problem_view(static_cast<std::size_t>(eigenvalues_.size()),
                                           eigenvalues_.data(), w_star_.data(), dim, noise, 1);
    }
    const pyscale::ProblemView& view() const { return view_; }
    std::size_t n() const { return view_.n; }

private:
    Array eigenvalues_, w_star_;
    pyscale::ProblemView view_;
};

void require_state(const CoreProblem& p, const State& w) {
    require_length("w", w, p.n());
    require_writeable("w", w);
}

// Progress hook that (with the GIL) calls the optional Python callback and checks for
// Ctrl-C; a pending signal stops the run and is reported through `signalled`.
struct PythonHook {
    py::object callback;
    bool signalled = false;
    bool operator()(double t, long long steps) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            PyErr_Clear();
            signalled = true;
            return false;
        }
        if (!callback.is_none()) return callback(t, steps).cast<bool>();
        return true;
    }
};

py::array_t<double> nan_array(std::vector<py::ssize_t> shape) {
    py::array_t<double> out(shape);
    std::fill(out.mutable_data(), out.mutable_data() + out.size(), kNaN);
    return out;
}

py::array_t<double> record_buffer(std::size_t rows) {
    return nan_array({static_cast<py::ssize_t>(rows), pyscale::kRecordWidth});
}

// ---- resumable state and results --------------------------------------------------------

// Where a flow run stands: its time and the step it would try next (resume is bitwise).
struct FlowState {
    double t = 0.0;
    double h_next = 0.0;
};

// Where a step engine stands: the step index of w, and the online-loss window still open
// (steps after the last record), so that a resumed run's online losses equal an
// uninterrupted run's.
struct StepState {
    long long step = 0;
    double window_sum = 0.0;
    long long window_count = 0;
};

struct FlowRun {
    py::array_t<double> records;
    pyscale::RunStatus status = pyscale::RunStatus::kCompleted;
    bool signalled = false;
    FlowState state;
    long long steps = 0, rejected = 0, rhs_evals = 0, passes = 0;
    std::size_t records_written = 0;
    double atol = 0.0;
    int threads = 1;
    py::array_t<double> dense;      // (accepted steps, kDenseWidth): the dense output
    bool stopped_by_event = false;  // the observer stopped the run at state.t
};

struct StepRun {
    py::array_t<double> records;
    py::array_t<double> per_record;  // online loss (sgd), training loss (erm), empty (gd)
    pyscale::RunStatus status = pyscale::RunStatus::kCompleted;
    bool signalled = false;
    StepState state;
    long long diverged_at_step = -1;
    std::size_t records_written = 0;
    int threads = 1;
};

struct EnsembleRun {
    py::array_t<double> records;     // (members, records, kRecordWidth)
    py::array_t<double> per_record;  // (members, records): online loss
    std::vector<pyscale::RunStatus> status;
    std::vector<long long> last_step, diverged_at_step;
    std::vector<std::size_t> records_written;
    bool signalled = false;
};

// ---- flow -------------------------------------------------------------------------------

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

FlowRun run_flow(const CoreProblem& problem, State w, const FlowState& start,
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
        pyscale::FlowIntegrator integ(p, ws, o);
        run.atol = integ.atol();
        r = integ.run(w.mutable_data(), start.t, t_records.data(), nrec,
                      run.records.mutable_data(), std::ref(hook), observe, &dense_log);
    }
    run.dense = dense_rows(dense_log);
    run.stopped_by_event = r.stopped_by_event;
    run.status = r.status;
    run.signalled = hook.signalled;
    run.state = FlowState{r.t, r.h_next};
    run.steps = r.steps;
    run.rejected = r.rejected;
    run.rhs_evals = r.rhs_evals;
    run.passes = r.passes;
    run.records_written = r.records_written;
    run.threads = pyscale::threads_for(p.n, opt.threads);
    return run;
}

// ---- step engines -----------------------------------------------------------------------

template <class Result>
void fill_step_run(StepRun& run, const Result& r, const PythonHook& hook) {
    run.status = r.status;
    run.signalled = hook.signalled;
    run.state.step = r.last_step;
    run.diverged_at_step = r.diverged_at_step;
    run.records_written = r.records_written;
}

StepRun run_gd(const CoreProblem& problem, State w, double lr, const StepState& start,
               long long step_end, const IndexArray& record_steps,
               const pyscale::GdOptions& opt, py::object callback) {
    require_state(problem, w);
    const auto& p = problem.view();
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run;
    run.records = record_buffer(nrec);
    run.per_record = py::array_t<double>(0);
    PythonHook hook{std::move(callback)};
    pyscale::GdResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_gd(p, w.mutable_data(), lr, start.step, step_end, record_steps.data(),
                            nrec, run.records.mutable_data(), opt, std::ref(hook));
    }
    fill_step_run(run, r, hook);
    run.threads = pyscale::threads_for(p.n, opt.threads);
    return run;
}

StepRun run_sgd(const CoreProblem& problem, State w, double lr, int batch, std::uint64_t seed,
                const StepState& start, long long step_end, const IndexArray& record_steps,
                const pyscale::SgdOptions& opt, py::object callback) {
    require_state(problem, w);
    const auto& p = problem.view();
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run;
    run.records = record_buffer(nrec);
    run.per_record = nan_array({static_cast<py::ssize_t>(nrec)});
    PythonHook hook{std::move(callback)};
    pyscale::SgdResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_sgd(p, w.mutable_data(), lr, batch, seed, start.step, step_end,
                             record_steps.data(), nrec, run.records.mutable_data(),
                             run.per_record.mutable_data(), opt, std::ref(hook),
                             start.window_sum, start.window_count);
    }
    fill_step_run(run, r, hook);
    run.state.window_sum = r.window_sum;
    run.state.window_count = r.window_count;
    run.threads = pyscale::threads_for(p.n, opt.threads);
    return run;
}

void erm_make_data(const CoreProblem& problem, std::uint64_t seed, State X, State y,
                   int threads, bool simd) {
    const auto& p = problem.view();
    if (X.ndim() != 2 || static_cast<std::size_t>(X.shape(1)) != p.n)
        throw std::invalid_argument("X must have shape (n_samples, n)");
    const std::size_t N = static_cast<std::size_t>(X.shape(0));
    require_length("y", y, N);
    require_writeable("X", X);
    require_writeable("y", y);
    py::gil_scoped_release release;
    pyscale::erm_make_data(p, seed, N, X.mutable_data(), y.mutable_data(), threads, simd);
}

StepRun run_erm(const CoreProblem& problem, const Array& X, const Array& y, State w, double lr,
                const StepState& start, long long step_end, const IndexArray& record_steps,
                const pyscale::ErmOptions& opt, py::object callback) {
    require_state(problem, w);
    const auto& p = problem.view();
    if (X.ndim() != 2 || static_cast<std::size_t>(X.shape(1)) != p.n)
        throw std::invalid_argument("X must have shape (n_samples, n)");
    const std::size_t N = static_cast<std::size_t>(X.shape(0));
    require_length("y", y, N);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run;
    run.records = record_buffer(nrec);
    run.per_record = nan_array({static_cast<py::ssize_t>(nrec)});
    PythonHook hook{std::move(callback)};
    pyscale::ErmResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_erm(p, X.data(), y.data(), N, w.mutable_data(), lr, start.step,
                             step_end, record_steps.data(), nrec, run.records.mutable_data(),
                             run.per_record.mutable_data(), opt, std::ref(hook));
    }
    fill_step_run(run, r, hook);
    run.threads = pyscale::detail::erm_threads(N * p.n, opt.threads);
    return run;
}

EnsembleRun run_sgd_ensemble(const CoreProblem& problem, State W, const SeedArray& seeds,
                             double lr, int batch, long long step_end,
                             const IndexArray& record_steps, const pyscale::SgdOptions& opt,
                             int threads, py::object callback) {
    const auto& p = problem.view();
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    if (W.ndim() != 2 || static_cast<std::size_t>(W.shape(0)) != R ||
        static_cast<std::size_t>(W.shape(1)) != p.n)
        throw std::invalid_argument("W must have shape (len(seeds), n)");
    require_writeable("W", W);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    EnsembleRun run;
    run.records = nan_array({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(nrec),
                             pyscale::kRecordWidth});
    run.per_record = nan_array({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(nrec)});
    PythonHook hook{std::move(callback)};
    std::vector<pyscale::SgdResult> rs;
    {
        py::gil_scoped_release release;
        rs = pyscale::run_sgd_ensemble(p, W.mutable_data(), R, seeds.data(), lr, batch,
                                       step_end, record_steps.data(), nrec,
                                       run.records.mutable_data(), run.per_record.mutable_data(),
                                       threads, opt, std::ref(hook));
    }
    for (const auto& r : rs) {
        run.status.push_back(r.status);
        run.last_step.push_back(r.last_step);
        run.diverged_at_step.push_back(r.diverged_at_step);
        run.records_written.push_back(r.records_written);
    }
    run.signalled = hook.signalled;
    return run;
}

// ---- registration -----------------------------------------------------------------------

void register_enums(py::module_& m) {
    py::enum_<pyscale::RunStatus>(m, "RunStatus", "How a run ended.")
        .value("completed", pyscale::RunStatus::kCompleted)
        .value("interrupted", pyscale::RunStatus::kInterrupted)
        .value("diverged", pyscale::RunStatus::kDiverged)
        .value("step_limit", pyscale::RunStatus::kStepLimit);
    py::enum_<pyscale::RecordField>(m, "RecordField", "Columns of a record row.")
        .value("t", pyscale::kT)
        .value("s", pyscale::kS)
        .value("u", pyscale::kU)
        .value("s2", pyscale::kS2)
        .value("u2", pyscale::kU2)
        .value("loss", pyscale::kLoss)
        .value("mse", pyscale::kMse);
    // The record schema, declared once (stats.hpp), in column order.
    py::tuple fields(static_cast<std::size_t>(pyscale::kRecordWidth));
    for (int j = 0; j < pyscale::kRecordWidth; ++j) fields[j] = pyscale::kRecordFieldNames[j];
    m.attr("RECORD_FIELDS") = fields;
    m.attr("RECORD_WIDTH") = static_cast<int>(pyscale::kRecordWidth);
    py::enum_<pyscale::FlowMethod>(m, "FlowScheme", "Rosenbrock scheme of the flow.")
        .value("rodas4", pyscale::FlowMethod::kRodas4)
        .value("ros4", pyscale::FlowMethod::kRos4);
    py::enum_<pyscale::RecordMode>(m, "FlowRecordMode",
                                   "How the flow writes records: off its dense output, or "
                                   "by landing a step on each.")
        .value("interpolate", pyscale::RecordMode::kInterpolate)
        .value("step", pyscale::RecordMode::kStep);
    py::enum_<pyscale::SampleStorage>(m, "SampleStorage",
                                      "Where online SGD keeps a step's samples for its update.")
        .value("auto", pyscale::SampleStorage::kAuto)
        .value("store", pyscale::SampleStorage::kStore)
        .value("regenerate", pyscale::SampleStorage::kRegenerate);
    py::enum_<pyscale::Streams>(m, "Streams", "How a seed selects the generator's key.")
        .value("independent", pyscale::Streams::kIndependent)
        .value("common", pyscale::Streams::kCommon);
}

void register_errors(py::module_& m) {
    // std::invalid_argument -> ValueError and std::bad_alloc -> MemoryError are pybind11's
    // own translations; an AllocationError says how many bytes it needed.
    py::register_exception<pyscale::AllocationError>(m, "AllocationError", PyExc_MemoryError);
}

void register_problem(py::module_& m) {
    py::class_<CoreProblem>(m, "CoreProblem",
                            "The arrays an engine reads: eigenvalues of Q, w*, true d, noise.")
        .def(py::init<Array, Array, double, double>(), py::arg("eigenvalues"),
             py::arg("w_star"), py::arg("dim"), py::arg("noise"))
        .def_property_readonly("n", &CoreProblem::n)
        .def_property_readonly("s_star", [](const CoreProblem& p) { return p.view().s_star; });
    m.def(
        "statistics",
        [](const CoreProblem& problem, const Array& w, double t) {
            require_length("w", w, problem.n());
            auto out = nan_array({pyscale::kRecordWidth});
            pyscale::BlockedReducer<6> red(problem.n(), 1);
            const auto& p = problem.view();
            pyscale::write_record(out.mutable_data(), t, p, pyscale::moments(p, w.data(), red));
            return out;
        },
        py::arg("problem"), py::arg("w"), py::arg("t") = 0.0,
        "One record row (t, s, u, s2, u2, loss, mse) of the state w.");
    m.def(
        "blocked_sum",
        [](const Array& x) {
            // The engines' fixed-block reduction: the same bits whatever the thread count.
            pyscale::BlockedReducer<1> red(static_cast<std::size_t>(x.size()), 1);
            const double* v = x.data();
            return red.run([&](std::size_t b, std::size_t e, double* acc) {
                for (std::size_t i = b; i < e; ++i) acc[0] += v[i];
            })[0];
        },
        py::arg("x"), "Sum of x in fixed blocks (thread-count independent bits).");
}

void register_flow(py::module_& m) {
    py::class_<pyscale::FlowOptions>(m, "FlowOptions")
        .def(py::init<>())
        .def_readwrite("scheme", &pyscale::FlowOptions::method)
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
        .def_readonly("records_written", &FlowRun::records_written)
        .def_readonly("atol", &FlowRun::atol)
        .def_readonly("threads", &FlowRun::threads)
        .def_readonly("dense", &FlowRun::dense)
        .def_readonly("stopped_by_event", &FlowRun::stopped_by_event);
    m.def("run_flow", &run_flow, py::arg("problem"), py::arg("w"), py::arg("start"),
          py::arg("t_records"), py::arg("options"), py::arg("callback") = py::none(),
          py::arg("observer") = py::none());
    m.attr("FLOW_DENSE_WIDTH") = static_cast<int>(pyscale::kDenseWidth);
    {
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
    }
    m.def(
        "flow_workspace_bytes",
        [](std::size_t n, pyscale::FlowMethod scheme) {
            return pyscale::FlowWorkspace::bytes_needed(n, scheme);
        },
        py::arg("n"), py::arg("scheme") = pyscale::FlowMethod::kRodas4);
}

void register_step_options(py::module_& m) {
    py::class_<pyscale::GdOptions>(m, "GdOptions")
        .def(py::init<>())
        .def_readwrite("threads", &pyscale::GdOptions::threads)
        .def_readwrite("progress_every", &pyscale::GdOptions::progress_every)
        .def_readwrite("divergence_factor", &pyscale::GdOptions::divergence_factor);
    py::class_<pyscale::SgdOptions>(m, "SgdOptions")
        .def(py::init<>())
        .def_readwrite("threads", &pyscale::SgdOptions::threads)
        .def_readwrite("progress_every", &pyscale::SgdOptions::progress_every)
        .def_readwrite("divergence_factor", &pyscale::SgdOptions::divergence_factor)
        .def_readwrite("sample_storage", &pyscale::SgdOptions::sample_storage)
        .def_readwrite("store_limit_bytes", &pyscale::SgdOptions::store_limit_bytes)
        .def_readwrite("simd", &pyscale::SgdOptions::simd)
        .def_readwrite("streams", &pyscale::SgdOptions::streams);
    py::class_<pyscale::ErmOptions>(m, "ErmOptions")
        .def(py::init<>())
        .def_readwrite("threads", &pyscale::ErmOptions::threads)
        .def_readwrite("progress_every", &pyscale::ErmOptions::progress_every)
        .def_readwrite("divergence_factor", &pyscale::ErmOptions::divergence_factor);
}

void register_steps(py::module_& m) {
    register_step_options(m);
    py::class_<StepState>(m, "StepState", "Where a step engine stands (exact resume).")
        .def(py::init<long long, double, long long>(), py::arg("step") = 0,
             py::arg("window_sum") = 0.0, py::arg("window_count") = 0)
        .def_readonly("step", &StepState::step)
        .def_readonly("window_sum", &StepState::window_sum)
        .def_readonly("window_count", &StepState::window_count);
    py::class_<StepRun>(m, "StepRun")
        .def_readonly("records", &StepRun::records)
        .def_readonly("per_record", &StepRun::per_record)
        .def_readonly("status", &StepRun::status)
        .def_readonly("signalled", &StepRun::signalled)
        .def_readonly("state", &StepRun::state)
        .def_readonly("diverged_at_step", &StepRun::diverged_at_step)
        .def_readonly("records_written", &StepRun::records_written)
        .def_readonly("threads", &StepRun::threads);
    py::class_<EnsembleRun>(m, "EnsembleRun")
        .def_readonly("records", &EnsembleRun::records)
        .def_readonly("per_record", &EnsembleRun::per_record)
        .def_readonly("status", &EnsembleRun::status)
        .def_readonly("last_step", &EnsembleRun::last_step)
        .def_readonly("diverged_at_step", &EnsembleRun::diverged_at_step)
        .def_readonly("records_written", &EnsembleRun::records_written)
        .def_readonly("signalled", &EnsembleRun::signalled);
    m.def("run_gd", &run_gd, py::arg("problem"), py::arg("w"), py::arg("lr"), py::arg("start"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_sgd", &run_sgd, py::arg("problem"), py::arg("w"), py::arg("lr"),
          py::arg("batch"), py::arg("seed"), py::arg("start"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("callback") = py::none());
    m.def("run_sgd_ensemble", &run_sgd_ensemble, py::arg("problem"), py::arg("W"),
          py::arg("seeds"), py::arg("lr"), py::arg("batch"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("threads"),
          py::arg("callback") = py::none());
    m.def("erm_make_data", &erm_make_data, py::arg("problem"), py::arg("seed"), py::arg("X"),
          py::arg("y"), py::arg("threads") = 0, py::arg("simd") = true);
    m.def("run_erm", &run_erm, py::arg("problem"), py::arg("X"), py::arg("y"), py::arg("w"),
          py::arg("lr"), py::arg("start"), py::arg("step_end"), py::arg("record_steps"),
          py::arg("options"), py::arg("callback") = py::none());
    m.def(
        "sgd_workspace_bytes",
        [](std::size_t n, int batch, const pyscale::SgdOptions& opt) {
            return pyscale::sgd_workspace_bytes(n, batch, opt);
        },
        py::arg("n"), py::arg("batch"), py::arg("options"));
    m.def("erm_data_bytes", &pyscale::erm_data_bytes, py::arg("n_samples"), py::arg("n"));
}

void register_testing(py::module_& t) {
    t.doc() = "Generator and workspace internals, for tests and benchmarks.";
    t.def(
        "normal_fill",
        [](std::uint64_t seed, std::uint64_t sample, std::uint32_t domain, std::size_t lo,
           std::size_t hi, bool simd) {
            if (hi < lo) throw std::invalid_argument("hi must be >= lo");
            if (domain >= 128) throw std::invalid_argument("domain must be < 128");
            py::array_t<double> out(static_cast<py::ssize_t>(hi - lo));
            pyscale::NormalStream gen(seed, simd);
            gen.fill(sample, domain, lo, hi, out.mutable_data());
            return out;
        },
        py::arg("seed"), py::arg("sample"), py::arg("domain"), py::arg("lo"), py::arg("hi"),
        py::arg("simd") = true, "Gaussians lo..hi-1 of (seed, sample, domain).");
    t.def(
        "normal_sample_loop",
        [](std::uint64_t seed, std::size_t d, long long steps, int threads, bool simd) {
            // The throughput limit of online SGD: steps x d Gaussians, nothing else.
            py::gil_scoped_release release;
            return pyscale::normal_sample_loop(seed, d, steps, threads, simd);
        },
        py::arg("seed"), py::arg("d"), py::arg("steps"), py::arg("threads") = 1,
        py::arg("simd") = true);
    t.def(
        "philox4x32",
        [](std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
            return pyscale::philox4x32<10>(c, k);
        },
        py::arg("counter"), py::arg("key"));
    t.def(
        "philox4x64",
        [](std::array<std::uint64_t, 4> c, std::array<std::uint64_t, 2> k) {
            return pyscale::philox4x64<10>(c, k);
        },
        py::arg("counter"), py::arg("key"));
    t.def(
        "philox4x32_words",
        [](std::array<std::uint32_t, 2> key, std::uint32_t g0, std::uint32_t c1,
           std::uint32_t c2, std::uint32_t c3, std::size_t count, bool simd) {
            py::array_t<std::uint64_t> out(static_cast<py::ssize_t>(2 * count));
            pyscale::philox4x32_words(key, g0, c1, c2, c3, count, out.mutable_data(), simd);
            return out;
        },
        py::arg("key"), py::arg("g0"), py::arg("c1"), py::arg("c2"), py::arg("c3"),
        py::arg("count"), py::arg("simd") = true);
    t.def(
        "flow_workspace_check",
        [](std::size_t n) {
            pyscale::FlowWorkspace ws(n);
            return pyscale::FlowWorkspace::bytes_needed(ws.size());
        },
        py::arg("n"), "Allocate (and free) a flow workspace for n coordinates.");
}

// ==== mode chain and gamma sampler (mode_chain.hpp, gamma.hpp) ===========================
// Online SGD on the modes of a compressed problem: the arrays of the modes in, the chain
// state (c1, c2) updated in place, a StepRun / EnsembleRun out (the options are SgdOptions;
// sample_storage does not apply).

pyscale::ModeView mode_view(const Array& lambda, const Array& count, const Array& r, double dim,
                            double noise) {
    const std::size_t m = static_cast<std::size_t>(lambda.size());
    require_length("lam", lambda, m);
    require_length("count", count, m);
    require_length("r", r, m);
    return pyscale::make_mode_view(m, lambda.data(), count.data(), r.data(), dim, noise);
}

pyscale::ModeChainOptions chain_options(const pyscale::SgdOptions& o) {
    pyscale::ModeChainOptions opt;
    opt.threads = o.threads;
    opt.progress_every = o.progress_every;
    opt.divergence_factor = o.divergence_factor;
    opt.simd = o.simd;
    opt.streams = o.streams;
    return opt;
}

StepRun run_mode_chain(const Array& lambda, const Array& count, const Array& r, State c1,
                       State c2, double dim, double noise, double lr, int batch,
                       std::uint64_t seed, const StepState& start, long long step_end,
                       const IndexArray& record_steps, const pyscale::SgdOptions& options,
                       py::object callback) {
    const auto p = mode_view(lambda, count, r, dim, noise);
    require_length("c1", c1, p.m);
    require_length("c2", c2, p.m);
    require_writeable("c1", c1);
    require_writeable("c2", c2);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run;
    run.records = record_buffer(nrec);
    run.per_record = nan_array({static_cast<py::ssize_t>(nrec)});
    const auto opt = chain_options(options);
    PythonHook hook{std::move(callback)};
    pyscale::SgdResult res;
    {
        py::gil_scoped_release release;
        res = pyscale::run_mode_chain(p, c1.mutable_data(), c2.mutable_data(), lr, batch, seed,
                                      start.step, step_end, record_steps.data(), nrec,
                                      run.records.mutable_data(), run.per_record.mutable_data(),
                                      opt, std::ref(hook), start.window_sum,
                                      start.window_count);
    }
    fill_step_run(run, res, hook);
    run.state.window_sum = res.window_sum;
    run.state.window_count = res.window_count;
    run.threads = pyscale::chain_threads(p.m, opt.threads);
    return run;
}

EnsembleRun run_mode_chain_ensemble(const Array& lambda, const Array& count, const Array& r,
                                    State C1, State C2, double dim, double noise,
                                    const SeedArray& seeds, double lr, int batch,
                                    long long step_end, const IndexArray& record_steps,
                                    const pyscale::SgdOptions& options, int threads,
                                    py::object callback) {
    const auto p = mode_view(lambda, count, r, dim, noise);
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    for (const State* a : {&C1, &C2})
        if (a->ndim() != 2 || static_cast<std::size_t>(a->shape(0)) != R ||
            static_cast<std::size_t>(a->shape(1)) != p.m)
            throw std::invalid_argument("C1 and C2 must have shape (len(seeds), modes)");
    require_writeable("C1", C1);
    require_writeable("C2", C2);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    EnsembleRun run;
    run.records = nan_array({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(nrec),
                             pyscale::kRecordWidth});
    run.per_record = nan_array({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(nrec)});
    const auto opt = chain_options(options);
    PythonHook hook{std::move(callback)};
    std::vector<pyscale::SgdResult> rs;
    {
        py::gil_scoped_release release;
        rs = pyscale::run_mode_chain_ensemble(p, C1.mutable_data(), C2.mutable_data(), R,
                                              seeds.data(), lr, batch, step_end,
                                              record_steps.data(), nrec,
                                              run.records.mutable_data(),
                                              run.per_record.mutable_data(), threads, opt,
                                              std::ref(hook));
    }
    for (const auto& res : rs) {
        run.status.push_back(res.status);
        run.last_step.push_back(res.last_step);
        run.diverged_at_step.push_back(res.diverged_at_step);
        run.records_written.push_back(res.records_written);
    }
    run.signalled = hook.signalled;
    return run;
}

// Gamma(shape) draws (sample, lo .. hi-1) of GammaStream(seed): in bulk (`fill`) or one by
// one (`draw`) — the same bits either way.
py::array_t<double> gamma_draws(std::uint64_t seed, double shape, std::uint64_t sample,
                                std::size_t lo, std::size_t hi, bool bulk, bool simd) {
    if (hi < lo) throw std::invalid_argument("hi < lo");
    const pyscale::GammaShape g(shape);
    py::array_t<double> out(static_cast<py::ssize_t>(hi - lo));
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    const pyscale::GammaStream gen(seed, simd);
    const std::size_t kc = pyscale::NormalStream::kChunk;
    std::vector<pyscale::GammaShape> shapes(kc, g);
    for (std::size_t j = lo; j < hi;) {
        const std::size_t je = std::min(hi, j + kc);
        if (bulk)
            gen.fill(shapes.data(), sample, j, je, o + (j - lo));
        else
            for (std::size_t i = j; i < je; ++i) o[i - lo] = gen.draw(g, sample, i);
        j = je;
    }
    return out;
}

// The log acceptance bound x^2 / 2 + d (1 - v + log v) of a Marsaglia-Tsang attempt for
// shape a at the Gaussian x (its accuracy at huge shapes is tested).
double gamma_log_bound(double shape, double x) {
    const pyscale::GammaShape g(shape);
    const double y = g.c * x;
    if (!(y > -1.0)) throw std::invalid_argument("need 1 + c x > 0");
    return 0.5 * x * x + g.d * pyscale::detail::gamma_log_ratio(y);
}

void register_chain(py::module_& m, py::module_& testing) {
    m.def("run_mode_chain", &run_mode_chain, py::arg("lam"), py::arg("count"), py::arg("r"),
          py::arg("c1"), py::arg("c2"), py::arg("dim"), py::arg("noise"), py::arg("lr"),
          py::arg("batch"), py::arg("seed"), py::arg("start"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("callback") = py::none());
    m.def("run_mode_chain_ensemble", &run_mode_chain_ensemble, py::arg("lam"),
          py::arg("count"), py::arg("r"), py::arg("C1"), py::arg("C2"), py::arg("dim"),
          py::arg("noise"), py::arg("seeds"), py::arg("lr"), py::arg("batch"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("threads"), py::arg("callback") = py::none());
    m.def("chain_workspace_bytes", &pyscale::mode_chain_workspace_bytes, py::arg("modes"),
          py::arg("batch"));
    m.def(
        "stream_seed",
        [](std::uint64_t seed, double dim, pyscale::Streams streams) {
            return pyscale::stream_seed(seed, dim, streams);
        },
        py::arg("seed"), py::arg("dim"), py::arg("streams"),
        "The seed the generators are built from (d mixed in unless streams is common).");
    testing.def("gamma_draws", &gamma_draws, py::arg("seed"), py::arg("shape"),
                py::arg("sample"), py::arg("lo"), py::arg("hi"), py::arg("bulk") = true,
                py::arg("simd") = true);
    testing.def("gamma_log_bound", &gamma_log_bound, py::arg("shape"), py::arg("x"));
}
// ==== end of the mode-chain block ========================================================

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyscale C++ core (header-only library under csrc/include/pyscale)";
#ifdef _OPENMP
    m.attr("HAS_OPENMP") = true;
#else
    m.attr("HAS_OPENMP") = false;
#endif
    m.attr("HAS_AVX2") = pyscale::cpu_has_avx2();
    register_enums(m);
    register_errors(m);
    register_problem(m);
    register_flow(m);
    register_steps(m);
    auto testing = m.def_submodule("testing");
    register_testing(testing);
    register_chain(m, testing);  // mode chain and gamma sampler
}
