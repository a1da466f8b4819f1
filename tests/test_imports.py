"""The shape of the code's imports (DESIGN.md, STYLE.md): no cycle between modules, services
that never reach for views, plumbing that knows no app.

Read from the source, not by importing it: an import inside a function counts as much as
one at the top (hiding an import in a function to dodge a cycle still makes a cycle), but
not one under `if TYPE_CHECKING:` (annotations only).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("escalation_project", "agents", "escalations", "supervisors", "webhooks")
APPS = ("agents", "escalations", "supervisors", "webhooks")

# Imports inside a function that belong there: an AppConfig.ready() wiring things once every
# model is loaded (Django's documented place for it).
DEFERRED_ON_PURPOSE = {"escalation_project.apps", "escalations.apps", "supervisors.apps", "agents.apps"}

# The project package's modules that may import an app, and why; anything else in it is
# plumbing (settings, auth, errors, pagination, Redis, logging) and imports none.
COMPOSITION_ROOT = {
    "escalation_project.urls": "routes to every app's views",
    "escalation_project.asgi": "routes websockets to the console's consumer",
    "escalation_project.apps": "registers every app's Celery tasks at start",
    "escalation_project.api.auth": "API keys are agents', user tokens supervisors'",
    "escalation_project.api.throttling": "throttles per agent API key",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[module_name(path)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The project modules `name` imports, each with the line of its first import."""
    found: dict[str, int] = {}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def add(target: str, line: int) -> None:
        # `from a.b import c` may import the module a.b.c or the name c of a.b.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                for alias in child.names:
                    add(f"{base}.{alias.name}", child.lineno)
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
            connect(node)
    return found


def without_deferred(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The graph less the imports of the modules that defer theirs on purpose (ready())."""
    return {name: ({} if name in DEFERRED_ON_PURPOSE else targets) for name, targets in graph.items()}


def test_no_module_takes_part_in_an_import_cycle():
    found = cycles(without_deferred(import_graph()))
    assert found == [], "Import cycles (a module that imports itself through others):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_the_cycle_finder_finds_a_cycle():
    # The test above can fail: a cycle hidden in a function is still found.
    graph = {"a.services": {"b.services": 1}, "b.services": {"a.tasks": 3}, "a.tasks": {"a.services": 9}}
    assert cycles(graph) == [["a.services", "a.tasks", "b.services"]]


def _is_view_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return ".api" in name or last.startswith("views") or last in {"consumers", "admin"}


def test_services_and_outboxes_never_import_views():
    graph = import_graph()
    writers = [
        name for name in graph if name.rsplit(".", 1)[-1] in {"services", "outbox", "rows", "transitions"}
    ]
    reaching = {
        writer: sorted(target for target in graph[writer] if _is_view_module(target)) for writer in writers
    }
    assert {writer: views for writer, views in reaching.items() if views} == {}


def test_plumbing_imports_no_app():
    graph = import_graph()
    plumbing = [name for name in graph if name.split(".")[0] == "escalation_project"]
    reaching = {
        name: sorted(target for target in graph[name] if target.split(".")[0] in APPS)
        for name in plumbing
        if name not in COMPOSITION_ROOT
    }
    assert {name: apps for name, apps in reaching.items() if apps} == {}
