"""The README as a contract: every ```python block of README.md runs, in order, in one
namespace, and prints its results whole (no pandas truncation marks)."""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def readme_blocks():
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_python_blocks():
    assert len(readme_blocks()) >= 1


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a block writes lands here
    namespace = {"__name__": "__readme__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for number, code in enumerate(readme_blocks(), 1):
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
    printed = out.getvalue()
    assert printed.strip(), "the README's examples print their results"
    # a DataFrame cut short prints '...' columns or rows: the README must show tables whole
    assert not re.search(r"^\s*\.\.\.|\s\.\.\.\s", printed, re.M), printed
