"""Every documented path works as written: ``import pyscale`` from the source tree after
``pip install .``; the examples; the benchmarks' names; the README and docs blocks (every
one labelled, every command parsing, no command that the one before it makes fail or do
nothing); CI runs all of them, in order, and cannot pass with no test run."""
import importlib
import inspect
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyscale

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(pyscale.__file__).parent


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory):
    """The repository's package folder as a fresh clone holds it: sources and stubs, no
    compiled core (what `pip install .` leaves behind in the checkout)."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(PACKAGE, root / "pyscale",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    assert (root / "pyscale" / "_core").is_dir()  # the stub folder is there
    return root


def test_import_pyscale_from_the_source_tree_uses_the_built_core(source_tree):
    code = ("import pyscale; from pyscale import _core; "
            "print(len(_core.model.RECORD_FIELDS), pyscale.simulate.__module__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=source_tree, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["7", "pyscale.engines"]
    cli = subprocess.run([sys.executable, "-m", "pyscale", "--version"], cwd=source_tree,
                         text=True, capture_output=True, timeout=120)
    assert cli.returncode == 0 and cli.stdout.startswith("pyscale "), cli.stderr


def test_a_source_tree_with_nothing_built_says_what_to_do(source_tree):
    proc = subprocess.run([sys.executable, "-S", "-c", "import pyscale"], cwd=source_tree,
                          text=True, capture_output=True, timeout=120)
    assert proc.returncode == 1
    assert "not built" in proc.stderr and "pip install" in proc.stderr
    assert "RECORD_FIELDS" not in proc.stderr


def test_the_sweep_example_reads_the_columns_the_sweep_writes(tmp_path, monkeypatch):
    example = runpy.run_path(str(ROOT / "examples" / "run_sweep.py"), run_name="example")
    small = {"grid": {"a": [1.5, 2.0], "d": [40], "seed": [0], "method": ["flow", "gd"]},
             "flow": {"t": 20.0, "records": 20}, "gd": {"lr": 1e-2, "steps": 500,
                                                        "records": 20}}
    monkeypatch.setitem(example["main"].__globals__, "CONFIG", small)
    example["main"]([str(tmp_path / "out"), "--workers", "1"])


def _benchmark_callables():
    sys.path.insert(0, str(ROOT))
    try:
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            for obj in vars(module).values():
                if inspect.isclass(obj) and obj.__module__ == module.__name__:
                    yield module, obj
    finally:
        sys.path.remove(str(ROOT))


def test_the_benchmarks_name_only_what_exists():
    """Every pyscale attribute a benchmark's source reads exists (``_core.X``,
    ``_core.testing.X``, ``pyscale.X``): a moved function fails here, not in asv."""
    import ast

    from pyscale import _core
    roots = {"_core": _core, "pyscale": pyscale}
    missing = []
    for module, _ in _benchmark_callables():
        tree = ast.parse(Path(module.__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and isinstance(node.value.value, ast.Name) \
                    and node.value.value.id in roots:
                owner = getattr(roots[node.value.value.id], node.value.attr, None)
                if owner is None or not hasattr(owner, node.attr):
                    missing.append(f"{module.__name__}: {node.value.value.id}."
                                   f"{node.value.attr}.{node.attr}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in roots and not hasattr(roots[node.value.id],
                                                               node.attr):
                missing.append(f"{module.__name__}: {node.value.id}.{node.attr}")
    assert not missing, "benchmarks read names that do not exist:\n" + "\n".join(missing)


def test_the_doc_blocks_are_labelled_and_their_commands_parse():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_doc_blocks.py"),
                           "--check"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_the_doc_lint_catches_a_block_that_would_fail_or_do_nothing(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import run_doc_blocks as runner
    finally:
        sys.path.remove(str(ROOT / "tools"))
    for text in ("```bash\npyscale figure 2 --out f.png\npyscale figure 2 --out f.png\n```\n",
                 "```bash\npyscale simulate --d 10 --a 2 --t 1 --out r.npz\n"
                 "pyscale simulate --d 10 --a 2 --t 9 --checkpoint r.npz\n```\n",
                 "```bash\npyscale sweep s.toml --out res/\n"
                 "pyscale sweep s.toml --out res/ --dask local\n```\n",
                 "```bash\npyscale simulate --d 10 --a 2 --tt 1\n```\n",
                 "```\nls\n```\n"):
        page = ROOT / "docs" / "_lint_probe.md"
        page.write_text(text)
        try:
            with pytest.raises(runner.BlockError):
                runner.lint(page)
        finally:
            page.unlink()


def test_ci_runs_every_example_benchmark_and_doc_block_and_counts_tests():
    ci = (ROOT / ".ci" / "run").read_text()
    for example in sorted((ROOT / "examples").glob("*.py")):
        assert f"examples/{example.name}" in ci, f"CI does not run examples/{example.name}"
    for command in ("asv machine --yes", "asv run --python=same --quick",
                    "tools/run_doc_blocks.py", 'pip install ".[test]" && pytest'):
        assert command in ci, command
    # the order: install and tests first, then the docs' blocks, examples, benchmarks
    assert ci.index("pytest") < ci.index("run_doc_blocks") < ci.index("examples/") < \
        ci.index("asv run")
    readme = (ROOT / "README.md").read_text()
    assert 'pip install ".[bench]"' in readme or "pip install '.[bench]'" in readme


def test_a_suite_that_collects_too_few_tests_fails():
    """`pytest` with no selection enforces min_tests (pyproject.toml): here raised above
    what the suite holds, the run fails; at its value, collection passes."""
    base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    low = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert low.returncode == 0, low.stdout[-2000:]
    high = subprocess.run(base + ["-o", "min_tests=1000000"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert high.returncode != 0 and "fewer than min_tests" in high.stdout
