// _core.steps: the discrete-time engines (steps/): GD, online SGD and its ensembles, ERM,
// their options and resumable state, each engine for each bound link pair.
#include "bindings.hpp"

namespace pyscale_bind {
namespace {

template <class Pair>
StepRun run_gd(const CoreProblem& problem, const Pair& pair, State w, double lr,
               const StepState& start, long long step_end, const IndexArray& record_steps,
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
        r = pyscale::run_gd(p, pair, w.mutable_data(), lr, start.step, step_end,
                            record_steps.data(), nrec, run.records.mutable_data(), opt,
                            std::ref(hook));
    }
    fill_step_run(run, r, hook);
    run.threads = pyscale::threads_for(p.n, opt.threads);
    return run;
}

template <class Pair>
StepRun run_sgd(const CoreProblem& problem, const Pair& pair, State w, double lr, int batch,
                std::uint64_t seed, const StepState& start, long long step_end,
                const IndexArray& record_steps, const pyscale::SgdOptions& opt,
                py::object callback) {
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
        r = pyscale::run_sgd(p, pair, w.mutable_data(), lr, batch, seed, start.step, step_end,
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

template <class Pair>
EnsembleRun run_sgd_ensemble(const CoreProblem& problem, const Pair& pair, State W,
                             const SeedArray& seeds, double lr, int batch, long long step_end,
                             const IndexArray& record_steps, const pyscale::SgdOptions& opt,
                             int threads, py::object callback) {
    const auto& p = problem.view();
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    if (W.ndim() != 2 || static_cast<std::size_t>(W.shape(0)) != R ||
        static_cast<std::size_t>(W.shape(1)) != p.n)
        throw std::invalid_argument("W must have shape (len(seeds), n)");
    require_writeable("W", W);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    EnsembleRun run = ensemble_buffers(R, nrec);
    PythonHook hook{std::move(callback)};
    std::vector<pyscale::SgdResult> rs;
    {
        py::gil_scoped_release release;
        rs = pyscale::run_sgd_ensemble(p, pair, W.mutable_data(), R, seeds.data(), lr, batch,
                                       step_end, record_steps.data(), nrec,
                                       run.records.mutable_data(), run.per_record.mutable_data(),
                                       threads, opt, std::ref(hook));
    }
    fill_ensemble_run(run, rs, hook);
    return run;
}

// The number of samples of a data set X (N x n) for problem p, after checking its shape.
std::size_t data_samples(const pyscale::ProblemView& p, const py::array& X, const py::array& y) {
    if (X.ndim() != 2 || static_cast<std::size_t>(X.shape(1)) != p.n)
        throw std::invalid_argument("X must have shape (n_samples, n)");
    const std::size_t N = static_cast<std::size_t>(X.shape(0));
    require_length("y", y, N);
    return N;
}

template <class Pair>
void erm_make_data(const CoreProblem& problem, const Pair& pair, std::uint64_t seed, State X,
                   State y, int threads, bool simd) {
    const auto& p = problem.view();
    const std::size_t N = data_samples(p, X, y);
    require_writeable("X", X);
    require_writeable("y", y);
    py::gil_scoped_release release;
    pyscale::erm_make_data(p, pair, seed, N, X.mutable_data(), y.mutable_data(), threads, simd);
}

template <class Pair>
StepRun run_erm(const CoreProblem& problem, const Pair& pair, const Array& X, const Array& y,
                State w, double lr, const StepState& start, long long step_end,
                const IndexArray& record_steps, const pyscale::ErmOptions& opt,
                py::object callback) {
    require_state(problem, w);
    const auto& p = problem.view();
    const std::size_t N = data_samples(p, X, y);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run;
    run.records = record_buffer(nrec);
    run.per_record = nan_array({static_cast<py::ssize_t>(nrec)});
    PythonHook hook{std::move(callback)};
    pyscale::ErmResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_erm(p, pair, X.data(), y.data(), N, w.mutable_data(), lr, start.step,
                             step_end, record_steps.data(), nrec, run.records.mutable_data(),
                             run.per_record.mutable_data(), opt, std::ref(hook));
    }
    fill_step_run(run, r, hook);
    run.threads = pyscale::detail::erm_threads(N * p.n, opt.threads);
    return run;
}

void register_options(py::module_& m) {
    py::enum_<pyscale::SampleStorage>(m, "SampleStorage",
                                      "Where online SGD keeps a step's samples for its update.")
        .value("auto", pyscale::SampleStorage::kAuto)
        .value("store", pyscale::SampleStorage::kStore)
        .value("regenerate", pyscale::SampleStorage::kRegenerate);
    py::enum_<pyscale::Streams>(m, "Streams", "How a seed selects the generator's key.")
        .value("independent", pyscale::Streams::kIndependent)
        .value("common", pyscale::Streams::kCommon);
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

void register_results(py::module_& m) {
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
}

// Every engine of this area for one pair.
template <class Pair>
void register_engines(py::module_& m) {
    m.def("run_gd", &run_gd<Pair>, py::arg("problem"), py::arg("pair"), py::arg("w"),
          py::arg("lr"), py::arg("start"), py::arg("step_end"), py::arg("record_steps"),
          py::arg("options"), py::arg("callback") = py::none());
    m.def("run_sgd", &run_sgd<Pair>, py::arg("problem"), py::arg("pair"), py::arg("w"),
          py::arg("lr"), py::arg("batch"), py::arg("seed"), py::arg("start"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_sgd_ensemble", &run_sgd_ensemble<Pair>, py::arg("problem"), py::arg("pair"),
          py::arg("W"), py::arg("seeds"), py::arg("lr"), py::arg("batch"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("threads"),
          py::arg("callback") = py::none());
    m.def("erm_make_data", &erm_make_data<Pair>, py::arg("problem"), py::arg("pair"),
          py::arg("seed"), py::arg("X"), py::arg("y"), py::arg("threads") = 0,
          py::arg("simd") = true);
    m.def("run_erm", &run_erm<Pair>, py::arg("problem"), py::arg("pair"), py::arg("X"),
          py::arg("y"), py::arg("w"), py::arg("lr"), py::arg("start"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("callback") = py::none());
}

}  // namespace

void register_steps(py::module_& m) {
    register_options(m);
    register_results(m);
    for_each_pair([&](auto tag) { register_engines<typename decltype(tag)::type>(m); });
    m.def(
        "sgd_workspace_bytes",
        [](std::size_t n, int batch, const pyscale::SgdOptions& opt) {
            return pyscale::sgd_workspace_bytes(n, batch, opt);
        },
        py::arg("n"), py::arg("batch"), py::arg("options"));
    m.def("erm_data_bytes", &pyscale::erm_data_bytes, py::arg("n_samples"), py::arg("n"));
    m.def(
        "stream_seed",
        [](std::uint64_t seed, double dim, pyscale::Streams streams) {
            return pyscale::stream_seed(seed, dim, streams);
        },
        py::arg("seed"), py::arg("dim"), py::arg("streams"),
        "The seed the generators are built from (d mixed in unless streams is common).");
}

}  // namespace pyscale_bind
