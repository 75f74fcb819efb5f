"""The ``pyscale`` command (also ``python -m pyscale``): the paper's figures, single runs,
predictions and sweeps from the shell.

    pyscale figure 2 --out fig2.png          # one of the paper's figures (SPEC §4), 1..6
    pyscale figure all --out docs/gallery    # all six
    pyscale simulate --d 1000 --a 2 --method flow --t 1e5 --out run.npz
    pyscale simulate --config run.toml --checkpoint run.npz --checkpoint-every 60
    pyscale predict --d 1000 --a 2           # the SPEC §3 predictions
    pyscale sweep sweep.toml --out results/ [--workers 4 | --dask local | --dask tcp://...]
    pyscale show run.npz | results/          # summary of a saved run or sweep

Exit status: 0 success, 1 invalid input or failed run (the message names the bad field or
flag), 2 bad command line (argparse), 130 interrupted by Ctrl-C (partial results saved).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


class CLIError(Exception):
    """An error to report as ``error: message`` with exit status 1."""


# ---------------------------------------------------------------------------- parser
PROBLEM_FLAGS = {"d": int, "a": float, "seed": int, "target": str, "noise": float,
                 "compress": float}
RUN_FLAGS = {"t": float, "records": int, "t_start": float, "rtol": float, "lr": float,
             "steps": int, "batch": int, "sample_seed": int, "n_samples": int}


def _int_like(text: str) -> int:
    """Integers written as 1e7 or 1_000_000 are accepted."""
    value = float(text.replace("_", ""))
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _add_problem_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("problem (SPEC §1; override the config's [problem])")
    g.add_argument("--config", type=Path, help="TOML or JSON file with [problem] and [run]")
    g.add_argument("--d", type=_int_like, help="dimension")
    g.add_argument("--a", type=float, help="power-law exponent of the spectrum")
    g.add_argument("--seed", type=_int_like, help="seed of w* and w(0) (default 0)")
    g.add_argument("--target", choices=("unit_q", "norm_d"),
                   help="w* normalisation: s* = 1 (unit_q, default) or ||w*||^2 = d")
    g.add_argument("--noise", type=float, help="label-noise variance sigma^2 (default 0)")
    g.add_argument("--compress", type=float,
                   help="spectral compression tolerance delta (huge d; flow and gd only)")
    g.add_argument("--delta", type=float, default=0.05, help="escape threshold for T1")
    g.add_argument("--eps", type=float, default=0.05, help="convergence threshold for T2")
    g.add_argument("--json", action="store_true", help="print the summary as JSON")


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__
    parser = argparse.ArgumentParser(
        prog="pyscale", description="Learning dynamics of phase retrieval on power-law "
        "data (arXiv 2511.18661): figures, runs, predictions, sweeps.")
    parser.add_argument("--version", action="version", version=f"pyscale {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    fig = sub.add_parser("figure", help="reproduce one of the paper's figures (SPEC §4)",
                         description="Reproduce figure N of the paper (1-6) or all of them.")
    fig.add_argument("number", help="1, 2, 3, 4, 5, 6 or all")
    fig.add_argument("--out", type=Path, required=True,
                     help="output PNG (a directory for 'all')")
    fig.add_argument("--quick", action="store_true",
                     help="small dimensions and horizons: a smoke test in seconds")
    fig.add_argument("--no-progress", action="store_true", help="hide progress bars")

    sim = sub.add_parser("simulate", help="run one engine on one problem",
                         description="Run one engine on one problem; print T1, T1', T2 "
                         "(SPEC §3), the final MSE and the predicted escape rate.")
    _add_problem_flags(sim)
    r = sim.add_argument_group("run (override the config's [run])")
    r.add_argument("--method", choices=("flow", "gd", "sgd", "erm"),
                   help="engine (default flow)")
    r.add_argument("--t", type=float, help="flow: horizon")
    r.add_argument("--records", type=_int_like, help="number of records (default 200)")
    r.add_argument("--t-start", dest="t_start", type=float,
                   help="flow: first log-spaced record time (default 1e-2)")
    r.add_argument("--rtol", type=float, help="flow: relative tolerance (default 1e-9)")
    r.add_argument("--lr", type=float, help="gd/sgd/erm: step size")
    r.add_argument("--steps", type=_int_like, help="gd/sgd/erm: number of steps")
    r.add_argument("--batch", type=_int_like, help="sgd: batch size (default 1)")
    r.add_argument("--sample-seed", dest="sample_seed", type=_int_like,
                   help="sgd/erm: seed of the samples (default: --seed)")
    r.add_argument("--n-samples", dest="n_samples", type=_int_like,
                   help="erm: size of the data set")
    r.add_argument("--threads", type=_int_like, default=0,
                   help="engine threads (0: all; results do not depend on it)")
    o = sim.add_argument_group("output")
    o.add_argument("--out", type=Path, help="save the trajectory here (.npz)")
    o.add_argument("--checkpoint", type=Path,
                   help="save resumable state here and continue from it if it exists")
    o.add_argument("--checkpoint-every", dest="checkpoint_every", type=float, default=60.0,
                   help="seconds of wall time between checkpoints (default 60)")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    pred = sub.add_parser("predict", help="the theory's predictions for one problem",
                          description="Escape rate and prefactor, predicted T1, the T2 bound "
                          "and the plateau bound (SPEC §3).")
    _add_problem_flags(pred)
    pred.add_argument("--s0", type=float, default=0.1,
                      help="margin of T1' (s >= 1/3 + s0 after it) in Corollary 1")

    sw = sub.add_parser("sweep", help="run a grid of problems and methods",
                        description="Run the grid of a sweep config (TOML/JSON); results "
                        "go to a Parquet table task by task; rerun to resume.")
    sw.add_argument("config", type=Path, help="sweep configuration (see docs/cli.md)")
    sw.add_argument("--out", type=Path, help="output directory (default: [sweep] out)")
    sw.add_argument("--workers", type=_int_like, help="worker processes (default: cores)")
    sw.add_argument("--dask", help="'local' for a dask LocalCluster, or a scheduler address")
    sw.add_argument("--retries", type=_int_like, help="retries of a failed task (default 2)")
    sw.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    show = sub.add_parser("show", help="summarise a saved trajectory (.npz) or sweep (dir)")
    show.add_argument("path", type=Path)
    show.add_argument("--json", action="store_true", help="print as JSON")
    return parser


# ---------------------------------------------------------------------------- helpers
def _load_tables(args) -> Dict[str, dict]:
    from .config import load_config_file
    if getattr(args, "config", None) is None:
        return {}
    data = load_config_file(args.config)
    from .config import _reject_unknown
    _reject_unknown("", data, ("problem", "run"))
    return data


def _flags(args, names) -> Dict[str, object]:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def _rename_flag_error(err, flags: Dict[str, object], section: str):
    """Report a ConfigError about a value given as a flag under the flag's name."""
    field = getattr(err, "field", "")
    key = field.split(".", 1)[1] if field.startswith(section + ".") else None
    if key in flags:
        return CLIError(f"--{key.replace('_', '-')}: {str(err).split(': ', 1)[1]}")
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
    from .config import ConfigError, parse_run
    flags = _flags(args, RUN_FLAGS)
    table = dict(tables.get("run", {}))
    if args.method is not None:
        table["method"] = args.method
    method = table.get("method", "flow")
    # Flags that do not belong to the chosen method are an error, not silently ignored.
    from .config import METHOD_OPTIONS
    for key in flags:
        if method in METHOD_OPTIONS and key not in METHOD_OPTIONS[method]:
            raise CLIError(f"--{key.replace('_', '-')}: not an option of method={method!r} "
                           f"(its options: {', '.join(METHOD_OPTIONS[method])})")
    table.update(flags)
    try:
        return parse_run(table)
    except ConfigError as err:
        given = dict(flags, **({"method": args.method} if args.method is not None else {}))
        raise _rename_flag_error(err, given, "run") from None


def _fmt(x) -> str:
    if x is None:
        return "—"
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
        from .theory import predict
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
def cmd_figure(args) -> int:
    from .figures import FIGURES, make_all, make_figure
    progress = False if args.no_progress else None
    if args.number == "all":
        if args.out.suffix.lower() in (".png", ".pdf", ".svg"):
            raise CLIError(f"--out: 'figure all' writes figure1.png ... figure6.png into a "
                           f"directory, got the file name {str(args.out)!r}")
        for number, path, seconds in make_all(args.out, quick=args.quick, progress=progress):
            print(f"figure {number}: {path}  ({seconds:.1f} s)")
        return EXIT_OK
    try:
        number = int(args.number)
    except ValueError:
        number = None
    if number not in FIGURES:
        raise CLIError(f"figure: number must be one of {', '.join(map(str, FIGURES))} or "
                       f"'all', got {args.number!r}")
    if args.out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise CLIError(f"--out: must end in .png, .pdf or .svg, got {str(args.out)!r}")
    start = time.perf_counter()
    path = make_figure(number, args.out, quick=args.quick, progress=progress)
    print(f"figure {number}: {path}  ({time.perf_counter() - start:.1f} s)")
    return EXIT_OK


def _summary_rows(traj, problem, prediction, why, delta, eps, wall) -> List[tuple]:
    ph = traj.phases(delta=delta, eps=eps)
    rows = [("method", traj.meta.get("method")), ("d", problem.d),
            ("a", problem.info.get("a")), ("status", traj.status),
            ("t_final", float(traj.t[-1]) if len(traj) else None),
            ("T1", ph.T1, f"first |u| >= {delta:g}"),
            ("T1_prime", ph.T1_prime, "s stays above s*/3 after"),
            ("T2", ph.T2, f"|u|, s in [1-{eps:g}, 1]"),
            ("final_mse", float(traj.mse[-1]) if len(traj) else None),
            ("final_abs_u", float(abs(traj.u[-1])) if len(traj) else None)]
    if prediction is not None:
        rows += [("escape_rate", _value(prediction, "escape_rate"), "predicted rho"),
                 ("T1_predicted", _value(prediction, "escape_time", delta),
                  "log(delta/|C|)/rho")]
    else:
        rows += [("escape_rate", None, why)]
    rows.append(("wall_time_s", wall))
    return rows


def cmd_simulate(args) -> int:
    from .errors import DivergenceError, Interrupted
    from .progress import EngineBar
    from .engines import simulate
    from .io import save_trajectory
    tables = _load_tables(args)
    pconf = _problem_config(args, tables)
    rconf = _run_config(args, tables)
    if args.out is not None and args.out.suffix != ".npz":
        raise CLIError(f"--out: trajectories are saved as .npz, got {str(args.out)!r}")
    if args.checkpoint is not None and args.checkpoint.suffix != ".npz":
        raise CLIError(f"--checkpoint: must end in .npz, got {str(args.checkpoint)!r}")
    if not args.checkpoint_every > 0:
        raise CLIError(f"--checkpoint-every: must be > 0 seconds, got {args.checkpoint_every}")
    try:
        problem = pconf.build()
    except ValueError as err:
        raise CLIError(f"problem: {err}") from None
    options = dict(rconf.engine_kwargs(pconf.seed), threads=args.threads)
    extra = {"problem_config": pconf.as_dict(), "run_config": rconf.as_dict()}
    horizon_t = (rconf.options["t"] if rconf.method == "flow"
                 else rconf.options["steps"] * rconf.options["lr"])
    out = args.out or args.checkpoint
    start = time.perf_counter()
    enabled = False if args.no_progress else None
    with EngineBar(rconf.method, horizon_t, desc=f"{rconf.method} d={problem.d}",
                   enabled=enabled) as bar:
        try:
            if args.checkpoint is not None:
                from .checkpoint import run_checkpointed
                traj = run_checkpointed(problem, rconf.method, args.checkpoint,
                                        every=args.checkpoint_every, progress=bar,
                                        extra=extra, **options)
            else:
                traj = simulate(problem, rconf.method, progress=bar, **options)
        except Interrupted as err:
            bar.close()
            partial = err.trajectory
            if args.checkpoint is not None:
                where = f"checkpoint saved to {args.checkpoint}; rerun the same command to resume"
            elif out is not None and partial is not None:
                save_trajectory(partial, out, problem=problem, extra=extra)
                where = f"partial trajectory saved to {out}"
            else:
                where = "nothing saved (use --out or --checkpoint)"
            print(f"interrupted at t = {partial.meta.get('t_reached', float('nan')):.6g}: "
                  f"{where}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:  # Ctrl-C outside the engine (e.g. while saving)
            bar.close()
            where = (f"the last checkpoint in {args.checkpoint} is intact; rerun the same "
                     f"command to resume" if args.checkpoint is not None else "nothing saved")
            print(f"interrupted: {where}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except DivergenceError as err:
            bar.close()
            if out is not None and err.trajectory is not None:
                save_trajectory(err.trajectory, out, problem=problem, extra=extra)
                raise CLIError(f"{err} (partial trajectory saved to {out})") from None
            raise CLIError(str(err)) from None
        except (ValueError, MemoryError) as err:  # refused by the engine (e.g. compressed
            bar.close()                           # problem with sgd, data set too large)
            raise CLIError(f"{rconf.method}: {err}") from None
    wall = time.perf_counter() - start
    if args.out is not None:
        save_trajectory(traj, args.out, problem=problem, extra=extra)
    prediction, why = _prediction(problem)
    rows = _summary_rows(traj, problem, prediction, why, args.delta, args.eps, wall)
    if out is not None:
        rows.append(("saved_to", str(out)))
    _print_table(f"pyscale simulate: {problem!r}", rows, args.json)
    return EXIT_OK


def _t2_bound(problem, args):
    """Corollary 1's T2(eps) from the flow's state at T1' (s >= 1/3 + s0 after it)."""
    from .figures._theory import predicted_phases
    try:
        return predicted_phases(problem, args.delta, args.eps, s0=args.s0).T2_bound
    except (ValueError, RuntimeError):
        return None


def cmd_predict(args) -> int:
    tables = _load_tables(args)
    pconf = _problem_config(args, tables)
    try:
        problem = pconf.build()
    except ValueError as err:
        raise CLIError(f"problem: {err}") from None
    prediction, why = _prediction(problem)
    if prediction is None:
        raise CLIError(f"no prediction for this problem: {why}")
    rows = [("d", problem.d), ("a", pconf.a), ("s_star", problem.s_star),
            ("escape_rate", _value(prediction, "escape_rate"), "rho, SPEC §3 Phase I"),
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
    from .config import load_config_file, parse_sweep
    from .errors import Interrupted
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
        res = getattr(err, "result", None)
        print(f"{err}" + (f" ({len(res.computed)} computed this run)" if res else ""),
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"sweep: {result.n_tasks} tasks, {len(result.computed)} computed, "
          f"{len(result.reused)} reused, {len(result.failed)} failed -> {out}")
    if len(result.summary):
        cols = [c for c in ("a", "d", "seed", "method", "T1", "T1_prime", "T2", "final_mse",
                            "escape_rate", "status") if c in result.summary.columns]
        print(result.summary[cols].to_string(index=False))
    for task_id, message in result.failed.items():
        print(f"failed: {task_id}: {message}", file=sys.stderr)
    return EXIT_ERROR if result.failed else EXIT_OK


def cmd_show(args) -> int:
    from .io import load_trajectory, read_header, read_table
    path = args.path
    if path.is_dir():
        summary = read_table(path, "summary")
        print(summary.to_string(index=False) if len(summary) else "(no finished tasks)")
        return EXIT_OK
    if not path.is_file():
        raise CLIError(f"show: no such file or directory: {path}")
    header = read_header(path)
    traj = load_trajectory(path)
    ph = traj.phases()
    rows = [("method", header.get("method")), ("pyscale_version", header["pyscale_version"]),
            ("seed", header.get("seed")), ("problem", json.dumps(traj.meta.get("problem"))),
            ("status", traj.status), ("records", len(traj)),
            ("t_final", float(traj.t[-1]) if len(traj) else None),
            ("T1", ph.T1), ("T1_prime", ph.T1_prime), ("T2", ph.T2),
            ("final_mse", float(traj.mse[-1]) if len(traj) else None)]
    _print_table(f"pyscale show: {path}", rows, args.json)
    return EXIT_OK


COMMANDS = {"figure": cmd_figure, "simulate": cmd_simulate, "predict": cmd_predict,
            "sweep": cmd_sweep, "show": cmd_show}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pyscale`` console script; returns the exit status."""
    from .config import ConfigError
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CLIError, ConfigError) as err:
        print(f"pyscale {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"pyscale {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a command that stopped reading (head)
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
