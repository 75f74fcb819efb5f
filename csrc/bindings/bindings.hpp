// What the binding's translation units share (csrc/bindings/*.cpp; see module.cpp): the
// array types, input checks, the problem the engines read, the progress hook, the run
// results of the step engines, and the list of link pairs the engines are bound for.
// Marshalling only: no numerics here (csrc/include/pyscale/).
#pragma once

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pyscale/pyscale.hpp>

namespace pyscale_bind {

namespace py = pybind11;
using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<long long, py::array::c_style | py::array::forcecast>;
using SeedArray = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;
using State = py::array_t<double, py::array::c_style>;  // written in place: no conversion

// ---- the link pairs ---------------------------------------------------------------------
// Every engine entry point is registered once per pair type in BoundPairs (pybind11 then
// picks the overload by the pair argument's type), so binding a new pair for every engine
// is one entry here and its class in register_model.cpp.
template <class... P>
struct PairList {};
// SquarePair first: phase retrieval keeps its own closed forms (and bits); LinkPair serves
// every other student/teacher pair (model/link.hpp).
using BoundPairs = PairList<pyscale::SquarePair, pyscale::LinkPair>;

template <class P>
struct PairTag {
    using type = P;
};

// f(PairTag<P>{}) for each pair P in BoundPairs, in order.
template <class F, class... P>
void for_each_pair_in(PairList<P...>, F&& f) {
    (f(PairTag<P>{}), ...);
}
template <class F>
void for_each_pair(F&& f) {
    for_each_pair_in(BoundPairs{}, std::forward<F>(f));
}

// ---- input checks -----------------------------------------------------------------------

inline void require_length(const char* name, const py::array& a, std::size_t n) {
    if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n)
        throw std::invalid_argument(std::string(name) + " must be 1-D of length " +
                                    std::to_string(n));
}

inline void require_writeable(const char* name, const State& a) {
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

inline void require_state(const CoreProblem& p, const State& w) {
    require_length("w", w, p.n());
    require_writeable("w", w);
}

// ---- progress and buffers ---------------------------------------------------------------

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

inline py::array_t<double> nan_array(std::vector<py::ssize_t> shape) {
    py::array_t<double> out(shape);
    std::fill(out.mutable_data(), out.mutable_data() + out.size(),
              std::numeric_limits<double>::quiet_NaN());
    return out;
}

inline py::array_t<double> record_buffer(std::size_t rows) {
    return nan_array({static_cast<py::ssize_t>(rows), pyscale::kRecordWidth});
}

// ---- results of the step engines (GD, SGD, ERM, the mode chain) -------------------------

// Where a step engine stands: the step index of w, and the online-loss window still open
// (steps after the last record), so that a resumed run's online losses equal an
// uninterrupted run's.
struct StepState {
    long long step = 0;
    double window_sum = 0.0;
    long long window_count = 0;
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

template <class Result>
void fill_step_run(StepRun& run, const Result& r, const PythonHook& hook) {
    run.status = r.status;
    run.signalled = hook.signalled;
    run.state.step = r.last_step;
    run.diverged_at_step = r.diverged_at_step;
    run.records_written = r.records_written;
}

// An ensemble's buffers: records (R, n_records, kRecordWidth) and per-record losses.
inline EnsembleRun ensemble_buffers(std::size_t members, std::size_t n_records) {
    EnsembleRun run;
    run.records = nan_array({static_cast<py::ssize_t>(members),
                             static_cast<py::ssize_t>(n_records), pyscale::kRecordWidth});
    run.per_record =
        nan_array({static_cast<py::ssize_t>(members), static_cast<py::ssize_t>(n_records)});
    return run;
}

inline void fill_ensemble_run(EnsembleRun& run, const std::vector<pyscale::SgdResult>& rs,
                              const PythonHook& hook) {
    for (const auto& r : rs) {
        run.status.push_back(r.status);
        run.last_step.push_back(r.last_step);
        run.diverged_at_step.push_back(r.diverged_at_step);
        run.records_written.push_back(r.records_written);
    }
    run.signalled = hook.signalled;
}

// A step engine's run: the core call `go(records, per_record, hook)` with the GIL released,
// into a StepRun holding `records`, the per-record losses (`per_record`: online SGD, ERM,
// the mode chains; none for GD) and, for the online runs (SgdResult), the online-loss window
// to resume from. The caller sets `threads`.
template <class Result, class Go>
StepRun step_run(py::array_t<double> records, bool per_record, py::object callback, Go&& go) {
    StepRun run;
    const py::ssize_t rows = records.ndim() > 0 ? records.shape(0) : 0;
    run.records = std::move(records);
    run.per_record = per_record ? nan_array({rows}) : py::array_t<double>(0);
    PythonHook hook{std::move(callback)};
    Result r;
    {
        py::gil_scoped_release release;
        r = go(run.records.mutable_data(), per_record ? run.per_record.mutable_data() : nullptr,
               hook);
    }
    fill_step_run(run, r, hook);
    if constexpr (std::is_same_v<Result, pyscale::SgdResult>) {
        run.state.window_sum = r.window_sum;
        run.state.window_count = r.window_count;
    }
    return run;
}

// An ensemble's run: the core call `go(records, per_record, hook)` (returning the members'
// SgdResults) with the GIL released, into the buffers of `run`.
template <class Go>
EnsembleRun ensemble_run(EnsembleRun run, py::object callback, Go&& go) {
    PythonHook hook{std::move(callback)};
    std::vector<pyscale::SgdResult> rs;
    {
        py::gil_scoped_release release;
        rs = go(run.records.mutable_data(), run.per_record.mutable_data(), hook);
    }
    fill_ensemble_run(run, rs, hook);
    return run;
}

// The mode chains' options (single-index and network): SgdOptions less the sample storage,
// which does not apply to a chain.
inline pyscale::ModeChainOptions chain_options(const pyscale::SgdOptions& o) {
    pyscale::ModeChainOptions opt;
    opt.threads = o.threads;
    opt.progress_every = o.progress_every;
    opt.divergence_factor = o.divergence_factor;
    opt.simd = o.simd;
    opt.streams = o.streams;
    return opt;
}

// ---- results of the flows (single-index and network) -------------------------------------

struct FlowState {
    double t = 0.0;
    double h_next = 0.0;
};

struct FlowRun {
    py::array_t<double> records;
    pyscale::RunStatus status = pyscale::RunStatus::kCompleted;
    bool signalled = false;
    FlowState state;
    long long steps = 0, rejected = 0, rhs_evals = 0, passes = 0, exponential_steps = 0;
    pyscale::FlowMethod scheme = pyscale::FlowMethod::kRodas4;  // the one used (auto resolved)
    std::size_t records_written = 0;
    double atol = 0.0;
    int threads = 1;
    py::array_t<double> dense;      // (accepted steps, kDenseWidth): the dense output
    bool stopped_by_event = false;  // the observer stopped the run at state.t
};

inline void fill_flow_run(FlowRun& run, const pyscale::FlowResult& r, const PythonHook& hook) {
    run.stopped_by_event = r.stopped_by_event;
    run.status = r.status;
    run.signalled = hook.signalled;
    run.state = FlowState{r.t, r.h_next};
    run.steps = r.steps;
    run.rejected = r.rejected;
    run.rhs_evals = r.rhs_evals;
    run.passes = r.passes;
    run.exponential_steps = r.exponential_steps;
    run.scheme = r.method;
    run.records_written = r.records_written;
}

// ---- one register_* per area (register_<area>.cpp), called in this order by module.cpp ----

void register_model(py::module_& m);
void register_flow(py::module_& m);
void register_steps(py::module_& m);
void register_chain(py::module_& m);
void register_network(py::module_& m);
void register_testing(py::module_& m);

}  // namespace pyscale_bind
