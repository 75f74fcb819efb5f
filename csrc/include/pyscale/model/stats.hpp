// Summary statistics of a state w (model page: Statistics and loss): s, u, s^(2), u^(2) and
// the two distances ||w -+ w*||^2 from one fused pass, and the record row the engines write
// (its loss and MSE as the link pair defines them).
#pragma once

#include <array>
#include <cstddef>

#include "../util/parallel.hpp"
#include "link_pair.hpp"
#include "problem.hpp"

namespace pyscale {

// Layout of one recorded row, shared by every engine and by the Python wrappers.
enum RecordField : int { kT = 0, kS, kU, kS2, kU2, kLoss, kMse, kRecordWidth };

// The names of the fields, in RecordField order (the binding exports them).
inline constexpr std::array<const char*, kRecordWidth> kRecordFieldNames = {
    "t", "s", "u", "s2", "u2", "loss", "mse"};

struct Moments {
    double s = 0, u = 0, s2 = 0, u2 = 0;
    double dist_minus = 0;  // ||w - w*||^2
    double dist_plus = 0;   // ||w + w*||^2
};

template <int NS, int NMAX>
Moments moments(const ProblemView& p, const double* w, BlockedReducer<NS, NMAX>& red) {
    static_assert(NS >= 6, "moments() needs a reducer with at least 6 slots");
    const double* lam = p.lambda;
    const double* ws = p.w_star;
    auto r = red.run([&](std::size_t b, std::size_t e, double* acc) {
        for (std::size_t i = b; i < e; ++i) {
            const double lw = lam[i] * w[i];
            const double lws = lam[i] * ws[i];
            const double dm = w[i] - ws[i];
            const double dp = w[i] + ws[i];
            acc[0] += lw * w[i];
            acc[1] += lw * ws[i];
            acc[2] += lw * lw;
            acc[3] += lw * lws;
            acc[4] += dm * dm;
            acc[5] += dp * dp;
        }
    });
    return Moments{r[0], r[1], r[2], r[3], r[4], r[5]};
}

// One record row of the state with moments m: t, s, u, s^(2), u^(2), then the pair's loss
// (l(s, u) + sigma_noise^2) and MSE (link_pair.hpp; model page: Statistics and loss). The MSE is
// formed from the two distances directly (not ||w||^2 + ||w*||^2 -+ 2 w.w*) so that it keeps
// its relative accuracy once w is close to +-w*.
template <class Pair>
void write_record(double* row, double t, const ProblemView& p, const Pair& pair,
                  const Moments& m) {
    row[kT] = t;
    row[kS] = m.s;
    row[kU] = m.u;
    row[kS2] = m.s2;
    row[kU2] = m.u2;
    row[kLoss] = pair.record_loss(m.s, m.u, p.s_star, p.noise);
    row[kMse] = pair.record_mse(m.dist_minus, m.dist_plus, p.dim);
}

// Walks a run's increasing record steps. Records before the starting step belong to an
// earlier run that this one resumes; their rows are left untouched.
class RecordCursor {
public:
    RecordCursor(const long long* steps, std::size_t n, long long start) : steps_(steps), n_(n) {
        while (next_ < n_ && steps_[next_] < start) ++next_;
    }
    bool due(long long step) const { return next_ < n_ && steps_[next_] == step; }
    std::size_t row() const { return next_; }  // the row the next due record goes to
    void advance() { ++next_; }
    std::size_t written() const { return next_; }

private:
    const long long* steps_;
    std::size_t n_;
    std::size_t next_ = 0;
};

}  // namespace pyscale
