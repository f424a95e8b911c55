"""The small interface between the scheduler and the backends that place work.

The scheduler decides *what* runs next: it opens a :class:`Session` on the
executor for its execution and hands it :class:`Task` objects; the session
decides *where* each runs and reports :class:`Completion` objects back.
``Thread`` runs tasks on local threads; ``laminar_ray.Ray`` runs each as a Ray
task.
"""

from __future__ import annotations

import enum
import queue
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from laminar.options import LayerConfiguration

if TYPE_CHECKING:  # annotations only: these modules do not import this one back
    from laminar.datastore import Datastore
    from laminar.graph import Graph


class TaskKind(str, enum.Enum):
    entry = "entry"  # evaluate entry hooks -> bool
    submission = "submission"  # run submission hooks -> Container
    retry = "retry"  # run retry hooks -> Container
    run = "run"  # run the layer -> runner.Outcome


@dataclass(frozen=True)
class Input:
    """How one dependency is seen by a task.

    ``split`` is the dependency's split to read, or None to read a foreach
    dependency whole (each attribute an Accessor over splits). ``items`` picks
    single shard items for a foreach split (None: the whole value, broadcast).
    """

    layer: str
    state: str
    split: int | None = 0
    items: Mapping[str, int | None] = field(default_factory=dict)
    splits: int | None = None  # the dependency's split count, when it is read whole


@dataclass(frozen=True)
class Task:
    key: int
    kind: TaskKind
    layer: str
    index: int | None  # foreach split number, None for a plain layer
    splits: int | None
    attempt: int
    configuration: LayerConfiguration
    inputs: Mapping[str, Input]
    error: BaseException | None = None  # the last failure, for retry hooks

    @property
    def split(self) -> int:
        """The split number used in the datastore (0 for a plain layer)."""
        return self.index or 0

    @property
    def label(self) -> str:
        return f"{self.layer}[{self.index}]" if self.index is not None else self.layer


@dataclass(frozen=True)
class Completion:
    task: Task
    value: Any = None
    error: BaseException | None = None
    worker_lost: bool = False  # the process running it died (killed, node lost, out of memory)
    out_of_memory: bool = False


@dataclass(frozen=True)
class Run:
    """What an executor needs to know about the execution it serves."""

    flow: str
    execution: str
    graph: Graph
    datastore: Datastore


class Session(Protocol):
    """One execution's connection to an executor: places its tasks, reports their completions."""

    #: True when ``submit`` may be given a run task whose plain dependencies are still running (as
    #: the scheduler's own tasks): the backend starts it once their outputs exist, or fails it with
    #: their error. Ray does (pending ObjectRefs are task arguments); threads do not.
    pipelines: bool

    def capacity(self) -> int:
        """How many tasks the scheduler may keep in flight at once."""

    def submit(self, task: Task) -> None:
        """Start ``task``; never blocks on its completion."""

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        """Block until at least one completion (or ``timeout``); return all that are ready.

        Without ``urgent`` no completion can let the scheduler start more work (every task that will run
        was submitted): the session may wait for several and report them a while late (Ray: at most
        :data:`laminar_ray.inflight.SWEEP_MAX`), to wake the driver less."""

    def cancel(self, task: Task) -> None:
        """Withdraw a run task started ahead of its dependencies, so that it never starts once the flow
        is failing; its completion still comes (with an error). Only pipelining sessions get this call."""

    def close(self) -> None:
        """Release what the session took; tasks still running are abandoned."""


class Executor(Protocol):
    """Where tasks run. Holds configuration only: every execution gets its own ``Session``, so one
    executor serves any number of flows at once (``executor = Ray()`` shared by several flows)."""

    def open(self, run: Run) -> Session:
        """Start serving ``run`` (start pools, connect to a cluster); owns no scheduling decisions."""


class Completions:
    """A thread-safe inbox of completions: callbacks ``put``, the scheduler's thread ``drain``s."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Completion] = queue.SimpleQueue()

    def put(self, completion: Completion) -> None:
        self._queue.put(completion)

    def drain(self, timeout: float | None) -> list[Completion]:
        """Block until one completion arrives (or ``timeout``), then take every one that is ready."""
        try:
            completions = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                completions.append(self._queue.get_nowait())
            except queue.Empty:
                return completions
