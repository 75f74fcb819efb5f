"""Importing pyscale from inside its source tree.

After ``pip install .`` the compiled core lives in the installed copy only; Python started
in the repository's root finds the source folder ``pyscale/`` first (the current directory
leads ``sys.path``), whose ``_core/`` holds nothing but the type stubs. Rather than fail on
a core that is not there, such a source tree hands its package path to the installed copy
(:func:`package_path`); a source tree with nothing built anywhere says what to do.
"""
from __future__ import annotations

import importlib.machinery
import os
import sys

__all__ = ["package_path", "has_core"]


# (os.path, not pathlib: this runs first in `import pyscale`, which stays light)
def has_core(directory: str) -> bool:
    """Whether ``directory`` holds the compiled core (``_core.<extension suffix>``)."""
    return any(os.path.isfile(os.path.join(directory, f"_core{suffix}"))
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _built_copy(here: str):
    """Another ``pyscale`` package on the import path whose core is built (or None)."""
    elsewhere = [p for p in sys.path if not _same(p or ".", os.path.dirname(here))]
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = (find("pyscale", elsewhere)
                    if finder is importlib.machinery.PathFinder else find("pyscale", None))
        except (ImportError, TypeError, ValueError):
            continue
        for location in getattr(spec, "submodule_search_locations", None) or ():
            if not _same(location, here) and has_core(location):
                return location
    return None


def package_path(path: list, init_file: str) -> list:
    """The package's ``__path__``: its own folder when the core is built there; the
    installed copy's when this is a source tree without a build."""
    here = os.path.dirname(os.path.abspath(init_file))
    if has_core(here):
        return path
    built = _built_copy(here)
    if built is None:
        raise ImportError(f"pyscale's C++ core is not built in {here} (a source tree) and "
                          f"no installed pyscale was found: run `pip install .` (then any "
                          f"directory works, this one included) or build in place with "
                          f"`pip install -e .`")
    return [built]
