// Counter-based random numbers for the stochastic engines (SPEC §5: "a counter-based
// generator so that results do not depend on the thread count").
//
// Philox4xW-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11) maps a 4-word counter and a 2-word key to 4 random words with 10 rounds of
// multiply-hi/lo and xor. Every random number is therefore a pure function of
// (seed, counter): the Gaussian that sample n puts on coordinate i is the same whichever
// thread computes it, in whatever order, and can be recomputed instead of stored.
// Both widths are here and checked against the Random123 known-answer vectors
// (tests/test_philox.py); Philox4x64-10 is also numpy's np.random.Philox.
//
// Gaussians (NormalStream): one 64-bit Philox4x64 word per draw through the 256-layer
// ziggurat of Marsaglia & Tsang (2000), in the 52-bit form numpy uses: 8 bits pick the
// layer, 1 bit the sign, 52 bits the abscissa; ~98.8% of draws are accepted at once. The
// rare rejected draw continues on a private uniform stream of its own (a separate counter
// domain keyed by the draw's index), so each Gaussian stays a pure function of its counter.
// Why 4x64 + ziggurat: one 64x64->128 multiply gives as many bits as two 32x32->64 ones,
// and a ziggurat costs a table look-up and a multiply where Box-Muller needs log, sqrt and
// sin/cos; measured on the development machine (2-core AMD EPYC, -O3, no -march): about
// 2.5 ns per Gaussian in one thread, ~6x numpy's Generator.standard_normal.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace pyscale {

using Philox4x64Ctr = std::array<std::uint64_t, 4>;
using Philox4x64Key = std::array<std::uint64_t, 2>;
using Philox4x32Ctr = std::array<std::uint32_t, 4>;
using Philox4x32Key = std::array<std::uint32_t, 2>;

namespace detail {

inline void mulhilo64(std::uint64_t a, std::uint64_t b, std::uint64_t& hi, std::uint64_t& lo) {
#if defined(__SIZEOF_INT128__)
    const unsigned __int128 prod = static_cast<unsigned __int128>(a) * b;
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
    }
};

// Standard normal draws as a pure function of (seed, sample, domain, index):
//   z(sample, domain, j) = ziggurat(word j % 4 of Philox4x64-10(ctr, key)),
//   ctr = (j / 4, sample, domain, 0),  key = (seed, 0).
// A rejected draw continues on the uniform words of ctr = (j, sample, domain + kRetry, m),
// m = 0, 1, ... . Distinct (sample, domain) pairs give independent streams.
class NormalStream {
public:
    static constexpr std::uint64_t kRetry = std::uint64_t(1) << 32;

    explicit NormalStream(std::uint64_t seed) : key_{seed, 0} {}

    std::uint64_t seed() const { return key_[0]; }

    // z for indices [lo, hi) of stream (sample, domain), written to out[0 .. hi-lo).
    void fill(std::uint64_t sample, std::uint64_t domain, std::size_t lo, std::size_t hi,
              double* out) const {
        std::size_t j = lo;
        // Leading partial group (lo not a multiple of 4).
        if (j < hi && (j & 3u) != 0) {
            const auto r = philox4x64(Philox4x64Ctr{j >> 2, sample, domain, 0}, key_);
            for (; j < hi && (j & 3u) != 0; ++j) *out++ = from_word(r[j & 3u], sample, domain, j);
        }
        for (; j + 4 <= hi; j += 4) {
            const auto r = philox4x64(Philox4x64Ctr{j >> 2, sample, domain, 0}, key_);
            out[0] = from_word(r[0], sample, domain, j);
            out[1] = from_word(r[1], sample, domain, j + 1);
            out[2] = from_word(r[2], sample, domain, j + 2);
            out[3] = from_word(r[3], sample, domain, j + 3);
            out += 4;
        }
        if (j < hi) {
            const auto r = philox4x64(Philox4x64Ctr{j >> 2, sample, domain, 0}, key_);
            for (; j < hi; ++j) *out++ = from_word(r[j & 3u], sample, domain, j);
        }
    }

    double one(std::uint64_t sample, std::uint64_t domain, std::uint64_t j) const {
        const auto r = philox4x64(Philox4x64Ctr{j >> 2, sample, domain, 0}, key_);
        return from_word(r[j & 3u], sample, domain, j);
    }

private:
    // Fast path inline; the ~1.2% of rejected words go to the out-of-line slow path.
    double from_word(std::uint64_t r, std::uint64_t sample, std::uint64_t domain,
                     std::uint64_t j) const {
        const unsigned idx = static_cast<unsigned>(r & 0xff);
        const std::uint64_t rest = r >> 8;
        const std::uint64_t rabs = (rest >> 1) & 0x000fffffffffffffull;
        double x = static_cast<double>(rabs) * zig_.wi[idx];
        if (rest & 1u) x = -x;
        if (rabs < zig_.ki[idx]) return x;
        return slow(idx, rabs, x, sample, domain, j);
    }

    // Uniform words of the retry stream of draw j, four per counter.
    struct Retry {
        const Philox4x64Key& key;
        Philox4x64Ctr ctr;
        Philox4x64Ctr buf{};
        int used = 4;
        std::uint64_t next() {
            if (used == 4) {
                buf = philox4x64(ctr, key);
                ++ctr[3];
                used = 0;
            }
            return buf[used++];
        }
    };

#if defined(__GNUC__)
    __attribute__((noinline))
#endif
    double slow(unsigned idx, std::uint64_t rabs, double x, std::uint64_t sample,
                std::uint64_t domain, std::uint64_t j) const {
        Retry rs{key_, Philox4x64Ctr{j, sample, domain + kRetry, 0}};
        for (;;) {
            if (idx == 0) {
                // Tail beyond r (Marsaglia 1964): exponential proposals, accepted with the
                // Gaussian/exponential density ratio.
                const double inv_r = 1.0 / ZigguratTables::kR;
                for (;;) {
                    const double xx = -inv_r * std::log1p(-uniform53(rs.next()));
                    const double yy = -std::log1p(-uniform53(rs.next()));
                    if (yy + yy > xx * xx)
                        return ((rabs >> 8) & 1u) ? -(ZigguratTables::kR + xx)
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
            const std::uint64_t rest = r >> 8;
            rabs = (rest >> 1) & 0x000fffffffffffffull;
            x = static_cast<double>(rabs) * zig_.wi[idx];
            if (rest & 1u) x = -x;
            if (rabs < zig_.ki[idx]) return x;
        }
    }

    Philox4x64Key key_;
    ZigguratTables zig_;
};

}  // namespace pyscale
