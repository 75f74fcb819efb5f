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

Each name is imported on first use (``import pyscale`` itself loads nothing heavy, so the
``pyscale`` command answers Ctrl-C from its first moment); ``pyscale.X`` is then the very
object of its module.
"""
import _signal  # type: ignore[import-not-found, unused-ignore]  # built in, loaded: costs no import
import sys as _sys


def _starts_the_pyscale_command() -> bool:
    """Whether this import starts the ``pyscale`` command (``python -m pyscale`` or the
    console script) rather than being a program's ``import pyscale``."""
    if _sys.argv[:1] == ["-m"]:  # under -m, argv[0] is "-m" while the module is located
        orig = list(getattr(_sys, "orig_argv", ()))
        return "-m" in orig and orig[orig.index("-m") + 1:][:1] == ["pyscale"]
    main = str(getattr(_sys.modules.get("__main__"), "__file__", None) or "")
    if main.replace("\\", "/").rsplit("/", 1)[-1] not in ("pyscale", "pyscale-script.py"):
        return False
    try:  # the console script that pip writes: it imports and calls pyscale.__main__.run
        with open(main, encoding="utf-8", errors="replace") as script:
            return "from pyscale.__main__ import run" in script.read(4096)
    except OSError:
        return False


if hasattr(_signal, "pthread_sigmask") and _starts_the_pyscale_command():
    # The command's first moments: a Ctrl-C from here on is held by the kernel and
    # delivered inside the command's guard (pyscale.__main__.run releases it), rather than
    # ending the command as a traceback while the package loads.
    _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})

import importlib  # noqa: E402  (after the hold: an import can take a Ctrl-C)

from ._source_tree import package_path  # noqa: E402

TYPE_CHECKING = False  # (not `typing`'s: `import pyscale` stays as light as can be)

# A source tree without its compiled core (a fresh clone, after `pip install .`) defers to
# the installed copy, whose core is built (see pyscale._source_tree).
__path__ = package_path(__path__, __file__)

#: name -> the module it is re-exported from
_EXPORTS = {"__version__": "_version", "compare": "analysis.compare", "load": "app.io",
            "save_trajectory": "app.io", "simulate": "engines", "simulate_many": "engines",
            "hierarchy": "engines.hierarchy", "DivergenceError": "errors",
            "Interrupted": "errors", "DomainError": "errors", "Link": "model.links",
            "LinkPair": "model.links", "Problem": "model.problem",
            "power_law_eigenvalues": "model.problem", "statistics": "model.statistics",
            "Ensemble": "results.trajectory", "Phases": "results.trajectory",
            "Trajectory": "results.trajectory", "Prediction": "theory", "predict": "theory",
            "RegimeWarning": "theory", "divergence_probability": "analysis.divergence"}

__all__ = ["Problem", "Link", "LinkPair", "Trajectory", "Phases", "simulate", "simulate_many",
           "Ensemble", "power_law_eigenvalues", "statistics", "DivergenceError", "DomainError",
           "Interrupted", "load",
           "save_trajectory", "predict", "Prediction", "compare", "hierarchy", "RegimeWarning",
           "divergence_probability", "__version__"]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # a subpackage or module: pyscale.theory, pyscale.app, ...
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module 'pyscale' has no attribute {name!r}") from None


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what the names are, for type checkers and readers
    from ._version import __version__
    from .analysis.compare import compare
    from .analysis.divergence import divergence_probability
    from .app.io import load, save_trajectory
    from .engines import simulate, simulate_many
    from .engines.hierarchy import hierarchy
    from .errors import DivergenceError, DomainError, Interrupted
    from .model.links import Link, LinkPair
    from .model.problem import Problem, power_law_eigenvalues
    from .model.statistics import statistics
    from .results.trajectory import Ensemble, Phases, Trajectory
    from .theory import Prediction, RegimeWarning, predict
