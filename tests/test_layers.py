"""The package's layers point one way: model → results → engines → theory → analysis → app.

Read from the source (every ``import``/``from`` of a pyscale module, function-local ones
included): the import graph has no circle, and no module imports from a layer above its
own. ``import pyscale`` pulls in none of the heavy optional front-door dependencies.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pyscale

ROOT = Path(pyscale.__file__).parent

# Layer of each top-level folder or module below pyscale (its folders are its layers);
# higher may import lower, never up.
LAYERS = {
    0: ["_core", "_version", "_validate", "errors", "_kernels", "_repr", "_digest",
        "_source_tree"],
    1: ["model"],
    2: ["results"],
    3: ["engines"],
    4: ["theory"],
    5: ["analysis"],
    6: ["app"],
    7: ["__main__", "__init__"],
}
LAYER_OF = {name: level for level, names in LAYERS.items() for name in names}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """pyscale modules imported by the file (absolute dotted names below pyscale)."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("pyscale"):
                target = node.module[len("pyscale."):] if node.module != "pyscale" else ""
            else:
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}" if target else alias.name
                yield full if (ROOT / full.replace(".", "/")).exists() or \
                    (ROOT / (full.replace(".", "/") + ".py")).exists() else target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pyscale."):
                    yield alias.name[len("pyscale."):]


def _graph():
    graph = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        graph[name] = {m for m in _imports(path) if m and m != name}
    return graph


def _top(name: str) -> str:
    return name.split(".")[0]


def test_no_import_circles():
    graph = _graph()
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            nxt = nxt if nxt in graph else _top(nxt)
            if nxt not in graph or _top(nxt) == _top(node) and nxt == node:
                continue
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for name, targets in _graph().items():
        if _top(name) not in LAYER_OF:
            upward.append(f"{name}: not assigned to a layer")
            continue
        for target in targets:
            top = _top(target)
            if top == _top(name) or top not in LAYER_OF:
                continue
            if LAYER_OF[top] > LAYER_OF[_top(name)]:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that run upward:\n" + "\n".join(sorted(upward))


def test_import_pyscale_does_not_import_the_front_door_dependencies():
    code = ("import sys, pyscale; heavy = [m for m in ('matplotlib', 'pandas', 'dask', "
            "'distributed', 'xarray', 'pyarrow') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT.parent).stdout.strip()
    assert out == "[]", f"import pyscale imported {out}"
