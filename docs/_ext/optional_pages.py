"""Pages that may not exist yet: drop them from toctrees and unlink links to them.

``optional_pages`` (conf.py) lists document names (no suffix). For each one whose source
file is missing, every document's source is rewritten as it is read: toctree lines naming
it are removed and Markdown links ``[text](page.md...)`` become their plain text. When the
file exists nothing changes, so the same sources build with -W before and after the
pages land.
"""
import os
import re


def _missing(app):
    return [name for name in app.config.optional_pages
            if not os.path.exists(os.path.join(app.srcdir, name + ".md"))]


def _rewrite(app, docname, source):
    text = source[0]
    for name in _missing(app):
        text = re.sub(rf"^\s*{re.escape(name)}(\.md)?\s*$\n?", "", text, flags=re.M)
        text = re.sub(rf"\[([^\]]*)\]\({re.escape(name)}\.md(#[^)]*)?\)", r"\1", text)
    source[0] = text


def setup(app):
    app.add_config_value("optional_pages", [], "env")
    app.connect("source-read", _rewrite)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
