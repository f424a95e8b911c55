"""Flows and executions as Mermaid ``stateDiagram-v2`` text.

A flow is drawn as one composite state named after it, left to right, one
edge per dependency. A foreach layer gets a ``<<fork>>`` state in front of it
(its splits fan out there) and, when something reads it whole, a
``<<join>>`` state behind it. The built-in ``Parameters`` layer is left out:
every flow has it and it would only add noise. An execution is the same
picture with each layer coloured by what happened to it.

>>> from laminar import Flow, Layer
>>> class Branch(Flow): ...
>>> @Branch.register
... class A(Layer): ...
>>> @Branch.register
... class B(Layer):
...     def __call__(self, a: A) -> None: ...
>>> print(mermaid(Branch().graph()))
stateDiagram-v2
    state Branch {
        direction LR
        A --> B
    }
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from laminar.display.style import COLOURS
from laminar.display.summary import LayerSummary
from laminar.graph import Graph, Node


def _streams(graph: Graph, node: Node) -> set[str]:
    """Foreach layers ``node`` maps 1:1 onto (``Parameter(index=None)``): their splits flow straight on."""
    foreach = node.configuration.foreach
    if foreach is None:
        return set()
    return {p.layer.__name__ for p in foreach.parameters if p.index is None and graph.nodes[p.layer.__name__].foreach}


def _forks(graph: Graph, node: Node) -> bool:
    """Whether ``node`` fans out: a foreach layer with an axis other than a 1:1 upstream foreach layer."""
    foreach = node.configuration.foreach
    streams = _streams(graph, node)
    return foreach is not None and any(p.layer.__name__ not in streams for p in foreach.parameters)


def _lines(graph: Graph) -> list[str]:
    """The body of a flow's diagram: states and edges, one per line, unindented."""
    forks = [name for name, node in graph.nodes.items() if _forks(graph, node)]
    lines = [f"state {name}_fork <<fork>>" for name in forks]
    joins: list[str] = []
    edges: list[str] = []
    for name, node in graph.nodes.items():
        if name in forks:
            edges.append(f"{name}_fork --> {name}")
        for dependent in graph.dependents.get(name, ()):
            source = name
            if node.foreach and name not in _streams(graph, graph[dependent]):
                source = f"{name}_join"
                if source not in joins:
                    joins.append(source)
                    edges.append(f"{name} --> {source}")
            target = f"{dependent}_fork" if dependent in forks else dependent
            edges.append(f"{source} --> {target}")
    lines.extend(f"state {join} <<join>>" for join in joins)
    lines.extend(edges)
    # A layer with no edges would not appear at all; name it on its own line.
    named = " ".join(edges).split()
    lines.extend(name for name in graph.nodes if name not in named)
    return lines


def _diagram(graph: Graph, extra: Iterable[str] = ()) -> str:
    body = [f"        {line}" for line in ["direction LR", *_lines(graph)]]
    return "\n".join(["stateDiagram-v2", f"    state {graph.flow} {{", *body, "    }", *extra])


def mermaid(graph: Graph) -> str:
    """The flow's graph as Mermaid ``stateDiagram-v2`` text (``Flow.mermaid()``)."""
    return _diagram(graph)


def execution_mermaid(graph: Graph, rows: Sequence[LayerSummary]) -> str:
    """The flow's diagram with each layer styled by its phase in an execution (``rows``)."""
    extra = [f"    classDef {phase} fill:{fill},color:{text}" for phase, (fill, text) in COLOURS.items()]
    by_phase: dict[str, list[str]] = {}
    for row in rows:
        by_phase.setdefault(row.phase if row.phase in COLOURS else "pending", []).append(row.name)
    extra.extend(f"    class {','.join(names)} {phase}" for phase, names in by_phase.items())
    return _diagram(graph, extra)
