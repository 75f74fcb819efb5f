// Small dense linear algebra for the network engines (networks page): matrices of the size
// of the units (p x p, (p + k) x (p + k)) or of the flow's coupling (r x r, r = p (p + k)),
// never of the dimension. Row-major, caller-owned storage, serial and deterministic (the
// same bits on every thread count): the symmetric eigendecomposition by cyclic Jacobi
// rotations, an LU factorisation with partial pivoting, and the R factor of a Householder QR.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace pyscale {
namespace small {

// A = V diag(values) V^T for a symmetric n x n matrix a (row-major; only symmetry of a is
// assumed, its lower triangle is read). values ascending, V's column j (vectors[i n + j])
// the unit eigenvector of values[j]. Cyclic Jacobi with threshold-free sweeps until the
// off-diagonal mass is below 1e-30 of the total (quadratic convergence: a handful of sweeps
// for n <= 64).
inline void symmetric_eigen(int n, const double* a, double* values, double* vectors) {
    std::vector<double> m(a, a + static_cast<std::size_t>(n) * n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) vectors[i * n + j] = (i == j) ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0.0, total = 0.0;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                const double v = m[i * n + j] * m[i * n + j];
                total += v;
                if (i != j) off += v;
            }
        if (!(off > 1e-30 * total)) break;  // also stops on NaN
        for (int p = 0; p < n - 1; ++p)
            for (int q = p + 1; q < n; ++q) {
                const double apq = m[p * n + q];
                if (apq == 0.0) continue;
                const double theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) /
                                 (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
                const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; ++k) {  // columns p, q of M J
                    const double mkp = m[k * n + p], mkq = m[k * n + q];
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for (int k = 0; k < n; ++k) {  // rows p, q of J^T (M J)
                    const double mpk = m[p * n + k], mqk = m[q * n + k];
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for (int k = 0; k < n; ++k) {
                    const double vkp = vectors[k * n + p], vkq = vectors[k * n + q];
                    vectors[k * n + p] = c * vkp - s * vkq;
                    vectors[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int x, int y) { return m[x * n + x] < m[y * n + y]; });
    std::vector<double> v(vectors, vectors + static_cast<std::size_t>(n) * n);
    for (int j = 0; j < n; ++j) {
        values[j] = m[order[j] * n + order[j]];
        for (int i = 0; i < n; ++i) vectors[i * n + j] = v[i * n + order[j]];
    }
}

// In-place LU factorisation P A = L U of the n x n matrix a (row-major) with partial
// pivoting. False when a pivot is zero or not finite, or when the smallest pivot is below
// 1e-14 of the largest (numerically singular).
inline bool lu_factor(int n, double* a, int* pivots) {
    for (int c = 0; c < n; ++c) {
        int best = c;
        double big = 0.0;
        for (int r = c; r < n; ++r) {
            const double v = std::fabs(a[r * n + c]);
            if (v > big) {
                big = v;
                best = r;
            }
        }
        pivots[c] = best;
        if (!(big > 0.0) || !std::isfinite(big)) return false;
        if (best != c)
            for (int k = 0; k < n; ++k) std::swap(a[c * n + k], a[best * n + k]);
        const double inv = 1.0 / a[c * n + c];
        for (int r = c + 1; r < n; ++r) {
            const double f = a[r * n + c] * inv;
            a[r * n + c] = f;
            if (f == 0.0) continue;
            for (int k = c + 1; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
        }
    }
    double umax = 0.0, umin = INFINITY;
    for (int c = 0; c < n; ++c) {
        umax = std::max(umax, std::fabs(a[c * n + c]));
        umin = std::min(umin, std::fabs(a[c * n + c]));
    }
    return umin > 1e-14 * umax;
}

// Solves (P A) x = P b in place (b becomes x) with the factors of lu_factor.
inline void lu_solve(int n, const double* lu, const int* pivots, double* b) {
    // lu_factor swaps whole rows, so L is stored in the final row order: permute b first.
    for (int c = 0; c < n; ++c)
        if (pivots[c] != c) std::swap(b[c], b[pivots[c]]);
    for (int c = 0; c < n; ++c)
        for (int r = c + 1; r < n; ++r) b[r] -= lu[r * n + c] * b[c];
    for (int c = n - 1; c >= 0; --c) {
        double v = b[c];
        for (int k = c + 1; k < n; ++k) v -= lu[c * n + k] * b[k];
        b[c] = v / lu[c * n + c];
    }
}

// The R factor of a Householder QR of the rows x cols matrix a (row-major), in place: on
// return the first min(rows, cols) rows of a hold R (upper triangular, diagonal >= 0) and
// the rest are zero, so that R^T R = a^T a exactly up to rounding.
inline void householder_r(int rows, int cols, double* a) {
    const int steps = std::min(rows, cols);
    std::vector<double> v(static_cast<std::size_t>(rows));
    for (int c = 0; c < steps; ++c) {
        double norm2 = 0.0;
        for (int r = c; r < rows; ++r) norm2 += a[r * cols + c] * a[r * cols + c];
        const double norm = std::sqrt(norm2);
        if (norm == 0.0) continue;
        const double x0 = a[c * cols + c];
        const double alpha = x0 > 0 ? -norm : norm;  // reflect onto -sign(x0) norm e_c
        for (int r = c; r < rows; ++r) v[r] = a[r * cols + c];
        v[c] -= alpha;
        double vv = 0.0;
        for (int r = c; r < rows; ++r) vv += v[r] * v[r];
        if (vv == 0.0) continue;
        for (int k = c; k < cols; ++k) {
            double dot = 0.0;
            for (int r = c; r < rows; ++r) dot += v[r] * a[r * cols + k];
            const double f = 2.0 * dot / vv;
            for (int r = c; r < rows; ++r) a[r * cols + k] -= f * v[r];
        }
        for (int r = c + 1; r < rows; ++r) a[r * cols + c] = 0.0;
    }
    for (int r = 0; r < steps; ++r)
        if (a[r * cols + r] < 0.0)
            for (int k = r; k < cols; ++k) a[r * cols + k] = -a[r * cols + k];
    for (int r = steps; r < rows; ++r)
        for (int k = 0; k < cols; ++k) a[r * cols + k] = 0.0;
}

}  // namespace small
}  // namespace pyscale
