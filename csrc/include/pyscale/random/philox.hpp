// Counter-based random words for the stochastic engines: with a counter-based generator
// every random number, hence every result, is independent of the thread count.
//
// Philox4xW-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11) maps a 4-word counter and a 2-word key to 4 random words with 10 rounds of
// multiply-hi/lo and xor. Every random number is therefore a pure function of
// (seed, counter): the Gaussian that sample n puts on coordinate i is the same whichever
// thread computes it, in whatever order, and can be recomputed instead of stored.
// Both widths are here and checked against the Random123 known-answer vectors
// (tests/test_philox.py); Philox4x64-10 is also numpy's np.random.Philox.
// Philox4x32's 32x32->64 multiplies vectorise (eight counters per AVX2 register; there is
// no vector 64x64->128 multiply for Philox4x64). Measured on the development machine
// (2-core AMD EPYC, -O3, no -march, one thread): ~0.8 ns per 64 random bits with AVX2,
// ~0.4 ns with AVX-512
// (3.4 ns scalar Philox4x32, 2.7 ns scalar Philox4x64). The Gaussians built on these words
// are in normal.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
// GCC 12's AVX-512 intrinsics start from a deliberately undefined vector (`__Y = __Y`),
// which -Wmaybe-uninitialized reports at every use (GCC bug 105593, fixed in GCC 13); the
// diagnostic state of the header's own lines is what counts, so it is set around it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace pyscale {

using Philox4x64Ctr = std::array<std::uint64_t, 4>;
using Philox4x64Key = std::array<std::uint64_t, 2>;
using Philox4x32Ctr = std::array<std::uint32_t, 4>;
using Philox4x32Key = std::array<std::uint32_t, 2>;

namespace detail {

inline void mulhilo64(std::uint64_t a, std::uint64_t b, std::uint64_t& hi, std::uint64_t& lo) {
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;  // GCC/Clang extension, hence the marker
    const u128 prod = static_cast<u128>(a) * b;
    lo = static_cast<std::uint64_t>(prod);
    hi = static_cast<std::uint64_t>(prod >> 64);
#else
    // Portable schoolbook product on 32-bit halves.
    const std::uint64_t a0 = a & 0xffffffffu, a1 = a >> 32;
    const std::uint64_t b0 = b & 0xffffffffu, b1 = b >> 32;
    const std::uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const std::uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    lo = (mid << 32) | (p00 & 0xffffffffu);
    hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
    const std::uint64_t prod = static_cast<std::uint64_t>(a) * b;
    lo = static_cast<std::uint32_t>(prod);
    hi = static_cast<std::uint32_t>(prod >> 32);
}

}  // namespace detail

// Philox4x64 with R rounds (R = 10 is the standard, crush-resistant choice).
template <int R = 10>
inline Philox4x64Ctr philox4x64(Philox4x64Ctr c, Philox4x64Key k) {
    constexpr std::uint64_t M0 = 0xD2E7470EE14C6C93ull, M1 = 0xCA5A826395121157ull;
    constexpr std::uint64_t W0 = 0x9E3779B97F4A7C15ull, W1 = 0xBB67AE8584CAA73Bull;
    for (int r = 0; r < R; ++r) {
        if (r > 0) {
            k[0] += W0;
            k[1] += W1;
        }
        std::uint64_t hi0, lo0, hi1, lo1;
        detail::mulhilo64(M0, c[0], hi0, lo0);
        detail::mulhilo64(M1, c[2], hi1, lo1);
        c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    }
    return c;
}

// Philox4x32 with R rounds.
template <int R = 10>
inline Philox4x32Ctr philox4x32(Philox4x32Ctr c, Philox4x32Key k) {
    constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int r = 0; r < R; ++r) {
        if (r > 0) {
            k[0] += W0;
            k[1] += W1;
        }
        std::uint32_t hi0, lo0, hi1, lo1;
        detail::mulhilo32(M0, c[0], hi0, lo0);
        detail::mulhilo32(M1, c[2], hi1, lo1);
        c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    }
    return c;
}

// ----------------------------------------------------------------------------------------
// Bulk Philox4x32-10: the words of m consecutive counters (g0 + k, c1, c2, c3), k < m, as
// out[2k] = w0 | w1 << 32, out[2k+1] = w2 | w3 << 32. The AVX2 path (chosen at run time, see
// cpu_has_avx2) computes eight counters per vector lane group, four groups interleaved to
// hide the multiply latency; it is integer arithmetic, hence bit-identical to the scalar
// loop (tests/test_philox.py checks both against each other and against the Random123
// vectors). Measured: ~0.8 ns per 64-bit word with AVX2, ~3.4 ns scalar.

inline void philox4x32_words_scalar(Philox4x32Key key, std::uint32_t g0, std::uint32_t c1,
                                    std::uint32_t c2, std::uint32_t c3, std::size_t m,
                                    std::uint64_t* out) {
    for (std::size_t k = 0; k < m; ++k) {
        const auto r = philox4x32(
            Philox4x32Ctr{g0 + static_cast<std::uint32_t>(k), c1, c2, c3}, key);
        out[2 * k] = r[0] | (static_cast<std::uint64_t>(r[1]) << 32);
        out[2 * k + 1] = r[2] | (static_cast<std::uint64_t>(r[3]) << 32);
    }
}

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define PYSCALE_PHILOX_AVX2 1

inline bool cpu_has_avx2() {
    __builtin_cpu_init();  // idempotent; makes the check valid even before constructors ran
    return __builtin_cpu_supports("avx2") != 0;
}

namespace detail {

// 32x32 -> 64 products of eight lanes: low and high halves, lane for lane.
__attribute__((target("avx2"))) inline void mulhilo_avx2(__m256i x, __m256i m, __m256i& hi,
                                                         __m256i& lo) {
    // m holds the multiplier in every 32-bit lane (mul_epu32 reads the even ones).
    const __m256i even = _mm256_mul_epu32(x, m);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);
    lo = _mm256_mullo_epi32(x, m);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

}  // namespace detail

__attribute__((target("avx2"))) inline void philox4x32_words_avx2(
    Philox4x32Key key, std::uint32_t g0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
    std::size_t m, std::uint64_t* out) {
    constexpr int V = 4;  // independent 8-counter groups in flight
    const __m256i M0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
    const __m256i M1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    std::size_t k = 0;
    for (; k + 8 * V <= m; k += 8 * V) {
        __m256i x0[V], x1[V], x2[V], x3[V];
        for (int v = 0; v < V; ++v) {
            x0[v] = _mm256_add_epi32(
                _mm256_set1_epi32(static_cast<int>(g0 + static_cast<std::uint32_t>(k + 8 * v))),
                lane);
            x1[v] = _mm256_set1_epi32(static_cast<int>(c1));
            x2[v] = _mm256_set1_epi32(static_cast<int>(c2));
            x3[v] = _mm256_set1_epi32(static_cast<int>(c3));
        }
        std::uint32_t a = key[0], b = key[1];
        for (int r = 0; r < 10; ++r) {
            const __m256i ka = _mm256_set1_epi32(static_cast<int>(a));
            const __m256i kb = _mm256_set1_epi32(static_cast<int>(b));
            for (int v = 0; v < V; ++v) {
                __m256i h0, l0, h1, l1;
                detail::mulhilo_avx2(x0[v], M0, h0, l0);
                detail::mulhilo_avx2(x2[v], M1, h1, l1);
                x0[v] = _mm256_xor_si256(_mm256_xor_si256(h1, x1[v]), ka);
                x1[v] = l1;
                x2[v] = _mm256_xor_si256(_mm256_xor_si256(h0, x3[v]), kb);
                x3[v] = l0;
            }
            a += 0x9E3779B9u;
            b += 0xBB67AE85u;
        }
        for (int v = 0; v < V; ++v) {
            // 4x8 transpose: counter i's words (w0, w1, w2, w3) become contiguous.
            const __m256i t0 = _mm256_unpacklo_epi32(x0[v], x1[v]);
            const __m256i t1 = _mm256_unpackhi_epi32(x0[v], x1[v]);
            const __m256i t2 = _mm256_unpacklo_epi32(x2[v], x3[v]);
            const __m256i t3 = _mm256_unpackhi_epi32(x2[v], x3[v]);
            const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
            const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
            __m256i* o = reinterpret_cast<__m256i*>(out + 2 * (k + 8 * v));
            _mm256_storeu_si256(o, _mm256_permute2x128_si256(u0, u1, 0x20));
            _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
            _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
            _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
        }
    }
    // The rest eight counters at a time, the last group through a buffer (its counters past
    // m are computed and dropped): a fill of any length costs about its share of full groups.
    for (; k < m; k += 8) {
        __m256i x0 = _mm256_add_epi32(
            _mm256_set1_epi32(static_cast<int>(g0 + static_cast<std::uint32_t>(k))), lane);
        __m256i x1 = _mm256_set1_epi32(static_cast<int>(c1));
        __m256i x2 = _mm256_set1_epi32(static_cast<int>(c2));
        __m256i x3 = _mm256_set1_epi32(static_cast<int>(c3));
        std::uint32_t a = key[0], b = key[1];
        for (int r = 0; r < 10; ++r) {
            __m256i h0, l0, h1, l1;
            detail::mulhilo_avx2(x0, M0, h0, l0);
            detail::mulhilo_avx2(x2, M1, h1, l1);
            x0 = _mm256_xor_si256(_mm256_xor_si256(h1, x1), _mm256_set1_epi32(static_cast<int>(a)));
            x1 = l1;
            x2 = _mm256_xor_si256(_mm256_xor_si256(h0, x3), _mm256_set1_epi32(static_cast<int>(b)));
            x3 = l0;
            a += 0x9E3779B9u;
            b += 0xBB67AE85u;
        }
        const __m256i t0 = _mm256_unpacklo_epi32(x0, x1), t1 = _mm256_unpackhi_epi32(x0, x1);
        const __m256i t2 = _mm256_unpacklo_epi32(x2, x3), t3 = _mm256_unpackhi_epi32(x2, x3);
        const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
        const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
        alignas(32) std::uint64_t buf[16];
        const bool whole = k + 8 <= m;
        __m256i* o = reinterpret_cast<__m256i*>(whole ? out + 2 * k : buf);
        _mm256_storeu_si256(o, _mm256_permute2x128_si256(u0, u1, 0x20));
        _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
        _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
        _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
        if (!whole) std::copy(buf, buf + 2 * (m - k), out + 2 * k);
    }
}

// The same words sixteen counters per AVX-512 register (four registers in flight), on
// machines that have AVX-512F/DQ (chosen at run time, see cpu_has_avx512; DQ for the
// Gaussians' conversion, normal.hpp): the low product
// half comes from the two 32x32 -> 64 products already needed for the high half (a blend,
// no vpmulld). Integer arithmetic again: bit-identical to the scalar loop; the counters
// left over (m mod 64) go through the AVX2 loop.
inline bool cpu_has_avx512() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512dq") != 0 &&
           __builtin_cpu_supports("avx2") != 0;
}

namespace detail {

__attribute__((target("avx512f"))) inline void mulhilo_avx512(__m512i x, __m512i m,
                                                              __m512i& hi, __m512i& lo) {
    const __m512i even = _mm512_mul_epu32(x, m);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), m);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

}  // namespace detail

__attribute__((target("avx512f,avx2"))) inline void philox4x32_words_avx512(
    Philox4x32Key key, std::uint32_t g0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
    std::size_t m, std::uint64_t* out) {
    constexpr int V = 4;  // independent 16-counter groups in flight
    const __m512i M0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
    const __m512i M1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    std::size_t k = 0;
    for (; k + 16 * V <= m; k += 16 * V) {
        __m512i x0[V], x1[V], x2[V], x3[V];
        for (int v = 0; v < V; ++v) {
            x0[v] = _mm512_add_epi32(
                _mm512_set1_epi32(static_cast<int>(g0 + static_cast<std::uint32_t>(k + 16 * v))),
                lane);
            x1[v] = _mm512_set1_epi32(static_cast<int>(c1));
            x2[v] = _mm512_set1_epi32(static_cast<int>(c2));
            x3[v] = _mm512_set1_epi32(static_cast<int>(c3));
        }
        std::uint32_t a = key[0], b = key[1];
        for (int r = 0; r < 10; ++r) {
            const __m512i ka = _mm512_set1_epi32(static_cast<int>(a));
            const __m512i kb = _mm512_set1_epi32(static_cast<int>(b));
            for (int v = 0; v < V; ++v) {
                __m512i h0, l0, h1, l1;
                detail::mulhilo_avx512(x0[v], M0, h0, l0);
                detail::mulhilo_avx512(x2[v], M1, h1, l1);
                // xor of three: one vpternlogd (0x96 = a ^ b ^ c)
                x0[v] = _mm512_ternarylogic_epi32(h1, x1[v], ka, 0x96);
                x1[v] = l1;
                x2[v] = _mm512_ternarylogic_epi32(h0, x3[v], kb, 0x96);
                x3[v] = l0;
            }
            a += 0x9E3779B9u;
            b += 0xBB67AE85u;
        }
        for (int v = 0; v < V; ++v) {
            // 4x16 transpose: counter i's words (w0, w1, w2, w3) become contiguous. Within
            // each 128-bit quarter q, u0..u3 hold counters 4q + 0..3; the shuffles gather
            // the quarters of one group of four counters into one register.
            const __m512i t0 = _mm512_unpacklo_epi32(x0[v], x1[v]);
            const __m512i t1 = _mm512_unpackhi_epi32(x0[v], x1[v]);
            const __m512i t2 = _mm512_unpacklo_epi32(x2[v], x3[v]);
            const __m512i t3 = _mm512_unpackhi_epi32(x2[v], x3[v]);
            const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
            const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
            const __m512i a01 = _mm512_shuffle_i64x2(u0, u1, 0x44);  // u0.q0 u0.q1 u1.q0 u1.q1
            const __m512i a23 = _mm512_shuffle_i64x2(u2, u3, 0x44);
            const __m512i b01 = _mm512_shuffle_i64x2(u0, u1, 0xEE);  // u0.q2 u0.q3 u1.q2 u1.q3
            const __m512i b23 = _mm512_shuffle_i64x2(u2, u3, 0xEE);
            std::uint64_t* o = out + 2 * (k + 16 * v);
            _mm512_storeu_si512(o, _mm512_shuffle_i64x2(a01, a23, 0x88));       // quarter 0
            _mm512_storeu_si512(o + 8, _mm512_shuffle_i64x2(a01, a23, 0xDD));   // quarter 1
            _mm512_storeu_si512(o + 16, _mm512_shuffle_i64x2(b01, b23, 0x88));  // quarter 2
            _mm512_storeu_si512(o + 24, _mm512_shuffle_i64x2(b01, b23, 0xDD));  // quarter 3
        }
    }
    philox4x32_words_avx2(key, g0 + static_cast<std::uint32_t>(k), c1, c2, c3, m - k,
                          out + 2 * k);
}
#else
inline bool cpu_has_avx2() { return false; }
inline bool cpu_has_avx512() { return false; }
#endif

// The widest path the flags allow: simd = false is the scalar loop; simd = true the AVX2
// loop, or AVX-512 where the caller found it (wide = true). Same words on every path.
inline void philox4x32_words(Philox4x32Key key, std::uint32_t g0, std::uint32_t c1,
                             std::uint32_t c2, std::uint32_t c3, std::size_t m,
                             std::uint64_t* out, bool simd, bool wide = false) {
#ifdef PYSCALE_PHILOX_AVX2
    if (simd && wide) {
        philox4x32_words_avx512(key, g0, c1, c2, c3, m, out);
        return;
    }
    if (simd) {
        philox4x32_words_avx2(key, g0, c1, c2, c3, m, out);
        return;
    }
#else
    (void)simd;
    (void)wide;
#endif
    philox4x32_words_scalar(key, g0, c1, c2, c3, m, out);
}

}  // namespace pyscale
