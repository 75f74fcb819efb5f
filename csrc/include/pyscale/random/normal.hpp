// Standard normal draws for the stochastic engines, each a pure function of its counter
// (NormalStream), on the Philox4x32-10 words of philox.hpp.
//
// One 64-bit word (two 32-bit words of Philox4x32-10) per draw through the 256-layer
// ziggurat of Marsaglia & Tsang (2000), in the 52-bit form numpy uses: 8 bits pick the
// layer, 1 bit the sign, 52 bits the abscissa; ~98.5% of draws are accepted at once. The
// rare rejected draw continues on a private uniform stream of its own (a separate counter
// family keyed by the draw's index), so each Gaussian stays a pure function of its counter.
// Why a ziggurat: a table look-up and a multiply where Box-Muller needs log, sqrt and
// sin/cos. Measured on the development machine (2-core AMD EPYC, -O3, no -march, one
// thread): ~1.8 ns per Gaussian (~550 M/s) with AVX2, ~1.2 ns (~800 M/s) with the AVX-512
// words and conversion (numpy's Generator.standard_normal: ~10 ns). The Philox words take
// a third of that; the rest is the conversion and the ~1.5% of draws that take the scalar
// slow path (~30 ns each).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "philox.hpp"

namespace pyscale {

// Uniform double in [0, 1) from the top 53 bits of a word.
inline double uniform53(std::uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }

// Ziggurat tables for the standard normal, 256 layers, 52-bit abscissae (Marsaglia & Tsang
// 2000; layout as numpy's ki_double / wi_double / fi_double). Layer 0 is the base strip
// with the tail beyond r; layer i >= 1 spans [0, x_i) and its inner rectangle [0, x_{i-1}).
struct ZigguratTables {
    static constexpr double kR = 3.6541528853610087963519472518;   // right-most abscissa
    static constexpr double kV = 0.0049286732339746519;            // area of each layer
    std::uint64_t ki[256];  // accept-at-once thresholds on the 52-bit abscissa
    double wi[256];         // abscissa scale: x = rabs * wi[layer]
    double fi[256];         // density exp(-x_i^2 / 2) at the layer's edge
    // (wi, ki) side by side: the AVX2 path fetches both with one 16-byte load per draw,
    // ~15% faster than two gathers (measured).
    struct alignas(16) Layer {
        double wi;
        std::uint64_t ki;
    } layer[256];

    ZigguratTables() {
        auto pdf = [](double x) { return std::exp(-0.5 * x * x); };
        double x[256];
        // Edges from the outside in, x[255] = r ... x[1], then x[0] = 0.
        x[255] = kR;
        for (int i = 254; i >= 1; --i) {
            const double xo = x[i + 1];
            x[i] = std::sqrt(-2.0 * std::log(pdf(xo) + kV / xo));
        }
        x[0] = 0.0;
        const double scale = 0x1.0p52;
        const double q = kV / pdf(kR);  // width of the base strip (it carries the tail)
        ki[0] = static_cast<std::uint64_t>(std::llround(kR / q * scale));
        wi[0] = q / scale;
        fi[0] = 1.0;
        for (int i = 1; i < 256; ++i) {
            ki[i] = static_cast<std::uint64_t>(std::llround(x[i - 1] / x[i] * scale));
            wi[i] = x[i] / scale;
            fi[i] = pdf(x[i]);
        }
        for (int i = 0; i < 256; ++i) layer[i] = Layer{wi[i], ki[i]};
    }
};

#ifdef PYSCALE_PHILOX_AVX2
namespace detail {

// For each 8-bit mask, the positions of its set bits in increasing order (a constant
// table): the vector paths append the indices of rejected draws without a branch per
// draw (a branch on a ~10% event mispredicts once per few draws).
struct SetBitTable {
    unsigned char pos[256][8];
    constexpr SetBitTable() : pos{} {
        for (int m = 0; m < 256; ++m) {
            int k = 0;
            for (int b = 0; b < 8; ++b)
                if ((m >> b) & 1) pos[m][k++] = static_cast<unsigned char>(b);
        }
    }
};
inline constexpr SetBitTable kSetBits{};

// out[0 .. popcount(mask)) = base + the set bits of mask (8 entries written, the rest
// scratch: out needs room for 8); returns popcount(mask).
__attribute__((target("avx2"))) inline std::size_t append_set_bits(unsigned mask, unsigned base,
                                                                  unsigned* out) {
    const __m128i p = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kSetBits.pos[mask]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm256_add_epi32(_mm256_cvtepu8_epi32(p),
                                         _mm256_set1_epi32(static_cast<int>(base))));
    return static_cast<std::size_t>(__builtin_popcount(mask));
}

}  // namespace detail
#endif

// ----------------------------------------------------------------------------------------
// Standard normal draws as a pure function of (seed, sample, domain, j), j the coordinate:
//   z(sample, domain, j) = ziggurat(W),  W = 64-bit word (j mod 2) of Philox4x32-10 with
//   ctr = (g mod 2^32, sample mod 2^32, sample >> 32, domain | (g >> 32) << 8),  g = j / 2,
//   key = (seed mod 2^32, seed >> 32).
// A rejected draw continues on the words of
//   ctr = (j mod 2^32, sample mod 2^32, sample >> 32, 2^31 | domain << 24 | (j >> 32) << 16 | m),
// m = 0, 1, ... (bit 31 keeps the two families apart). Limits: domain < 128, j < 2^40.
// Distinct (sample, domain) pairs give independent streams.
class NormalStream {
public:
    static constexpr std::size_t kChunk = 512;  // coordinates per word buffer (aligned)

    explicit NormalStream(std::uint64_t seed, bool simd = true)
        : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)},
          seed_(seed), simd_(simd && cpu_has_avx2()), wide_(simd_ && cpu_has_avx512()) {}

    std::uint64_t seed() const { return seed_; }
    bool simd() const { return simd_; }
    bool wide() const { return wide_; }  // the AVX-512 paths (same bits as the others)

    // z for coordinates [lo, hi) of stream (sample, domain), written to out[0 .. hi-lo).
    void fill(std::uint64_t sample, std::uint32_t domain, std::size_t lo, std::size_t hi,
              double* out) const {
        std::uint64_t words[kChunk];
        std::size_t j = lo;
        while (j < hi) {
            // Chunks aligned to kChunk coordinates never straddle a change of g >> 32.
            const std::size_t cbeg = j - j % kChunk;
            const std::size_t cend = std::min(hi, cbeg + kChunk);
            const std::size_t g_lo = j / 2, g_hi = (cend + 1) / 2;
            philox4x32_words(key_, static_cast<std::uint32_t>(g_lo),
                             static_cast<std::uint32_t>(sample),
                             static_cast<std::uint32_t>(sample >> 32),
                             domain | static_cast<std::uint32_t>((g_lo >> 32) << 8), g_hi - g_lo,
                             words, simd_, wide_);
            const std::uint64_t* wj = words - 2 * g_lo;  // wj[j] is coordinate j's word
            const std::size_t cnt = cend - j;
            unsigned rejected[kChunk];
            std::size_t nrej;
#ifdef PYSCALE_PHILOX_AVX2
            if (wide_)
                nrej = convert_avx512(zig_, wj + j, cnt, out, rejected);
            else if (simd_)
                nrej = convert_avx2(zig_, wj + j, cnt, out, rejected);
            else
#endif
                nrej = convert_scalar(zig_, wj + j, cnt, out, rejected);
            for (std::size_t r = 0; r < nrej; ++r) {
                const std::size_t k = rejected[r];
                out[k] = from_word(wj[j + k], sample, domain, j + k);
            }
            out += cnt;
            j = cend;
        }
    }

    double one(std::uint64_t sample, std::uint32_t domain, std::uint64_t j) const {
        const std::uint64_t g = j / 2;
        std::uint64_t w[2];
        philox4x32_words_scalar(key_, static_cast<std::uint32_t>(g),
                                static_cast<std::uint32_t>(sample),
                                static_cast<std::uint32_t>(sample >> 32),
                                domain | static_cast<std::uint32_t>((g >> 32) << 8), 1, w);
        return from_word(w[j & 1u], sample, domain, j);
    }

private:
    // Ziggurat fast path for n words: out[k] = the accepted draw, or a placeholder whose
    // index goes to rejected[] (returned count) for from_word to redo. Branch-free but for
    // the rare reject; the sign is xor-ed into the bit pattern (a data-dependent branch on
    // it mispredicts half the time: +2.5 ns per draw measured). rabs < 2^52 converts
    // exactly in both paths (a signed conversion here, (2^52 + rabs) - 2^52 in AVX2), so
    // the two give identical bits. The AVX2 one is ~2x faster than the scalar loop.
    static std::size_t convert_scalar(const ZigguratTables& z, const std::uint64_t* w,
                                      std::size_t n, double* out, unsigned* rejected) {
        std::size_t nrej = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint64_t r = w[k];
            const unsigned idx = static_cast<unsigned>(r & 0xff);
            const std::uint64_t rabs = (r >> 9) & 0x000fffffffffffffull;
            out[k] = with_sign(static_cast<double>(static_cast<std::int64_t>(rabs)) * z.wi[idx],
                               (r >> 8) & 1u);
            if (rabs >= z.ki[idx]) rejected[nrej++] = static_cast<unsigned>(k);
        }
        return nrej;
    }

#ifdef PYSCALE_PHILOX_AVX2
    __attribute__((target("avx2"))) static std::size_t convert_avx2(const ZigguratTables& z,
                                                                    const std::uint64_t* w,
                                                                    std::size_t n, double* out,
                                                                    unsigned* rejected) {
        const __m256i m52 = _mm256_set1_epi64x(0x000fffffffffffffll);
        const __m256i exponent = _mm256_set1_epi64x(0x4330000000000000ll);  // 2^52
        const __m256d two52 = _mm256_set1_pd(0x1.0p52);
        std::size_t nrej = 0, k = 0;
        for (; k + 4 <= n; k += 4) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k));
            const auto* L = z.layer;
            const __m128i e0 = _mm_load_si128(reinterpret_cast<const __m128i*>(L + (w[k] & 0xff)));
            const __m128i e1 =
                _mm_load_si128(reinterpret_cast<const __m128i*>(L + (w[k + 1] & 0xff)));
            const __m128i e2 =
                _mm_load_si128(reinterpret_cast<const __m128i*>(L + (w[k + 2] & 0xff)));
            const __m128i e3 =
                _mm_load_si128(reinterpret_cast<const __m128i*>(L + (w[k + 3] & 0xff)));
            const __m256i a = _mm256_set_m128i(e2, e0), b = _mm256_set_m128i(e3, e1);
            const __m256d wi = _mm256_castsi256_pd(_mm256_unpacklo_epi64(a, b));
            const __m256i ki = _mm256_unpackhi_epi64(a, b);
            const __m256i rabs = _mm256_and_si256(_mm256_srli_epi64(v, 9), m52);
            const __m256d d = _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(rabs, exponent)), two52);
            const __m256d sign =
                _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_srli_epi64(v, 8), 63));
            _mm256_storeu_pd(out + k, _mm256_xor_pd(_mm256_mul_pd(d, wi), sign));
            // rabs < ki as signed 64-bit compares: both are below 2^63.
            const int ok = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(ki, rabs)));
            if (ok != 0xF)
                for (int l = 0; l < 4; ++l)
                    if (!((ok >> l) & 1)) rejected[nrej++] = static_cast<unsigned>(k + l);
        }
        const std::size_t more = convert_scalar(z, w + k, n - k, out + k, rejected + nrej);
        for (std::size_t r = 0; r < more; ++r) rejected[nrej + r] += static_cast<unsigned>(k);
        return nrej + more;
    }
#endif

#ifdef PYSCALE_PHILOX_AVX2
    // The same eight at a time with AVX-512 (rabs < 2^52 converts
    // exactly with vcvtqq2pd, as in the other paths); the tail through the AVX2 loop.
    __attribute__((target("avx512f,avx512dq,avx2"))) static std::size_t convert_avx512(
        const ZigguratTables& z, const std::uint64_t* w, std::size_t n, double* out,
        unsigned* rejected) {
        const __m512i m52 = _mm512_set1_epi64(0x000fffffffffffffll);
        std::size_t nrej = 0, k = 0;
        for (; k + 8 <= n; k += 8) {
            const __m512i v = _mm512_loadu_si512(w + k);
            // (wi, ki) of each draw's layer by one 16-byte load (faster than two gathers)
            const auto* L = z.layer;
            const auto ld = [&](int l) {
                return _mm_load_si128(reinterpret_cast<const __m128i*>(L + (w[k + l] & 0xff)));
            };
            __m512i a = _mm512_castsi128_si512(ld(0)), b = _mm512_castsi128_si512(ld(1));
            a = _mm512_inserti64x2(a, ld(2), 1);
            b = _mm512_inserti64x2(b, ld(3), 1);
            a = _mm512_inserti64x2(a, ld(4), 2);
            b = _mm512_inserti64x2(b, ld(5), 2);
            a = _mm512_inserti64x2(a, ld(6), 3);
            b = _mm512_inserti64x2(b, ld(7), 3);
            const __m512d wi = _mm512_castsi512_pd(_mm512_unpacklo_epi64(a, b));
            const __m512i ki = _mm512_unpackhi_epi64(a, b);
            const __m512i rabs = _mm512_and_si512(_mm512_srli_epi64(v, 9), m52);
            const __m512i sign = _mm512_slli_epi64(_mm512_srli_epi64(v, 8), 63);
            const __m512d x = _mm512_mul_pd(_mm512_cvtepi64_pd(rabs), wi);
            _mm512_storeu_pd(out + k, _mm512_castsi512_pd(
                                          _mm512_xor_si512(_mm512_castpd_si512(x), sign)));
            const unsigned ok = _mm512_cmplt_epu64_mask(rabs, ki);
            nrej += detail::append_set_bits(~ok & 0xFFu, static_cast<unsigned>(k), rejected + nrej);
        }
        const std::size_t more = convert_avx2(z, w + k, n - k, out + k, rejected + nrej);
        for (std::size_t r = 0; r < more; ++r) rejected[nrej + r] += static_cast<unsigned>(k);
        return nrej + more;
    }
#endif

    // One draw, rejection included (fast path inline, the rest out of line).
    double from_word(std::uint64_t r, std::uint64_t sample, std::uint32_t domain,
                     std::uint64_t j) const {
        const unsigned idx = static_cast<unsigned>(r & 0xff);
        const std::uint64_t rabs = (r >> 9) & 0x000fffffffffffffull;
        // rabs < 2^52: the signed conversion is exact and a single instruction.
        const double x = with_sign(static_cast<double>(static_cast<std::int64_t>(rabs)) *
                                       zig_.wi[idx],
                                   (r >> 8) & 1u);
        if (rabs < zig_.ki[idx]) return x;
        return slow(idx, rabs, x, sample, domain, j);
    }

    static double with_sign(double x, std::uint64_t negative) {
        std::uint64_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        bits ^= negative << 63;
        std::memcpy(&x, &bits, sizeof bits);
        return x;
    }

    // Words of the retry stream of draw j, four 32-bit words (two 64-bit) per counter.
    struct Retry {
        Philox4x32Key key;
        std::uint32_t c0, c1, c2, c3;
        std::uint64_t buf[2] = {0, 0};
        int used = 2;
        std::uint64_t next() {
            if (used == 2) {
                philox4x32_words_scalar(key, c0, c1, c2, c3, 1, buf);
                ++c3;  // attempt counter in the low 16 bits
                used = 0;
            }
            return buf[used++];
        }
    };

#if defined(__GNUC__) || defined(__clang__)
    __attribute__((noinline))
#endif
    double slow(unsigned idx, std::uint64_t rabs, double x, std::uint64_t sample,
                std::uint32_t domain, std::uint64_t j) const {
        Retry rs{key_, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(sample),
                 static_cast<std::uint32_t>(sample >> 32),
                 0x80000000u | (domain << 24) | static_cast<std::uint32_t>((j >> 32) << 16)};
        for (;;) {
            if (idx == 0) {
                // Tail beyond r (Marsaglia 1964): exponential proposals accepted with the
                // Gaussian / exponential density ratio; the sign from the original word.
                const double inv_r = 1.0 / ZigguratTables::kR;
                for (;;) {
                    const double xx = -inv_r * std::log1p(-uniform53(rs.next()));
                    const double yy = -std::log1p(-uniform53(rs.next()));
                    if (yy + yy > xx * xx)
                        return std::signbit(x) ? -(ZigguratTables::kR + xx)
                                               : ZigguratTables::kR + xx;
                }
            }
            // Wedge of layer idx: accept under the density.
            if ((zig_.fi[idx - 1] - zig_.fi[idx]) * uniform53(rs.next()) + zig_.fi[idx] <
                std::exp(-0.5 * x * x))
                return x;
            // Rejected: a fresh word from the retry stream, same procedure.
            const std::uint64_t r = rs.next();
            idx = static_cast<unsigned>(r & 0xff);
            rabs = (r >> 9) & 0x000fffffffffffffull;
            x = with_sign(static_cast<double>(static_cast<std::int64_t>(rabs)) * zig_.wi[idx],
                          (r >> 8) & 1u);
            if (rabs < zig_.ki[idx]) return x;
        }
    }

    Philox4x32Key key_;
    std::uint64_t seed_;
    bool simd_;
    bool wide_;
    ZigguratTables zig_;
};

}  // namespace pyscale
