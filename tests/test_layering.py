"""The house rules of docs/architecture.md: collapsekit's imports form no cycle and point down
the layers (utilities < functional < stats < metrics, inference < engine < verdict < report <
render, plot < the shells), except for the few upward edges listed in ALLOWED_UPWARD."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "collapsekit"

#: lowest first; a module belongs to the layer of its longest matching prefix
LAYERS: dict[str, int] = {
    "collapsekit._version": 0,
    "collapsekit._validation": 0,
    "collapsekit._threads": 0,
    "collapsekit._linalg": 0,
    "collapsekit.io.safe_write": 0,
    "collapsekit.functional": 1,
    "collapsekit.stats": 2,
    "collapsekit.metrics": 3,
    "collapsekit.inference": 3,
    "collapsekit.engine": 4,
    "collapsekit.verdict": 5,
    "collapsekit.report": 6,
    "collapsekit.render": 7,
    "collapsekit.plot": 7,
    "collapsekit.cli": 8,
    "collapsekit.integrations": 8,
    "collapsekit.io": 8,
    "collapsekit.profile": 8,
    "collapsekit.demo": 8,
    "collapsekit.__main__": 8,
    "collapsekit": 8,
}

#: (importer, imported): why the edge may point up. Every new upward edge fails the test.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    (
        "collapsekit.engine.analyzer",
        "collapsekit.report.assemble",
    ): "the Analyzer facade's compute() hands back the Report (imported inside the method)",
    (
        "collapsekit.report.report",
        "collapsekit.render.html",
    ): "Report.to_html / _repr_html_ render themselves (imported inside the methods)",
    (
        "collapsekit.report.compare",
        "collapsekit.render.compare_html",
    ): "Comparison.to_html renders itself (imported inside the method)",
    (
        "collapsekit.verdict.verdict",
        "collapsekit.render.verdict_html",
    ): "Verdict._repr_html_ renders itself in notebooks (imported inside the method)",
    (
        "collapsekit.report.report",
        "collapsekit.plot.report_figures",
    ): "Report.figures draws with matplotlib (imported inside the method)",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str) -> str:
    """The deepest collapsekit module that ``name`` (a module or a name in one) points at."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str) -> set[str]:
    """collapsekit modules imported by ``module``, at module or function level, skipping
    ``if TYPE_CHECKING:`` blocks."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "collapsekit")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] == "collapsekit":
                found.update(_resolve(f"{base}.{a.name}") for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {_resolve(name) for name in found} - {module}


GRAPH: dict[str, set[str]] = {m: _imports(m) for m in MODULES}


def layer(module: str) -> int:
    """The layer of ``module``: that of its longest prefix in LAYERS."""
    name = module
    while name not in LAYERS:
        if "." not in name:
            raise KeyError(f"{module}: no layer in LAYERS; add its package there")
        name = name.rsplit(".", 1)[0]
    return LAYERS[name]


def _cycle() -> list[str] | None:
    """One import cycle among the modules, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(GRAPH):
        if start not in state and (found := walk(start)):
            return found
    return None


def upward_edges() -> set[tuple[str, str]]:
    """Every import that points to a higher layer than its importer's."""
    return {(a, b) for a, deps in GRAPH.items() for b in deps if layer(b) > layer(a)}


def test_the_parser_sees_imports_at_every_level() -> None:
    # module level, inside a function, and under TYPE_CHECKING (skipped)
    assert "collapsekit.engine.analyzer" in GRAPH["collapsekit.engine.analyze"]
    assert "collapsekit.report.report" not in GRAPH["collapsekit.engine.analyze"]  # TYPE_CHECKING
    assert "collapsekit.render.html" in GRAPH["collapsekit.report.report"]  # inside methods
    assert "collapsekit.report.report" not in GRAPH["collapsekit.render.html"]  # TYPE_CHECKING
    assert "collapsekit._version" in GRAPH["collapsekit"]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "collapsekit._version", {"collapsekit"})
    assert _cycle() is not None


def test_imports_point_down_the_layers() -> None:
    new = sorted(upward_edges() - set(ALLOWED_UPWARD))
    assert not new, (
        "imports pointing up the layers (move the code down, or, with a reason, add the edge "
        "to ALLOWED_UPWARD): " + ", ".join(f"{a} -> {b}" for a, b in new)
    )


def test_allowed_upward_edges_still_exist() -> None:
    stale = sorted(set(ALLOWED_UPWARD) - upward_edges())
    assert not stale, "remove from ALLOWED_UPWARD, these edges are gone: " + ", ".join(
        f"{a} -> {b}" for a, b in stale
    )


def test_safe_write_is_a_leaf() -> None:
    assert GRAPH["collapsekit.io.safe_write"] == set()
