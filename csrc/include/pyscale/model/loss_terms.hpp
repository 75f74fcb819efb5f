// What a link pair tells the engines (links page): the population loss l(s, u) at
// fixed s* and its partial derivatives, and which recovery metric a run of the pair records.
// Shared by the link pair (model/link.hpp) and whatever derives the flow's coefficients from it.
#pragma once

namespace pyscale {

// l(s, u) = E[(sigma(z) - tau(z*))^2] without label noise, and its partials in s and u at
// fixed s*: ls = dl/ds, lsu = d2l/(ds du), ... The flow's coefficients are c0 = -2 ls and
// c1 = -lu; its Jacobian's 2x2 block is C = -[[4 lss, 2 lsu], [2 lsu, luu]].
struct LossDerivatives {
    double l = 0, ls = 0, lu = 0, lss = 0, lsu = 0, luu = 0;
};

// The recovery metric of a pair: min ||w -+ w*||^2 / d when student = teacher is even (w and
// -w predict alike), ||w - w*||^2 / d when student = teacher is not even, none otherwise (there
// is no w* to recover when the student is not the teacher).
enum class MseKind : int { kSignInvariant = 0, kPlain = 1, kUndefined = 2 };

}  // namespace pyscale
