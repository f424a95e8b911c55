"""The view model: what every picture and page of a run is drawn from, as plain frozen data.

The drawings (:mod:`laminar.display.svg`, :mod:`laminar.display.timeline`), the report
(:mod:`laminar.display.report`) and the web UI (:mod:`laminar.display.server`) read only these
dataclasses, never a ``Flow``, an ``Execution``, the engine or the datastore: only
:mod:`laminar.results.views` reads records, so a change in how runs are recorded touches one
module. Everything here converts to JSON (``to_json``) for the UI's live updates and for tests.

A flow's shape is a :class:`GraphView`, made from a validated :class:`laminar.graph.Graph` by
:func:`graph_view`:

>>> from laminar import Flow, Layer
>>> class Pair(Flow): ...
>>> @Pair.register
... class A(Layer): ...
>>> @Pair.register
... class B(Layer):
...     def __call__(self, a: A) -> None: ...
>>> shape = graph_view(Pair().graph())
>>> [(node.name, node.dependencies) for node in shape.nodes]
[('A', ()), ('B', ('A',))]
>>> shape.to_json()["nodes"][1]["dependencies"]
['A']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laminar.graph import Graph, Node
from laminar.hooks import Kind

#: A layer's states, in the order a legend lists them. ``pending``: not started (or never will be, in
#: an execution that failed); ``running``: started and not settled (or its driver stopped: records do
#: not tell the two apart).
STATES = ("finished", "running", "failed", "skipped", "pending")

#: Fill, stroke and text colours of each state (light fills, dark text: readable printed in grey too).
COLOURS: Mapping[str, tuple[str, str, str]] = {
    "finished": ("#d3f0d6", "#2e7d32", "#1b5e20"),
    "running": ("#d6e6fb", "#1565c0", "#0d47a1"),
    "failed": ("#f8d0d0", "#c62828", "#b71c1c"),
    "skipped": ("#eeeeee", "#9e9e9e", "#555555"),
    "pending": ("#ffffff", "#9e9e9e", "#333333"),
}


def _plain(value: Any) -> Any:
    """``value`` with dataclasses, tuples and mappings turned into JSON's dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


class _Json:
    def to_json(self) -> dict[str, Any]:
        """This view as JSON-compatible dicts, lists, strings, numbers and None (``json.dumps`` takes it)."""
        plain: dict[str, Any] = _plain(self)
        return plain


@dataclass(frozen=True)
class NodeView(_Json):
    """One layer of a flow's graph, as the drawing needs it."""

    name: str
    dependencies: tuple[str, ...] = ()
    foreach: bool = False
    #: True for a foreach layer with an axis of its own (its splits fan out: a fork is drawn before it);
    #: False for one that only maps 1:1 onto an upstream foreach layer (its splits stream on).
    fans_out: bool = False
    #: The foreach dependencies this layer maps 1:1 onto (``Parameter(index=None)``): no join between.
    streams_from: tuple[str, ...] = ()
    #: Names of its entry hooks: it runs only when they all return something truthy.
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class GraphView(_Json):
    """A flow's layers in topological order. ``edges_known`` is False when the flow's code was not at
    hand (a datastore browsed without it): the layers are then those the records name, without edges."""

    flow: str
    nodes: tuple[NodeView, ...]
    edges_known: bool = True

    def node(self, name: str) -> NodeView:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"{self.flow} has no layer {name!r} (its layers: {', '.join(n.name for n in self.nodes)})")

    def joins(self, name: str) -> bool:
        """Whether a dependent reads the foreach layer ``name`` whole (a join is drawn after it)."""
        node = self.node(name)
        return node.foreach and any(name in n.dependencies and name not in n.streams_from for n in self.nodes)


def _streams(graph: Graph, node: Node) -> tuple[str, ...]:
    foreach = node.configuration.foreach
    if foreach is None:
        return ()
    names = (p.layer.__name__ for p in foreach.parameters if p.index is None)
    return tuple(dict.fromkeys(n for n in names if n in graph.nodes and graph.nodes[n].foreach))


def graph_view(graph: Graph) -> GraphView:
    """The drawing's view of a validated graph (the built-in ``Parameters`` layer is left out)."""
    nodes = []
    for name, node in graph.nodes.items():
        streams = _streams(graph, node)
        foreach = node.configuration.foreach
        nodes.append(
            NodeView(
                name=name,
                dependencies=tuple(d for d in node.dependencies if d in graph.nodes),
                foreach=foreach is not None,
                fans_out=foreach is not None and any(p.layer.__name__ not in streams for p in foreach.parameters),
                streams_from=streams,
                conditions=tuple(bound.hook.name for bound in node.hooks_of(Kind.entry)),
            )
        )
    return GraphView(flow=graph.flow, nodes=tuple(nodes))


@dataclass(frozen=True)
class AttemptView(_Json):
    """One attempt of a split: when and where it ran, what it asked for, how it ended, what it wrote.

    Every failed attempt has a record, and the finished one; an attempt that is running, or whose
    process died, is known by the log it wrote so far (``state`` running; ``worker_lost`` once the
    engine saw it lost).
    """

    number: int
    state: str  # finished, failed or running
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    traceback: str | None = None
    stdout: str = ""  # what it wrote: the head and the tail of each stream, with what was cut marked
    stderr: str = ""
    log_bytes: int = 0  # bytes it wrote in all, kept or cut
    worker_lost: bool = False
    timed_out: bool = False
    resources: Mapping[str, float] = field(default_factory=dict)  # what it asked for
    #: Where it ran: host and pid, and what its backend says (node, resources granted).
    worker: Mapping[str, Any] = field(default_factory=dict)
    #: An exception ``Catch`` turned into a finished attempt (its repr), if any.
    caught: str | None = None
    #: The execution whose split it took from the cache (laminar.cache) instead of running, if any.
    cached_from: str | None = None

    @property
    def seconds(self) -> float | None:
        return self.ended - self.started if self.started is not None and self.ended is not None else None

    @property
    def log_tail(self) -> str:
        """The last lines of what it wrote (stderr after stdout), for a failure's summary."""
        lines = [line for stream in (self.stdout, self.stderr) for line in stream.splitlines()]
        return "\n".join(lines[-20:])


@dataclass(frozen=True)
class SplitView(_Json):
    """One split (a plain layer has one, index 0) and its recorded attempts, oldest first."""

    index: int
    state: str  # finished, failed or running
    attempts: tuple[AttemptView, ...] = ()

    @property
    def last(self) -> AttemptView | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def started(self) -> float | None:
        return next((a.started for a in self.attempts if a.started is not None), None)

    @property
    def ended(self) -> float | None:
        return self.last.ended if self.last is not None else None

    @property
    def retries(self) -> int:
        """Attempts before the last one recorded (failed, or lost with their worker)."""
        return self.last.number - 1 if self.last is not None else 0

    @property
    def seconds(self) -> float | None:
        last = self.last
        if last is None or last.started is None or last.ended is None:
            return None
        return last.ended - last.started


@dataclass(frozen=True)
class ArtifactView(_Json):
    """An artifact's name and a short preview (a repr, or shape and dtype; never the whole value)."""

    name: str
    preview: str


@dataclass(frozen=True)
class LayerView(_Json):
    """One layer of an execution: its state, split counts, timings, artifacts and recorded splits.

    ``splits`` is None for a plain layer, else the number of splits when known (a running foreach layer
    whose grid cannot be worked out yet: None too; ``foreach`` tells them apart). ``remaining`` counts
    the splits neither finished nor failed while the layer runs (queued or running alike).
    ``split_views`` holds the splits with a record, by index; without ``splits`` collected, none.
    """

    name: str
    state: str
    foreach: bool = False
    splits: int | None = None
    finished: int = 0
    failed: int = 0
    remaining: int | None = None
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    artifacts: tuple[ArtifactView, ...] = ()
    split_views: tuple[SplitView, ...] = ()
    attempts: int = 0  # the most attempts a split of it took (0: none recorded)
    #: Its splits whose last attempt failed, with their attempts (collected even without ``split_views``).
    failures: tuple[SplitView, ...] = ()
    cached: int = 0  # its splits taken from the cache (laminar.cache)
    cached_from: str | None = None  # the execution they came from, when all came from one

    @property
    def cache_note(self) -> str:
        """What came from the cache, in words ('' when nothing did)."""
        if not self.cached:
            return ""
        of = f"{self.cached} of {self.splits} splits" if self.foreach else "its result"
        return f"{of} from the cache" + (f" (execution {self.cached_from})" if self.cached_from else "")

    @property
    def seconds(self) -> float | None:
        return self.ended - self.started if self.started is not None and self.ended is not None else None

    @property
    def label(self) -> str:
        """The count a node of the drawing shows: ``196/200, 4 failed``, or the state alone."""
        if not self.foreach:
            return self.state
        if self.state in ("skipped", "pending") and not (self.finished or self.failed):
            return self.state
        total = "?" if self.splits is None else str(self.splits)
        text = f"{self.finished}/{total}"
        return f"{text}, {self.failed} failed" if self.failed else text


@dataclass(frozen=True)
class ExecutionView(_Json):
    """One execution of a flow: its graph, parameters and layers (graph order).

    ``state``: ``finished`` (every layer finished or skipped), ``failed`` (a layer failed) or
    ``incomplete`` (running, or its driver stopped: ``resume()`` finishes it).
    """

    flow: str
    id: str
    state: str
    graph: GraphView
    created: float | None = None
    ended: float | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[LayerView, ...] = ()
    executor: str | None = None  # what it ran on (the executor's repr), as its record says

    @property
    def seconds(self) -> float | None:
        return self.ended - self.created if self.created is not None and self.ended is not None else None

    def layer(self, name: str) -> LayerView:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"{self.flow} execution {self.id} has no layer {name!r}")

    @property
    def live(self) -> bool:
        """Whether it may still change (a page showing it polls): while it is incomplete."""
        return self.state == "incomplete"


@dataclass(frozen=True)
class ExecutionSummary(_Json):
    """One line of a list of executions."""

    flow: str
    id: str
    state: str
    created: float | None = None
    ended: float | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return self.ended - self.created if self.created is not None and self.ended is not None else None
