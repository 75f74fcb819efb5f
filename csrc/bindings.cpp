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
                  long long progress_every, py::object callback) {
    auto p = view(lambda, w_star, dim, noise, threads);
    require_length("w", w, p.n);
    if (!(w.flags() & py::array::c_style) || !w.writeable())
        throw std::invalid_argument("w must be a writeable C-contiguous float64 array");
    const std::size_t nrec = static_cast<std::size_t>(t_records.size());
    auto out = record_buffer(nrec);
    pyscale::FlowOptions opt;
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
        pyscale::FlowWorkspace ws(p.n);
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
          py::arg("threads"), py::arg("progress_every"), py::arg("callback"));
    m.def("gd_run", &gd_run, py::arg("lam"), py::arg("w_star"), py::arg("w"), py::arg("dim"),
          py::arg("noise"), py::arg("lr"), py::arg("step0"), py::arg("step_end"),
          py::arg("record_steps"), py::arg("threads"), py::arg("progress_every"),
          py::arg("divergence_factor"), py::arg("callback"));
    m.def("state_record", &state_record, py::arg("lam"), py::arg("w_star"), py::arg("w"),
          py::arg("dim"), py::arg("noise"), py::arg("t") = 0.0);
    m.def("flow_workspace_bytes", &pyscale::FlowWorkspace::bytes_needed, py::arg("n"));
    m.def(
        "flow_workspace_check",
        [](std::size_t n) {
            pyscale::FlowWorkspace ws(n);
            return pyscale::FlowWorkspace::bytes_needed(ws.size());
        },
        py::arg("n"), "Allocate (and free) a flow workspace for n coordinates.");
}
