// Exact Gamma(shape) and chi-square(k) draws from the counter-based generator (philox.hpp),
// as a pure function of (seed, sample, j): the mode chain draws one chi-square per mode
// per step (sample = step, j = mode; model page: Mode chain), so a draw never depends on
// the order in which other draws are made, nor on the thread count.
//
// Algorithm (Marsaglia & Tsang, "A simple method for generating gamma variables", ACM TOMS
// 2000). For shape a >= 1, with d = a - 1/3 and c = 1 / sqrt(9 d): draw x ~ N(0, 1) and
// U ~ U(0, 1); with v = (1 + c x)^3 > 0 accept X = d v if
//     U < 1 - 0.0331 x^4                        (the squeeze: no logarithm, ~98% of draws)
//  or log U < x^2 / 2 + d (1 - v + log v),
// otherwise try again (log U <= U - 1 spares the logarithm most of the time). For a < 1
// the boost Gamma(a) = Gamma(a + 1) * U'^(1 / a).
// chi-square(k) = 2 Gamma(k / 2) (k = 1: shape 1/2, through the boost).
//
// Large shapes. At a = 5e11 (k = 10^12) the textbook form d - d v + d log v subtracts
// numbers of size 5e11 whose difference is O(1): an absolute error ~1e-4 in the acceptance
// test. Here, with y = c x (|y| ~ 1e-6 there),
//     1 - v + log v = 3 (log1p(y) - y) - 3 y^2 - y^3,
// all terms of one sign and size y^2, with log1p(y) - y from its series for small |y|: the
// product with d is then accurate to rounding at every shape (tests/test_gamma.py checks
// k from 1 to 10^12).
//
// Counters. The first attempt of draw (sample, j) uses the Gaussian z(sample, kGammaNormal,
// j) of NormalStream and the 64-bit word j of the uniform domain kGammaUniform (the same
// counter layout as NormalStream's feature words, so `fill` can make them eight at a time
// with AVX2), and for a < 1 the word j of kGammaBoost. A rejected first attempt continues
// on a private stream of that draw:
//     ctr = (j mod 2^32, sample mod 2^32, sample >> 32, 2^30 | (j >> 32) << 16 | m),
// m = 0, 1, ... (two counters per attempt), a family NormalStream never uses (its counters
// have bit 30 clear). Limits: j < 2^40 (as NormalStream); `fill` needs j < 2^33.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "normal.hpp"
#include "philox.hpp"

namespace pyscale {

constexpr std::uint32_t kGammaNormalDomain = 5;   // x of the first attempt
constexpr std::uint32_t kGammaUniformDomain = 6;  // U of the first attempt
constexpr std::uint32_t kGammaBoostDomain = 7;    // U' of the shape < 1 boost

// Constants of one shape, computed once (the chain's shapes are fixed per mode).
struct GammaShape {
    double shape = 1.0;      // a > 0
    double d = 2.0 / 3.0;    // a' - 1/3, a' = a (a >= 1) or a + 1 (boost)
    double c = 0.0;          // 1 / sqrt(9 d)
    double inv_shape = 1.0;  // 1 / a, for the boost
    bool boost = false;      // a < 1

    GammaShape() : GammaShape(1.0) {}
    explicit GammaShape(double a) : shape(a) {
        if (!(a > 0.0) || !std::isfinite(a))
            throw std::invalid_argument("gamma shape must be finite and > 0");
        boost = a < 1.0;
        d = (boost ? a + 1.0 : a) - 1.0 / 3.0;
        c = 1.0 / std::sqrt(9.0 * d);
        inv_shape = 1.0 / a;
    }
    static GammaShape chi_square(double k) { return GammaShape(0.5 * k); }
};

namespace detail {

// Uniform on the open interval (0, 1) from the top 53 bits: log U and U^(1/a) stay finite.
inline double uniform_open(std::uint64_t r) {
    return (static_cast<double>(r >> 11) + 0.5) * 0x1.0p-53;
}

// log1p(y) - y without cancellation: the series -y^2/2 + y^3/3 - ... for |y| < 2^-6 (the
// first omitted term, y^11/11, is < 1e-15 of y^2/2 there), log1p otherwise.
inline double log1p_minus(double y) {
    if (std::fabs(y) >= 0x1.0p-6) return std::log1p(y) - y;
    // y^2 (-1/2 + y/3 - y^2/4 + ... - y^8/10) in Horner form, smallest terms first; the
    // coefficients spelled out (a loop computing (-1)^(k+1)/k costs a division per term).
    const double h =
        -1.0 / 2 + y * (1.0 / 3 + y * (-1.0 / 4 + y * (1.0 / 5 + y * (-1.0 / 6 + y * (
            1.0 / 7 + y * (-1.0 / 8 + y * (1.0 / 9 + y * (-1.0 / 10))))))));
    return y * y * h;
}

// 1 - v + log v with v = (1 + y)^3, in a form without cancellation (see the header).
inline double gamma_log_ratio(double y) {
    return 3.0 * log1p_minus(y) - 3.0 * y * y - y * y * y;
}

// One Marsaglia-Tsang attempt for Gamma(d + 1/3) from x ~ N(0, 1), U ~ U(0, 1): the draw,
// or a negative number if rejected.
inline double gamma_attempt(const GammaShape& g, double x, double u) {
    const double y = g.c * x;
    if (!(y > -1.0)) return -1.0;  // v = (1 + y)^3 must be positive
    const double t = 1.0 + y;
    const double v = t * t * t;
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return g.d * v;
    const double bound = 0.5 * x2 + g.d * gamma_log_ratio(y);
    // log u <= u - 1 (with a gap >= (1 - u)^2 / 2, far above rounding): a second squeeze
    // that leaves the logarithm to a sliver of width ~bound^2 / 2 at large shapes.
    if (u - 1.0 < bound || std::log(u) < bound) return g.d * v;
    return -1.0;
}

}  // namespace detail

// Gamma and chi-square draws keyed by (seed, sample, j); see the header comment.
class GammaStream {
public:
    explicit GammaStream(std::uint64_t seed, bool simd = true)
        : normals_(seed, simd),
          key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)} {}

    bool simd() const { return normals_.simd(); }

    // Gamma(g.shape) draw (sample, j).
    double draw(const GammaShape& g, std::uint64_t sample, std::uint64_t j) const {
        const double x = normals_.one(sample, kGammaNormalDomain, j);
        const double u = detail::uniform_open(word(sample, kGammaUniformDomain, j));
        return finish(g, detail::gamma_attempt(g, x, u), sample, j);
    }

    // out[i] = draw(shapes[i], sample, lo + i) for i < hi - lo: the same bits as `draw`,
    // with the first attempt's Gaussians and uniforms made in bulk (AVX2 where available).
    // hi - lo <= NormalStream::kChunk.
    void fill(const GammaShape* shapes, std::uint64_t sample, std::size_t lo, std::size_t hi,
              double* out) const {
        if (hi < lo || hi - lo > NormalStream::kChunk || hi > (std::size_t(1) << 33))
            throw std::invalid_argument("GammaStream::fill: at most kChunk draws, j < 2^33");
        double x[NormalStream::kChunk];
        std::uint64_t words[NormalStream::kChunk + 2];
        normals_.fill(sample, kGammaNormalDomain, lo, hi, x);
        const std::size_t g_lo = lo / 2, g_hi = (hi + 1) / 2;
        philox4x32_words(key_, static_cast<std::uint32_t>(g_lo),
                         static_cast<std::uint32_t>(sample),
                         static_cast<std::uint32_t>(sample >> 32),
                         kGammaUniformDomain | static_cast<std::uint32_t>((g_lo >> 32) << 8),
                         g_hi - g_lo, words, normals_.simd());
        const std::uint64_t* wj = words - 2 * g_lo;  // wj[j]: word of draw j
        const std::size_t n = hi - lo;
        // Pass 1, branch-free: the candidate d v of every draw and the squeeze test, which
        // accepts ~92% at large shapes (P(reject) ~ 0.0331 E[x^4] = 10%) without a log.
        // Flags first, compaction after: an index that depended on the previous draw's
        // test would chain the iterations on its latency.
        unsigned char reject[NormalStream::kChunk];
        for (std::size_t i = 0; i < n; ++i) {
            const GammaShape& g = shapes[i];
            const double y = g.c * x[i];
            const double t = 1.0 + y, x2 = x[i] * x[i];
            const double u = detail::uniform_open(wj[lo + i]);
            out[i] = g.d * (t * t * t);
            reject[i] = !((y > -1.0) & (u < 1.0 - 0.0331 * x2 * x2));
        }
        unsigned pending[NormalStream::kChunk];
        std::size_t np = 0;
        for (std::size_t i = 0; i < n; ++i) {
            pending[np] = static_cast<unsigned>(i);
            np += reject[i];
        }
        // Pass 2, branch-free too: the second squeeze u - 1 < bound for the rest.
        for (std::size_t k = 0; k < np; ++k) {
            const std::size_t i = pending[k];
            const GammaShape& g = shapes[i];
            const double y = g.c * x[i];
            const double bound = 0.5 * x[i] * x[i] + g.d * detail::gamma_log_ratio(y);
            const double u = detail::uniform_open(wj[lo + i]);
            reject[k] = !((y > -1.0) & (u - 1.0 < bound));
        }
        std::size_t nq = 0;
        for (std::size_t k = 0; k < np; ++k) {
            pending[nq] = pending[k];
            nq += reject[k];
        }
        // Pass 3: the full test for the few left (the same decisions as gamma_attempt),
        // retries, then the boost.
        for (std::size_t k = 0; k < nq; ++k) {
            const std::size_t i = pending[k];
            const double first =
                detail::gamma_attempt(shapes[i], x[i], detail::uniform_open(wj[lo + i]));
            out[i] = first >= 0.0 ? first : retry(shapes[i], sample, lo + i);
        }
        for (std::size_t i = 0; i < n; ++i)
            if (shapes[i].boost) out[i] = boost(shapes[i], out[i], sample, lo + i);
    }

    double chi_square(double k, std::uint64_t sample, std::uint64_t j) const {
        return 2.0 * draw(GammaShape::chi_square(k), sample, j);
    }

private:
    // Word j of (sample, domain) in NormalStream's counter layout.
    std::uint64_t word(std::uint64_t sample, std::uint32_t domain, std::uint64_t j) const {
        const std::uint64_t g = j / 2;
        std::uint64_t w[2];
        philox4x32_words_scalar(key_, static_cast<std::uint32_t>(g),
                                static_cast<std::uint32_t>(sample),
                                static_cast<std::uint32_t>(sample >> 32),
                                domain | static_cast<std::uint32_t>((g >> 32) << 8), 1, w);
        return w[j & 1u];
    }

    // The first attempt's result `first` (negative: rejected) completed: retries on the
    // draw's private stream, then the boost for shapes below one.
    double finish(const GammaShape& g, double first, std::uint64_t sample,
                  std::uint64_t j) const {
        const double x = first >= 0.0 ? first : retry(g, sample, j);
        return g.boost ? boost(g, x, sample, j) : x;
    }

    // Gamma(a) = Gamma(a + 1) U'^(1/a) for a < 1, U' the word j of kGammaBoost.
    double boost(const GammaShape& g, double x, std::uint64_t sample, std::uint64_t j) const {
        const double ub = detail::uniform_open(word(sample, kGammaBoostDomain, j));
        return x * std::exp(std::log(ub) * g.inv_shape);
    }

#if defined(__GNUC__) || defined(__clang__)
    __attribute__((noinline))
#endif
    double retry(const GammaShape& g, std::uint64_t sample, std::uint64_t j) const {
        const std::uint32_t c3 =
            0x40000000u | static_cast<std::uint32_t>(((j >> 32) & 0xff) << 16);
        std::uint64_t buf[2];
        for (std::uint32_t attempt = 0;; ++attempt) {
            // Two counters per attempt: the first's two words make x by Box-Muller (the
            // rare retry needs no speed), the second's first word is U.
            philox4x32_words_scalar(key_, static_cast<std::uint32_t>(j),
                                    static_cast<std::uint32_t>(sample),
                                    static_cast<std::uint32_t>(sample >> 32),
                                    c3 | ((2 * attempt) & 0xffffu), 1, buf);
            const double r = std::sqrt(-2.0 * std::log(detail::uniform_open(buf[0])));
            const double x = r * std::cos(6.283185307179586476925 * detail::uniform_open(buf[1]));
            philox4x32_words_scalar(key_, static_cast<std::uint32_t>(j),
                                    static_cast<std::uint32_t>(sample),
                                    static_cast<std::uint32_t>(sample >> 32),
                                    c3 | ((2 * attempt + 1) & 0xffffu), 1, buf);
            const double y = detail::gamma_attempt(g, x, detail::uniform_open(buf[0]));
            if (y >= 0.0) return y;
        }
    }

    NormalStream normals_;
    Philox4x32Key key_;
};

}  // namespace pyscale
