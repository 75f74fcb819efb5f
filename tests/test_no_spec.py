"""Users never see the engineers' reference file: no file they read names it.

The package, the documentation sources and the README cite the project's own model page,
as ``(model page: <Section>)``, instead.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORD = "SP" + "EC"  # spelled in two halves so that this file does not match itself
SKIP_DIRS = {"_build", "_autosummary", "__pycache__"}
TEXT_SUFFIXES = {".py", ".pyi", ".md", ".rst", ".txt", ".toml", ".cfg", ".json", ".css",
                 ".html", ".cpp", ".hpp", ".h"}


def user_facing_files():
    yield ROOT / "README.md"
    for top in ("pyscale", "docs"):
        for path in sorted((ROOT / top).rglob("*")):
            if (path.is_file() and path.suffix in TEXT_SUFFIXES
                    and not SKIP_DIRS.intersection(path.relative_to(ROOT).parts)):
                yield path


def test_the_scan_sees_the_package_and_the_docs():
    names = {p.relative_to(ROOT).as_posix() for p in user_facing_files()}
    assert {"README.md", "pyscale/__init__.py", "docs/model.md"} <= names


def test_no_user_facing_file_names_the_reference():
    hits = []
    for path in user_facing_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        hits += [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for n, line in enumerate(text.splitlines(), 1) if WORD in line]
    assert not hits, f"{len(hits)} lines name the reference file:\n" + "\n".join(hits)
