"""The package's import graph has no cycle, counting imports inside functions too: a loop closed by a
function-level import works until someone moves that import to the top, and makes modules impossible to
read one at a time."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, every import statement counted, wherever it sits.
    `from . import x` names module x where x is one, else the package; `from .x import y` names x.y
    where that is a module, else x. A package's __init__, run before any of its modules as Python
    imports them, is not an edge of its own."""
    root = package.parent
    modules = {module_name(path, root): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - (node.level - 1)] if node.level else []
                stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
                # A name that is a module of the package imports that module; any other name comes from
                # the stem's own code (its __init__ for a package).
                targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem
                           for alias in node.names]
            else:
                continue
            graph[name].update(target for target in targets if target in modules and target != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph(ROOT / "bnclaims")
    assert "bnclaims.engines.shared" in graph["bnclaims.engines.compiled"] and "bnclaims.engines.shared" in graph["bnclaims.engines.fit"]
    assert cycles(graph) == []


def test_the_engines_wing_is_entered_only_through_the_runner():
    """The rest of the package sees runs as RunSpec in, RunResult out: only the runner picks an engine,
    and neither engine depends on the other (what they share is in engines.shared)."""
    graph = import_graph(ROOT / "bnclaims")
    wing = {name for name in graph if name.startswith("bnclaims.engines")}
    entering = {name for name in graph if name not in wing and graph[name] & wing}
    assert entering == {"bnclaims.runner"}
    assert "bnclaims.engines.fit" not in graph["bnclaims.engines.compiled"]
    assert "bnclaims.engines.compiled" not in graph["bnclaims.engines.fit"]


def test_a_cycle_closed_inside_a_function_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def late():\n    from .sub import c\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("from ..a import anything\n")
    (package / "d.py").write_text("import pkg.a\n")
    graph = import_graph(package)
    assert graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.d"] == {"pkg.a"} and graph["pkg.a"] == {"pkg.b"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
