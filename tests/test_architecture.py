"""The code's layers hold: no module imports a layer above its own, no import circles, Slack in one wing.

Layers, lowest first (ARCHITECTURE.md): runbook.config < runbook.google < the core (runbook/*.py) <
tasks, runbook.slack (side by side, neither imports the other) < flows < runbook.app. The simulator stands apart.
Every import counts, also those inside functions: a lazy import is still a dependency.
"""

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runbook", "flows", "tasks", "simulator")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str) -> set[str]:
    """Every module `source` imports (absolute and relative, at any depth, TYPE_CHECKING included)."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def project_graph(paths: Iterable[Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (names that are packages or modules of the project)."""
    sources = {module_name(path): path.read_text() for path in paths}
    known = set(sources)
    return {module: {name for name in imports_of(text, module) if name in known} for module, text in sources.items()}


def layer(module: str) -> tuple[int, str]:
    """(rank, name) of the layer `module` belongs to; a module may import only ranks at or below its own."""
    parts = module.split(".")
    if parts[0] == "runbook":
        wing = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else None
        if wing == "config":
            return 0, "runbook.config"
        if wing == "google":
            return 1, "runbook.google"
        if wing == "slack":
            return 3, "runbook.slack"
        if wing == "app":
            return 5, "runbook.app"
        return 2, "core"
    if parts[0] == "tasks":
        return 3, "tasks"
    if parts[0] == "flows":
        return 4, "flows"
    return -1, "simulator"


WINGS = {"config", "google", "slack", "app"}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        rank, name = layer(module)
        for target in sorted(targets):
            target_rank, target_name = layer(target)
            if name == "simulator" or target_name == "simulator":
                if name != target_name and not module.startswith("runbook.app"):
                    problems.append(f"{module} ({name}) imports {target} ({target_name})")
                continue
            if target_rank > rank or (target_rank == rank and target_name != name):
                problems.append(f"{module} ({name}) imports {target} ({target_name}), a layer above or beside it")
    return problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target == node or _is_parent(target, node):
                continue  # a module importing its own package's __init__ is not a circle of code
            if target not in index:
                visit(target)
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
            visit(node)
    return found


def _is_parent(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def project_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert layer_violations(project_graph(project_files())) == []


def test_no_import_circles() -> None:
    assert circles(project_graph(project_files())) == []


def test_only_the_slack_wing_imports_slack_sdk() -> None:
    outside = [
        module_name(path)
        for path in project_files()
        if path.parts[len(ROOT.parts)] in ("runbook", "flows", "tasks")
        and "slack" not in path.relative_to(ROOT).parts[1:2]
        and any(name.split(".")[0] == "slack_sdk" for name in imports_of(path.read_text(), module_name(path)))
    ]
    assert outside == []


def test_every_wing_says_what_it_is_for() -> None:
    for wing in WINGS:
        docstring = ast.get_docstring(ast.parse((ROOT / "runbook" / wing / "__init__.py").read_text()))
        assert docstring and len(docstring.splitlines()) <= 4, wing


# The tests above must be able to fail: each rule is shown catching a forbidden import added to a copy of the tree.


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("runbook.checks", "from flows.handoff import handoff", "runbook.checks (core) imports flows.handoff (flows)"),
        ("runbook.google.calls", "from runbook.checks import CheckContext", "runbook.google.calls (runbook.google)"),
        ("tasks.vpc_access", "from runbook.slack.reporter import SlackReporter", "tasks.vpc_access (tasks)"),
        ("runbook.config.models", "import runbook.results", "runbook.config.models (runbook.config) imports"),
        ("simulator.server", "from runbook.results import Status", "simulator.server (simulator) imports"),
    ],
)
def test_a_forbidden_import_is_reported(module: str, line: str, expected: str) -> None:
    graph = project_graph(project_files())
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    graph[module] |= {name for name in imports_of(line, module) if name in graph}
    assert any(problem.startswith(expected) for problem in layer_violations(graph)), path


def test_an_import_circle_is_reported() -> None:
    graph = project_graph(project_files())
    graph["runbook.results"] = graph["runbook.results"] | {"runbook.report"}
    assert ["runbook.report", "runbook.results"] in circles(graph)


def test_relative_imports_resolve_to_their_package() -> None:
    assert "runbook.slack.store" in imports_of("from .store import ParentStore", "runbook.slack.bot")
