"""No import circles between the project's modules: services never import tasks, adapters and their registry, the
client and OAuth, the sandbox's views and its helpers stay one-way. Built from the source (AST), so an import hidden
inside a function counts too, except those under `if TYPE_CHECKING:` (types only, never run)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "integrations", "mappings", "automations", "alerts", "configs", "ghl_spec", "sandbox")
# The product: what an install runs. The sandbox (both APIs played locally, demo data, benchmarks) is development
# tooling on top of it and never imported by it.
PRODUCT = ("config", "integrations", "mappings", "automations", "alerts", "configs", "ghl_spec")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name lives in (the longest known prefix), or None for outside modules."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved and resolved != name and not name.startswith(resolved + "."):
                    # A package importing its own submodules, or a module its parent package, is not a circle.
                    graph[name].add(resolved)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "integrations.models" in graph["integrations.services.sync.reading"]
    assert "integrations.adapters.registry" in graph["integrations.services.sync.reading"]


def test_circles_are_found() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_the_product_never_imports_the_sandbox() -> None:
    graph = import_graph()
    leaks = sorted(
        f"{name} → {target}"
        for name, targets in graph.items()
        if name.split(".")[0] in PRODUCT
        for target in targets
        if target.split(".")[0] == "sandbox"
    )
    assert leaks == []


def test_the_sandbox_leak_check_sees_a_leak() -> None:
    graph = import_graph()
    assert "sandbox.services" in graph["sandbox.views"]
    assert any(t.split(".")[0] == "ghl_spec" for t in graph["integrations.clients.ghl"])


def test_integrations_never_imports_automations() -> None:
    """The edge is one-way: automations builds on integrations (connections, clients, the run lifecycle), and
    integrations reaches automations' work only through what that app registers (its AppConfig)."""
    graph = import_graph()
    edges = sorted(
        f"{name} → {target}"
        for name, targets in graph.items()
        if name.split(".")[0] == "integrations"
        for target in targets
        if target.split(".")[0] == "automations"
    )
    assert edges == []
    assert any(t.split(".")[0] == "integrations" for t in graph["automations.services.polls"])
