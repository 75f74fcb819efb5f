"""Configuration files for the CLI and sweeps: parsing (TOML or JSON) and validation that
names the offending field (``problem.a``, ``gd.lr``, ``grid.d[2]``, ...).

A run configuration (``pyscale simulate --config`` / ``pyscale predict --config``)::

    [problem]            # Problem.power_law(d, a, seed, target, noise, compress, link)
    d = 1000
    a = 2.0
    seed = 0
    target = "unit_q"    # or "norm_d"
    noise = 0.0          # label-noise variance σ²
    link = "square"      # the link pair: "relu", "square,abs" or ["square", "abs"], ...

    [run]
    method = "flow"      # flow | gd | sgd | erm
    t = 1e5              # flow: horizon (records log-spaced from t_start = 1e-2)
    records = 200

A sweep configuration (``pyscale sweep CONFIG``) replaces single values by lists under
``[grid]`` (problem fields a, d, seed, target, noise, compress, link; ``method``; and engine
options such as lr, steps, batch, sample_seed — each multiplies the runs of the methods
that have it) and gives each method's options in its own table::

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

Engine options per method (model page: Time and steps; :func:`pyscale.simulate`); every
numeric field is checked by the package's one validator of that parameter
(:data:`pyscale._validate.PARAMETERS`):

* flow: ``t`` (horizon, required), ``records`` (200), ``t_start`` (1e-2), ``rtol`` (1e-9),
  ``max_steps`` (the solver's step budget; default the engine's)
* gd: ``lr``, ``steps`` (required), ``records`` (200)
* sgd: ``lr``, ``steps`` (required), ``records``, ``batch`` (1), ``sample_seed``
  (default: the problem's seed), ``noise`` (default: the problem's)
* erm: ``n_samples``, ``lr``, ``steps`` (required), ``records``, ``sample_seed``, ``noise``
"""
from __future__ import annotations

import itertools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pyscale._validate as check

__all__ = ["ConfigError", "ProblemConfig", "RunConfig", "SweepConfig", "load_config_file",
           "parse_problem", "parse_run", "parse_sweep", "METHODS", "METHOD_OPTIONS"]


class ConfigError(ValueError):
    """A configuration value is missing or invalid; ``field`` names it (``section.key``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


# ---------------------------------------------------------------------------- field checks
def _suggest(key: str, allowed) -> str:
    return check.suggest(str(key), [str(a) for a in allowed])


def reject_unknown(section: str, table: Mapping, allowed) -> None:
    """Refuse a table that is not a table, or that holds a key not in ``allowed``
    (ConfigError naming ``section.key`` and the nearest allowed key)."""
    if not isinstance(table, Mapping):
        raise ConfigError(section or "configuration", f"must be a table of key = value "
                          f"pairs, got {type(table).__name__} {table!r:.40}")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{section}.{key}" if section else str(key),
                              f"unknown field{_suggest(key, allowed)}; allowed: "
                              f"{', '.join(sorted(allowed))}")


def _reason(name: str, err: Exception) -> str:
    """A validator's message without the leading parameter name (the caller names it)."""
    text = str(err)
    return text[len(name):].lstrip() if text.startswith(name) else text


def _number(value):
    """Text from a flag or a file as a number ("1e7", "1_000", "nan"); others unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("_", "")
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return value  # refused by the validator, which names the expected type


def _choice(name: str, value, choices) -> str:
    try:
        return check.choice(name, value, choices)
    except ValueError as err:
        raise ConfigError(name, _reason(name, err)) from None


#: The dimensions ``pyscale figure --d`` (and ``make_figure(..., d=)``) accepts: above
#: :data:`pyscale.app.figures._dimension.COMPRESS_ABOVE` a figure runs on the mode chain,
#: whose χ² draws are validated up to 10^12 degrees of freedom (tests/test_gamma.py), and
#: an isotropic problem is one mode of d coordinates. The smallest is 2: at d = 1, w(0) =
#: ±w* (both are unit vectors in one dimension) and the MSE is 0 throughout.
MIN_FIGURE_D, MAX_FIGURE_D = 2, 10 ** 12


def figure_dimension(value, name: str = "d") -> int:
    """The dimension of a figure: an integer in [MIN_FIGURE_D, MAX_FIGURE_D]."""
    return check.integer(name, value, MIN_FIGURE_D, MAX_FIGURE_D)


#: Every numeric field of a configuration and every numeric flag of the command line is
#: one of the package's parameters, checked by its one validator
#: (:data:`pyscale._validate.PARAMETERS`); figures add their dimension.
FIELDS = (*check.PARAMETERS, "figure_d")


def check_field(name: str, key: str, value):
    """``value`` (a number, or text from a flag or a file: "1e7", "1_000") checked by the
    validator of parameter ``key``; errors are ConfigError(name, ...)."""
    try:
        if key == "figure_d":
            return figure_dimension(_number(value), name)
        return check.parameter(key, _number(value), name)
    except (TypeError, ValueError) as err:
        raise ConfigError(name, _reason(name, err)) from None


# ---------------------------------------------------------------------------- problem
TARGETS = ("unit_q", "norm_d")


@dataclass(frozen=True)
class ProblemConfig:
    """The arguments of :meth:`pyscale.Problem.power_law` (model page: Data model)."""
    d: int
    a: float
    seed: int = 0
    target: str = "unit_q"
    noise: float = 0.0
    compress: Optional[float] = None
    link: str = "square"  # the link pair's identity (links page)

    def build(self, horizon: Optional[float] = None):
        """The problem; a compressed one is sized for runs up to t = ``horizon`` (model page:
        Compression, Horizon-aware grouping), None: for every t."""
        from ..model.compression import horizon_supported
        from ..model.links import LinkPair
        from ..model.problem import Problem
        # Horizon-aware wherever the flow's coefficients can be bounded (closed-form
        # kernels); a quadrature link (tanh, a user's) keeps the uniform grouping.
        sized = self.compress is not None and horizon_supported(LinkPair(self.link))
        return Problem.power_law(self.d, self.a, seed=self.seed, target=self.target,
                                 noise=self.noise, compress=self.compress, link=self.link,
                                 horizon=horizon if sized else None)

    def as_dict(self) -> dict:
        """The fields by name; the link only when it is not the square (a square problem
        keeps the description, hence the task ids, it had before links)."""
        out = asdict(self)
        if self.link == "square":
            del out["link"]
        return out


PROBLEM_FIELDS = ("d", "a", "seed", "target", "noise", "compress", "link")


def link_identity(name: str, value) -> str:
    """A link pair given as a name (``"relu"``, ``"square,abs"``, ``"hermite(0,0,0,1)"``) or
    a [student, teacher] list, as its identity; errors are ConfigError(name, ...)."""
    from ..model.links import LinkPair
    if isinstance(value, (list, tuple)) and not all(isinstance(v, str) for v in value):
        raise ConfigError(name, f"a link pair is a name or [student, teacher] names, got "
                          f"{value!r}")
    if not isinstance(value, (str, list, tuple)):
        raise ConfigError(name, f"a link is a name such as 'relu' or 'square,abs', got "
                          f"{type(value).__name__} {value!r}")
    try:
        return LinkPair(value).identity
    except (TypeError, ValueError) as err:
        raise ConfigError(name, str(err)) from None


def _problem_value(section: str, key: str, value):
    name = f"{section}.{key}"
    if key == "target":
        return _choice(name, value, TARGETS)
    if key == "link":
        return link_identity(name, value)
    if key == "compress" and value in (None, 0, "", False):
        return None
    if key in PROBLEM_FIELDS:
        return check_field(name, key, value)
    raise ConfigError(name, f"unknown field{_suggest(key, PROBLEM_FIELDS)}")


def parse_problem(table: Mapping, section: str = "problem") -> ProblemConfig:
    """Validate a ``[problem]`` table; ``d`` and ``a`` are required."""
    reject_unknown(section, table, PROBLEM_FIELDS)
    for key in ("d", "a"):
        if table.get(key) is None:
            raise ConfigError(f"{section}.{key}", "is required")
    values = {k: _problem_value(section, k, v) for k, v in table.items() if v is not None}
    return ProblemConfig(**values)


# ---------------------------------------------------------------------------- engine runs
METHODS = ("flow", "gd", "sgd", "erm")

#: option name -> (required, default) per method; each option's validator is
#: pyscale._validate.PARAMETERS[name].
METHOD_OPTIONS: Dict[str, Dict[str, Tuple[bool, Any]]] = {
    "flow": {"t": (True, None), "records": (False, 200), "t_start": (False, 1e-2),
             "rtol": (False, 1e-9), "max_steps": (False, None)},
    "gd": {"lr": (True, None), "steps": (True, None), "records": (False, 200)},
    "sgd": {"lr": (True, None), "steps": (True, None), "records": (False, 200),
            "batch": (False, 1), "sample_seed": (False, None), "noise": (False, None)},
    "erm": {"n_samples": (True, None), "lr": (True, None), "steps": (True, None),
            "records": (False, 200), "sample_seed": (False, None), "noise": (False, None)},
}

#: Every engine option of any method (the names a sweep's [grid] may list besides the
#: problem fields and ``method``).
ENGINE_OPTIONS = tuple(sorted({k for options in METHOD_OPTIONS.values() for k in options}))


@dataclass(frozen=True)
class RunConfig:
    """One engine and its options (validated; defaults filled in)."""
    method: str
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> float:
        """The run's end as a time t (flow) or a step count (gd, sgd, erm)."""
        return float(self.options["t"] if self.method == "flow" else self.options["steps"])

    @property
    def end_time(self) -> float:
        """The time t the run ends at (t = step · lr for the step engines)."""
        o = self.options
        return float(o["t"] if self.method == "flow" else o["steps"] * o["lr"])

    def engine_kwargs(self, problem_seed: int = 0) -> Dict[str, Any]:
        """Keyword arguments of :func:`pyscale.simulate` for this run."""
        from .._validate import record_times
        o = self.options
        if self.method == "flow":
            kw = {"t": record_times(o["t"], count=o["records"], start=o["t_start"]),
                  "rtol": o["rtol"]}
            if o.get("max_steps") is not None:
                kw["max_steps"] = o["max_steps"]
            return kw
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
        # an unset max_steps is left out, so that the task ids of earlier sweeps (which
        # had no such option) stay what they were
        return {"method": self.method, **{k: v for k, v in self.options.items()
                                          if not (k == "max_steps" and v is None)}}


def parse_run(table: Mapping, section: str = "run", method: Optional[str] = None) -> RunConfig:
    """Validate an engine table: ``method`` (unless given) plus that method's options."""
    if not isinstance(table, Mapping):
        reject_unknown(section, table, ())
    table = dict(table)
    if method is None:
        method = table.pop("method", "flow")
    else:
        table.pop("method", None)
    method = _choice(f"{section}.method", method, METHODS)
    allowed_options = METHOD_OPTIONS[method]
    for key in table:
        if key in ENGINE_OPTIONS and key not in allowed_options:
            raise ConfigError(f"{section}.{key}", f"not an option of method={method!r} "
                              f"(its options: {', '.join(allowed_options)})")
    reject_unknown(section, table, allowed_options)
    options = {}
    for key, (required, default) in allowed_options.items():
        value = table.get(key)
        if value is None and key == "t_start" and table.get("t") is not None:
            # default first record 1e-2, or t/100 for horizons that short
            horizon = check_field(f"{section}.t", "t", table["t"])
            options[key] = default if default < horizon else horizon * 1e-2
        elif value is None:
            if required:
                raise ConfigError(f"{section}.{key}", f"is required for method={method!r}")
            options[key] = default
        else:
            options[key] = check_field(f"{section}.{key}", key, value)
    if method == "flow" and options["t_start"] >= options["t"]:
        raise ConfigError(f"{section}.t_start", f"the first record time t_start = "
                          f"{options['t_start']:g} must be below the horizon t = "
                          f"{options['t']:g}")
    return RunConfig(method, options)


# ---------------------------------------------------------------------------- sweeps
GRID_FIELDS = ("a", "d", "seed", "target", "noise", "compress", "link", "method",
               *[k for k in ENGINE_OPTIONS if k not in PROBLEM_FIELDS])
SWEEP_FIELDS = ("out", "workers", "retries", "dask")


@dataclass(frozen=True)
class SweepConfig:
    """A grid of problems × engine runs (:mod:`pyscale.app.sweep`)."""
    problems: Tuple[ProblemConfig, ...]
    runs: Tuple[RunConfig, ...]
    grid: Dict[str, list]
    out: Optional[str] = None
    workers: Optional[int] = None
    retries: int = 2
    dask: Optional[str] = None

    def tasks(self) -> List[Tuple[ProblemConfig, RunConfig]]:
        """The Cartesian product, in grid order (problem fields, then runs)."""
        return [(p, r) for p in self.problems for r in self.runs]


def _as_list(name: str, value) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError(name, "must not be empty")
    return values


def _grid_values(key: str, values: list) -> list:
    """Validate the list ``grid.key`` element by element (errors name ``grid.key[i]``)."""
    checked = []
    for i, value in enumerate(values):
        name = f"grid.{key}[{i}]"
        if key == "method":
            checked.append(_choice(name, value, METHODS))
        elif key in PROBLEM_FIELDS:
            try:
                checked.append(_problem_value("grid", key, value))
            except ConfigError as err:
                raise ConfigError(name, str(err).split(": ", 1)[1]) from None
        else:
            checked.append(check_field(name, key, value))
    if len(set(map(repr, checked))) != len(checked):
        raise ConfigError(f"grid.{key}", f"has repeated values {values!r}")
    return checked


def _parse_grid(config: Mapping) -> Dict[str, list]:
    grid_table = config.get("grid")
    if grid_table is None:
        raise ConfigError("grid", "is required: the lists of a, d, seed, method to sweep")
    reject_unknown("grid", grid_table, GRID_FIELDS)
    grid = {key: _grid_values(key, _as_list(f"grid.{key}", grid_table[key]))
            for key in GRID_FIELDS if key in grid_table}
    grid.setdefault("method", ["flow"])
    return grid


def _sweep_runs(config: Mapping, grid: Dict[str, list]) -> Tuple[RunConfig, ...]:
    """Each method of ``grid.method`` × the gridded engine options it has."""
    options = [k for k in grid if k in ENGINE_OPTIONS and k not in PROBLEM_FIELDS]
    for key in options:
        if not any(key in METHOD_OPTIONS[m] for m in grid["method"]):
            raise ConfigError(f"grid.{key}", f"is not an option of any method in grid.method "
                              f"({', '.join(grid['method'])})")
    runs = []
    for method in grid["method"]:
        table = config.get(method)
        if table is None:
            needed = [k for k, (req, _) in METHOD_OPTIONS[method].items()
                      if req and k not in grid]
            if needed:
                raise ConfigError(method, f"is required: the options of method {method!r} "
                                          f"({', '.join(needed)})")
            table = {}
        reject_unknown(method, table, METHOD_OPTIONS[method])
        mine = [k for k in options if k in METHOD_OPTIONS[method]]
        for key in mine:
            if key in table:
                raise ConfigError(f"grid.{key}", f"is also set in [{method}]; set it once")
        for combo in itertools.product(*(grid[k] for k in mine)):
            runs.append(parse_run({**table, **dict(zip(mine, combo))}, section=method,
                                  method=method))
    for method in METHODS:
        if method in config and method not in grid["method"]:
            raise ConfigError(method, f"options given but {method!r} is not in grid.method")
    return tuple(runs)


def _parse_sweep_table(config: Mapping) -> dict:
    sweep = config.get("sweep", {})
    reject_unknown("sweep", sweep, SWEEP_FIELDS)
    out = sweep.get("out")
    if out is not None and not isinstance(out, str):
        raise ConfigError("sweep.out", f"must be a directory path, got {out!r}")
    workers = sweep.get("workers")
    workers = None if workers is None else check_field("sweep.workers", "workers", workers)
    retries = check_field("sweep.retries", "retries", sweep.get("retries", 2))
    dask = sweep.get("dask") or None
    if dask is not None:
        dask = check_dask_address("sweep.dask", dask)
    return {"out": out, "workers": workers, "retries": retries, "dask": dask}


def _check_noise_set_once(config: Mapping, grid: Dict[str, list], fixed: Mapping) -> None:
    """The label-noise variance is the problem's (grid.noise, problem.noise) unless an
    engine option overrides it: setting both gives runs that differ in name only."""
    where = "grid.noise" if "noise" in grid else "problem.noise" if "noise" in fixed else None
    if where is None:
        return
    for method in grid["method"]:
        table = config.get(method)
        if isinstance(table, Mapping) and table.get("noise") is not None:
            raise ConfigError(f"{method}.noise", f"sets the label-noise variance of the "
                              f"{method} runs, which {where} also sets; set it once")


#: Memory a sweep holds per task while it is set up and run (its configuration, task list,
#: ids, index and the index's JSON text): measured peak about 3.7 kB per task.
SWEEP_BYTES_PER_TASK = 4096


def sweep_bytes_per_task() -> int:
    """The memory a sweep holds per task (:data:`SWEEP_BYTES_PER_TASK`)."""
    return SWEEP_BYTES_PER_TASK


def _count_tasks(config: Mapping, grid: Dict[str, list]) -> int:
    """The number of tasks the grid makes, counted without building them."""
    problems = 1
    for key in PROBLEM_FIELDS:
        problems *= len(grid.get(key, [None]))
    runs = 0
    for method in grid["method"]:
        combos = 1
        for key, values in grid.items():
            if key in ENGINE_OPTIONS and key not in PROBLEM_FIELDS and \
                    key in METHOD_OPTIONS[method]:
                combos *= len(values)
        runs += combos
    return problems * runs


def _check_grid_fits(config: Mapping, grid: Dict[str, list]) -> None:
    """Refuse, before building it, a grid whose tasks do not fit in memory."""
    tasks = _count_tasks(config, grid)
    check.memory(tasks * SWEEP_BYTES_PER_TASK, f"the sweep's grid of {tasks} tasks (its task "
                 f"list and index, {SWEEP_BYTES_PER_TASK} bytes per task)", None,
                 "split the grid into several sweeps")


def parse_sweep(config: Mapping) -> SweepConfig:
    """Validate a sweep configuration (see the module docstring)."""
    reject_unknown("", config, {"grid", "problem", "sweep", *METHODS})
    grid = _parse_grid(config)
    fixed = config.get("problem", {})
    reject_unknown("problem", fixed, PROBLEM_FIELDS)
    for key in fixed:
        if key in grid:
            raise ConfigError(f"grid.{key}", "is also set in [problem]; set it once")
    for key in ("d", "a"):
        if key not in grid and key not in fixed:
            raise ConfigError(f"grid.{key}", f"is required (or set problem.{key})")
    fixed_values = {k: _problem_value("problem", k, v) for k, v in fixed.items()
                    if v is not None}
    _check_noise_set_once(config, grid, fixed)
    _check_grid_fits(config, grid)
    keys = [k for k in PROBLEM_FIELDS if k in grid]
    problems = tuple(ProblemConfig(**fixed_values, **dict(zip(keys, combo)))
                     for combo in itertools.product(*(grid[k] for k in keys)))
    return SweepConfig(problems=problems, runs=_sweep_runs(config, grid), grid=grid,
                       **_parse_sweep_table(config))


_DASK_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss", "inproc")


def check_dask_address(name: str, value) -> str:
    """``"local"`` or a scheduler address ``scheme://host:port`` (or ``host:port``)."""
    import re
    if not isinstance(value, str):
        raise ConfigError(name, f"must be 'local' or a scheduler address, got {value!r:.40}")
    if value == "local":
        return value
    pattern = rf"^(({'|'.join(_DASK_SCHEMES)})://)?[A-Za-z0-9_.\-\[\]:]+:\d{{1,5}}$"
    if not re.match(pattern, value):
        raise ConfigError(name, f"must be 'local' or a scheduler address such as "
                                f"tcp://host:8786, got {value!r:.60}")
    return value


# ---------------------------------------------------------------------------- files
def load_config_file(path) -> dict:
    """Read a TOML (``.toml``) or JSON (``.json``) file into a dict; errors name the file."""
    path = Path(path)
    if not path.is_file():
        what = ("is a directory, not a configuration file" if path.is_dir() else
                "not a regular file (expected a .toml or .json configuration file)"
                if path.exists() else "no such configuration file")
        raise ConfigError(str(path), what)
    if path.suffix not in (".json", ".toml"):
        raise ConfigError(str(path), "configuration files must end in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), f"not a text file (byte {err.start} is not UTF-8): "
                                     f"expected TOML or JSON") from None
    except OSError as err:
        raise ConfigError(str(path), f"cannot read it: {err.strerror}") from None
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
        raise ConfigError(str(path), f"must hold a table at top level, got "
                                     f"{type(data).__name__}")
    return data
