// _core.chain: online SGD on the modes of a compressed problem (steps/mode_chain.hpp): the
// arrays of the modes in, the chain state (c1, c2) updated in place, a StepRun / EnsembleRun
// out (the options are SgdOptions; sample_storage does not apply), for each bound pair.
#include "bindings.hpp"

namespace pyscale_bind {
namespace {

pyscale::ModeView mode_view(const Array& lambda, const Array& count, const Array& r, double dim,
                            double noise) {
    const std::size_t m = static_cast<std::size_t>(lambda.size());
    require_length("lam", lambda, m);
    require_length("count", count, m);
    require_length("r", r, m);
    return pyscale::make_mode_view(m, lambda.data(), count.data(), r.data(), dim, noise);
}

template <class Pair>
StepRun run_mode_chain(const Array& lambda, const Array& count, const Array& r, State c1,
                       State c2, double dim, double noise, const Pair& pair, double lr,
                       int batch, std::uint64_t seed, const StepState& start, long long step_end,
                       const IndexArray& record_steps, const pyscale::SgdOptions& options,
                       py::object callback) {
    const auto p = mode_view(lambda, count, r, dim, noise);
    require_length("c1", c1, p.m);
    require_length("c2", c2, p.m);
    require_writeable("c1", c1);
    require_writeable("c2", c2);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    const auto opt = chain_options(options);
    StepRun run = step_run<pyscale::SgdResult>(
        record_buffer(nrec), true, std::move(callback),
        [&](double* records, double* per_record, PythonHook& hook) {
            return pyscale::run_mode_chain(p, pair, c1.mutable_data(), c2.mutable_data(), lr,
                                           batch, seed, start.step, step_end,
                                           record_steps.data(), nrec, records, per_record, opt,
                                           std::ref(hook), start.window_sum,
                                           start.window_count);
        });
    run.threads = pyscale::chain_threads(p.m, opt.threads);
    return run;
}

template <class Pair>
EnsembleRun run_mode_chain_ensemble(const Array& lambda, const Array& count, const Array& r,
                                    State C1, State C2, double dim, double noise,
                                    const Pair& pair, const SeedArray& seeds, double lr,
                                    int batch, long long step_end,
                                    const IndexArray& record_steps,
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
    const auto opt = chain_options(options);
    return ensemble_run(
        ensemble_buffers(R, nrec), std::move(callback),
        [&](double* records, double* per_record, PythonHook& hook) {
            return pyscale::run_mode_chain_ensemble(p, pair, C1.mutable_data(), C2.mutable_data(),
                                                    R, seeds.data(), lr, batch, step_end,
                                                    record_steps.data(), nrec, records,
                                                    per_record, threads, opt, std::ref(hook));
        });
}

template <class Pair>
void register_engines(py::module_& m) {
    m.def("run_mode_chain", &run_mode_chain<Pair>, py::arg("lam"), py::arg("count"),
          py::arg("r"), py::arg("c1"), py::arg("c2"), py::arg("dim"), py::arg("noise"),
          py::arg("pair"), py::arg("lr"), py::arg("batch"), py::arg("seed"), py::arg("start"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("callback") = py::none());
    m.def("run_mode_chain_ensemble", &run_mode_chain_ensemble<Pair>, py::arg("lam"),
          py::arg("count"), py::arg("r"), py::arg("C1"), py::arg("C2"), py::arg("dim"),
          py::arg("noise"), py::arg("pair"), py::arg("seeds"), py::arg("lr"), py::arg("batch"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("options"),
          py::arg("threads"), py::arg("callback") = py::none());
}

}  // namespace

void register_chain(py::module_& m) {
    for_each_pair([&](auto tag) { register_engines<typename decltype(tag)::type>(m); });
    m.def("chain_workspace_bytes", &pyscale::mode_chain_workspace_bytes, py::arg("modes"),
          py::arg("batch"));
}

}  // namespace pyscale_bind
