"""Runs held against the theory and against each other: :func:`~pyscale.compare`
(:mod:`~pyscale.analysis.compare`, :mod:`~pyscale.analysis.compare_sgd`), the divergence
probability of SGD against lr (:mod:`~pyscale.analysis.divergence`) and the compression
error estimate (:mod:`~pyscale.analysis.compression_error`)."""
from .compare import Comparison, compare
from .divergence import DivergenceScan, divergence_probability

__all__ = ["compare", "Comparison", "divergence_probability", "DivergenceScan"]
