"""pyscale — learning dynamics of phase retrieval on power-law Gaussian data.

The model, equations and predictions are those of *Fast Escape, Slow Convergence*
(arXiv 2511.18661); see SPEC §1-§3 as cited in each docstring.

>>> import pyscale
>>> problem = pyscale.Problem.power_law(d=1000, a=2.0, seed=0)
>>> traj = pyscale.simulate(problem, method="flow", t=1e5)
>>> traj.phases(delta=0.05, eps=0.05)
"""
__version__ = "0.1.0"

from .errors import DivergenceError, Interrupted
from .hierarchy import hierarchy
from .problem import Problem, power_law_eigenvalues
from .simulate import simulate
from .stochastic import Ensemble, simulate_many
from .trajectory import Phases, Trajectory
from .io import load
from .theory import Prediction, predict
from .compare import compare

__all__ = ["Problem", "Trajectory", "Phases", "simulate", "simulate_many", "Ensemble",
           "power_law_eigenvalues",
           "DivergenceError", "Interrupted", "load", "predict", "Prediction", "compare", "hierarchy",
           "__version__"]
