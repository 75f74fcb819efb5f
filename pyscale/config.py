"""Configuration files for the CLI and sweeps: parsing (TOML or JSON) and validation that
names the offending field (``problem.a``, ``gd.lr``, ``grid.d[2]``, ...).

A run configuration (``pyscale simulate --config`` / ``pyscale predict --config``)::

    [problem]            # SPEC §1: Problem.power_law(d, a, seed, target, noise, compress)
    d = 1000
    a = 2.0
    seed = 0
    target = "unit_q"    # or "norm_d"
    noise = 0.0          # label-noise variance σ²

    [run]
    method = "flow"      # flow | gd | sgd | erm
    t = 1e5              # flow: horizon (records log-spaced from t_start = 1e-2)
    records = 200

A sweep configuration (``pyscale sweep CONFIG``) replaces single values by lists under
``[grid]`` (any of a, d, seed, target, noise, method) and gives each method's options in
its own table::

    [grid]
    a = [1.5, 2.0]
    d = [300, 1000]
    seed = [0, 1, 2]
    method = ["flow", "gd"]

    [problem]            # fixed problem fields (not gridded)
    target = "unit_q"

    [flow]
    t = 1e4
    [gd]
    lr = 1e-2
    steps = 1_000_000

    [sweep]              # optional: where and how to run
    out = "sweep-results"
    workers = 2
    retries = 2
    dask = ""            # "" = local processes, "local" = a dask LocalCluster, or an address

Engine options per method (SPEC §5 engines, :func:`pyscale.simulate`):

* flow: ``t`` (horizon, required), ``records`` (200), ``t_start`` (1e-2), ``rtol`` (1e-9)
* gd: ``lr``, ``steps`` (required), ``records`` (200)
* sgd: ``lr``, ``steps`` (required), ``records``, ``batch`` (1), ``sample_seed``
  (default: the problem's seed), ``noise`` (default: the problem's)
* erm: ``n_samples``, ``lr``, ``steps`` (required), ``records``, ``sample_seed``, ``noise``
"""
from __future__ import annotations

import difflib
import itertools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

__all__ = ["ConfigError", "ProblemConfig", "RunConfig", "SweepConfig", "load_config_file",
           "parse_problem", "parse_run", "parse_sweep", "METHODS", "METHOD_OPTIONS"]


class ConfigError(ValueError):
    """A configuration value is missing or invalid; ``field`` names it (``section.key``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


# ---------------------------------------------------------------------------- field checks
def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _reject_unknown(section: str, table: Mapping, allowed) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(section, f"must be a table of key = value pairs, got "
                                   f"{type(table).__name__}")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{section}.{key}" if section else key,
                              f"unknown field{_suggest(key, allowed)}; allowed: "
                              f"{', '.join(sorted(allowed))}")


def _integer(name: str, value, low: Optional[int] = None) -> int:
    if isinstance(value, bool):
        raise ConfigError(name, f"must be an integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise ConfigError(name, f"must be an integer, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise ConfigError(name, f"must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ConfigError(name, f"must be >= {low}, got {value}")
    return value


def _real(name: str, value, low: Optional[float] = None, positive: bool = False) -> float:
    if isinstance(value, bool):
        raise ConfigError(name, f"must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"must be a number, got {value!r}") from None
    if not np.isfinite(x):
        raise ConfigError(name, f"must be finite, got {value!r}")
    if positive and not x > 0:
        raise ConfigError(name, f"must be > 0, got {x:g}")
    if low is not None and x < low:
        raise ConfigError(name, f"must be >= {low:g}, got {x:g}")
    return x


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(map(repr, choices))}, got "
                                f"{value!r}{_suggest(str(value), choices)}")
    return value


# ---------------------------------------------------------------------------- problem
TARGETS = ("unit_q", "norm_d")


@dataclass(frozen=True)
class ProblemConfig:
    """The arguments of :meth:`pyscale.Problem.power_law` (SPEC §1)."""
    d: int
    a: float
    seed: int = 0
    target: str = "unit_q"
    noise: float = 0.0
    compress: Optional[float] = None

    def build(self):
        from .problem import Problem
        return Problem.power_law(self.d, self.a, seed=self.seed, target=self.target,
                                 noise=self.noise, compress=self.compress)

    def as_dict(self) -> dict:
        return asdict(self)


PROBLEM_FIELDS = ("d", "a", "seed", "target", "noise", "compress")


def _problem_value(section: str, key: str, value):
    name = f"{section}.{key}"
    if key == "d":
        return _integer(name, value, 1)
    if key == "a":
        return _real(name, value, low=0.0)
    if key == "seed":
        return _integer(name, value, 0)
    if key == "target":
        return _choice(name, value, TARGETS)
    if key == "noise":
        return _real(name, value, low=0.0)
    if key == "compress":
        return None if value in (None, 0, "", False) else _real(name, value, positive=True)
    raise ConfigError(name, f"unknown field{_suggest(key, PROBLEM_FIELDS)}")


def parse_problem(table: Mapping, section: str = "problem") -> ProblemConfig:
    """Validate a ``[problem]`` table; ``d`` and ``a`` are required."""
    _reject_unknown(section, table, PROBLEM_FIELDS)
    for key in ("d", "a"):
        if table.get(key) is None:
            raise ConfigError(f"{section}.{key}", "is required")
    values = {k: _problem_value(section, k, v) for k, v in table.items() if v is not None}
    return ProblemConfig(**values)


# ---------------------------------------------------------------------------- engine runs
METHODS = ("flow", "gd", "sgd", "erm")

#: option name -> (kind, required, default); kind in int+, int0, real+, real0
METHOD_OPTIONS: Dict[str, Dict[str, Tuple[str, bool, Any]]] = {
    "flow": {"t": ("real+", True, None), "records": ("int+", False, 200),
             "t_start": ("real+", False, 1e-2), "rtol": ("real+", False, 1e-9)},
    "gd": {"lr": ("real+", True, None), "steps": ("int0", True, None),
           "records": ("int+", False, 200)},
    "sgd": {"lr": ("real+", True, None), "steps": ("int0", True, None),
            "records": ("int+", False, 200), "batch": ("int+", False, 1),
            "sample_seed": ("int0", False, None), "noise": ("real0", False, None)},
    "erm": {"n_samples": ("int+", True, None), "lr": ("real+", True, None),
            "steps": ("int0", True, None), "records": ("int+", False, 200),
            "sample_seed": ("int0", False, None), "noise": ("real0", False, None)},
}


def _option_value(name: str, kind: str, value):
    if kind == "int+":
        return _integer(name, value, 1)
    if kind == "int0":
        return _integer(name, value, 0)
    if kind == "real+":
        return _real(name, value, positive=True)
    return _real(name, value, low=0.0)


@dataclass(frozen=True)
class RunConfig:
    """One engine and its options (validated; defaults filled in)."""
    method: str
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> float:
        """The run's end as a time t (flow) or a step count (gd, sgd, erm)."""
        return float(self.options["t"] if self.method == "flow" else self.options["steps"])

    def engine_kwargs(self, problem_seed: int = 0) -> Dict[str, Any]:
        """Keyword arguments of :func:`pyscale.simulate` for this run."""
        from ._validate import record_times
        o = self.options
        if self.method == "flow":
            return {"t": record_times(o["t"], count=o["records"], start=o["t_start"]),
                    "rtol": o["rtol"]}
        kw = {"lr": o["lr"], "steps": o["steps"], "record": o["records"]}
        if self.method in ("sgd", "erm"):
            kw["seed"] = problem_seed if o.get("sample_seed") is None else o["sample_seed"]
            if o.get("noise") is not None:
                kw["noise"] = o["noise"]
        if self.method == "sgd":
            kw["batch"] = o["batch"]
        if self.method == "erm":
            kw["n_samples"] = o["n_samples"]
        return kw

    def as_dict(self) -> dict:
        return {"method": self.method, **self.options}


def parse_run(table: Mapping, section: str = "run", method: Optional[str] = None) -> RunConfig:
    """Validate an engine table: ``method`` (unless given) plus that method's options."""
    table = dict(table)
    if method is None:
        method = table.pop("method", "flow")
    else:
        table.pop("method", None)
    method = _choice(f"{section}.method", method, METHODS)
    spec = METHOD_OPTIONS[method]
    _reject_unknown(section, table, spec)
    options = {}
    for key, (kind, required, default) in spec.items():
        value = table.get(key)
        if value is None:
            if required:
                raise ConfigError(f"{section}.{key}", f"is required for method={method!r}")
            options[key] = default
        else:
            options[key] = _option_value(f"{section}.{key}", kind, value)
    return RunConfig(method, options)


# ---------------------------------------------------------------------------- sweeps
GRID_FIELDS = ("a", "d", "seed", "target", "noise", "method")
SWEEP_FIELDS = ("out", "workers", "retries", "dask")


@dataclass(frozen=True)
class SweepConfig:
    """A grid of problems × methods (:mod:`pyscale.sweep`)."""
    problems: Tuple[ProblemConfig, ...]
    runs: Dict[str, RunConfig]
    grid: Dict[str, list]
    out: Optional[str] = None
    workers: Optional[int] = None
    retries: int = 2
    dask: Optional[str] = None

    def tasks(self) -> List[Tuple[ProblemConfig, RunConfig]]:
        """The Cartesian product, in grid order (problem fields, then method)."""
        return [(p, self.runs[m]) for p in self.problems for m in self.grid["method"]]


def _as_list(name: str, value) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError(name, "must not be empty")
    return values


def parse_sweep(config: Mapping) -> SweepConfig:
    """Validate a sweep configuration (see the module docstring)."""
    allowed = {"grid", "problem", "sweep", *METHODS}
    _reject_unknown("", config, allowed)
    grid_table = config.get("grid")
    if grid_table is None:
        raise ConfigError("grid", "is required: the lists of a, d, seed, method to sweep")
    _reject_unknown("grid", grid_table, GRID_FIELDS)
    fixed = dict(config.get("problem", {}))
    _reject_unknown("problem", fixed, PROBLEM_FIELDS)
    grid: Dict[str, list] = {}
    for key in GRID_FIELDS:
        if key in grid_table:
            if key in fixed:
                raise ConfigError(f"grid.{key}", "is also set in [problem]; set it once")
            values = _as_list(f"grid.{key}", grid_table[key])
            if key == "method":
                grid[key] = [_choice(f"grid.method[{i}]", v, METHODS)
                             for i, v in enumerate(values)]
            else:
                grid[key] = [_problem_value_indexed(key, i, v) for i, v in enumerate(values)]
            if len(set(map(repr, grid[key]))) != len(grid[key]):
                raise ConfigError(f"grid.{key}", f"has repeated values {grid_table[key]!r}")
    grid.setdefault("method", ["flow"])
    for key in ("d", "a"):
        if key not in grid and key not in fixed:
            raise ConfigError(f"grid.{key}", f"is required (or set problem.{key})")
    fixed_values = {k: _problem_value("problem", k, v) for k, v in fixed.items()
                    if v is not None}
    keys = [k for k in GRID_FIELDS if k in grid and k != "method"]
    problems = tuple(ProblemConfig(**fixed_values, **dict(zip(keys, combo)))
                     for combo in itertools.product(*(grid[k] for k in keys)))
    runs = {}
    for method in grid["method"]:
        if method not in config:
            needed = [k for k, (_, req, _) in METHOD_OPTIONS[method].items() if req]
            raise ConfigError(method, f"is required: the options of method {method!r} "
                                      f"({', '.join(needed)})")
        runs[method] = parse_run(config[method], section=method, method=method)
    for method in METHODS:
        if method in config and method not in grid["method"]:
            raise ConfigError(method, f"options given but {method!r} is not in grid.method")
    sweep = dict(config.get("sweep", {}))
    _reject_unknown("sweep", sweep, SWEEP_FIELDS)
    out = sweep.get("out")
    if out is not None and not isinstance(out, str):
        raise ConfigError("sweep.out", f"must be a directory path, got {out!r}")
    workers = sweep.get("workers")
    workers = None if workers is None else _integer("sweep.workers", workers, 1)
    retries = _integer("sweep.retries", sweep.get("retries", 2), 0)
    dask = sweep.get("dask") or None
    if dask is not None and not isinstance(dask, str):
        raise ConfigError("sweep.dask", f"must be 'local' or a scheduler address, got {dask!r}")
    return SweepConfig(problems=problems, runs=runs, grid=grid, out=out, workers=workers,
                       retries=retries, dask=dask)


def _problem_value_indexed(key: str, i: int, value):
    """Validate grid value ``grid.key[i]`` with the rules of the problem field ``key``."""
    try:
        return _problem_value("grid", key, value)
    except ConfigError as err:
        raise ConfigError(f"grid.{key}[{i}]", str(err).split(": ", 1)[1]) from None


# ---------------------------------------------------------------------------- files
def load_config_file(path) -> dict:
    """Read a TOML (``.toml``) or JSON (``.json``) file into a dict; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "no such configuration file")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(str(path), f"invalid JSON: {err}") from None
    elif path.suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on Python < 3.11 only
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(str(path), f"invalid TOML: {err}") from None
    else:
        raise ConfigError(str(path), "configuration files must end in .toml or .json")
    if not isinstance(data, dict):
        raise ConfigError(str(path), "must hold a table at top level")
    return data
