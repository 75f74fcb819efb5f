"""The model (model page: Data model): arrays in, arrays out, never an engine.

:mod:`~pyscale.model.problem` (the :class:`~pyscale.Problem`), :mod:`~pyscale.model.statistics`
(s, u, the loss and the MSE of a state) and :mod:`~pyscale.model.compression` (modes of equal
eigenvalues, exact in distribution).
"""
from .problem import Problem, power_law_eigenvalues
from .statistics import statistics

__all__ = ["Problem", "power_law_eigenvalues", "statistics"]
