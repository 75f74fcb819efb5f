"""pyscale — learning dynamics of phase retrieval on power-law Gaussian data.

The model, its conventions and equations are those of *Fast Escape, Slow Convergence*
(arXiv 2511.18661), stated on the documentation's model page.

>>> import pyscale
>>> problem = pyscale.Problem.power_law(d=1000, a=2.0, seed=0)
>>> traj = pyscale.simulate(problem, method="flow", t=1e5)
>>> traj.phases(delta=0.05, eps=0.05)  # doctest: +SKIP

This module is the public face only: it re-exports. The package's folders are its layers,
each importing only from those below it: :mod:`pyscale.model` (the problem, its statistics,
compression) → :mod:`pyscale.results` (trajectories, dense output, phases, tidy tables) →
:mod:`pyscale.engines` (``simulate``, ``simulate_many``, the hierarchy) →
:mod:`pyscale.theory` (``predict``) → :mod:`pyscale.analysis` (``compare``, compression
error) → :mod:`pyscale.app` (files, checkpoints, sweeps, figures, the CLI).
"""
from ._version import __version__
from .analysis.compare import compare
from .app.io import load, save_trajectory
from .engines import simulate, simulate_many
from .engines.hierarchy import hierarchy
from .errors import DivergenceError, Interrupted
from .model.problem import Problem, power_law_eigenvalues
from .model.statistics import statistics
from .results.trajectory import Ensemble, Phases, Trajectory
from .theory import Prediction, predict

__all__ = ["Problem", "Trajectory", "Phases", "simulate", "simulate_many", "Ensemble",
           "power_law_eigenvalues", "statistics", "DivergenceError", "Interrupted", "load",
           "save_trajectory", "predict", "Prediction", "compare", "hierarchy", "__version__"]
