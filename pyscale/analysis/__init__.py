"""Runs held against the theory and against each other: :func:`~pyscale.compare`
(:mod:`~pyscale.analysis.compare`, :mod:`~pyscale.analysis.compare_sgd`) and the compression
error estimate (:mod:`~pyscale.analysis.compression_error`)."""
from .compare import Comparison, compare

__all__ = ["compare", "Comparison"]
