"""pyscale — learning dynamics of phase retrieval on power-law Gaussian data.

The model, its conventions and equations are those of *Fast Escape, Slow Convergence*
(arXiv 2511.18661), stated on the documentation's model page.

>>> import pyscale
>>> problem = pyscale.Problem.power_law(d=1000, a=2.0, seed=0)
>>> traj = pyscale.simulate(problem, method="flow", t=1e5)
>>> traj.phases(delta=0.05, eps=0.05)  # doctest: +SKIP

Layers, each importing only from those before it: the model (:mod:`~pyscale.problem`,
:mod:`~pyscale.compression`) → the engines (:mod:`pyscale.engines`) → results
(:mod:`~pyscale.trajectory`) → analysis (:mod:`~pyscale.theory`, :mod:`~pyscale.compare`,
:mod:`~pyscale.hierarchy`) → the front door (:mod:`~pyscale.io`, the CLI, figures, sweeps).
"""
from ._version import __version__
from .compare import compare
from .engines import simulate, simulate_many
from .errors import DivergenceError, Interrupted
from .hierarchy import hierarchy
from .io import load
from .problem import Problem, power_law_eigenvalues
from .statistics import statistics
from .theory import Prediction, predict
from .trajectory import Ensemble, Phases, Trajectory

__all__ = ["Problem", "Trajectory", "Phases", "simulate", "simulate_many", "Ensemble",
           "power_law_eigenvalues", "statistics", "DivergenceError", "Interrupted", "load",
           "predict", "Prediction", "compare", "hierarchy", "__version__"]
