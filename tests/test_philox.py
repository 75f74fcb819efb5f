"""The counter-based generator of the stochastic engines (csrc/include/pyscale/random/philox.hpp):
Philox4x32-10 / Philox4x64-10 against the published Random123 known-answer vectors and
numpy's np.random.Philox, the AVX2 path against the scalar one and an independent NumPy
implementation, and the Gaussians (ziggurat) against N(0, 1)."""
import numpy as np
import pytest
from scipy import stats

from pyscale._core import testing as _core

M32 = 0xFFFFFFFF

# Random123 kat_vectors (Salmon et al. 2011): counter, key -> output.
KAT_4X32 = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32, M32, M32, M32), (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
M64 = 0xFFFFFFFFFFFFFFFF
KAT_4X64 = [
    ((0, 0, 0, 0), (0, 0),
     (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)),
    ((M64, M64, M64, M64), (M64, M64),
     (0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0)),
    ((0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89),
     (0x452821E638D01377, 0xBE5466CF34E90C6C),
     (0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT_4X32)
def test_philox4x32_known_answers(ctr, key, expected):
    assert tuple(_core.philox4x32(ctr, key)) == expected


@pytest.mark.parametrize("ctr,key,expected", KAT_4X64)
def test_philox4x64_known_answers(ctr, key, expected):
    assert tuple(_core.philox4x64(ctr, key)) == expected


def test_philox4x64_matches_numpy_bit_generator():
    # numpy's Philox is Philox4x64-10; random_raw() increments the counter first.
    rng = np.random.default_rng(7)
    for _ in range(5):
        ctr = [int(c) for c in rng.integers(0, 2 ** 63, 4, dtype=np.uint64)]
        key = [int(k) for k in rng.integers(0, 2 ** 63, 2, dtype=np.uint64)]
        raw = np.random.Philox(counter=ctr, key=key).random_raw(4)
        nxt = [(ctr[0] + 1) % 2 ** 64] + ctr[1:]
        assert tuple(int(v) for v in raw) == tuple(_core.philox4x64(nxt, key))


def _philox4x32_numpy(g, c1, c2, c3, key):
    """Independent vectorised Philox4x32-10 (uint64 arithmetic), counters (g, c1, c2, c3)."""
    x0 = np.asarray(g, dtype=np.uint64)
    x1 = np.full_like(x0, c1)
    x2 = np.full_like(x0, c2)
    x3 = np.full_like(x0, c3)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    mask = np.uint64(M32)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & mask
            k1 = (k1 + np.uint64(0xBB67AE85)) & mask
        p0 = np.uint64(0xD2511F53) * x0
        p1 = np.uint64(0xCD9E8D57) * x2
        x0, x1, x2, x3 = ((p1 >> np.uint64(32)) ^ x1 ^ k0, p1 & mask,
                          (p0 >> np.uint64(32)) ^ x3 ^ k1, p0 & mask)
    out = np.empty(2 * x0.size, dtype=np.uint64)
    out[0::2] = x0 | (x1 << np.uint64(32))
    out[1::2] = x2 | (x3 << np.uint64(32))
    return out


# the widest loop, the AVX2 one, the tail; groups of eight counters and a last partial one
@pytest.mark.parametrize("m", [77, 101, 300, 1, 7, 8, 9, 33, 40, 63])
@pytest.mark.parametrize("simd", [True, False])
def test_bulk_words_match_independent_implementation(simd, m):
    key, g0 = (0x12345678, 0x9ABCDEF0), 4_000_000_000
    got = _core.philox4x32_words(key, g0, 3, 5, 7, m, simd)  # g0 + k wraps mod 2^32
    ref = _philox4x32_numpy((np.arange(m, dtype=np.uint64) + g0) % 2 ** 32, 3, 5, 7, key)
    np.testing.assert_array_equal(got, ref)


def test_gaussians_simd_and_scalar_paths_are_identical():
    for seed, sample, domain in ((0, 0, 0), (2 ** 64 - 1, 2 ** 40 + 3, 1), (12345, 99, 5)):
        a = _core.normal_fill(seed, sample, domain, 3, 5003, True)
        b = _core.normal_fill(seed, sample, domain, 3, 5003, False)
        np.testing.assert_array_equal(a, b)


def test_gaussians_are_a_pure_function_of_their_counter():
    full = _core.normal_fill(5, 11, 0, 0, 3000)
    # Any sub-range (aligned or not) gives the same numbers for the same coordinates.
    for lo, hi in ((0, 1), (1, 2), (511, 1027), (1999, 3000)):
        np.testing.assert_array_equal(_core.normal_fill(5, 11, 0, lo, hi), full[lo:hi])
    # Another seed, sample or domain is another stream.
    for other in (_core.normal_fill(6, 11, 0, 0, 3000), _core.normal_fill(5, 12, 0, 0, 3000),
                  _core.normal_fill(5, 11, 1, 0, 3000)):
        assert abs(np.corrcoef(full, other)[0, 1]) < 0.06  # 3000 draws: sd 0.018


def test_gaussians_are_standard_normal():
    # 10^6 draws over many samples (counter values); fixed seed, so deterministic.
    z = np.concatenate([_core.normal_fill(2024, s, 0, 0, 10_000) for s in range(100)])
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(np.mean(z ** 4) - 3) < 5 * np.sqrt(96 / n)  # Var(z^4) = 96
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # The ziggurat's tail (|z| > r = 3.6541...) and its wedges (rejection path) are exercised:
    tail = np.mean(np.abs(z) > 3.6541528853610088)
    p_tail = 2 * stats.norm.sf(3.6541528853610088)
    assert abs(tail - p_tail) < 5 * np.sqrt(p_tail / n)
    p4 = 2 * stats.norm.sf(4.5)
    assert abs(np.mean(np.abs(z) > 4.5) - p4) < 5 * np.sqrt(p4 / n) + 2 / n


def test_bare_sampling_loop_runs_and_is_seeded():
    a = _core.normal_sample_loop(3, 1000, 20)
    assert a == _core.normal_sample_loop(3, 1000, 20, threads=2, simd=False)
    assert a != _core.normal_sample_loop(4, 1000, 20)
    # It sums the same Gaussians as the feature stream of the SGD engine.
    ref = sum(_core.normal_fill(3, k, 0, 0, 1000).sum() for k in range(20))
    assert a == pytest.approx(ref, rel=1e-12, abs=1e-9)
