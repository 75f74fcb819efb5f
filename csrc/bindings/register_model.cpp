// _core.model: the problem the engines read, the link pairs, the record schema and the
// statistics of a state (model/problem.hpp, model/link_pair.hpp, model/stats.hpp).
#include <tuple>

#include "bindings.hpp"

namespace pyscale_bind {
namespace {

void register_records(py::module_& m) {
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
    py::enum_<pyscale::MseKind>(m, "MseKind", "What a pair's records hold in the mse column.")
        .value("sign_invariant", pyscale::MseKind::kSignInvariant)
        .value("plain", pyscale::MseKind::kPlain)
        .value("undefined", pyscale::MseKind::kUndefined);
}

// A pair's class with its primitives and population hooks as methods (link_pair.hpp), for
// tests and for the Python layer's checks; the engines take the pair object itself. The
// caller adds the constructors and the repr, which differ between pairs.
template <class Pair>
py::class_<Pair> register_pair(py::module_& m, const char* name, const char* doc) {
    py::class_<Pair> cls(m, name, doc);
    cls.def(
            "loss_derivatives",
            [](const Pair& p, double s, double u, double s_star) {
                const pyscale::LossDerivatives d = p.loss_derivatives(s, u, s_star);
                return std::make_tuple(d.l, d.ls, d.lu, d.lss, d.lsu, d.luu);
            },
            py::arg("s"), py::arg("u"), py::arg("s_star"),
            "(l, l_s, l_u, l_ss, l_su, l_uu) at (s, u), label noise excluded.")
        .def(
            "loss",
            [](const Pair& p, double s, double u, double s_star) { return p.loss(s, u, s_star); },
            py::arg("s"), py::arg("u"), py::arg("s_star"), "l(s, u), label noise excluded.")
        .def(
            "flow_coefficients",
            [](const Pair& p, double s, double u, double s_star) {
                const pyscale::FlowCoefficients f = p.flow_coefficients(s, u, s_star);
                return std::make_tuple(f.c0, f.c1);
            },
            py::arg("s"), py::arg("u"), py::arg("s_star"),
            "(c0, c1): -grad L = c0 Q w + c1 Q w*.")
        .def(
            "jacobian_coupling",
            [](const Pair& p, double s, double u, double s_star) {
                const pyscale::Coupling c = p.jacobian_coupling(s, u, s_star);
                return std::make_tuple(c.c11, c.c12, c.c22);
            },
            py::arg("s"), py::arg("u"), py::arg("s_star"),
            "(C11, C12, C22) of the flow's Jacobian c0 Q + [Qw, Qw*] C [Qw, Qw*]^T.")
        .def("student", [](const Pair& p, double z) { return p.student(z); }, py::arg("z"))
        .def("student_prime", [](const Pair& p, double z) { return p.student_prime(z); },
             py::arg("z"))
        .def("teacher", [](const Pair& p, double z) { return p.teacher(z); }, py::arg("z"))
        .def_property_readonly("mse_kind", [](const Pair& p) { return p.mse_kind(); });
    return cls;
}

template <class Pair>
void register_statistics(py::module_& m) {
    m.def(
        "statistics",
        [](const CoreProblem& problem, const Pair& pair, const Array& w, double t) {
            require_length("w", w, problem.n());
            auto out = nan_array({pyscale::kRecordWidth});
            pyscale::BlockedReducer<6> red(problem.n(), 1);
            const auto& p = problem.view();
            pyscale::write_record(out.mutable_data(), t, p, pair,
                                  pyscale::moments(p, w.data(), red));
            return out;
        },
        py::arg("problem"), py::arg("pair"), py::arg("w"), py::arg("t") = 0.0,
        "One record row (t, s, u, s2, u2, loss, mse) of the state w.");
}

}  // namespace

void register_model(py::module_& m) {
    register_records(m);
    py::class_<CoreProblem>(m, "CoreProblem",
                            "The arrays an engine reads: eigenvalues of Q, w*, true d, noise.")
        .def(py::init<Array, Array, double, double>(), py::arg("eigenvalues"),
             py::arg("w_star"), py::arg("dim"), py::arg("noise"))
        .def_property_readonly("n", &CoreProblem::n)
        .def_property_readonly("s_star", [](const CoreProblem& p) { return p.view().s_star; });
    register_pair<pyscale::SquarePair>(m, "SquarePair", "Phase retrieval: student and teacher z^2.")
        .def(py::init<>())
        .def("__repr__", [](const pyscale::SquarePair&) { return "SquarePair()"; });
    for_each_pair([&](auto tag) { register_statistics<typename decltype(tag)::type>(m); });
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

}  // namespace pyscale_bind
