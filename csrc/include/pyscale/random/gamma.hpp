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
#include <vector>

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

// Many shapes as GammaStream::fill reads them: the constants d and c side by side (what its
// vector pass loads, eight draws at a time) beside the whole GammaShape (retries, boost).
class GammaShapeTable {
public:
    explicit GammaShapeTable(std::size_t n = 0, const GammaShape& g = GammaShape())
        : all_(n, g), d_(n, g.d), c_(n, g.c), boost_(n, g.boost) {}
    void set(std::size_t i, const GammaShape& g) {
        all_[i] = g;
        d_[i] = g.d;
        c_[i] = g.c;
        boost_[i] = g.boost;
    }
    std::size_t size() const { return all_.size(); }
    const GammaShape& operator[](std::size_t i) const { return all_[i]; }
    const double* d() const { return d_.data(); }
    const double* c() const { return c_.data(); }
    const unsigned char* boost() const { return boost_.data(); }
    static constexpr std::size_t bytes_per_shape() {
        return sizeof(GammaShape) + 2 * sizeof(double) + 1;
    }

private:
    std::vector<GammaShape> all_;
    std::vector<double> d_, c_;
    std::vector<unsigned char> boost_;
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

    // out[i] = draw(t[first + i], sample, lo + i) for i < hi - lo: the same bits as `draw`,
    // with the first attempt's Gaussians and uniforms made in bulk (AVX2 / AVX-512 where
    // available) and its squeeze tested eight draws at a time with AVX-512.
    // hi - lo <= NormalStream::kChunk, first + hi - lo <= t.size().
    void fill(const GammaShapeTable& t, std::size_t first, std::uint64_t sample, std::size_t lo,
              std::size_t hi, double* out) const {
        if (hi < lo || hi - lo > NormalStream::kChunk || hi > (std::size_t(1) << 33) ||
            first + (hi - lo) > t.size())
            throw std::invalid_argument("GammaStream::fill: at most kChunk draws, j < 2^33");
        double x[NormalStream::kChunk];
        std::uint64_t words[NormalStream::kChunk + 2];
        normals_.fill(sample, kGammaNormalDomain, lo, hi, x);
        const std::size_t g_lo = lo / 2, g_hi = (hi + 1) / 2;
        philox4x32_words(key_, static_cast<std::uint32_t>(g_lo),
                         static_cast<std::uint32_t>(sample),
                         static_cast<std::uint32_t>(sample >> 32),
                         kGammaUniformDomain | static_cast<std::uint32_t>((g_lo >> 32) << 8),
                         g_hi - g_lo, words, normals_.simd(), normals_.wide());
        const std::uint64_t* wj = words - 2 * g_lo + lo;  // wj[i]: word of draw lo + i
        const std::size_t n = hi - lo;
        const double* d = t.d() + first;
        const double* c = t.c() + first;
        // Pass 1: the candidate d v of every draw and the squeeze test, which accepts ~92%
        // at large shapes (P(reject) ~ 0.0331 E[x^4] = 10%) without a log; the indices of
        // the rest go to `pending`.
        unsigned pending[NormalStream::kChunk];
        std::size_t np = 0;
#ifdef PYSCALE_PHILOX_AVX2
        if (normals_.wide())
            np = squeeze_avx512(d, c, x, wj, n, out, pending);
        else
#endif
            np = squeeze(d, c, x, wj, 0, n, out, pending);
        // Pass 2, branch-free: the second squeeze u - 1 < bound for the rest.
        unsigned char reject[NormalStream::kChunk];
        for (std::size_t k = 0; k < np; ++k) {
            const std::size_t i = pending[k];
            const double y = c[i] * x[i];
            const double bound = 0.5 * x[i] * x[i] + d[i] * detail::gamma_log_ratio(y);
            const double u = detail::uniform_open(wj[i]);
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
            const GammaShape& g = t[first + i];
            const double first_try = detail::gamma_attempt(g, x[i], detail::uniform_open(wj[i]));
            out[i] = first_try >= 0.0 ? first_try : retry(g, sample, lo + i);
        }
        const unsigned char* boosted = t.boost() + first;
        for (std::size_t i = 0; i < n; ++i)
            if (boosted[i]) out[i] = boost(t[first + i], out[i], sample, lo + i);
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

    // Pass 1 of `fill` on draws [i0, n): out[i] = d v and the indices failing the squeeze
    // u < 1 - 0.0331 x^4 (or 1 + c x <= 0) appended to pending; returns their count.
    // Branch-free: flags first, compaction after (an index that depended on the previous
    // draw's test would chain the iterations on its latency).
    static std::size_t squeeze(const double* d, const double* c, const double* x,
                               const std::uint64_t* w, std::size_t i0, std::size_t n,
                               double* out, unsigned* pending) {
        unsigned char reject[NormalStream::kChunk];
        for (std::size_t i = i0; i < n; ++i) {
            const double y = c[i] * x[i];
            const double t = 1.0 + y, x2 = x[i] * x[i];
            const double u = detail::uniform_open(w[i]);
            out[i] = d[i] * (t * t * t);
            reject[i] = !((y > -1.0) & (u < 1.0 - 0.0331 * x2 * x2));
        }
        std::size_t np = 0;
        for (std::size_t i = i0; i < n; ++i) {
            pending[np] = static_cast<unsigned>(i);
            np += reject[i];
        }
        return np;
    }

#ifdef PYSCALE_PHILOX_AVX2
    // The same eight draws at a time. Every product and sum is an explicitly rounded
    // AVX-512 operation (the *_round_pd forms are never contracted into FMAs), in the
    // scalar loop's order, so the candidates and decisions are bit for bit the scalar ones.
    __attribute__((target("avx512f,avx512dq,avx2"))) static std::size_t squeeze_avx512(
        const double* d, const double* c, const double* x, const std::uint64_t* w,
        std::size_t n, double* out, unsigned* pending) {
        constexpr int R = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        const __m512d one = _mm512_set1_pd(1.0), minus_one = _mm512_set1_pd(-1.0);
        const __m512d half = _mm512_set1_pd(0.5), ulp = _mm512_set1_pd(0x1.0p-53);
        const __m512d k4 = _mm512_set1_pd(0.0331);
        std::size_t np = 0, i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m512d xv = _mm512_loadu_pd(x + i);
            const __m512d y = _mm512_mul_round_pd(_mm512_loadu_pd(c + i), xv, R);
            const __m512d t = _mm512_add_round_pd(one, y, R);
            const __m512d t3 = _mm512_mul_round_pd(_mm512_mul_round_pd(t, t, R), t, R);
            _mm512_storeu_pd(out + i, _mm512_mul_round_pd(_mm512_loadu_pd(d + i), t3, R));
            const __m512i wv = _mm512_srli_epi64(_mm512_loadu_si512(w + i), 11);
            const __m512d u = _mm512_mul_round_pd(
                _mm512_add_round_pd(_mm512_cvtepu64_pd(wv), half, R), ulp, R);  // exact cvt
            const __m512d x2 = _mm512_mul_round_pd(xv, xv, R);
            const __m512d lim = _mm512_sub_round_pd(
                one, _mm512_mul_round_pd(_mm512_mul_round_pd(k4, x2, R), x2, R), R);
            const unsigned ok = _mm512_cmp_pd_mask(y, minus_one, _CMP_GT_OQ) &
                                _mm512_cmp_pd_mask(u, lim, _CMP_LT_OQ);
            np += detail::append_set_bits(~ok & 0xFFu, static_cast<unsigned>(i), pending + np);
        }
        return np + squeeze(d, c, x, w, i, n, out, pending + np);
    }
#endif

    NormalStream normals_;
    Philox4x32Key key_;
};

}  // namespace pyscale
