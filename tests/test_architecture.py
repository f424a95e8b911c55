"""The module map of docs/architecture.md, held against the code: no import circle, no forbidden edge.

Every ``import`` statement of the two packages is read (also those inside functions: an import put off
until call time is still a dependency), each resolved to the module it names.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("laminar", "laminar_ray")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _resolve(module: str, name: str | None) -> str:
    """The module that ``from module import name`` (or ``import module``) depends on."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (ours by full name, others by their top-level package)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.update(_resolve(base, alias.name) for alias in node.names)
    return {f if f.split(".")[0] in PACKAGES else f.split(".")[0] for f in found} - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _faces() -> set[str]:
    """Package ``__init__`` modules that only hand names on (their imports are what they re-export)."""
    return {name for name, path in MODULES.items() if path.name == "__init__.py"}


def test_no_import_circle_among_the_product_modules() -> None:
    faces = _faces()
    edges = {name: {d for d in deps if d in MODULES and d not in faces} for name, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dependency in sorted(edges[name]):
            if state.get(dependency) == 1:
                return [*stack[stack.index(dependency) :], dependency]
            if dependency not in state and (cycle := visit(dependency)):
                return cycle
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(edges):
        if name not in state and name not in faces:
            cycle = visit(name)
            assert cycle is None, " -> ".join(cycle)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


#: (modules, what they must never import): the edges docs/architecture.md forbids.
FORBIDDEN = [
    ("laminar", ["ray", "laminar_ray"]),  # the core finds backends through executors.registry
    ("laminar.task", ["laminar.datastore", "laminar.graph", "laminar.engine", "laminar.executors", "laminar.runner"]),
    ("laminar.records", ["laminar.datastore", "laminar.engine", "laminar.graph", "laminar.task"]),
    (
        "laminar.datastore",
        [
            "laminar.engine",
            "laminar.executors",
            "laminar.journal",
            "laminar.runner",
            "laminar.flow",
            "laminar.results",
            "laminar.display",
            "laminar.graph",
            "laminar.task",
        ],
    ),
    (
        "laminar.engine",
        ["laminar.display", "laminar.flow", "laminar.results", "laminar.cli", "laminar.executors.thread"],
    ),
    (
        "laminar.display",
        [
            "laminar.engine.state",
            "laminar.engine.loop",
            "laminar.engine.layers",
            "laminar.datastore",
            "laminar.flow",
            "laminar.results",
            "laminar.journal",
            "laminar.runner",
        ],
    ),
    ("laminar.results", ["laminar.flow", "laminar.engine", "laminar.cli"]),
    ("laminar.cache", ["laminar.engine", "laminar.flow", "laminar.results", "laminar.cli", "laminar.executors"]),
    ("laminar.executors", ["laminar.engine", "laminar.flow", "laminar.results", "laminar.journal"]),
    # the backend's modules; its front of house (jobs, supervisor: submitting and running flows as Ray jobs)
    # may use flows and results
    ("laminar_ray", ["laminar.engine", "laminar.flow", "laminar.results", "laminar.journal", "laminar.display"]),
]


#: laminar_ray's front of house, which the backend's rule above leaves out.
FRONT = {"laminar_ray.jobs", "laminar_ray.supervisor"}


@pytest.mark.parametrize(("modules", "forbidden"), FORBIDDEN, ids=[m for m, _ in FORBIDDEN])
def test_no_module_imports_across_a_forbidden_edge(modules: str, forbidden: list[str]) -> None:
    crossing = [
        f"{name} imports {dependency}"
        for name, dependencies in GRAPH.items()
        if _within(name, modules) and name not in FRONT
        for dependency in dependencies
        if any(_within(dependency, target) for target in forbidden)
    ]
    assert crossing == []


def test_importing_laminar_and_its_command_line_loads_no_ray() -> None:
    code = (
        "import sys, laminar, laminar.cli, laminar.configurations, laminar.engine.loop, laminar.results;"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'laminar_ray'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"
