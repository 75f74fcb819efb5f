// pybind11 marshalling for the pyscale C++ core: arrays in, arrays out, the GIL released
// while an engine runs. No numerics here; see csrc/include/pyscale/.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pyscale/pyscale.hpp>

namespace py = pybind11;
using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<long long, py::array::c_style | py::array::forcecast>;

namespace {

void require_length(const char* name, const py::array& a, std::size_t n) {
    if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n)
        throw std::invalid_argument(std::string(name) + " must be 1-D of length " +
                                    std::to_string(n));
}

pyscale::ProblemView view(const Array& lambda, const Array& w_star, double dim, double noise,
                          int threads) {
    require_length("w_star", w_star, static_cast<std::size_t>(lambda.shape(0)));
    return pyscale::make_problem_view(static_cast<std::size_t>(lambda.shape(0)), lambda.data(),
                                      w_star.data(), dim, noise, threads);
}

// Progress hook that (with the GIL) calls the optional Python callback and checks for
// Ctrl-C; a pending signal stops the run and is left for the caller to see.
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

py::array_t<double> record_buffer(std::size_t rows) {
    py::array_t<double> out({rows, static_cast<std::size_t>(pyscale::kRecordWidth)});
    std::fill(out.mutable_data(), out.mutable_data() + out.size(),
              std::numeric_limits<double>::quiet_NaN());
    return out;
}

py::dict flow_run(const Array& lambda, const Array& w_star, py::array_t<double> w, double dim,
                  double noise, double t0, const Array& t_records, double rtol, double atol,
                  double h0, double hmax, long long max_steps, int threads,
                  long long progress_every, py::object callback, const std::string& scheme) {
    auto p = view(lambda, w_star, dim, noise, threads);
    require_length("w", w, p.n);
    if (!(w.flags() & py::array::c_style) || !w.writeable())
        throw std::invalid_argument("w must be a writeable C-contiguous float64 array");
    const std::size_t nrec = static_cast<std::size_t>(t_records.size());
    auto out = record_buffer(nrec);
    pyscale::FlowOptions opt;
    if (scheme == "rodas4")
        opt.method = pyscale::FlowMethod::kRodas4;
    else if (scheme == "ros4")
        opt.method = pyscale::FlowMethod::kRos4;
    else
        throw std::invalid_argument("scheme must be 'rodas4' or 'ros4', got '" + scheme + "'");
    opt.rtol = rtol;
    opt.atol = atol;
    opt.h0 = h0;
    opt.hmax = hmax;
    opt.max_steps = max_steps;
    opt.threads = threads;
    opt.progress_every = progress_every;
    PythonHook hook{callback};
    pyscale::FlowResult r;
    double atol_used;
    {
        py::gil_scoped_release release;
        pyscale::FlowWorkspace ws(p.n, opt.method);
        pyscale::FlowIntegrator integ(p, ws, opt);
        atol_used = integ.atol();
        r = integ.run(w.mutable_data(), t0, t_records.data(), nrec, out.mutable_data(),
                      std::ref(hook));
    }
    py::dict d;
    d["records"] = out;
    d["status"] = pyscale::status_name(r.status);
    d["signalled"] = hook.signalled;
    d["t"] = r.t;
    d["h_next"] = r.h_next;
    d["steps"] = r.steps;
    d["rejected"] = r.rejected;
    d["rhs_evals"] = r.rhs_evals;
    d["passes"] = r.passes;
    d["records_written"] = r.records_written;
    d["atol"] = atol_used;
    d["threads"] = pyscale::threads_for(p.n, threads);
    return d;
}

py::dict gd_run(const Array& lambda, const Array& w_star, py::array_t<double> w, double dim,
                double noise, double lr, long long step0, long long step_end,
                const IndexArray& record_steps, int threads, long long progress_every,
                double divergence_factor, py::object callback) {
    auto p = view(lambda, w_star, dim, noise, threads);
    require_length("w", w, p.n);
    if (!(w.flags() & py::array::c_style) || !w.writeable())
        throw std::invalid_argument("w must be a writeable C-contiguous float64 array");
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    auto out = record_buffer(nrec);
    pyscale::GdOptions opt;
    opt.threads = threads;
    opt.progress_every = progress_every;
    opt.divergence_factor = divergence_factor;
    PythonHook hook{callback};
    pyscale::GdResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_gd(p, w.mutable_data(), lr, step0, step_end, record_steps.data(), nrec,
                            out.mutable_data(), opt, std::ref(hook));
    }
    py::dict d;
    d["records"] = out;
    d["status"] = pyscale::status_name(r.status);
    d["signalled"] = hook.signalled;
    d["last_step"] = r.last_step;
    d["diverged_at_step"] = r.diverged_at_step;
    d["records_written"] = r.records_written;
    d["threads"] = pyscale::threads_for(p.n, threads);
    return d;
}

py::array_t<double> state_record(const Array& lambda, const Array& w_star, const Array& w,
                                 double dim, double noise, double t) {
    auto p = view(lambda, w_star, dim, noise, 0);
    require_length("w", w, p.n);
    auto out = record_buffer(1);
    pyscale::BlockedReducer<6> red(p.n, 0);
    pyscale::write_record(out.mutable_data(), t, p, pyscale::moments(p, w.data(), red));
    return out.reshape({static_cast<py::ssize_t>(pyscale::kRecordWidth)});
}

// ---- stochastic engines (sgd.hpp, erm.hpp, philox.hpp) ---------------------------------

using SeedArray = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;

void require_writeable(const char* name, const py::array_t<double>& a) {
    if (!(a.flags() & py::array::c_style) || !a.writeable())
        throw std::invalid_argument(std::string(name) +
                                    " must be a writeable C-contiguous float64 array");
}

pyscale::SgdOptions sgd_options(int threads, long long progress_every, double divergence_factor,
                                int store, bool simd, bool common_streams = false) {
    pyscale::SgdOptions opt;
    opt.streams = common_streams ? pyscale::Streams::kCommon : pyscale::Streams::kIndependent;
    opt.threads = threads;
    opt.progress_every = progress_every;
    opt.divergence_factor = divergence_factor;
    opt.store = store;
    opt.simd = simd;
    return opt;
}

py::dict sgd_run(const Array& lambda, const Array& w_star, py::array_t<double> w, double dim,
                 double noise, double lr, int batch, std::uint64_t seed, long long step0,
                 long long step_end, const IndexArray& record_steps, int threads,
                 long long progress_every, double divergence_factor, int store, bool simd,
                 py::object callback, double window_sum, long long window_count,
                 bool common_streams) {
    auto p = view(lambda, w_star, dim, noise, threads);
    require_length("w", w, p.n);
    require_writeable("w", w);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    auto out = record_buffer(nrec);
    py::array_t<double> online(nrec);
    std::fill(online.mutable_data(), online.mutable_data() + nrec,
              std::numeric_limits<double>::quiet_NaN());
    auto opt = sgd_options(threads, progress_every, divergence_factor, store, simd, common_streams);
    PythonHook hook{callback};
    pyscale::SgdResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_sgd(p, w.mutable_data(), lr, batch, seed, step0, step_end,
                             record_steps.data(), nrec, out.mutable_data(),
                             online.mutable_data(), opt, std::ref(hook), window_sum,
                             window_count);
    }
    py::dict d;
    d["records"] = out;
    d["online_loss"] = online;
    d["window"] = py::make_tuple(r.window_sum, r.window_count);
    d["status"] = pyscale::status_name(r.status);
    d["signalled"] = hook.signalled;
    d["last_step"] = r.last_step;
    d["diverged_at_step"] = r.diverged_at_step;
    d["records_written"] = r.records_written;
    d["threads"] = pyscale::threads_for(p.n, threads);
    return d;
}

py::dict sgd_ensemble_run(const Array& lambda, const Array& w_star, py::array_t<double> W,
                          double dim, double noise, const SeedArray& seeds, double lr,
                          int batch, long long step_end, const IndexArray& record_steps,
                          int threads, long long progress_every, double divergence_factor,
                          int store, bool simd, py::object callback, bool common_streams) {
    auto p = view(lambda, w_star, dim, noise, 0);
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    if (W.ndim() != 2 || static_cast<std::size_t>(W.shape(0)) != R ||
        static_cast<std::size_t>(W.shape(1)) != p.n)
        throw std::invalid_argument("W must have shape (len(seeds), n)");
    require_writeable("W", W);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    py::array_t<double> out({R, nrec, static_cast<std::size_t>(pyscale::kRecordWidth)});
    py::array_t<double> online({R, nrec});
    std::fill(out.mutable_data(), out.mutable_data() + out.size(),
              std::numeric_limits<double>::quiet_NaN());
    std::fill(online.mutable_data(), online.mutable_data() + online.size(),
              std::numeric_limits<double>::quiet_NaN());
    auto opt = sgd_options(threads, progress_every, divergence_factor, store, simd, common_streams);
    PythonHook hook{callback};
    std::vector<pyscale::SgdResult> rs;
    {
        py::gil_scoped_release release;
        rs = pyscale::run_sgd_ensemble(p, W.mutable_data(), R, seeds.data(), lr, batch,
                                       step_end, record_steps.data(), nrec, out.mutable_data(),
                                       online.mutable_data(), threads, opt, std::ref(hook));
    }
    py::list status, last_step, diverged, written;
    for (const auto& r : rs) {
        status.append(pyscale::status_name(r.status));
        last_step.append(r.last_step);
        diverged.append(r.diverged_at_step);
        written.append(r.records_written);
    }
    py::dict d;
    d["records"] = out;
    d["online_loss"] = online;
    d["status"] = status;
    d["last_step"] = last_step;
    d["diverged_at_step"] = diverged;
    d["records_written"] = written;
    d["signalled"] = hook.signalled;
    return d;
}

void erm_data(const Array& lambda, const Array& w_star, double dim, double noise,
              std::uint64_t seed, py::array_t<double> X, py::array_t<double> y, int threads,
              bool simd) {
    auto p = view(lambda, w_star, dim, noise, threads);
    if (X.ndim() != 2 || static_cast<std::size_t>(X.shape(1)) != p.n)
        throw std::invalid_argument("X must have shape (n_samples, n)");
    const std::size_t N = static_cast<std::size_t>(X.shape(0));
    require_length("y", y, N);
    require_writeable("X", X);
    require_writeable("y", y);
    py::gil_scoped_release release;
    pyscale::erm_make_data(p, seed, N, X.mutable_data(), y.mutable_data(), threads, simd);
}

py::dict erm_run(const Array& lambda, const Array& w_star, const Array& X, const Array& y,
                 py::array_t<double> w, double dim, double noise, double lr, long long step0,
                 long long step_end, const IndexArray& record_steps, int threads,
                 long long progress_every, double divergence_factor, py::object callback) {
    auto p = view(lambda, w_star, dim, noise, threads);
    require_length("w", w, p.n);
    require_writeable("w", w);
    if (X.ndim() != 2 || static_cast<std::size_t>(X.shape(1)) != p.n)
        throw std::invalid_argument("X must have shape (n_samples, n)");
    const std::size_t N = static_cast<std::size_t>(X.shape(0));
    require_length("y", y, N);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    auto out = record_buffer(nrec);
    py::array_t<double> train(nrec);
    std::fill(train.mutable_data(), train.mutable_data() + nrec,
              std::numeric_limits<double>::quiet_NaN());
    pyscale::ErmOptions opt;
    opt.threads = threads;
    opt.progress_every = progress_every;
    opt.divergence_factor = divergence_factor;
    PythonHook hook{callback};
    pyscale::ErmResult r;
    {
        py::gil_scoped_release release;
        r = pyscale::run_erm(p, X.data(), y.data(), N, w.mutable_data(), lr, step0, step_end,
                             record_steps.data(), nrec, out.mutable_data(),
                             train.mutable_data(), opt, std::ref(hook));
    }
    py::dict d;
    d["records"] = out;
    d["train_loss"] = train;
    d["status"] = pyscale::status_name(r.status);
    d["signalled"] = hook.signalled;
    d["last_step"] = r.last_step;
    d["diverged_at_step"] = r.diverged_at_step;
    d["records_written"] = r.records_written;
    return d;
}

py::array_t<double> normal_fill(std::uint64_t seed, std::uint64_t sample, std::uint32_t domain,
                                std::size_t lo, std::size_t hi, bool simd) {
    if (hi < lo) throw std::invalid_argument("hi < lo");
    if (domain >= 128) throw std::invalid_argument("domain must be < 128");
    py::array_t<double> out(hi - lo);
    pyscale::NormalStream gen(seed, simd);
    gen.fill(sample, domain, lo, hi, out.mutable_data());
    return out;
}

// The bare sampling loop: `steps` times d Gaussians of the SGD feature stream, in the same
// blocks and threads as run_sgd's pass 1 but with nothing else; returns the sum of all
// draws (so none can be optimised away). The throughput limit of online SGD.
double normal_sample_loop(std::uint64_t seed, std::size_t d, long long steps, int threads,
                          bool simd) {
    py::gil_scoped_release release;
    return pyscale::normal_sample_loop(seed, d, steps, threads, simd);
}

// ==== mode chain and gamma sampler (mode_chain.hpp, gamma.hpp) ===========================
// Flat functions, dict results (to be converted to the typed style with the rest).

pyscale::ModeView mode_view(const Array& lambda, const Array& count, const Array& r, double dim,
                            double noise) {
    const std::size_t m = static_cast<std::size_t>(lambda.shape(0));
    require_length("count", count, m);
    require_length("r", r, m);
    return pyscale::make_mode_view(m, lambda.data(), count.data(), r.data(), dim, noise);
}

pyscale::ModeChainOptions chain_options(int threads, long long progress_every,
                                        double divergence_factor, bool simd,
                                        bool common_streams) {
    pyscale::ModeChainOptions opt;
    opt.threads = threads;
    opt.progress_every = progress_every;
    opt.divergence_factor = divergence_factor;
    opt.simd = simd;
    opt.streams = common_streams ? pyscale::Streams::kCommon : pyscale::Streams::kIndependent;
    return opt;
}

py::dict chain_run(const Array& lambda, const Array& count, const Array& r,
                   py::array_t<double> c1, py::array_t<double> c2, double dim, double noise,
                   double lr, int batch, std::uint64_t seed, long long step0,
                   long long step_end, const IndexArray& record_steps, int threads,
                   long long progress_every, double divergence_factor, bool simd,
                   bool common_streams, py::object callback, double window_sum,
                   long long window_count) {
    auto p = mode_view(lambda, count, r, dim, noise);
    require_length("c1", c1, p.m);
    require_length("c2", c2, p.m);
    require_writeable("c1", c1);
    require_writeable("c2", c2);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    auto out = record_buffer(nrec);
    py::array_t<double> online(nrec);
    std::fill(online.mutable_data(), online.mutable_data() + nrec,
              std::numeric_limits<double>::quiet_NaN());
    auto opt = chain_options(threads, progress_every, divergence_factor, simd, common_streams);
    PythonHook hook{callback};
    pyscale::SgdResult res;
    {
        py::gil_scoped_release release;
        res = pyscale::run_mode_chain(p, c1.mutable_data(), c2.mutable_data(), lr, batch, seed,
                                      step0, step_end, record_steps.data(), nrec,
                                      out.mutable_data(), online.mutable_data(), opt,
                                      std::ref(hook), window_sum, window_count);
    }
    py::dict d;
    d["records"] = out;
    d["online_loss"] = online;
    d["window"] = py::make_tuple(res.window_sum, res.window_count);
    d["status"] = pyscale::status_name(res.status);
    d["signalled"] = hook.signalled;
    d["last_step"] = res.last_step;
    d["diverged_at_step"] = res.diverged_at_step;
    d["records_written"] = res.records_written;
    d["threads"] = pyscale::chain_threads(p.m, threads);
    return d;
}

py::dict chain_ensemble_run(const Array& lambda, const Array& count, const Array& r,
                            py::array_t<double> C1, py::array_t<double> C2, double dim,
                            double noise, const SeedArray& seeds, double lr, int batch,
                            long long step_end, const IndexArray& record_steps, int threads,
                            long long progress_every, double divergence_factor, bool simd,
                            bool common_streams, py::object callback) {
    auto p = mode_view(lambda, count, r, dim, noise);
    const std::size_t R = static_cast<std::size_t>(seeds.size());
    for (const auto* a : {&C1, &C2})
        if (a->ndim() != 2 || static_cast<std::size_t>(a->shape(0)) != R ||
            static_cast<std::size_t>(a->shape(1)) != p.m)
            throw std::invalid_argument("C1 and C2 must have shape (len(seeds), modes)");
    require_writeable("C1", C1);
    require_writeable("C2", C2);
    const std::size_t nrec = static_cast<std::size_t>(record_steps.size());
    py::array_t<double> out({R, nrec, static_cast<std::size_t>(pyscale::kRecordWidth)});
    py::array_t<double> online({R, nrec});
    std::fill(out.mutable_data(), out.mutable_data() + out.size(),
              std::numeric_limits<double>::quiet_NaN());
    std::fill(online.mutable_data(), online.mutable_data() + online.size(),
              std::numeric_limits<double>::quiet_NaN());
    auto opt = chain_options(threads, progress_every, divergence_factor, simd, common_streams);
    PythonHook hook{callback};
    std::vector<pyscale::SgdResult> rs;
    {
        py::gil_scoped_release release;
        rs = pyscale::run_mode_chain_ensemble(p, C1.mutable_data(), C2.mutable_data(), R,
                                              seeds.data(), lr, batch, step_end,
                                              record_steps.data(), nrec, out.mutable_data(),
                                              online.mutable_data(), threads, opt,
                                              std::ref(hook));
    }
    py::list status, last_step, diverged, written;
    for (const auto& res : rs) {
        status.append(pyscale::status_name(res.status));
        last_step.append(res.last_step);
        diverged.append(res.diverged_at_step);
        written.append(res.records_written);
    }
    py::dict d;
    d["records"] = out;
    d["online_loss"] = online;
    d["status"] = status;
    d["last_step"] = last_step;
    d["diverged_at_step"] = diverged;
    d["records_written"] = written;
    d["signalled"] = hook.signalled;
    return d;
}

// Gamma(shape) draws (sample, lo .. hi-1) of GammaStream(seed): bulk (`fill`) or one by one
// (`draw`) — the same bits either way (testing).
py::array_t<double> gamma_draws(std::uint64_t seed, double shape, std::uint64_t sample,
                                std::size_t lo, std::size_t hi, bool bulk, bool simd) {
    if (hi < lo) throw std::invalid_argument("hi < lo");
    const pyscale::GammaShape g(shape);
    py::array_t<double> out(hi - lo);
    double* o = out.mutable_data();
    {
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
    }
    return out;
}
// The log acceptance bound x^2 / 2 + d (1 - v + log v) of a Marsaglia-Tsang attempt for
// shape a at the Gaussian x (testing: its accuracy at huge shapes).
double gamma_log_bound(double shape, double x) {
    const pyscale::GammaShape g(shape);
    const double y = g.c * x;
    if (!(y > -1.0)) throw std::invalid_argument("need 1 + c x > 0");
    return 0.5 * x * x + g.d * pyscale::detail::gamma_log_ratio(y);
}
// ==== end of the mode-chain block ========================================================

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyscale C++ core (header-only library under csrc/include/pyscale)";
    py::register_exception<pyscale::AllocationError>(m, "AllocationError", PyExc_MemoryError);
    m.attr("RECORD_FIELDS") = py::make_tuple("t", "s", "u", "s2", "u2", "loss", "mse");
#ifdef _OPENMP
    m.attr("HAS_OPENMP") = true;
#else
    m.attr("HAS_OPENMP") = false;
#endif
    m.def("flow_run", &flow_run, py::arg("lam"), py::arg("w_star"), py::arg("w"), py::arg("dim"),
          py::arg("noise"), py::arg("t0"), py::arg("t_records"), py::arg("rtol"),
          py::arg("atol"), py::arg("h0"), py::arg("hmax"), py::arg("max_steps"),
          py::arg("threads"), py::arg("progress_every"), py::arg("callback"),
          py::arg("scheme") = "rodas4");
    m.def("gd_run", &gd_run, py::arg("lam"), py::arg("w_star"), py::arg("w"), py::arg("dim"),
          py::arg("noise"), py::arg("lr"), py::arg("step0"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("threads"), py::arg("progress_every"),
          py::arg("divergence_factor"), py::arg("callback"));
    m.def("state_record", &state_record, py::arg("lam"), py::arg("w_star"), py::arg("w"),
          py::arg("dim"), py::arg("noise"), py::arg("t") = 0.0);
    m.def(
        "flow_workspace_bytes",
        [](std::size_t n) { return pyscale::FlowWorkspace::bytes_needed(n); }, py::arg("n"));
    m.def(
        "flow_workspace_check",
        [](std::size_t n) {
            pyscale::FlowWorkspace ws(n);
            return pyscale::FlowWorkspace::bytes_needed(ws.size());
        },
        py::arg("n"), "Allocate (and free) a flow workspace for n coordinates.");
    // stochastic engines
    m.attr("HAS_AVX2") = pyscale::cpu_has_avx2();
    m.def("sgd_run", &sgd_run, py::arg("lam"), py::arg("w_star"), py::arg("w"), py::arg("dim"),
          py::arg("noise"), py::arg("lr"), py::arg("batch"), py::arg("seed"), py::arg("step0"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("threads"),
          py::arg("progress_every"), py::arg("divergence_factor"), py::arg("store"),
          py::arg("simd"), py::arg("callback"), py::arg("window_sum") = 0.0,
          py::arg("window_count") = 0, py::arg("common_streams") = false);
    m.def("sgd_ensemble_run", &sgd_ensemble_run, py::arg("lam"), py::arg("w_star"),
          py::arg("W"), py::arg("dim"), py::arg("noise"), py::arg("seeds"), py::arg("lr"),
          py::arg("batch"), py::arg("step_end"), py::arg("record_steps"), py::arg("threads"),
          py::arg("progress_every"), py::arg("divergence_factor"), py::arg("store"),
          py::arg("simd"), py::arg("callback"), py::arg("common_streams") = false);
    m.def("sgd_workspace_bytes",
          [](std::size_t n, int batch) { return pyscale::sgd_workspace_bytes(n, batch); },
          py::arg("n"), py::arg("batch"));
    m.def("erm_data", &erm_data, py::arg("lam"), py::arg("w_star"), py::arg("dim"),
          py::arg("noise"), py::arg("seed"), py::arg("X"), py::arg("y"), py::arg("threads"),
          py::arg("simd") = true);
    m.def("erm_run", &erm_run, py::arg("lam"), py::arg("w_star"), py::arg("X"), py::arg("y"),
          py::arg("w"), py::arg("dim"), py::arg("noise"), py::arg("lr"), py::arg("step0"),
          py::arg("step_end"), py::arg("record_steps"), py::arg("threads"),
          py::arg("progress_every"), py::arg("divergence_factor"), py::arg("callback"));
    m.def("erm_data_bytes", &pyscale::erm_data_bytes, py::arg("n_samples"), py::arg("n"));
    m.def("normal_fill", &normal_fill, py::arg("seed"), py::arg("sample"), py::arg("domain"),
          py::arg("lo"), py::arg("hi"), py::arg("simd") = true);
    m.def("normal_sample_loop", &normal_sample_loop, py::arg("seed"), py::arg("d"),
          py::arg("steps"), py::arg("threads") = 1, py::arg("simd") = true);
    m.def("philox4x32",
          [](std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
              return pyscale::philox4x32<10>(c, k);
          },
          py::arg("counter"), py::arg("key"));
    m.def("philox4x64",
          [](std::array<std::uint64_t, 4> c, std::array<std::uint64_t, 2> k) {
              return pyscale::philox4x64<10>(c, k);
          },
          py::arg("counter"), py::arg("key"));
    m.def("philox4x32_words",
          [](std::array<std::uint32_t, 2> key, std::uint32_t g0, std::uint32_t c1,
             std::uint32_t c2, std::uint32_t c3, std::size_t m_, bool simd) {
              py::array_t<std::uint64_t> out(2 * m_);
              pyscale::philox4x32_words(key, g0, c1, c2, c3, m_, out.mutable_data(), simd);
              return out;
          },
          py::arg("key"), py::arg("g0"), py::arg("c1"), py::arg("c2"), py::arg("c3"),
          py::arg("m"), py::arg("simd") = true);

    // ==== mode chain and gamma sampler ====
    m.def("chain_run", &chain_run, py::arg("lam"), py::arg("count"), py::arg("r"),
          py::arg("c1"), py::arg("c2"), py::arg("dim"), py::arg("noise"), py::arg("lr"),
          py::arg("batch"), py::arg("seed"), py::arg("step0"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("threads"), py::arg("progress_every"),
          py::arg("divergence_factor"), py::arg("simd"), py::arg("common_streams"),
          py::arg("callback"), py::arg("window_sum") = 0.0, py::arg("window_count") = 0);
    m.def("chain_ensemble_run", &chain_ensemble_run, py::arg("lam"), py::arg("count"),
          py::arg("r"), py::arg("C1"), py::arg("C2"), py::arg("dim"), py::arg("noise"),
          py::arg("seeds"), py::arg("lr"), py::arg("batch"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("threads"), py::arg("progress_every"),
          py::arg("divergence_factor"), py::arg("simd"), py::arg("common_streams"),
          py::arg("callback"));
    m.def("chain_workspace_bytes", &pyscale::mode_chain_workspace_bytes, py::arg("modes"),
          py::arg("batch"));
    m.def(
        "stream_seed",
        [](std::uint64_t seed, double dim, bool common) {
            return pyscale::stream_seed(
                seed, dim, common ? pyscale::Streams::kCommon : pyscale::Streams::kIndependent);
        },
        py::arg("seed"), py::arg("dim"), py::arg("common"));
    py::module_ testing = m.def_submodule("testing", "Entry points for the tests");
    testing.def("gamma_draws", &gamma_draws, py::arg("seed"), py::arg("shape"), py::arg("sample"),
          py::arg("lo"), py::arg("hi"), py::arg("bulk") = true, py::arg("simd") = true);
    testing.def("gamma_log_bound", &gamma_log_bound, py::arg("shape"), py::arg("x"));
    // ==== end of the mode-chain block ====
}
