"""Pictures of flows and executions: Mermaid ``stateDiagram-v2`` text and Jupyter displays.

A flow is drawn as one composite state named after it, left to right, one
edge per dependency. A foreach layer gets a ``<<fork>>`` state in front of it
(its splits fan out there) and, when something reads it whole, a
``<<join>>`` state behind it. The built-in ``Parameters`` layer is left out:
every flow has it and it would only add noise.

An execution is the same picture with each layer coloured by what happened to
it, read from the datastore's records (no executor needed).

>>> from laminar import Flow, Layer
>>> class Branch(Flow): ...
>>> @Branch.register
... class A(Layer): ...
>>> @Branch.register
... class B(Layer):
...     def __call__(self, a: A) -> None: ...
>>> print(mermaid(Branch()))
stateDiagram-v2
    state Branch {
        direction LR
        A --> B
    }
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laminar.graph import Graph, Node

if TYPE_CHECKING:  # annotations only: flow and execution import this module at call time
    from laminar.execution import Execution
    from laminar.flow import Flow

#: Fill and text colours of each layer phase, shared by the Mermaid classes and the HTML table.
COLOURS: dict[str, tuple[str, str]] = {
    "finished": ("#d3f0d6", "#1b5e20"),
    "skipped": ("#e6e6e6", "#555555"),
    "failed": ("#f8d0d0", "#b71c1c"),
    "running": ("#d6e6fb", "#0d47a1"),
    "pending": ("#ffffff", "#333333"),
}


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


def mermaid(flow: Flow) -> str:
    """The flow's graph as Mermaid ``stateDiagram-v2`` text (``Flow.mermaid()``)."""
    return _diagram(flow.graph())


@dataclass(frozen=True)
class LayerSummary:
    """One layer of an execution as its records tell it."""

    name: str
    phase: str
    splits: int | None = None
    artifacts: tuple[str, ...] = ()
    started: float | None = None
    ended: float | None = None
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        return self.ended - self.started if self.started is not None and self.ended is not None else None


def summary(execution: Execution) -> list[LayerSummary]:
    """Each layer of ``execution`` (graph order) with its state, splits, artifacts and timings."""
    flow = execution.flow
    store = flow.configuration.datastore
    rows = []
    for name in flow.graph().nodes:
        record: dict[str, Any] = store.read_layer_record(flow.name, execution.id, name) or {}
        started, ended = record.get("started"), record.get("ended")
        splits = record.get("splits")
        rows.append(
            LayerSummary(
                name=name,
                phase=str(record.get("state", "pending")),
                splits=int(splits) if splits is not None else None,
                artifacts=tuple(str(n) for n in record.get("names", ())),
                started=float(started) if started is not None else None,
                ended=float(ended) if ended is not None else None,
                error=str(record["error"]) if record.get("error") is not None else None,
            )
        )
    return rows


def status(rows: Iterable[LayerSummary]) -> str:
    """An execution's overall state: ``failed``, ``finished`` (every layer settled) or ``incomplete``."""
    phases = [row.phase for row in rows]
    if "failed" in phases:
        return "failed"
    if all(phase in ("finished", "skipped") for phase in phases):
        return "finished"
    return "incomplete"


def execution_mermaid(execution: Execution, rows: list[LayerSummary] | None = None) -> str:
    """The flow's diagram with each layer styled by its phase in ``execution``."""
    rows = summary(execution) if rows is None else rows
    extra = [f"    classDef {phase} fill:{fill},color:{text}" for phase, (fill, text) in COLOURS.items()]
    by_phase: dict[str, list[str]] = {}
    for row in rows:
        by_phase.setdefault(row.phase if row.phase in COLOURS else "pending", []).append(row.name)
    extra.extend(f"    class {','.join(names)} {phase}" for phase, names in by_phase.items())
    return _diagram(execution.flow.graph(), extra)


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f}s"


def _when(stamp: float | None) -> str:
    return "" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def execution_html(execution: Execution, rows: list[LayerSummary] | None = None) -> str:
    """An HTML table of the execution's layers, each row coloured by its phase."""
    rows = summary(execution) if rows is None else rows
    head = "".join(f"<th>{h}</th>" for h in ("layer", "state", "splits", "artifacts", "started", "duration"))
    body = []
    for row in rows:
        fill, text = COLOURS.get(row.phase, COLOURS["pending"])
        state = row.phase if row.error is None else f"{row.phase}: {row.error}"
        cells = (
            row.name,
            state,
            "" if row.splits is None else str(row.splits),
            ", ".join(row.artifacts),
            _when(row.started),
            _duration(row.seconds),
        )
        tds = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        body.append(f'<tr class="laminar-{html.escape(row.phase)}" style="background:{fill};color:{text}">{tds}</tr>')
    title = html.escape(f"{execution.flow.name} execution {execution.id}: {status(rows)}")
    return f"<div><strong>{title}</strong><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _fenced(text: str) -> str:
    return f"```mermaid\n{text}\n```"


def flow_bundle(flow: Flow) -> dict[str, str]:
    """Jupyter display data of a flow: its diagram (JupyterLab >= 4.1 renders Mermaid natively)."""
    text = mermaid(flow)
    return {"text/markdown": _fenced(text), "text/vnd.mermaid": text, "text/plain": repr(flow)}


def execution_bundle(execution: Execution) -> dict[str, str]:
    """Jupyter display data of an execution: a coloured table of its layers, and its diagram."""
    rows = summary(execution)
    return {
        "text/html": execution_html(execution, rows),
        "text/markdown": _fenced(execution_mermaid(execution, rows)),
        "text/plain": repr(execution),
    }
