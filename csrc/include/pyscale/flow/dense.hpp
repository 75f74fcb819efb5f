// Dense output of the flow (model page: Gradient flow): the state anywhere inside an
// accepted step, and the record fields there without materialising it.
//
// Inside a step from t to t + h, with theta = (t' - t) / h in [0, 1],
//     w(theta) = sum_k b_k(theta) v_k,
//     b = (1 - theta, theta, theta (1 - theta), theta^2 (1 - theta)),  v = (y, y_new, c2, c3).
// RODAS4: c2, c3 are fixed combinations of the stage vectors (tableau.hpp), Hairer &
// Wanner's continuous extension of order 3. ROS4: the cubic Hermite interpolant of
// (y, f(y)) and (y_new, f(y_new)):  c2 = h f(y) - (y_new - y),
// c3 = 2 (y_new - y) - h f(y) - h f(y_new).
//
// u = w^T Q w* is linear in w and s = w^T Q w quadratic, so along the step
//     u(theta) = sum_k b_k U_k,     s(theta) = sum_jk b_j b_k S_jk,
// with U_k = v_k^T Q w*, S_jk = v_j^T Q v_k; likewise s^(2), u^(2) (Q^2) and the two
// distances ||w -+ w*||^2 from the Gram matrices of (y -+ w*, y_new -+ w*, c2, c3) (since
// b_0 + b_1 = 1), which keep their relative accuracy as w -> +-w*. A dense row
// (kDenseWidth doubles) holds these inner products; every record field at any theta then
// costs O(1).
#pragma once

#include <cstddef>
#include <limits>

#include "../model/problem.hpp"
#include "../model/stats.hpp"

namespace pyscale {

// Packed upper triangle of a symmetric 4x4 matrix: (00 01 02 03 11 12 13 22 23 33).
constexpr int kGramSize = 10;

// Layout of one dense step row.
enum DenseField : int {
    kDenseT0 = 0,                        // start of the step
    kDenseH = 1,                         // its length
    kDenseS = 2,                         // S_jk, packed (kGramSize)
    kDenseU = kDenseS + kGramSize,       // U_k (4)
    kDenseS2 = kDenseU + 4,              // v_j^T Q^2 v_k, packed
    kDenseU2 = kDenseS2 + kGramSize,     // v_k^T Q^2 w* (4)
    kDenseMinus = kDenseU2 + 4,          // Gram of (y - w*, y_new - w*, c2, c3), packed
    kDensePlus = kDenseMinus + kGramSize,  // Gram of (y + w*, y_new + w*, c2, c3), packed
    kDenseWidth = kDensePlus + kGramSize
};

// Sums accumulated per coordinate. The scalars (S_jk, U_k) are formed in every attempt's
// last pass (they locate stopping times and events); the others, needed only by records
// and by events on s^(2), u^(2) or the MSE, in one more pass over an accepted step that needs
// them (the rows of other steps hold NaN there).
constexpr int kDenseScalarSums = kGramSize + 4;
constexpr int kDenseExtraSums = kGramSize + 4 + kGramSize + 7;

// The dense state's basis vectors at one coordinate.
struct DenseCoordinate {
    double lam, ws, y0, y1, c2, c3;
};

inline void accumulate_dense_scalars(double* acc, const DenseCoordinate& x) {
    const double v[4] = {x.y0, x.y1, x.c2, x.c3};
    const double lv[4] = {x.lam * x.y0, x.lam * x.y1, x.lam * x.c2, x.lam * x.c3};
    int p = 0;
    for (int j = 0; j < 4; ++j)
        for (int k = j; k < 4; ++k, ++p) acc[p] += lv[j] * v[k];
    for (int k = 0; k < 4; ++k) acc[kGramSize + k] += lv[k] * x.ws;
}

inline void accumulate_dense_extras(double* acc, const DenseCoordinate& x) {
    const double lv[4] = {x.lam * x.y0, x.lam * x.y1, x.lam * x.c2, x.lam * x.c3};
    const double lws = x.lam * x.ws;
    int p = 0;
    for (int j = 0; j < 4; ++j)
        for (int k = j; k < 4; ++k, ++p) acc[p] += lv[j] * lv[k];
    for (int k = 0; k < 4; ++k) acc[kGramSize + k] += lv[k] * lws;
    const double m[4] = {x.y0 - x.ws, x.y1 - x.ws, x.c2, x.c3};
    const double q0 = x.y0 + x.ws, q1 = x.y1 + x.ws;
    double* minus = acc + kGramSize + 4;
    double* plus = minus + kGramSize;
    p = 0;
    for (int j = 0; j < 4; ++j)
        for (int k = j; k < 4; ++k, ++p) minus[p] += m[j] * m[k];
    plus[0] += q0 * q0;
    plus[1] += q0 * q1;
    plus[2] += q0 * x.c2;
    plus[3] += q0 * x.c3;
    plus[4] += q1 * q1;
    plus[5] += q1 * x.c2;
    plus[6] += q1 * x.c3;
}

// Fills a dense row: t0, h, the scalar sums, and the extra sums (nullptr: NaN).
inline void dense_row_from_sums(double* row, double t0, double h, const double* scalars,
                                const double* extras) {
    row[kDenseT0] = t0;
    row[kDenseH] = h;
    for (int p = 0; p < kGramSize; ++p) row[kDenseS + p] = scalars[p];
    for (int k = 0; k < 4; ++k) row[kDenseU + k] = scalars[kGramSize + k];
    if (extras == nullptr) {
        for (int p = kDenseS2; p < kDenseWidth; ++p)
            row[p] = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    for (int p = 0; p < kGramSize; ++p) {
        row[kDenseS2 + p] = extras[p];
        row[kDenseMinus + p] = extras[kGramSize + 4 + p];
    }
    for (int k = 0; k < 4; ++k) row[kDenseU2 + k] = extras[kGramSize + k];
    const double* plus = extras + 2 * kGramSize + 4;
    for (int p = 0; p < 7; ++p) row[kDensePlus + p] = plus[p];
    // (c2, c3) block: entries 7, 8, 9 of the packed Gram, shared with the minus side.
    for (int p = 7; p < kGramSize; ++p) row[kDensePlus + p] = row[kDenseMinus + p];
}

struct DenseBasis {
    double b[4];
    explicit DenseBasis(double theta) {
        const double one = 1.0 - theta;
        b[0] = one;
        b[1] = theta;
        b[2] = theta * one;
        b[3] = theta * theta * one;
    }
    double linear(const double* coef) const {
        return b[0] * coef[0] + b[1] * coef[1] + b[2] * coef[2] + b[3] * coef[3];
    }
    double quadratic(const double* gram) const {
        double sum = 0.0;
        int p = 0;
        for (int j = 0; j < 4; ++j)
            for (int k = j; k < 4; ++k, ++p) sum += (j == k ? 1.0 : 2.0) * b[j] * b[k] * gram[p];
        return sum;
    }
};

// Moments of the dense state at theta in [0, 1] of the step `row`.
inline Moments dense_moments(const double* row, double theta) {
    const DenseBasis basis(theta);
    Moments m;
    m.s = basis.quadratic(row + kDenseS);
    m.u = basis.linear(row + kDenseU);
    m.s2 = basis.quadratic(row + kDenseS2);
    m.u2 = basis.linear(row + kDenseU2);
    m.dist_minus = basis.quadratic(row + kDenseMinus);
    m.dist_plus = basis.quadratic(row + kDensePlus);
    return m;
}

}  // namespace pyscale
