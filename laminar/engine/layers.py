"""What the engine keeps of each layer, and what it derives from the graph about one.

Each unit (split) of an open layer is :data:`WAITING` (for the upstream split it
maps onto), :data:`QUEUED`, :data:`ACTIVE`, :data:`FINISHED` or :data:`FAILED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from laminar import foreach as foreach_
from laminar.engine.snapshot import Phase
from laminar.graph import Graph, Node
from laminar.hooks import Kind
from laminar.options import Container, LayerConfiguration
from laminar.records import SplitMeta
from laminar.task import Input, Task, TaskKind

WAITING, QUEUED, ACTIVE, FINISHED, FAILED = range(5)


@dataclass(frozen=True)
class Prior:
    """What an earlier run of a resumed execution left: finished layers (their split counts), the splits
    that finished in layers that did not, and the metas of those splits that grids read."""

    layers: Mapping[str, int | None] = field(default_factory=dict)  # finished layer -> its splits (None: plain)
    splits: Mapping[str, frozenset[int]] = field(default_factory=dict)  # unfinished layer -> splits finished
    metas: Mapping[tuple[str, int], SplitMeta] = field(default_factory=dict)
    #: (layer, split) -> the attempts it took in earlier runs (its highest recorded attempt)
    attempts: Mapping[tuple[str, int], int] = field(default_factory=dict)


@dataclass
class LayerState:
    """One layer's progress in this execution."""

    node: Node
    phase: Phase = Phase.waiting
    grid: foreach_.Grid | None = None
    units: bytearray = field(default_factory=bytearray)
    finished: int = 0
    failed: int = 0
    active: int = 0
    running: dict[int, int] = field(default_factory=dict)  # split -> key of its run task in flight
    metas: dict[int, SplitMeta] = field(default_factory=dict)
    stream: str | None = None  # the foreach layer this one maps 1:1 onto, while streaming
    ahead: tuple[str, ...] = ()  # dependencies still running when this layer started ahead of them
    started: float | None = None  # when it opened (seconds of time.monotonic)
    inputs: dict[str, Input] | None = None  # its units' inputs before their grid's selection, once opened
    readers: set[str] = field(default_factory=set)  # dependents that have not settled
    attempt: int = 0  # the most attempts a unit of it took so far
    retries: int = 0  # its failed attempts tried again (this run)
    cached: int = 0  # its units taken from the cache (this run)
    cached_from: set[str] = field(default_factory=set)  # the executions they came from

    @property
    def count(self) -> int:
        return len(self.units)

    @property
    def splits(self) -> int | None:
        return self.count if self.node.foreach else None

    @property
    def submitted(self) -> bool:
        """Every unit finished or has its run task in flight: a task that takes all its outputs can be
        submitted now (on Ray, with the refs of those still running)."""
        return self.phase is Phase.open and len(self.running) + self.finished == self.count


def streams_from(graph: Graph, node: Node) -> str | None:
    """The upstream foreach layer ``node`` maps 1:1 onto with every parameter, if any."""
    config = node.configuration.foreach
    if config is None or node.hooks_of(Kind.entry):
        return None
    layers = {p.layer.__name__ for p in config.parameters if p.index is None}
    if len(layers) != 1 or any(p.index is not None for p in config.parameters):
        return None
    (upstream,) = layers
    if upstream in hooked(node):  # its hooks see the upstream whole: every split of it must have finished
        return None
    return upstream if graph.nodes.get(upstream) and graph[upstream].foreach else None


def hooked(node: Node) -> frozenset[str]:
    """The layers ``node``'s hooks take (of every kind)."""
    return frozenset(d for bounds in node.hooks.values() for bound in bounds for d in bound.parameters.values())


#: The hooks each kind of task runs.
HOOKS = {
    TaskKind.entry: Kind.entry,
    TaskKind.submission: Kind.submission,
    TaskKind.retry: Kind.retry,
    TaskKind.run: Kind.execution,
}


def reading(node: Node, kind: TaskKind) -> frozenset[str]:
    """The layers a task of ``kind`` of ``node`` reads: those its hooks of that kind take, and for a run
    those ``__call__`` takes too."""
    found = {d for bound in node.hooks_of(HOOKS[kind]) for d in bound.parameters.values()}
    if kind is TaskKind.run:
        found.update(node.call.values())
    return frozenset(found)


def with_container(task: Task, container: Container) -> LayerConfiguration:
    """The task's configuration with the container its submission or retry hooks returned."""
    return task.configuration.model_copy(update={"container": container})
