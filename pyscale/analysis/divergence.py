"""How often online SGD blows up at a step lr: the empirical divergence probability over
seeds, from the transient and from near the minimum, beside the largest stable step
(docs/theory_sgd.md, section 3; model page: SGD floor).

``max_stable_lr`` is a mean-square statement about the linearised chain near w*. Blow-ups
come from elsewhere too: from the default start the iterate crosses the escape and Phase II,
where eᵀQe is O(1) and the cubic gradient is far from its linearisation, and near the
minimum the stationary law has heavy tails, so a rare large excursion can run away below
the bound. This module measures both, so that an lr can be chosen for a whole run.

Example::

    problem = pyscale.Problem.power_law(10_000, 2.0, seed=0, noise=0.05)
    scan = divergence_probability(problem, [0.005, 0.01, 0.02], seeds=32, t=1000.0,
                                  start="both", checkpoints=(50.0, 1000.0))
    print(scan.table())       # lr, lr/bound, start, engine, diverged by each checkpoint
    scan.to_pandas()
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

import pyscale._validate as check

from ..engines.ensemble import simulate_many
from ..errors import DivergenceError
from ..model.compression.layout import mode_layout
from ..model.network import require_single_index
from ..model.problem import Problem
from ..theory import StableStep, stable_step

__all__ = ["divergence_probability", "DivergenceScan", "DivergenceRow", "minimum_start",
           "STARTS"]

#: The starts: the problem's own w(0) (the whole run, transient included), or w* plus the
#: first-order floor's Gaussian error (near the minimum).
STARTS = ("transient", "minimum")


@dataclass(frozen=True)
class DivergenceRow:
    """One (lr, start) cell: ``diverged[k]`` of ``members`` runs blew up by
    ``checkpoints[k]``; ``probability[k]`` = diverged/members with its binomial standard
    error ``se[k]`` = √(p(1 − p)/members) and the 95 % Wilson interval (``low``, ``high``)."""
    lr: float
    fraction: float
    start: str
    engine: str
    members: int
    checkpoints: tuple
    diverged: tuple
    probability: tuple
    se: tuple
    low: tuple
    high: tuple
    median_time: float


@dataclass
class DivergenceScan:
    """The rows of :func:`divergence_probability` and the stable step they are measured
    against (``bound``: :func:`pyscale.theory.stable_step`)."""
    rows: list
    bound: StableStep

    def table(self) -> str:
        """A fixed-width text table: one line per (lr, start), p ± s.e. per checkpoint."""
        checks = self.rows[0].checkpoints if self.rows else ()
        head = f"{'lr':>9} {'x bound':>8} {'start':<10} {'engine':<10} {'runs':>5}" + "".join(
            f"  {'P(t <= ' + format(c, 'g') + ')':>18}" for c in checks)
        lines = [head, "-" * len(head)]
        for r in self.rows:
            cells = "".join(f"  {f'{k}: {p:.2f} ± {s:.2f}':>18}"
                            for k, p, s in zip(r.diverged, r.probability, r.se))
            lines.append(f"{r.lr:>9.4g} {r.fraction:>8.3f} {r.start:<10} {r.engine:<10} "
                         f"{r.members:>5}{cells}")
        return "\n".join(lines)

    def to_pandas(self):
        """One row per (lr, start, checkpoint): lr, fraction, start, engine, members, t,
        diverged, probability, se, low, high, median_time."""
        import pandas as pd
        records = [{"lr": r.lr, "fraction": r.fraction, "start": r.start, "engine": r.engine,
                    "members": r.members, "t": c, "diverged": k, "probability": p, "se": s,
                    "low": lo, "high": hi, "median_time": r.median_time}
                   for r in self.rows
                   for c, k, p, s, lo, hi in zip(r.checkpoints, r.diverged, r.probability,
                                                 r.se, r.low, r.high)]
        return pd.DataFrame(records)

    def __repr__(self) -> str:
        return self.table()


def minimum_start(problem: Problem, lr: float, batch: int = 1, noise: float | None = None,
                  seed: int = 0) -> np.ndarray:
    """w* + e, e ~ N(0, (lr σ²/B) I): a draw of the first-order SGD floor around w*, as a
    stored vector (model page: SGD floor). On a compressed problem it is exact in law: per
    mode of n coordinates the part along w* is r + √α z and the part across it
    √(α χ²_{n−1}) (α = lr σ²/B), in the layout the mode chain reads."""
    sigma2 = problem.noise if noise is None else float(noise)
    alpha = float(lr) * sigma2 / int(batch)
    rng = np.random.default_rng(seed)
    w = np.array(problem.w_star, dtype=np.float64)
    if not problem.is_compressed:
        return w + math.sqrt(alpha) * rng.standard_normal(w.size)
    lay = mode_layout(problem.eigenvalues, problem.w_star, problem.counts)
    w[lay.first] += math.sqrt(alpha) * rng.standard_normal(lay.size)
    two = lay.second >= 0
    across = rng.chisquare(np.maximum(lay.count[two] - 1.0, 1.0))
    w[lay.second[two]] = np.sqrt(alpha * np.where(lay.count[two] > 1, across, 0.0))
    return w


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a binomial proportion k/n."""
    z, p = 1.959963984540054, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _cell(problem: Problem, lr: float, start: str, seeds, t: float, checkpoints, batch: int,
          noise, threads: int, bound: float, start_seed: int, options: dict) -> DivergenceRow:
    if start == "minimum":
        problem = problem.with_w0(minimum_start(problem, lr, batch, noise, start_seed))
    steps = max(1, int(math.ceil(t / lr)))
    try:
        ens = simulate_many(problem, seeds=seeds, method="sgd", lr=lr, steps=steps,
                            record=[0, steps], batch=batch, noise=noise, threads=threads,
                            **options)
    except DivergenceError as err:
        ens = err.trajectory
    at = np.array([s * lr if s >= 0 else np.inf for s in ens.meta["diverged_at_step"]])
    n = len(at)
    counts = tuple(int(np.sum(at <= c)) for c in checkpoints)
    probs = tuple(k / n for k in counts)
    finite = at[np.isfinite(at)]
    return DivergenceRow(
        lr=lr, fraction=lr / bound, start=start, engine=str(ens.meta.get("engine", "full")),
        members=n, checkpoints=tuple(checkpoints), diverged=counts, probability=probs,
        se=tuple(math.sqrt(p * (1 - p) / n) for p in probs),
        low=tuple(_wilson(k, n)[0] for k in counts), high=tuple(_wilson(k, n)[1] for k in counts),
        median_time=float(np.median(finite)) if finite.size else math.nan)


def divergence_probability(problem: Problem, lrs: Sequence[float], seeds=32, t: float = 1000.0,
                           start: str = "both", checkpoints: Sequence[float] | None = None,
                           batch: int = 1, noise: float | None = None, threads: int = 0,
                           start_seed: int = 0, **options) -> DivergenceScan:
    """The empirical probability that online SGD diverges by time t (t = step · lr), per lr
    (docs/theory_sgd.md, section 3).

    Parameters
    ----------
    problem : the problem (compressed problems run on the mode chain, others on the full
        engine: ``DivergenceRow.engine`` says which).
    lrs : the steps to scan.
    seeds : a count R or distinct seeds, as for :func:`pyscale.simulate_many`.
    t : the horizon; ``checkpoints`` (default (t,)): the times at which the counts are read
        off (a run that blows up at step k counts from t = k · lr on).
    start : "transient" (``problem.w0``: escape and Phase II included), "minimum" (w* plus a
        draw of the first-order floor, :func:`minimum_start` with ``start_seed``) or "both".
    batch, noise, threads, **options : as for :func:`pyscale.simulate_many`.

    Returns
    -------
    DivergenceScan with one :class:`DivergenceRow` per (lr, start): the counts, the
    probabilities with binomial standard errors and 95 % Wilson intervals, the median
    blow-up time, and lr as a fraction of :func:`pyscale.theory.max_stable_lr`.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a pyscale.Problem, got {type(problem).__name__}")
    require_single_index("divergence_probability", problem)
    starts = STARTS if start == "both" else (check.choice("start", start, STARTS + ("both",)),)
    lr_values = [check.real("lrs", lr, 0.0, low_open=True) for lr in np.atleast_1d(lrs)]
    if not lr_values:
        raise ValueError("lrs must not be empty")
    t = check.real("t", t, 0.0, low_open=True)
    checks = (t,) if checkpoints is None else tuple(
        check.real("checkpoints", c, 0.0, t, low_open=True) for c in checkpoints)
    if not checks:
        raise ValueError("checkpoints must not be empty")
    bound = stable_step(problem, batch, noise)
    rows = [_cell(problem, lr, s, seeds, t, checks, batch, noise, threads, bound.lr,
                  start_seed, options) for lr in lr_values for s in starts]
    return DivergenceScan(rows=rows, bound=bound)
