"""The two small Sphinx hooks of the documentation build (docs/_ext)."""
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))

import docstring_text  # noqa: E402
import optional_pages  # noqa: E402


def test_pipes_are_escaped_outside_literals_and_tables():
    lines = ["T1: first t with |u| >= delta, ``|u|`` and :math:`|C|`.",
             "| a | b |", "+---+---+", "already \\|x\\| escaped"]
    docstring_text.escape_pipes(None, "function", "f", None, {}, lines)
    assert lines == ["T1: first t with \\|u\\| >= delta, ``|u|`` and :math:`|C|`.",
                     "| a | b |", "+---+---+", "already \\|x\\| escaped"]


def _app(tmp_path, pages):
    return SimpleNamespace(srcdir=str(tmp_path), config=SimpleNamespace(optional_pages=pages))


def test_missing_optional_pages_leave_toctrees_and_links(tmp_path):
    (tmp_path / "cpp.md").write_text("# C++\n")
    source = ["```{toctree}\nmodel\nchain\ncpp\n```\n"
              "See [the mode chain page](chain.md#step) and [C++](cpp.md).\n"]
    optional_pages._rewrite(_app(tmp_path, ["chain", "cpp"]), "index", source)
    assert source[0] == ("```{toctree}\nmodel\ncpp\n```\n"
                         "See the mode chain page and [C++](cpp.md).\n")


def test_present_optional_pages_change_nothing(tmp_path):
    (tmp_path / "chain.md").write_text("# Chain\n")
    text = "```{toctree}\nchain\n```\n[chain](chain.md)\n"
    source = [text]
    optional_pages._rewrite(_app(tmp_path, ["chain"]), "index", source)
    assert source == [text]
