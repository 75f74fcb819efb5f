// _core.model: the problem the engines read, the link pairs, the record schema and the
// statistics of a state (model/problem.hpp, model/link_pair.hpp, model/stats.hpp).
#include <cstdint>
#include <stdexcept>
#include <tuple>
#include <vector>

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

// The core's Link (model/link_function.hpp), built from a description: the Python Link
// (pyscale/model/links.py) is the user's; this is what the LinkPair engines read. A user
// link's functions are C function pointers (numba cfunc addresses); `owner` is the Python
// object that keeps them compiled, held alive for as long as this Link (and any LinkPair
// made from it) exists.
void register_link(py::module_& m) {
    using pyscale::Link;
    py::class_<Link>(m, "Link", "A link function sigma, as the core's link pairs read it.")
        .def_static("square", &Link::square, "sigma(z) = z^2.")
        .def_static("abs", &Link::abs, "sigma(z) = |z|.")
        .def_static("relu", &Link::relu, "sigma(z) = max(z, 0).")
        .def_static("erf", &Link::erf, "sigma(z) = erf(z / sqrt 2).")
        .def_static("tanh", &Link::tanh, "sigma(z) = tanh z (kernels by quadrature).")
        .def_static("polynomial", &Link::polynomial, py::arg("coefficients"),
                    "sigma(z) = sum_k a_k z^k.")
        .def_static("hermite", &Link::hermite, py::arg("coefficients"),
                    "sigma(z) = sum_k c_k He_k(z).")
        .def_static(
            "user",
            [](const std::vector<std::uintptr_t>& addresses, bool even, double analytic_width,
               const py::object&) {
                if (addresses.size() < 2 || addresses.size() > 5)
                    throw std::invalid_argument(
                        "a user link needs 2 to 5 function addresses (sigma, sigma', ...)");
                pyscale::UserFunctions f;
                for (std::size_t k = 0; k < addresses.size(); ++k)
                    f.d[k] = reinterpret_cast<pyscale::RealFunction>(addresses[k]);
                return Link::user(f, even, analytic_width);
            },
            py::arg("addresses"), py::arg("even"), py::arg("analytic_width"), py::arg("owner"),
            py::keep_alive<0, 4>(),
            "A user link from C function addresses sigma, sigma', [sigma'', ...] (0: absent); "
            "owner keeps them valid.")
        .def_property_readonly("name", &Link::name)
        .def_property_readonly("even", &Link::even)
        .def_property_readonly("kinked", &Link::kinked)
        .def_property_readonly("quadrature", &Link::quadrature)
        .def("__call__", [](const Link& l, double z) { return l(z); }, py::arg("z"))
        .def("__repr__", [](const Link& l) { return "Link(" + l.name() + ")"; });
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
    register_link(m);
    register_pair<pyscale::LinkPair>(m, "LinkPair",
                                     "A student link sigma and a teacher link tau "
                                     "(model/link.hpp).")
        .def(py::init<const pyscale::Link&, const pyscale::Link&>(), py::arg("student"),
             py::arg("teacher"), py::keep_alive<1, 2>(), py::keep_alive<1, 3>())
        .def_property_readonly("student_link", &pyscale::LinkPair::student_link)
        .def_property_readonly("teacher_link", &pyscale::LinkPair::teacher_link)
        .def("__repr__", [](const pyscale::LinkPair& p) {
            return "LinkPair(" + p.student_link().name() + ", " + p.teacher_link().name() + ")";
        });
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
