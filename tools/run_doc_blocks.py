"""Run every code block of the README and the documentation, in order, as a reader would.

    python tools/run_doc_blocks.py                 # every page, in a fresh copy of the tree
    python tools/run_doc_blocks.py README.md       # some pages
    python tools/run_doc_blocks.py --check         # parse and lint only (seconds)

Each page in its own scratch copy of the repository (so that what the blocks write — results/,
figures, docs/gallery — never touches the tree; ``HOME`` points into it too):

* ```python blocks run in one namespace, in order;
* ```bash blocks run with ``bash -euo pipefail``, in order; a command that is one of CI's
  own steps (``.ci/run``: the test suite, the docs build, the benchmarks — checked to be
  there verbatim) or installs the package with extras CI installed is not run twice;
* ```console blocks are transcripts: each ``$ command`` runs and its first line of output
  must be the one shown, numbers aside (they depend on the machine);
* ```toml blocks are configuration files: parsed and validated as ``pyscale`` reads them;
* ```cpp blocks are compiled by tests/test_cpp.py, ```cmake blocks must appear in a CMake
  project that CI builds (examples/cpp_consumer); ```text blocks are not code; MyST
  directives (```{eval-rst} ...) are the documentation build's, which fails on warnings.

A block without a language is an error, and so is a ``pyscale`` command that writes an
output an earlier command of the page already wrote without ``--force`` (it would be
refused), or a sweep into a directory an earlier sweep of the same configuration filled
(it would reuse everything and compute nothing). Exits 1 on the first failure, naming the
page and the block.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```([A-Za-z0-9_+-]*|\{[^}\n]*\})[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
#: The pages, in reading order: the README, then the documentation and the examples' pages.
PAGES = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.md")))
LANGUAGES = ("python", "bash", "console", "toml", "cpp", "cmake", "text")
NUMBER = re.compile(r"[-+]?\d[\d_.,]*(e[-+]?\d+)?")


class BlockError(Exception):
    pass


def blocks(page: Path):
    """(language, code, line) of every fenced block of ``page``."""
    text = page.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        yield match.group(1), match.group(2), text.count("\n", 0, match.start()) + 1


def ci_commands() -> list:
    """The commands of CI's script, one per line (comments dropped)."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [line.split(" #")[0].strip() for line in lines if line.strip() and
            not line.strip().startswith("#")]


def _commands(code: str) -> list:
    """The shell commands of a block, comments dropped, one per line."""
    out = []
    for line in code.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if words:
            out.append(" ".join(shlex.quote(w) for w in words))
    return out


def _ci_extras() -> set:
    """The extras CI's script installs (``pip install ".[a,b]"``)."""
    extras = set()
    for command in ci_commands():
        for found in re.findall(r'pip install "?\.\[([a-z,]+)\]"?', command):
            extras.update(found.split(","))
    return extras


def _ci_segments() -> list:
    """CI's commands as word lists, each ``a && b`` line split into its parts."""
    out = []
    for line in ci_commands():
        for part in re.split(r"\s&&\s", line):
            words = shlex.split(part, comments=True)
            if words:
                out.append(words)
    return out


def covered_by_ci(command: str) -> bool:
    """Whether a command (no ``&&`` inside) is one of CI's own steps, or installs the
    package with extras CI installs."""
    words = shlex.split(command, comments=True)
    if words in _ci_segments():
        return True
    match = re.fullmatch(r"pip install \.(?:\[([a-z,]+)\])?", " ".join(words))
    if match:
        return set((match.group(1) or "").split(",")) - {""} <= _ci_extras()
    return False


def runnable(code: str) -> str:
    """A bash block without the commands CI runs itself (see :func:`covered_by_ci`)."""
    lines = []
    for line in code.splitlines():
        kept = [part for part in re.split(r"\s&&\s", line.split(" #")[0])
                if part.strip() and not covered_by_ci(part)]
        if kept:
            lines.append(" && ".join(kept))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- lint
class OutputLint:
    """What the ``pyscale`` commands of a page write, in order: a later command that would
    be refused (an existing --out without --force) or would compute nothing (a sweep into
    a directory filled by the same configuration) is an error."""

    def __init__(self):
        self.written: set = set()
        self.sweeps: dict = {}

    def command(self, words: list, where: str) -> None:
        if words[:1] == ["pyscale"]:
            args = words[1:]
        elif words[:3] == ["python", "-m", "pyscale"]:
            args = words[3:]
        else:
            return
        if not args:
            return
        _parse(args, where)
        out = _flag(args, "--out")
        if args[0] == "sweep":
            key = (out, args[1] if len(args) > 1 else None)
            if key in self.sweeps:
                raise BlockError(f"{where}: `{' '.join(words)}` sweeps {key[1]} into {out} "
                                 f"again: every task is already there, nothing would run")
            self.sweeps[key] = True
            return
        if out is not None and args[0] in ("simulate", "figure"):
            if out in self.written and "--force" not in args:
                raise BlockError(f"{where}: `{' '.join(words)}` writes {out}, which an "
                                 f"earlier command wrote: it would be refused (--force)")
            self.written.add(out)
        checkpoint = _flag(args, "--checkpoint")
        if checkpoint is not None and checkpoint in self.written:
            raise BlockError(f"{where}: --checkpoint {checkpoint} is the output of an "
                             f"earlier command: it would be refused as another run's")
        if checkpoint is not None:
            self.written.add(checkpoint)


def _flag(args: list, name: str):
    if name in args and args.index(name) + 1 < len(args):
        return args[args.index(name) + 1].rstrip("/")
    return None


def _parse(args: list, where: str) -> None:
    """The command line parses (flags and values the CLI accepts)."""
    from pyscale.app.cli import build_parser
    parser = build_parser()
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        try:
            parser.parse_args(args)
        except SystemExit as done:
            if done.code:
                raise BlockError(f"{where}: `pyscale {' '.join(args)}` does not parse") \
                    from None


def lint(page: Path) -> None:
    lint_state = OutputLint()
    for language, code, line in blocks(page):
        where = f"{page.relative_to(ROOT)}:{line}"
        if language.startswith("{"):
            continue  # a MyST directive: the documentation build's
        if language not in LANGUAGES:
            raise BlockError(f"{where}: a code block needs a language among "
                             f"{', '.join(LANGUAGES)} (got {language or 'none'!r})")
        if language == "bash":
            for command in _commands(code):
                segment: list = []
                for word in shlex.split(command) + ["&&"]:
                    if word in ("&&", "||", ";"):
                        lint_state.command(segment, where)
                        segment = []
                    else:
                        segment.append(word)


# ---------------------------------------------------------------------------- run
def _toml(code: str, where: str) -> None:
    import tomllib  # Python >= 3.11 (CI's interpreter)

    from pyscale.app.config import parse_problem, parse_run, parse_sweep
    data = tomllib.loads(code)
    try:
        if "grid" in data:
            parse_sweep(data)
        else:
            parse_problem(data.get("problem", {}))
            parse_run(data.get("run", {}))
    except (ValueError, TypeError) as err:
        raise BlockError(f"{where}: the configuration is refused: {err}") from None


def _console(code: str, where: str, workdir: Path, env: dict) -> None:
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        expected = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("$ ") \
            else None
        proc = subprocess.run(line[2:], shell=True, cwd=workdir, env=env, text=True,
                              capture_output=True, timeout=600)
        shown = (proc.stdout + proc.stderr).strip().splitlines()
        if expected is not None:
            got = shown[0] if shown else ""
            if NUMBER.sub("N", got) != NUMBER.sub("N", expected):
                raise BlockError(f"{where}: `{line[2:]}` printed\n  {got}\nnot\n  {expected}")


def _cmake(code: str, where: str) -> None:
    projects = "\n".join(p.read_text() for p in (ROOT / "examples").rglob("CMakeLists.txt"))
    projects += (ROOT / "CMakeLists.txt").read_text()
    for line in code.splitlines():
        statement = line.split("#")[0].strip()
        if statement and statement not in projects and not statement.startswith(
                "add_subdirectory(third_party"):
            raise BlockError(f"{where}: `{statement}` is in no CMake project CI builds")


def run_page(page: Path, workdir: Path, env: dict) -> None:
    # a reader's script: its `if __name__ == "__main__":` blocks run
    namespace: dict = {"__name__": "__main__"}
    for number, (language, code, line) in enumerate(blocks(page), 1):
        where = f"{page.relative_to(ROOT)}:{line} ({language} block {number})"
        print(f"--- {where}", flush=True)
        if language == "python":
            previous = Path.cwd()
            os.chdir(workdir)
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as err:
                raise BlockError(f"{where}: {type(err).__name__}: {err}") from err
            finally:
                os.chdir(previous)
        elif language == "bash":
            code = runnable(code)
            if not code:
                print("    (CI's own steps, run by .ci/run)", flush=True)
                continue
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=workdir,
                                  env=env, timeout=3600)
            if proc.returncode:
                raise BlockError(f"{where}: exit status {proc.returncode}")
        elif language == "console":
            _console(code, where, workdir, env)
        elif language == "toml":
            _toml(code, where)
        elif language == "cmake":
            _cmake(code, where)
        elif language.startswith("{"):
            continue
        elif language == "cpp":
            if not (ROOT / "tests" / "test_cpp.py").is_file():
                raise BlockError(f"{where}: nothing compiles the cpp blocks")


def scratch_copy() -> Path:
    """A copy of the tree without its build products (what a fresh clone holds)."""
    target = Path(tempfile.mkdtemp(prefix="pyscale-doc-blocks-")) / "pyscale"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "*.so", "__pycache__",
                                    "_build", ".asv", "*.egg-info", "results*")
    shutil.copytree(ROOT, target, ignore=ignore)
    (target / "home").mkdir()
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="pages (default: the README and the docs)")
    parser.add_argument("--check", action="store_true", help="parse and lint only")
    args = parser.parse_args(argv)
    pages = [ROOT / p for p in (args.pages or PAGES)]
    try:
        for page in pages:
            lint(page)
        if args.check:
            print(f"{len(pages)} pages: every block labelled, every command parses")
            return 0
        for page in pages:  # each page as a reader who opens it in a fresh clone
            workdir = scratch_copy()
            env = dict(os.environ, HOME=str(workdir / "home"), MPLBACKEND="Agg")
            run_page(page, workdir, env)
            shutil.rmtree(workdir.parent)  # kept only when the page fails, to look into
    except BlockError as err:
        print(f"doc blocks: {err}", file=sys.stderr)
        return 1
    print(f"doc blocks: {len(pages)} pages ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
