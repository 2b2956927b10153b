"""No import cycles among the modules of `api/`, counting imports inside functions too (a cycle
hidden in a function-level import is still two modules that cannot be understood apart)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """The modules of `modules` that `tree` imports (``from a import b`` counts ``a.b`` when it is one)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def import_graph(package: str) -> dict[str, set[str]]:
    files = {_module(p): p for p in (ROOT / package).rglob("*.py")}
    return {name: _imports(ast.parse(path.read_text()), set(files)) - {name} for name, path in files.items()}


def test_import_graph_sees_function_level_imports() -> None:
    graph = import_graph("api")
    assert "api.epcis.anchors" in graph["api.trace"]
    assert "chain.tables.epcis" not in graph["api.trace"]  # other packages are not in the graph


@pytest.mark.parametrize("package", ["api"])
def test_modules_import_each_other_without_cycles(package: str) -> None:
    graph = import_graph(package)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
