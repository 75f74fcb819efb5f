"""Spectral compression (model page: Gradient flow, Compression): the dynamics at d = 10^9 and
beyond in O(number of modes) memory and time, exact in distribution up to an O(δ) grouping error.

Why it works. Given the two scalar functions s(t), u(t), every coordinate evolves
linearly (model page: Gradient flow):

    w_i(t) = A(λ_i, t) w_i(0) + B(λ_i, t) w*_i.

Coordinates that share one eigenvalue λ (a *mode*) therefore share (A, B), and every
quantity an engine needs (s, u, s^(k), u^(k), ||w ∓ w*||², the loss) is, per mode, a
quadratic form in (w(0), w*) with the mode's coefficients. A mode of n coordinates is thus
completely described by n and its Gram matrix

    G = [[S00, S01], [S01, S11]],   S00 = Σ w0_i²,  S01 = Σ w0_i w*_i,  S11 = Σ w*_i²,

and it can be *stored* as (at most) two virtual coordinates with the mode's eigenvalue whose
inner products reproduce G exactly — the Cholesky factor: w*-values (√S11, 0), w(0)-values
(S01/√S11, √(S00 − S01²/S11)). The flow and GD engines, which only ever form inner products
within a coordinate's own eigenvalue, run unchanged on such a problem (the full problem is
the case of one coordinate per mode); ``Problem.d`` keeps the true dimension (MSE
normalisation) and ``Problem.counts`` the physical coordinates behind each stored one.

Two ways in:

* :func:`group` (behind ``Problem.compress``) groups an explicit problem's eigenvalues —
  greedily, from the largest, every run whose largest/smallest ratio is ≤ 1 + δ — and sums
  its vectors exactly per mode. Where neighbouring eigenvalues differ by more than the
  factor 1 + δ (the head of a power law) every coordinate stays its own mode, exactly.
* :func:`draw_power_law` (behind ``Problem.power_law(..., compress=δ)``) never allocates a
  length-d vector: the groups of a power law are index ranges, their eigenvalue sums come
  from exact head sums plus Euler–Maclaurin, and each mode's Gram matrix of n i.i.d.
  standard Gaussian pairs (g_i, h_i) — a Wishart_2(n, I) matrix — is drawn exactly with the
  Bartlett decomposition, without drawing the n entries.

For a power law λ_i ∝ i^(-a) the head up to i ≈ a/δ stays exact and the tail needs
≈ (a/δ) ln(δ d / a) modes: d = 10^9, a = 2, δ = 10^-3 is ~2.8·10^4 modes.

The grouping error is O(δ) and is estimated a posteriori by
:func:`pyscale.analysis.compression_error.compression_error` (the same realisation compressed at δ
and δ/2).

Reading a problem's stored coordinates back as modes: :func:`eigenspaces` groups the stored
coordinates of one eigenvalue (an eigenspace of Q, whatever the layout: a physical problem's
repeated eigenvalues too) with its physical size n and target norm r — what the SGD theory
needs; :func:`mode_layout` checks the layout compression produces (a mode as one stored
coordinate, or two with target (r, 0)) and says where each mode's two numbers are — what the
mode chain needs.

Two-layer networks (:mod:`pyscale.model.compression.network`; networks page: Compression)
store a mode as min(n, p + k) rows of its (p + k) × (p + k) Gram matrix of [W* W(0)].

This module is part of the model: arrays in, arrays out (:class:`Modes`,
:class:`Eigenspaces`, :class:`ModeLayout`); it never builds a :class:`~pyscale.Problem` nor
runs an engine.
"""
from __future__ import annotations

from .grouping import REPRESENTATIVES, group
from .horizon import (
    flow_rate_bound,
    horizon_supported,
    mode_tolerance,
    rate_of,
    resolved_eigenvalue,
)
from .layout import Eigenspaces, ModeLayout, eigenspaces, mode_layout
from .modes import Modes, assemble_modes
from .network import (
           TEACHERS,
           NetworkFrames,
           draw_network_power_law,
           group_network,
           network_frames,
)
from .power_law import (
           draw_power_law,
           mode_power_sums,
           power_law_modes,
           power_law_normaliser,
           sample_mode_grams,
)

__all__ = ["Modes", "group", "draw_power_law", "power_law_normaliser", "power_law_modes",
           "mode_power_sums", "sample_mode_grams", "REPRESENTATIVES", "Eigenspaces",
           "eigenspaces", "ModeLayout", "mode_layout", "assemble_modes", "flow_rate_bound",
           "horizon_supported", "mode_tolerance", "rate_of", "resolved_eigenvalue", "group_network",
           "draw_network_power_law", "network_frames", "NetworkFrames", "TEACHERS"]
