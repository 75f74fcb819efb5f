"""The ``pyscale`` command (also ``python -m pyscale``): the paper's figures, single runs,
predictions and sweeps from the shell.

    pyscale figure 2 --out fig2.png          # one of the figures, 1..9
    pyscale figure 1 --d 1e9 --out f1.png    # figure 1 or 5 at another dimension
    pyscale figure all --out docs/gallery    # all nine, with the gallery's manifest
    pyscale figure 7 --out docs/gallery --force  # one of them, entered into the manifest
    pyscale simulate --d 1000 --a 2 --method flow --t 1e5 --out run.npz
    pyscale simulate --d 1000 --a 2 --link square,abs --method flow --t 1e3
    pyscale simulate --d 1000 --a 2 --units 4 --teacher-units 4 --link erf --t 1e4
    pyscale simulate --config run.toml --checkpoint run.npz --checkpoint-every 60
    pyscale predict --d 1000 --a 2           # the theory's predictions (model page: Phases)
    pyscale sweep sweep.toml --out results/ [--workers 4 | --dask local | --dask tcp://...]
    pyscale show run.npz | results/          # summary of a saved run or sweep

Every error is one line on stderr, ``pyscale COMMAND: error: ...``, and an exit status:
0 success, 1 a failed run or an unusable file (I/O, memory, divergence, a damaged result),
2 bad usage (a flag or configuration value out of range, a bad combination), 130
interrupted by Ctrl-C (the line says what was saved). Every output path is checked before
any work starts.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

# Only the standard library at import time: the handlers for Ctrl-C and SIGTERM are in
# place before anything heavy loads (see main).

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CLIError(Exception):
    """An error to report as ``error: message``; ``code`` is the exit status (2: usage)."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``prog: error: message``, exit status 2): the usage
    block is left to ``--help``."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------- parser
PROBLEM_FLAGS = ("d", "a", "seed", "target", "noise", "compress", "link", "units",
                 "teacher_units", "teachers", "readout", "teacher_readout")
RUN_FLAGS = ("t", "records", "t_start", "rtol", "max_steps", "lr", "steps", "batch",
             "sample_seed", "n_samples")


def _checked(key: str):
    """The argparse ``type=`` of a numeric flag: the parameter's one validator
    (:func:`pyscale.app.config.check_field`, as for configuration files)."""
    from .config import ConfigError, check_field

    def parse(text: str):
        try:
            return check_field(key, key, text)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(err.reason) from None

    parse.__name__ = key
    return parse


def _dask_address(text: str) -> str:
    from .config import ConfigError, check_dask_address
    try:
        return check_dask_address("--dask", text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(err.reason) from None


def _link(text: str) -> str:
    """The argparse ``type=`` of ``--link``: a link pair's identity (``relu``, or
    ``student,teacher`` such as ``square,abs``), checked as in configuration files."""
    from .config import ConfigError, link_identity
    try:
        return link_identity("--link", text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(err.reason) from None


def _readout(text: str):
    """The argparse ``type=`` of ``--readout`` / ``--teacher-readout``: numbers separated by
    commas, checked as in configuration files."""
    from .config import ConfigError, readout_values
    try:
        return readout_values("readout", text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(err.reason) from None


def _add_problem_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("problem (model page: Data model; override the config's "
                             "[problem])")
    g.add_argument("--config", type=Path, help="TOML or JSON file with [problem] and [run]")
    g.add_argument("--d", type=_checked("d"), help="dimension")
    g.add_argument("--a", type=_checked("a"), help="power-law exponent of the spectrum")
    g.add_argument("--seed", type=_checked("seed"), help="seed of w* and w(0) (default 0)")
    g.add_argument("--target", choices=("unit_q", "norm_d"),
                   help="w* normalisation: s* = 1 (unit_q, default) or ||w*||^2 = d")
    g.add_argument("--noise", type=_checked("noise"),
                   help="label-noise variance sigma^2 (default 0)")
    g.add_argument("--compress", type=_checked("compress"),
                   help="spectral compression tolerance delta in (0, 1), sensible 1e-4 .. "
                        "1e-1 (huge d; flow and gd only)")
    g.add_argument("--link", type=_link,
                   help="link pair (links page): square (default), abs, relu, erf, tanh, "
                        "polynomial(a0,a1,...), hermite(c0,c1,...), or student,teacher "
                        "such as square,abs")
    g.add_argument("--units", type=_checked("units"),
                   help="a two-layer network (networks page): p student units, readouts 1/p")
    g.add_argument("--teacher-units", dest="teacher_units", type=_checked("teacher_units"),
                   help="the network's k teacher units, readouts 1/k (default 1)")
    g.add_argument("--teachers", choices=("random", "orthonormal"),
                   help="a network's teachers: random unit Q-norm (default) or "
                        "Q-orthonormal (S* = I)")
    g.add_argument("--readout", type=_readout,
                   help="a network's student readouts a_j, one per unit: 0.5,0.25,...")
    g.add_argument("--teacher-readout", dest="teacher_readout", type=_readout,
                   help="a network's teacher readouts a*_l, one per teacher unit")
    from ..results.phases import DEFAULTS
    g.add_argument("--delta", type=_checked("delta"), default=DEFAULTS.delta,
                   help="escape threshold for T1, in (0, 1)")
    g.add_argument("--eps", type=_checked("eps"), default=DEFAULTS.eps,
                   help="convergence threshold for T2, in (0, 1)")
    g.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_figure(sub) -> None:
    fig = sub.add_parser("figure", help="reproduce one of the paper's figures",
                         description="Reproduce figure N (1-9; 1-6 are the paper's) or all "
                                     "of them.")
    fig.add_argument("number", help="1, 2, 3, 4, 5, 6, 7, 8, 9, all, or check (is the "
                                    "gallery in --out what the code makes now?)")
    fig.add_argument("--out", type=Path, required=True,
                     help="output PNG, PDF or SVG; a directory for 'all', or to write "
                          "DIR/figureN.png and enter it into DIR's manifest")
    fig.add_argument("--force", action="store_true", help="overwrite existing files")
    fig.add_argument("--quick", action="store_true",
                     help="small dimensions and horizons: a smoke test in seconds")
    fig.add_argument("--d", type=_checked("figure_d"),
                     help="figures 1 and 5: their dimension, an integer in [2, 10**12]; "
                          "above 10**4 the problems are compressed (delta = 1e-2) and SGD "
                          "runs on the mode chain")
    fig.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_simulate(sub) -> None:
    sim = sub.add_parser("simulate", help="run one engine on one problem",
                         description="Run one engine on one problem; print T1, T1', T2 "
                         "(model page: Phases), the final MSE and the predicted escape rate.")
    _add_problem_flags(sim)
    r = sim.add_argument_group("run (override the config's [run])")
    r.add_argument("--method", choices=("flow", "gd", "sgd", "erm"),
                   help="engine (default flow)")
    r.add_argument("--t", type=_checked("t"), help="flow: horizon")
    r.add_argument("--records", type=_checked("records"),
                   help="number of records, >= 2 (default 200)")
    r.add_argument("--t-start", dest="t_start", type=_checked("t_start"),
                   help="flow: first log-spaced record time (default 1e-2)")
    r.add_argument("--rtol", type=_checked("rtol"),
                   help="flow: relative tolerance (default 1e-9)")
    r.add_argument("--max-steps", dest="max_steps", type=_checked("max_steps"),
                   help="flow: the solver's step budget (a run that exhausts it fails)")
    r.add_argument("--lr", type=_checked("lr"), help="gd/sgd/erm: step size")
    r.add_argument("--steps", type=_checked("steps"), help="gd/sgd/erm: number of steps")
    r.add_argument("--batch", type=_checked("batch"), help="sgd: batch size (default 1)")
    r.add_argument("--sample-seed", dest="sample_seed", type=_checked("sample_seed"),
                   help="sgd/erm: seed of the samples (default: --seed)")
    r.add_argument("--n-samples", dest="n_samples", type=_checked("n_samples"),
                   help="erm: size of the data set")
    r.add_argument("--threads", type=_checked("threads"), default=0,
                   help="engine threads (0: all; results do not depend on it)")
    o = sim.add_argument_group("output (checked before the run starts)")
    o.add_argument("--out", type=Path, help="save the trajectory here (.npz)")
    o.add_argument("--force", action="store_true", help="overwrite an existing --out")
    o.add_argument("--checkpoint", type=Path,
                   help="save resumable state here and continue from it if it exists")
    o.add_argument("--checkpoint-every", dest="checkpoint_every",
                   type=_checked("checkpoint_every"), default=60.0,
                   help="seconds of wall time between checkpoints (default 60)")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__
    parser = _Parser(
        prog="pyscale", description="Learning dynamics of phase retrieval on power-law "
        "data (arXiv 2511.18661): figures, runs, predictions, sweeps.")
    parser.add_argument("--version", action="version", version=f"pyscale {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_figure(sub)
    _add_simulate(sub)

    pred = sub.add_parser("predict", help="the theory's predictions for one problem",
                          description="Escape rate and prefactor, predicted T1, the T2 bound "
                          "and the plateau bound (model page: Phases).")
    _add_problem_flags(pred)
    from ..results.phases import DEFAULTS
    pred.add_argument("--s0", type=_checked("s0"), default=DEFAULTS.s0,
                      help="margin of T1' (s >= 1/3 + s0 after it) in Corollary 1, "
                           "in (0, 2/3) for the bound")

    sw = sub.add_parser("sweep", help="run a grid of problems and methods",
                        description="Run the grid of a sweep config (TOML/JSON); results "
                        "go to a Parquet table task by task; rerun to resume.")
    sw.add_argument("config", type=Path, help="sweep configuration (see docs/cli.md)")
    sw.add_argument("--out", type=Path, help="output directory (default: [sweep] out)")
    sw.add_argument("--workers", type=_checked("workers"),
                    help="worker processes, >= 1 (default: cores)")
    sw.add_argument("--dask", type=_dask_address,
                    help="'local' for a dask LocalCluster, or a scheduler address "
                         "(tcp://host:port)")
    sw.add_argument("--retries", type=_checked("retries"),
                    help="retries of a failed task (default 2)")
    sw.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    show = sub.add_parser("show", help="summarise a saved trajectory (.npz) or sweep (dir)")
    show.add_argument("path", type=Path)
    show.add_argument("--json", action="store_true", help="print as JSON")
    show.add_argument("--legacy", action="store_true",
                      help="read a trajectory file of an earlier format (its header is not "
                           "covered by a checksum: trusted as it is)")
    return parser


# ---------------------------------------------------------------------------- helpers
def _load_tables(args) -> Dict[str, dict]:
    from .config import load_config_file, reject_unknown
    if getattr(args, "config", None) is None:
        return {}
    data = load_config_file(args.config)
    reject_unknown("", data, ("problem", "run"))
    for section, table in data.items():
        if not isinstance(table, dict):  # `problem = 5`: refused with its type
            reject_unknown(section, table, ())
    return data


def _flags(args, names) -> Dict[str, object]:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def _flag_name(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def _rename_flag_error(err, flags: Dict[str, object], section: str):
    """Report a ConfigError about a value given as a flag under the flag's name."""
    field = getattr(err, "field", "")
    key = field.split(".", 1)[1] if field.startswith(section + ".") else None
    if key in flags:
        return CLIError(f"{_flag_name(key)}: {err.reason}")
    return CLIError(str(err))


def _problem_config(args, tables):
    from .config import ConfigError, parse_problem
    flags = _flags(args, PROBLEM_FLAGS)
    table = {**tables.get("problem", {}), **flags}
    try:
        return parse_problem(table)
    except ConfigError as err:
        if err.field in ("problem.d", "problem.a") and "required" in str(err):
            raise CLIError(f"{err.field}: is required (give --{err.field[-1]} or a --config "
                           f"with [problem] {err.field[-1]} = ...)") from None
        raise _rename_flag_error(err, flags, "problem") from None


def _run_config(args, tables):
    from .config import METHOD_OPTIONS, ConfigError, parse_run
    flags = _flags(args, RUN_FLAGS)
    table = dict(tables.get("run", {}))
    if args.method is not None:
        table["method"] = args.method
    method = table.get("method", "flow")
    # Flags that do not belong to the chosen method are an error, not silently ignored.
    for key in flags:
        if method in METHOD_OPTIONS and key not in METHOD_OPTIONS[method]:
            raise CLIError(f"{_flag_name(key)}: not an option of method={method!r} "
                           f"(its options: {', '.join(METHOD_OPTIONS[method])})")
    table.update(flags)
    try:
        return parse_run(table)
    except ConfigError as err:
        if err.field == "run.t_start":  # name both ends of the bad interval
            names = {k: _flag_name(k) if k in flags else f"run.{k}" for k in ("t_start", "t")}
            raise CLIError(f"{names['t_start']} = {table['t_start']} must be below the "
                           f"horizon {names['t']} = {table['t']}") from None
        given = dict(flags, **({"method": args.method} if args.method is not None else {}))
        raise _rename_flag_error(err, given, "run") from None


def _check_outputs(args) -> None:
    """Refuse unusable output paths now, before any work (not after a long run)."""
    from .io import check_output_path
    if getattr(args, "out", None) is not None:
        check_output_path(args.out, "--out", overwrite=args.force, suffixes=(".npz",))
    if getattr(args, "checkpoint", None) is not None:
        # an existing checkpoint is the run to resume: verified when it is read
        check_output_path(args.checkpoint, "--checkpoint", overwrite=True,
                          suffixes=(".npz",))
        if args.out is not None and args.out.resolve() == args.checkpoint.resolve():
            raise CLIError("--out and --checkpoint must be different files")


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, (list, tuple)):  # per unit of a network
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    if isinstance(x, float):
        if math.isnan(x):
            return "—"
        return f"{x:.6g}"
    return str(x)


def _print_table(title: str, rows: List[tuple], as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: v for k, v, *_ in rows}, default=float))
        return
    width = max(len(k) for k, *_ in rows)
    print(title)
    for key, value, *note in rows:
        line = f"  {key:<{width}}  {_fmt(value)}"
        if note and note[0]:
            line += f"   ({note[0]})"
        print(line)


def _prediction(problem):
    """pyscale.predict(problem), or None with the reason when unavailable."""
    try:
        from ..theory import predict
    except ImportError:
        return None, "pyscale.predict is not available in this installation"
    try:
        return predict(problem), None
    except Exception as err:  # the theory needs a > 1, s* > 0, ...
        return None, f"{type(err).__name__}: {err}"


def _value(obj, name, *args):
    """An attribute of a Prediction that may be a number or a method taking args."""
    attr = getattr(obj, name, None)
    if attr is None:
        return None
    try:
        return float(attr(*args)) if callable(attr) else float(attr)
    except Exception:
        return None


# ---------------------------------------------------------------------------- commands
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
#: The paper's figures (``pyscale.app.figures.FIGURES``; a test keeps the two equal): known
#: here so that paths are checked before the plotting stack is imported (~2 s).
FIGURES = (1, 2, 3, 4, 5, 6, 7, 8, 9)
#: The figures that take ``--d`` (``pyscale.app.figures.ANY_D``; a test keeps the two equal).
FIGURES_WITH_D = (1, 5)


def _check_figure_d(args) -> None:
    """``--d`` only with a figure that takes it (an unknown number is reported after)."""
    if args.d is None:
        return
    try:
        number = int(args.number)
    except ValueError:
        number = None
    if number not in FIGURES_WITH_D and (number in FIGURES or args.number == "all"):
        raise CLIError(f"--d: only figures {' and '.join(map(str, FIGURES_WITH_D))} take a "
                       f"dimension, not figure {args.number}")


def _figure_targets(args) -> List[Path]:
    """The files ``pyscale figure`` will write, each checked before any drawing."""
    from .io import check_output_path
    _check_figure_d(args)
    if args.number == "all":
        if args.out.suffix.lower() in FIGURE_SUFFIXES:
            raise CLIError(f"--out: 'figure all' writes figure1.png ... figure{FIGURES[-1]}"
                           f".png into a directory, got the file name {str(args.out)!r}")
        check_output_path(args.out, "--out", kind="dir")
        targets = [args.out / f"figure{n}.png" for n in FIGURES]
    else:
        try:
            number = int(args.number)
        except ValueError:
            number = None
        if number not in FIGURES:
            raise CLIError(f"figure: number must be one of {', '.join(map(str, FIGURES))} "
                           f"or 'all', got {args.number!r}")
        if not args.out.is_dir():
            targets = [args.out]
        elif args.d is not None:  # a gallery holds each figure at its own parameters
            raise CLIError(f"--d: --out {str(args.out)!r} is a directory (a gallery of the "
                           f"figures at their own parameters); give a file name with --d")
        else:
            targets = [args.out / f"figure{number}.png"]
    for target in targets:
        check_output_path(target, "--out", overwrite=args.force, suffixes=FIGURE_SUFFIXES)
    return targets


def _check_gallery(args) -> int:
    """``pyscale figure check --out DIR``: is the gallery in DIR what the code makes now?"""
    from .figures import check_gallery
    problems = check_gallery(args.out, say=lambda text: print(text, file=sys.stderr))
    if problems:
        raise CLIError(f"the gallery in {args.out} is not current ({len(problems)} "
                       f"problem{'s' if len(problems) > 1 else ''}): {problems[0]}; "
                       f"regenerate it: pyscale figure all --out {args.out} --force",
                       EXIT_ERROR)
    print(f"gallery {args.out}: current")
    return EXIT_OK


def cmd_figure(args) -> int:
    if args.number == "check":
        return _check_gallery(args)
    _figure_targets(args)
    from .figures import make_all, make_figure, make_into
    progress = False if args.no_progress else None
    if args.number == "all":
        for number, path, seconds in make_all(args.out, quick=args.quick, progress=progress):
            print(f"figure {number}: {path}  ({seconds:.1f} s)")
        return EXIT_OK
    if args.out.is_dir():  # DIR/figureN.png, entered into DIR's manifest
        path, seconds = make_into(args.out, int(args.number), quick=args.quick,
                                  progress=progress)
        print(f"figure {args.number}: {path}  ({seconds:.1f} s)")
        return EXIT_OK
    start = time.perf_counter()
    path = make_figure(int(args.number), args.out, quick=args.quick, progress=progress,
                       d=args.d)
    print(f"figure {args.number}: {path}  ({time.perf_counter() - start:.1f} s)")
    return EXIT_OK


def _phase_rows(traj, delta: float, eps: float) -> List[tuple]:
    """T1, T1', T2 of a run (model page: Phases; another pair's at its own levels, links
    page: Phases)."""
    ph = traj.phases(delta=delta, eps=eps)
    if str(traj.meta.get("link", "square")) == "square":
        saddle, band = "s stays above s*/3 after", f"|u|, s in [1-{eps:g}, 1]"
    else:
        saddle = "s stays above the pair's saddle level after (links page: Phases)"
        band = f"|u|, s within {eps:g} of the pair's minimum along w*"
    return [("T1", ph.T1, f"first |u| >= {delta:g}"), ("T1_prime", ph.T1_prime, saddle),
            ("T2", ph.T2, band)]


def _final_rows(traj) -> List[tuple]:
    """The last record's recovery metric (none for a pair without one) and |u|, cosine."""
    from ..results.columns import has_mse
    last = len(traj) > 0
    if has_mse(traj.meta):
        rows = [("final_mse", float(traj.mse[-1]) if last else None)]
    else:
        rows = [("final_excess_risk", float(traj.excess_risk[-1]) if last else None,
                 "loss - sigma^2: the pair has no recovery MSE")]
    return rows + [("final_abs_u", float(abs(traj.u[-1])) if last else None),
                   ("final_cosine", float(traj.cosine[-1]) if last else None,
                    "u / sqrt(s s*)")]


def _run_rows(traj, delta: float, eps: float) -> List[tuple]:
    """What a run measured: its phases and last record (a network's: per unit)."""
    if getattr(traj, "U", None) is not None:
        from .network_rows import network_run_rows
        return network_run_rows(traj, delta)
    return [*_phase_rows(traj, delta, eps), *_final_rows(traj)]


def _summary_rows(traj, problem, prediction, why, delta, eps, wall) -> List[tuple]:
    rows = [("method", traj.meta.get("method")), ("d", problem.d),
            ("a", problem.info.get("a")), ("link", problem.link.identity),
            ("status", traj.status),
            ("t_final", float(traj.t[-1]) if len(traj) else None),
            *_run_rows(traj, delta, eps)]
    if problem.is_network:
        from .network_rows import predicted_escape_row
        rows.append(predicted_escape_row(prediction, delta))
    elif prediction is not None and not problem.link.is_square:
        # another pair's theory (links page: Predictions for a pair): no number, and why
        info = prediction.summary(delta)
        no_law = "" if info["T1"] is not None else info["T1_regime"]
        rows += [("escape_rate", info["escape_rate"], no_law or "predicted rho"),
                 ("T1_predicted", info["T1"], no_law or "log(delta s*/|C|)/rho")]
    elif prediction is not None:
        rows += [("escape_rate", _value(prediction, "escape_rate"), "predicted rho"),
                 ("T1_predicted", _value(prediction, "escape_time", delta),
                  "log(delta/|C|)/rho")]
    else:
        rows += [("escape_rate", None, why)]
    rows.append(("wall_time_s", wall))
    return rows


def _build_problem(pconf, horizon=None):
    try:
        return pconf.build(horizon)
    except MemoryError as err:
        hint = "" if "--compress" in str(err) else " (on the command line: --compress 1e-3)"
        raise CLIError(f"problem: {err}{hint}", code=EXIT_ERROR) from None
    except (ValueError, TypeError) as err:
        raise CLIError(f"problem: {err}") from None


def _engine(args, problem, rconf, options, extra, bar):
    """Run the engine (checkpointed when asked); the trajectory."""
    from ..engines import simulate
    if args.checkpoint is not None:
        from .checkpoint import run_checkpointed
        return run_checkpointed(problem, rconf.method, args.checkpoint,
                                every=args.checkpoint_every, progress=bar, extra=extra,
                                **options)
    return simulate(problem, rconf.method, progress=bar, **options)


def _interrupted(args, err, save) -> int:
    """Ctrl-C or SIGTERM during a run: save what there is, say where, exit 130 / 143."""
    from . import signals
    partial = getattr(err, "trajectory", None)
    out = args.out or args.checkpoint
    if args.checkpoint is not None:
        where = f"checkpoint saved to {args.checkpoint}; rerun the same command to resume"
    elif out is not None and partial is not None:
        save(partial, out)
        where = f"partial trajectory saved to {out}"
    else:
        where = "nothing saved (use --out or --checkpoint)"
    t = partial.meta.get("t_reached", float("nan")) if partial is not None else float("nan")
    print(f"pyscale simulate: {signals.describe()} at t = {t:.6g}: {where}", file=sys.stderr)
    return signals.exit_status()


def _outputs_locked(args):
    """The locks of --out and --checkpoint, held while the run writes them: a second
    command writing the same file refuses at once instead of losing one result."""
    from contextlib import ExitStack

    from .io import output_lock
    stack = ExitStack()
    for flag, path in (("--out", args.out), ("--checkpoint", args.checkpoint)):
        if path is not None:
            stack.enter_context(output_lock(path, flag))
    return stack


def _horizon(rconf) -> float:
    """The horizon of a run configuration, in time t."""
    return float(rconf.options["t"] if rconf.method == "flow"
                 else rconf.options["steps"] * rconf.options["lr"])


def _run_failed(traj, horizon: float, saved: Optional[Path]) -> CLIError:
    """A run that ended short of its horizon (step budget, step size underflow): a failure,
    never a summary with exit status 0."""
    t = float(traj.meta.get("t_reached", traj.t[-1] if len(traj) else 0.0))
    where = f" (partial trajectory saved to {saved})" if saved is not None else ""
    return CLIError(f"the run stopped at t = {t:.6g}, before its horizon t = {horizon:.6g} "
                    f"(status {traj.status}: its step budget ran out or its step size "
                    f"underflowed; raise --max-steps or loosen --rtol){where}", EXIT_ERROR)


def _run_engine(args, problem, rconf, options, extra, save):
    """The engine run of ``simulate``, its failures mapped to one-line errors."""
    from ..engines.progress import EngineBar
    from ..errors import DivergenceError
    enabled = False if args.no_progress else None
    with EngineBar(rconf.method, _horizon(rconf), desc=f"{rconf.method} d={problem.d}",
                   enabled=enabled) as bar:
        try:
            return _engine(args, problem, rconf, options, extra, bar)
        except DivergenceError as err:
            bar.close()
            out = args.out or args.checkpoint
            if out is not None and err.trajectory is not None:
                save(err.trajectory, out)
                raise CLIError(f"{err} (partial trajectory saved to {out})",
                               EXIT_ERROR) from None
            raise CLIError(str(err), EXIT_ERROR) from None
        except MemoryError as err:
            bar.close()
            raise CLIError(f"{rconf.method}: {err}", EXIT_ERROR) from None
        except (ValueError, TypeError) as err:  # refused by the engine (e.g. compressed
            bar.close()                           # problem with sgd)
            if getattr(err, "path", None) is not None:  # an unusable checkpoint
                raise CLIError(str(err), EXIT_ERROR) from None
            raise CLIError(f"{rconf.method}: {err}") from None


def cmd_simulate(args) -> int:
    import warnings

    from .io import save_trajectory
    tables = _load_tables(args)
    pconf = _problem_config(args, tables)
    rconf = _run_config(args, tables)
    _check_outputs(args)
    with _outputs_locked(args):
        problem = _build_problem(pconf, rconf.end_time)  # --compress: sized for this run
        options = dict(rconf.engine_kwargs(pconf.seed), threads=args.threads)
        extra = {"problem_config": pconf.as_dict(), "run_config": rconf.as_dict()}

        def save(traj, path):
            save_trajectory(traj, path, problem=problem, extra=extra)

        start = time.perf_counter()
        try:
            with warnings.catch_warnings():  # a short run is reported below, as an error
                warnings.simplefilter("ignore", RuntimeWarning)
                traj = _run_engine(args, problem, rconf, options, extra, save)
        except KeyboardInterrupt as err:  # Interrupted carries the partial trajectory
            return _interrupted(args, err, save)
        wall = time.perf_counter() - start
        if args.out is not None:
            save(traj, args.out)
    from ..results.trajectory import SUCCESS
    if traj.status not in SUCCESS:
        raise _run_failed(traj, _horizon(rconf), args.out or args.checkpoint)
    prediction, why = _prediction(problem)
    rows = _summary_rows(traj, problem, prediction, why, args.delta, args.eps, wall)
    if args.out or args.checkpoint:
        rows.append(("saved_to", str(args.out or args.checkpoint)))
    _print_table(f"pyscale simulate: {problem!r}", rows, args.json)
    return EXIT_OK


def _t2_bound(problem, args):
    """Corollary 1's T2(eps) from the flow's state at T1' (s >= 1/3 + s0 after it)."""
    from .figures._theory import predicted_phases
    try:
        return predicted_phases(problem, args.delta, args.eps, s0=args.s0).T2_bound
    except (ValueError, RuntimeError):
        return None


def _link_rows(prediction, pconf, args) -> List[tuple]:
    """What the theory gives for a link pair other than the square (links page: Predictions
    for a pair): its class, and ρ, C, T1 where its small start is linear — elsewhere no
    number, and the reason in one sentence."""
    info = prediction.summary(args.delta)
    why = "" if info["T1"] is not None else info["T1_regime"]
    return [("d", info["d"]), ("a", pconf.a), ("s_star", prediction.problem.s_star),
            ("link", info["link"]),
            ("information_exponent", info["information_exponent"], "k* (links page)"),
            ("small_start", info["small_start"], info["description"]),
            ("escape_rate", info["escape_rate"], why or "rho (links page: Escape)"),
            ("escape_prefactor", info["escape_prefactor"], "C"),
            ("T1_predicted", info["T1"], why or f"log(delta s*/|C|)/rho, delta = "
             f"{args.delta:g}; {info['T1_regime']}"),
            ("phase3_constant", info["phase3_constant"],
             "c0* = -2 l_s(s*, s*) (sigma = tau only)"),
            ("sigma_star2", info["sigma_star2"], "||w*||^2/d")]


def _network_prediction(problem, args) -> int:
    """``pyscale predict`` for a network: what :func:`pyscale.predict` gives, or its
    one-sentence refusal as the error (exit status 2)."""
    from ..theory import predict
    from .network_rows import network_prediction_rows
    try:
        prediction = predict(problem)
    except (ValueError, TypeError) as err:
        raise CLIError(str(err)) from None
    rows = [("d", problem.d), ("a", problem.info.get("a")), ("link", problem.link.identity),
            ("units", problem.units), ("teacher_units", problem.teacher_units)]
    rows += network_prediction_rows(prediction, args.delta, shown=[r[0] for r in rows])
    _print_table(f"pyscale predict: {problem!r}", rows, args.json)
    return EXIT_OK


def cmd_predict(args) -> int:
    tables = _load_tables(args)
    pconf = _problem_config(args, tables)
    problem = _build_problem(pconf)
    if problem.is_network:
        return _network_prediction(problem, args)
    prediction, why = _prediction(problem)
    if prediction is None:
        raise CLIError(f"no prediction for this problem: {why}")
    if not problem.link.is_square:
        _print_table(f"pyscale predict: {problem!r}", _link_rows(prediction, pconf, args),
                     args.json)
        return EXIT_OK
    rows = [("d", problem.d), ("a", pconf.a), ("s_star", problem.s_star),
            ("escape_rate", _value(prediction, "escape_rate"), "rho (model page: Escape)"),
            ("escape_prefactor", _value(prediction, "escape_prefactor"), "C"),
            ("T1_predicted", _value(prediction, "escape_time", args.delta),
             f"log(delta/|C|)/rho, delta = {args.delta:g}"),
            ("T2_bound", _t2_bound(problem, args), f"Corollary 1, eps = {args.eps:g}, "
             f"s0 = {args.s0:g}, w(T1') from the flow"),
            ("sigma_star2", _value(prediction, "sigma_star2"), "plateau level ||w*||^2/d"),
            ("plateau_bound", _value(prediction, "plateau_bound", args.eps),
             "bound on MSE(T2) - sigma*^2"),
            ("tail_exponent", _value(prediction, "tail_exponent"),
             "1/a: Phase III, 1 - S_d ~ tau^(1/a)")]
    _print_table(f"pyscale predict: {problem!r}", rows, args.json)
    return EXIT_OK


def cmd_sweep(args) -> int:
    from ..errors import Interrupted
    from .config import load_config_file, parse_sweep
    from .sweep import run_sweep
    config = parse_sweep(load_config_file(args.config))
    out = args.out if args.out is not None else config.out
    if out is None:
        raise CLIError("--out: give the output directory (or set [sweep] out in the config)")
    progress = False if args.no_progress else None
    try:
        result = run_sweep(config, out, workers=args.workers, dask=args.dask,
                           retries=args.retries, progress=progress)
    except Interrupted as err:
        from . import signals
        res = getattr(err, "result", None)
        text = str(err).replace("sweep interrupted", f"sweep {signals.describe()}")
        print(f"pyscale sweep: {text}" + (f" ({len(res.computed)} computed this run)"
                                          if res else ""), file=sys.stderr)
        return signals.exit_status()
    print(f"sweep: {result.n_tasks} tasks, {len(result.computed)} computed, "
          f"{len(result.reused)} reused, {len(result.failed)} failed -> {out}")
    if len(result.summary):
        linked = "link" in result.summary and (result.summary["link"] != "square").any()
        cols = [c for c in ("a", "d", "link" if linked else "", "seed", "method",
                            "T1_measured", "T1_predicted", "T2_measured", "final_mse",
                            "status") if c in result.summary.columns]
        print(result.summary[cols].to_string(index=False))
    if result.failed:
        first = next(iter(result.failed.items()))
        raise CLIError(f"{len(result.failed)} task(s) failed after their retries (listed in "
                       f"{Path(out) / 'failures.json'}); first: {first[0]}: {first[1]}",
                       EXIT_ERROR)
    return EXIT_OK


def cmd_show(args) -> int:
    from .io import BadFileError, load_trajectory, read_header, read_table
    path = args.path
    if path.is_dir():
        read_table(path, "records")  # verifies every part, records included
        summary = read_table(path, "summary")
        print(summary.to_string(index=False) if len(summary) else "(no finished tasks)")
        return EXIT_OK
    if not path.exists():
        raise CLIError(f"no such file or directory: {path}", EXIT_ERROR)
    try:
        header = read_header(path, legacy=args.legacy)
        traj = load_trajectory(path, legacy=args.legacy)
    except BadFileError as err:
        raise CLIError(str(err).replace("pyscale.load(path, legacy=True) (pyscale show "
                                        "--legacy)", "pyscale show --legacy"),
                       EXIT_ERROR) from None
    from ..results.phases import DEFAULTS
    rows = [("method", header.get("method")),
            ("pyscale_version", header.get("pyscale_version")),
            ("seed", header.get("seed")), ("problem", json.dumps(traj.meta.get("problem"))),
            ("link", traj.meta.get("link", "square")),
            ("status", traj.status), ("records", len(traj)),
            ("t_final", float(traj.t[-1]) if len(traj) else None),
            *_run_rows(traj, DEFAULTS.delta, DEFAULTS.eps)]
    _print_table(f"pyscale show: {path}", rows, args.json)
    return EXIT_OK


COMMANDS = {"figure": cmd_figure, "simulate": cmd_simulate, "predict": cmd_predict,
            "sweep": cmd_sweep, "show": cmd_show}


def _exit_status(err: BaseException) -> int:
    """1 for a failed run or an unusable file, 2 for bad usage (see the module docstring)."""
    from .io import BadFileError
    if isinstance(err, CLIError):
        return err.code
    if isinstance(err, (BadFileError, MemoryError, OSError, RuntimeError)):
        return EXIT_ERROR
    if isinstance(err, (ValueError, TypeError)):
        return EXIT_USAGE
    return EXIT_ERROR


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if not isinstance(err, (CLIError, ValueError, TypeError, OSError, MemoryError,
                            RuntimeError)):
        text = f"{type(err).__name__}: {text}"
    return text


def _command_of(argv: Optional[Sequence[str]]) -> str:
    """The subcommand named on the command line (for a message before parsing ends)."""
    words = sys.argv[1:] if argv is None else list(argv)
    return next((w for w in words if w in COMMANDS), "")


def _run(args) -> int:
    """The command, with its warnings (e.g. a law outside its window) printed after it
    succeeded as 'pyscale COMMAND: warning: ...', one line each, each text once; a command
    that fails prints its error line only."""
    seen: list = []

    def keep(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if text not in seen:
            seen.append(text)
    with warnings.catch_warnings():
        warnings.showwarning = keep
        code = COMMANDS[args.command](args)
    for text in seen:
        print(f"pyscale {args.command}: warning: {text}", file=sys.stderr)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pyscale`` console script; returns the exit status.

    Every error is reported as one line (``pyscale COMMAND: error: ...``); set the
    environment variable ``PYSCALE_TRACEBACK=1`` to see the traceback instead. Ctrl-C and
    SIGTERM, at any moment, end the command in one line with status 130 / 143.
    """
    from . import signals
    signals.stop_on_sigterm()
    command = _command_of(argv)
    try:
        return _main(argv)
    except Exception as err:
        # The command loads its modules on first use: a Ctrl-C inside a compiled module's
        # initialisation or a class body surfaces as an error raised from it.
        if not signals.caused_by_ctrl_c(err):
            raise
        return _stopped_line(command)
    except KeyboardInterrupt:
        return _stopped_line(command)


def _stopped_line(command: str) -> int:
    """The one line (and status) of a command ended by Ctrl-C or SIGTERM."""
    from . import signals
    prefix = f"pyscale {command}" if command else "pyscale"
    print(f"{prefix}: {signals.describe()}; nothing more was saved (outputs are written "
          f"atomically: no partial files)", file=sys.stderr)
    return signals.exit_status()


def _main(argv: Optional[Sequence[str]]) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    if extra:  # reported by the subcommand, as every other error
        print(f"pyscale {args.command}: error: unrecognized arguments: {' '.join(extra)}",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args)
    except KeyboardInterrupt:
        raise
    except BrokenPipeError:  # output piped into a command that stopped reading (head)
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except Exception as err:
        from . import signals
        if signals.caused_by_ctrl_c(err):  # e.g. while a compiled module initialised
            raise KeyboardInterrupt from err
        if os.environ.get("PYSCALE_TRACEBACK"):
            raise
        print(f"pyscale {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return _exit_status(err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
