"""Sphinx configuration of the pyscale documentation.

Build (warnings are errors): ``python -m sphinx -W -b html docs docs/_build/html``.
No network at build time: no intersphinx, no remote images.
"""
import glob
import importlib.machinery
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _built_in_place() -> bool:
    """Is the compiled core in the source tree (not just its stubs)?"""
    return any(glob.glob(os.path.join(ROOT, "pyscale", "_core*" + suffix))
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)


# Document the package built in place when there is one (a development checkout);
# otherwise the installed one: a fresh clone's source tree has no compiled core, and
# ``python -m sphinx`` run from the root would otherwise import it first.
if _built_in_place():
    sys.path.insert(0, ROOT)
else:
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != ROOT]
sys.path.insert(0, os.path.join(HERE, "_ext"))

import pyscale  # noqa: E402

project = "pyscale"
author = "the pyscale developers"
copyright = "the pyscale developers"
version = release = pyscale.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "optional_pages",
    "docstring_text",
]

# Pages other engineers write: linked and listed only when the file exists, so the build
# passes with -W either way (see _ext/optional_pages.py).
optional_pages = ["chain", "theory_sgd", "cpp"]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path = []

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
nitpicky = False

html_theme = "pydata_sphinx_theme"
html_title = f"pyscale {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "icon_links": [],
}
html_show_sourcelink = False
