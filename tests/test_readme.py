"""The README as a contract: every ```python block of README.md runs, in order, in one
namespace, and prints its results whole (no pandas truncation marks). The same holds for
the first-run page of the documentation, docs/getting_started.md."""
import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
PAGES = ("README.md", "docs/getting_started.md")
# what pandas prints for a table cut short: a row or column of '...'
TRUNCATED = re.compile(r"^\s*\.\.\.|\s\.\.\.(\s|$)", re.M)


def python_blocks(page):
    return BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


def run_blocks(page):
    namespace = {"__name__": "__contract__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for number, code in enumerate(python_blocks(page), 1):
            exec(compile(code, f"{page} python block {number}", "exec"), namespace)
    return namespace, out.getvalue()


@pytest.mark.parametrize("page", PAGES)
def test_page_has_python_blocks(page):
    assert len(python_blocks(page)) >= 1


def test_block_pattern_finds_fenced_python_only():
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = 2\n```\n"
    assert BLOCK.findall(text) == ["a = 1\n", "b = 2\n"]


@pytest.mark.parametrize("page", PAGES)
def test_page_python_blocks_run_in_order(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a block writes lands here
    namespace, printed = run_blocks(page)
    assert printed.strip(), f"{page}: the examples print their results"
    assert not TRUNCATED.search(printed), f"{page} printed a table cut short:\n{printed}"
    # what the examples promise in their comments and text
    flow = namespace["flow"]
    assert flow.mse[0] == pytest.approx(6.54, abs=0.005)   # MSE(0) for a = 2, d = 1000, seed 0
    phases = flow.phases(delta=0.05, eps=0.05)
    assert phases.T1 is not None and phases.T2 is not None
    assert namespace["sgd"].status == "completed"
