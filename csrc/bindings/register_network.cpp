// _core.network: the two-layer network engines (model/network.hpp; flow/network_*.hpp;
// steps/network_*.hpp): the problem and the kernel sums, the flow, GD, online SGD and its
// ensembles, ERM and the mode chain. States are (n, p) arrays updated in place (the chain's:
// (modes, p + k, p + k)); records are (rows, 2 + p^2 + p k): t, loss, S (row-major), U.
// Options, states and results are the single-index areas' bound types (FlowOptions,
// FlowState, FlowRun (no dense output), GdOptions, SgdOptions, ErmOptions, StepState, StepRun,
// EnsembleRun).
#include "bindings.hpp"

namespace pyscale_bind {
namespace {

using Readouts = std::vector<double>;

// The arrays a network engine reads, kept alive with the view: eigenvalues (n), W* (n, k).
class NetworkProblem {
public:
    NetworkProblem(Array eigenvalues, Array w_star, int p, double dim, double noise)
        : eigenvalues_(std::move(eigenvalues)), w_star_(std::move(w_star)) {
        const std::size_t n = static_cast<std::size_t>(eigenvalues_.size());
        require_length("eigenvalues", eigenvalues_, n);
        if (w_star_.ndim() != 2 || static_cast<std::size_t>(w_star_.shape(0)) != n)
            throw std::invalid_argument("w_star must have shape (n, k)");
        view_ = pyscale::make_network_view(n, p, static_cast<int>(w_star_.shape(1)),
                                           eigenvalues_.data(), w_star_.data(), dim, noise, 1);
    }
    const pyscale::NetworkView& view() const { return view_; }

private:
    Array eigenvalues_, w_star_;
    pyscale::NetworkView view_;
};

// The chain's modes, kept alive with their view: eigenvalues, counts, the initial frames.
class NetworkModes {
public:
    NetworkModes(Array eigenvalues, Array counts, const Array& frames, int p, double dim,
                 double noise)
        : eigenvalues_(std::move(eigenvalues)), counts_(std::move(counts)) {
        const std::size_t m = static_cast<std::size_t>(eigenvalues_.size());
        require_length("counts", counts_, m);
        const int D = static_cast<int>(frames.ndim() == 3 ? frames.shape(1) : 0);
        if (frames.ndim() != 3 || static_cast<std::size_t>(frames.shape(0)) != m ||
            frames.shape(2) != D || D <= p)
            throw std::invalid_argument("frames must have shape (modes, p + k, p + k)");
        modes_ = pyscale::make_network_modes(m, p, D - p, eigenvalues_.data(), counts_.data(),
                                             frames.data(), dim, noise);
    }
    const pyscale::NetworkModes& view() const { return modes_; }

private:
    Array eigenvalues_, counts_;
    pyscale::NetworkModes modes_;
};

py::array_t<double> network_records(std::size_t rows, int p, int k) {
    return nan_array({static_cast<py::ssize_t>(rows), pyscale::network_record_width(p, k)});
}

void require_units(const char* name, const State& w, std::size_t n, int p) {
    if (w.ndim() != 2 || static_cast<std::size_t>(w.shape(0)) != n || w.shape(1) != p)
        throw std::invalid_argument(std::string(name) + " must have shape (n, p) = (" +
                                    std::to_string(n) + ", " + std::to_string(p) + ")");
    require_writeable(name, w);
}

FlowRun run_flow(const NetworkProblem& problem, const pyscale::NetworkKernels& kern, State w,
                 const FlowState& start, const Array& t_records, const pyscale::FlowOptions& opt,
                 py::object callback) {
    const auto& v = problem.view();
    require_units("w", w, v.n, v.p);
    const std::size_t nrec = static_cast<std::size_t>(t_records.size());
    FlowRun run;
    run.records = network_records(nrec, v.p, v.k);
    run.dense = nan_array({0, static_cast<py::ssize_t>(pyscale::kDenseWidth)});  // none kept
    PythonHook hook{std::move(callback)};
    pyscale::FlowResult r;
    {
        py::gil_scoped_release release;
        pyscale::FlowWorkspace ws(v.n * static_cast<std::size_t>(v.p), opt.method);
        pyscale::FlowOptions o = opt;
        if (start.h_next > 0.0 && o.h0 <= 0.0) o.h0 = start.h_next;
        pyscale::NetworkFlowIntegrator integ(v, kern, ws, o);
        run.atol = integ.atol();
        r = integ.run(w.mutable_data(), start.t, t_records.data(), nrec,
                      run.records.mutable_data(), std::ref(hook));
    }
    fill_flow_run(run, r, hook);
    run.threads = pyscale::threads_for(v.n, opt.threads);
    return run;
}

// Online SGD of a network or its mode chain: `core` (run_network_sgd, run_network_chain) on
// `model` (the problem's view, or the modes') from `state`, resuming at `start`.
template <class Core, class Model, class Options>
StepRun online_run(Core core, const Model& model, const pyscale::NetworkKernels& kern,
                   double* state, double lr, int batch, std::uint64_t seed,
                   const StepState& start, long long step_end, const IndexArray& record_steps,
                   const Options& opt, py::object callback) {
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    return step_run<pyscale::SgdResult>(
        network_records(nrec, model.p, model.k), true, std::move(callback),
        [&](double* records, double* per_record, PythonHook& hook) {
            return core(model, kern, state, lr, batch, seed, start.step, step_end,
                        record_steps.data(), nrec, records, per_record, opt, std::ref(hook),
                        start.window_sum, start.window_count);
        });
}

StepRun run_gd(const NetworkProblem& problem, const pyscale::NetworkKernels& kern, State w,
               double lr, const StepState& start, long long step_end,
               const IndexArray& record_steps, const pyscale::GdOptions& opt,
               py::object callback) {
    const auto& v = problem.view();
    require_units("w", w, v.n, v.p);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run = step_run<pyscale::GdResult>(
        network_records(nrec, v.p, v.k), false, std::move(callback),
        [&](double* records, double*, PythonHook& hook) {
            return pyscale::run_network_gd(v, kern, w.mutable_data(), lr, start.step, step_end,
                                           record_steps.data(), nrec, records, opt,
                                           std::ref(hook));
        });
    run.threads = pyscale::threads_for(v.n, opt.threads);
    return run;
}

StepRun run_sgd(const NetworkProblem& problem, const pyscale::NetworkKernels& kern, State w,
                double lr, int batch, std::uint64_t seed, const StepState& start,
                long long step_end, const IndexArray& record_steps,
                const pyscale::SgdOptions& opt, py::object callback) {
    const auto& v = problem.view();
    require_units("w", w, v.n, v.p);
    StepRun run = online_run(&pyscale::run_network_sgd, v, kern, w.mutable_data(), lr, batch,
                             seed, start, step_end, record_steps, opt, std::move(callback));
    run.threads = pyscale::threads_for(v.n, opt.threads);
    return run;
}

// An ensemble's buffers: records (R, n_records, width) and per-record losses.
EnsembleRun network_ensemble_buffers(std::size_t members, std::size_t n_records, int p, int k) {
    EnsembleRun run;
    run.records = nan_array({static_cast<py::ssize_t>(members), static_cast<py::ssize_t>(n_records),
                             pyscale::network_record_width(p, k)});
    run.per_record =
        nan_array({static_cast<py::ssize_t>(members), static_cast<py::ssize_t>(n_records)});
    return run;
}

EnsembleRun run_sgd_ensemble(const NetworkProblem& problem, const pyscale::NetworkKernels& kern,
                             State W, const SeedArray& seeds, double lr, int batch,
                             long long step_end, const IndexArray& record_steps,
                             const pyscale::SgdOptions& opt, int threads, py::object callback) {
    const auto& v = problem.view();
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    if (W.ndim() != 3 || static_cast<std::size_t>(W.shape(0)) != R ||
        static_cast<std::size_t>(W.shape(1)) != v.n || W.shape(2) != v.p)
        throw std::invalid_argument("W must have shape (len(seeds), n, p)");
    require_writeable("W", W);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    return ensemble_run(
        network_ensemble_buffers(R, nrec, v.p, v.k), std::move(callback),
        [&](double* records, double* per_record, PythonHook& hook) {
            return pyscale::run_network_sgd_ensemble(v, kern, W.mutable_data(), R, seeds.data(),
                                                     lr, batch, step_end, record_steps.data(),
                                                     nrec, records, per_record, threads, opt,
                                                     std::ref(hook));
        });
}

std::size_t data_samples(const pyscale::NetworkView& v, const py::array& X, const py::array& y) {
    if (X.ndim() != 2 || static_cast<std::size_t>(X.shape(1)) != v.n)
        throw std::invalid_argument("X must have shape (n_samples, n)");
    const std::size_t N = static_cast<std::size_t>(X.shape(0));
    require_length("y", y, N);
    return N;
}

void erm_make_data(const NetworkProblem& problem, const pyscale::NetworkKernels& kern,
                   std::uint64_t key, State X, State y, int threads, bool simd) {
    const auto& v = problem.view();
    const std::size_t N = data_samples(v, X, y);
    require_writeable("X", X);
    require_writeable("y", y);
    py::gil_scoped_release release;
    pyscale::network_erm_make_data(v, kern, key, N, X.mutable_data(), y.mutable_data(), threads,
                                   simd);
}

StepRun run_erm(const NetworkProblem& problem, const pyscale::NetworkKernels& kern,
                const Array& X, const Array& y, State w, double lr, const StepState& start,
                long long step_end, const IndexArray& record_steps,
                const pyscale::ErmOptions& opt, py::object callback) {
    const auto& v = problem.view();
    require_units("w", w, v.n, v.p);
    const std::size_t N = data_samples(v, X, y);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    StepRun run = step_run<pyscale::ErmResult>(
        network_records(nrec, v.p, v.k), true, std::move(callback),
        [&](double* records, double* per_record, PythonHook& hook) {
            return pyscale::run_network_erm(v, kern, X.data(), y.data(), N, w.mutable_data(), lr,
                                            start.step, step_end, record_steps.data(), nrec,
                                            records, per_record, opt, std::ref(hook));
        });
    run.threads = pyscale::detail::erm_threads(N * v.n, opt.threads);
    return run;
}

void require_frames(const char* name, const State& X, std::size_t lead, const pyscale::NetworkModes& md,
                    bool ensemble) {
    const int D = md.D();
    const bool ok = ensemble
                        ? X.ndim() == 4 && static_cast<std::size_t>(X.shape(0)) == lead &&
                              static_cast<std::size_t>(X.shape(1)) == md.m && X.shape(2) == D &&
                              X.shape(3) == D
                        : X.ndim() == 3 && static_cast<std::size_t>(X.shape(0)) == md.m &&
                              X.shape(1) == D && X.shape(2) == D;
    if (!ok)
        throw std::invalid_argument(std::string(name) + (ensemble ? " must have shape (len(seeds), "
                                                                    "modes, p + k, p + k)"
                                                                  : " must have shape (modes, "
                                                                    "p + k, p + k)"));
    require_writeable(name, X);
}

StepRun run_chain(const NetworkModes& modes, const pyscale::NetworkKernels& kern, State X,
                  double lr, int batch, std::uint64_t seed, const StepState& start,
                  long long step_end, const IndexArray& record_steps,
                  const pyscale::SgdOptions& options, py::object callback) {
    const auto& md = modes.view();
    require_frames("X", X, 0, md, false);
    const auto opt = chain_options(options);
    StepRun run = online_run(&pyscale::run_network_chain, md, kern, X.mutable_data(), lr, batch,
                             seed, start, step_end, record_steps, opt, std::move(callback));
    run.threads = pyscale::chain_threads(md.m, opt.threads);
    return run;
}

EnsembleRun run_chain_ensemble(const NetworkModes& modes, const pyscale::NetworkKernels& kern,
                               State X, const SeedArray& seeds, double lr, int batch,
                               long long step_end, const IndexArray& record_steps,
                               const pyscale::SgdOptions& options, int threads,
                               py::object callback) {
    const auto& md = modes.view();
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    require_frames("X", X, R, md, true);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    const auto opt = chain_options(options);
    return ensemble_run(
        network_ensemble_buffers(R, nrec, md.p, md.k), std::move(callback),
        [&](double* records, double* per_record, PythonHook& hook) {
            return pyscale::run_network_chain_ensemble(md, kern, X.mutable_data(), R,
                                                       seeds.data(), lr, batch, step_end,
                                                       record_steps.data(), nrec, records,
                                                       per_record, threads, opt,
                                                       std::ref(hook));
        });
}

// [S | U] as (S (p, p), U (p, k)) arrays.
py::tuple split_overlaps(const std::vector<double>& ov, int p, int k) {
    py::array_t<double> S({p, p}), U({p, k});
    std::copy(ov.begin(), ov.begin() + p * p, S.mutable_data());
    std::copy(ov.begin() + p * p, ov.end(), U.mutable_data());
    return py::make_tuple(S, U);
}

void register_kernels(py::module_& m) {
    using K = pyscale::NetworkKernels;
    auto flat = [](const K& k, const Array& S, const Array& U) {
        if (S.ndim() != 2 || S.shape(0) != k.p() || S.shape(1) != k.p() || U.ndim() != 2 ||
            U.shape(0) != k.p() || U.shape(1) != k.k())
            throw std::invalid_argument("S must be (p, p) and U (p, k)");
        std::vector<double> ov(S.data(), S.data() + S.size());
        ov.insert(ov.end(), U.data(), U.data() + U.size());
        return ov;
    };
    auto star = [](const K& k, const Array& s) {
        if (s.ndim() != 2 || s.shape(0) != k.k() || s.shape(1) != k.k())
            throw std::invalid_argument("S_star must be (k, k)");
        return std::vector<double>(s.data(), s.data() + s.size());
    };
    py::class_<K>(m, "NetworkKernels",
                  "The loss and the flow's coefficients of a two-layer network: a link pair "
                  "with the readouts a (p) and a* (k).")
        .def(py::init<const pyscale::LinkPair&, Readouts, Readouts>(), py::arg("pair"),
             py::arg("readout"), py::arg("teacher_readout"), py::keep_alive<1, 2>())
        .def_property_readonly("p", &K::p)
        .def_property_readonly("k", &K::k)
        .def(
            "loss",
            [flat, star](const K& k, const Array& S, const Array& U, const Array& s_star) {
                return k.loss(flat(k, S, U).data(), star(k, s_star).data());
            },
            py::arg("S"), py::arg("U"), py::arg("S_star"), "l(S, U), label noise excluded.")
        .def(
            "gradient",
            [flat, star](const K& k, const Array& S, const Array& U, const Array& s_star) {
                py::array_t<double> A({k.p(), k.p()}), B({k.p(), k.k()});
                k.gradient(flat(k, S, U).data(), star(k, s_star).data(), A.mutable_data(),
                           B.mutable_data());
                return py::make_tuple(A, B);
            },
            py::arg("S"), py::arg("U"), py::arg("S_star"),
            "(A, B) of the flow dW/dt = Q (W A + W* B^T).")
        .def(
            "coupling",
            [flat, star](const K& k, const Array& S, const Array& U, const Array& s_star) {
                const int r = k.p() * (k.p() + k.k());
                py::array_t<double> C({r, r});
                k.coupling_matrix(k.jets(flat(k, S, U).data(), star(k, s_star).data()),
                                  C.mutable_data());
                return C;
            },
            py::arg("S"), py::arg("U"), py::arg("S_star"),
            "The Jacobian's coupling C: vec([W^T Q X; W*^T Q X]) -> vec([dA; dB^T]).");
}

void register_types(py::module_& m) {
    py::class_<NetworkProblem>(m, "NetworkProblem",
                               "The arrays a network engine reads: eigenvalues (n), W* (n, k), "
                               "the student units p, the true d and the noise.")
        .def(py::init<Array, Array, int, double, double>(), py::arg("eigenvalues"),
             py::arg("w_star"), py::arg("p"), py::arg("dim"), py::arg("noise"))
        .def_property_readonly("n", [](const NetworkProblem& p) { return p.view().n; })
        .def_property_readonly("p", [](const NetworkProblem& p) { return p.view().p; })
        .def_property_readonly("k", [](const NetworkProblem& p) { return p.view().k; })
        .def_property_readonly("s_star", [](const NetworkProblem& p) {
            const int k = p.view().k;
            py::array_t<double> s({k, k});
            std::copy(p.view().s_star.begin(), p.view().s_star.end(), s.mutable_data());
            return s;
        })
        .def(
            "overlaps",
            [](const NetworkProblem& p, const Array& w) {
                const auto& v = p.view();
                if (w.ndim() != 2 || static_cast<std::size_t>(w.shape(0)) != v.n || w.shape(1) != v.p)
                    throw std::invalid_argument("w must have shape (n, p)");
                pyscale::BlockedSums red(v.n, 1, static_cast<std::size_t>(v.width()));
                std::vector<double> ov(v.width());
                pyscale::network_overlaps(v, w.data(), red, ov.data());
                return split_overlaps(ov, v.p, v.k);
            },
            py::arg("w"), "(S, U) of a state w, in the engines' fixed blocks.");
    py::class_<NetworkModes>(m, "NetworkModes",
                             "The modes a network chain runs on: eigenvalues, counts, and the "
                             "initial frames (modes, p + k, p + k) of [W* W].")
        .def(py::init<Array, Array, const Array&, int, double, double>(),
             py::arg("eigenvalues"), py::arg("counts"), py::arg("frames"), py::arg("p"),
             py::arg("dim"), py::arg("noise"))
        .def_property_readonly("m", [](const NetworkModes& md) { return md.view().m; });
}

void register_engines(py::module_& m) {
    m.def("run_flow", &run_flow, py::arg("problem"), py::arg("kernels"), py::arg("w"),
          py::arg("start"), py::arg("t_records"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_gd", &run_gd, py::arg("problem"), py::arg("kernels"), py::arg("w"), py::arg("lr"),
          py::arg("start"), py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_sgd", &run_sgd, py::arg("problem"), py::arg("kernels"), py::arg("w"),
          py::arg("lr"), py::arg("batch"), py::arg("seed"), py::arg("start"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_sgd_ensemble", &run_sgd_ensemble, py::arg("problem"), py::arg("kernels"),
          py::arg("W"), py::arg("seeds"), py::arg("lr"), py::arg("batch"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("threads"),
          py::arg("callback") = py::none());
    m.def("erm_make_data", &erm_make_data, py::arg("problem"), py::arg("kernels"),
          py::arg("key"), py::arg("X"), py::arg("y"), py::arg("threads") = 0,
          py::arg("simd") = true);
    m.def("run_erm", &run_erm, py::arg("problem"), py::arg("kernels"), py::arg("X"),
          py::arg("y"), py::arg("w"), py::arg("lr"), py::arg("start"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("callback") = py::none());
    m.def("run_chain", &run_chain, py::arg("modes"), py::arg("kernels"), py::arg("X"),
          py::arg("lr"), py::arg("batch"), py::arg("seed"), py::arg("start"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_chain_ensemble", &run_chain_ensemble, py::arg("modes"), py::arg("kernels"),
          py::arg("X"), py::arg("seeds"), py::arg("lr"), py::arg("batch"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("options"), py::arg("threads"),
          py::arg("callback") = py::none());
    m.def("record_width", &pyscale::network_record_width, py::arg("p"), py::arg("k"),
          "Doubles per network record row: t, loss, S (p^2), U (p k).");
    m.def("sgd_workspace_bytes",
          [](std::size_t n, int p, int k, int batch, const pyscale::SgdOptions& opt) {
              return pyscale::network_sgd_workspace_bytes(n, p, k, batch, opt);
          },
          py::arg("n"), py::arg("p"), py::arg("k"), py::arg("batch"), py::arg("options"));
    m.attr("MAX_UNITS") = pyscale::kMaxUnits;
}

}  // namespace

void register_network(py::module_& m) {
    register_kernels(m);
    register_types(m);
    register_engines(m);
}

}  // namespace pyscale_bind
