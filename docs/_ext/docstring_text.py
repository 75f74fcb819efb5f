"""Docstrings are written as plain text with the paper's notation: |u|, |C|, ‖w‖.

reStructuredText reads ``|name|`` as a substitution reference, so a docstring saying
"|u| >= δ" would fail the build. This hook escapes every ``|`` outside inline literals and
roles (backtick spans) and outside table lines, after numpydoc has reformatted the
docstring; the text renders exactly as written.
"""
import re

_TICKS = re.compile(r"(``.+?``|`[^`]*`)")  # ``literal`` first, then `role`


def _escape_line(line):
    stripped = line.lstrip()
    if stripped.startswith(("| ", "+-", "+=")) or stripped == "|":  # a grid table or line block
        return line
    parts = _TICKS.split(line)
    return "".join(p if p.startswith("`") else p.replace("\\|", "|").replace("|", "\\|")
                   for p in parts)


def escape_pipes(app, what, name, obj, options, lines):
    lines[:] = [_escape_line(line) for line in lines]


def setup(app):
    # after numpydoc (priority 500): escape the text it produced
    app.connect("autodoc-process-docstring", escape_pipes, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
