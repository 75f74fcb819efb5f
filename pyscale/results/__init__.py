"""What runs return, and nothing that runs: :class:`~pyscale.Trajectory` and
:class:`~pyscale.Ensemble` (:mod:`~pyscale.results.trajectory`), the flow's dense output
(:mod:`~pyscale.results.dense`), the phases' stopping times (:mod:`~pyscale.results.phases`)
and tidy tables (:mod:`~pyscale.results.tidy`).
"""
from .phases import DEFAULTS
from .trajectory import FIELDS, Ensemble, Phases, Trajectory

__all__ = ["Trajectory", "Ensemble", "Phases", "FIELDS", "DEFAULTS"]
