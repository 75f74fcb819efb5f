// A C entry point to pyscale::LinkPair for tests/test_link_cpp.py, which loads it with ctypes
// to hold the C++ pair against its numba twin (user links included: their numba cfuncs'
// addresses arrive here as C function pointers, as they will through the binding).
//
// A link is described by [kind, even, width, n_functions, address..., n_coefficients,
// coefficient...]; the spec is the student's description followed by the teacher's.
// For each point (s, u, s*) ten numbers come back: l, ls, lu, lss, lsu, luu of
// loss_derivatives, loss(), and l, ls, lu of loss_gradient.
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

#include <pyscale/model/link.hpp>

namespace {

pyscale::Link read_link(const double*& p) {
    const int kind = static_cast<int>(*p++);
    const bool even = *p++ != 0.0;
    const double width = *p++;
    pyscale::UserFunctions f;
    const int functions = static_cast<int>(*p++);
    for (int i = 0; i < functions; ++i)
        f.d[i] = reinterpret_cast<pyscale::RealFunction>(static_cast<std::uintptr_t>(*p++));
    const int count = static_cast<int>(*p++);
    std::vector<double> c(p, p + count);
    p += count;
    switch (static_cast<pyscale::LinkKind>(kind)) {
        case pyscale::LinkKind::kSquare: return pyscale::Link::square();
        case pyscale::LinkKind::kAbs: return pyscale::Link::abs();
        case pyscale::LinkKind::kRelu: return pyscale::Link::relu();
        case pyscale::LinkKind::kErf: return pyscale::Link::erf();
        case pyscale::LinkKind::kPolynomial: return pyscale::Link::polynomial(c);
        case pyscale::LinkKind::kHermite: return pyscale::Link::hermite(c);
        case pyscale::LinkKind::kTanh: return pyscale::Link::tanh();
        case pyscale::LinkKind::kUser: return pyscale::Link::user(f, even, width);
    }
    throw std::invalid_argument("unknown link kind");
}

}  // namespace

extern "C" int pyscale_link_eval(const double* spec, const double* points, int n, double* out,
                                 char* error, int error_size) {
    try {
        const double* p = spec;
        const pyscale::Link student = read_link(p);
        const pyscale::Link teacher = read_link(p);
        const pyscale::LinkPair pair(student, teacher);
        for (int i = 0; i < n; ++i) {
            const double s = points[3 * i], u = points[3 * i + 1], s_star = points[3 * i + 2];
            const pyscale::LossDerivatives d = pair.loss_derivatives(s, u, s_star);
            const pyscale::LossDerivatives g = pair.loss_gradient(s, u, s_star);
            const double row[10] = {d.l,  d.ls, d.lu, d.lss, d.lsu, d.luu,
                                    pair.loss(s, u, s_star), g.l, g.ls, g.lu};
            std::memcpy(out + 10 * i, row, sizeof row);
        }
        return 0;
    } catch (const std::exception& e) {
        std::strncpy(error, e.what(), static_cast<std::size_t>(error_size - 1));
        error[error_size - 1] = '\0';
        return 1;
    }
}
