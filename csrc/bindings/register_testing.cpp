// _core.testing: generator and workspace internals (random/, flow/integrator.hpp) that the
// tests and benchmarks probe.
#include <array>

#include "bindings.hpp"

namespace pyscale_bind {
namespace {

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
    const pyscale::GammaShapeTable shapes(kc, g);
    for (std::size_t j = lo; j < hi;) {
        const std::size_t je = std::min(hi, j + kc);
        if (bulk)
            gen.fill(shapes, 0, sample, j, je, o + (j - lo));
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

void register_normal(py::module_& t) {
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
}

void register_philox(py::module_& t) {
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
            // simd: the widest vector path this machine has (AVX-512 or AVX2)
            pyscale::philox4x32_words(key, g0, c1, c2, c3, count, out.mutable_data(), simd,
                                      simd && pyscale::cpu_has_avx2() &&
                                          pyscale::cpu_has_avx512());
            return out;
        },
        py::arg("key"), py::arg("g0"), py::arg("c1"), py::arg("c2"), py::arg("c3"),
        py::arg("count"), py::arg("simd") = true);
}

}  // namespace

void register_testing(py::module_& t) {
    register_normal(t);
    register_philox(t);
    t.def(
        "flow_workspace_check",
        [](std::size_t n) {
            pyscale::FlowWorkspace ws(n);
            return pyscale::FlowWorkspace::bytes_needed(ws.size());
        },
        py::arg("n"), "Allocate (and free) a flow workspace for n coordinates.");
    t.def("gamma_draws", &gamma_draws, py::arg("seed"), py::arg("shape"), py::arg("sample"),
          py::arg("lo"), py::arg("hi"), py::arg("bulk") = true, py::arg("simd") = true);
    t.def("gamma_log_bound", &gamma_log_bound, py::arg("shape"), py::arg("x"));
}

}  // namespace pyscale_bind
