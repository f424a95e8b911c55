"""The small interface between the engine and the backends that place work.

The engine decides *what* runs next: it opens a :class:`Session` on the
executor for its execution and hands it :class:`Task` objects; the session
decides *where* each runs and reports :class:`Completion` objects back.
``Thread`` runs tasks on local threads; ``laminar_ray.Ray`` runs each as a Ray
task.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Protocol

from laminar.datastore import Datastore
from laminar.graph import Graph
from laminar.logs import LogPolicy
from laminar.task import Completion, Task


@dataclass(frozen=True)
class Run:
    """What an executor needs to know about the execution it serves."""

    flow: str
    execution: str
    graph: Graph
    datastore: Datastore
    logs: LogPolicy = field(default_factory=LogPolicy)  # how its splits' output is kept


class Session(Protocol):
    """One execution's connection to an executor: places its tasks, reports their completions."""

    #: True when ``submit`` may be given a run task whose plain dependencies are still running (as
    #: the engine's own tasks): the backend starts it once their outputs exist, or fails it with
    #: their error. Ray does (pending ObjectRefs are task arguments); threads do not.
    pipelines: bool

    def capacity(self) -> int:
        """How many tasks the engine may keep in flight at once."""

    def submit(self, task: Task) -> None:
        """Start ``task``; never blocks on its completion."""

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        """Block until at least one completion (or ``timeout``); return all that are ready.

        Without ``urgent`` no completion can let the engine start more work (every task that will run
        was submitted): the session may wait for several and report them a while late (Ray: at most
        :data:`laminar_ray.inflight.SWEEP_MAX`), to wake the driver less."""

    def cancel(self, task: Task) -> None:
        """Withdraw a run task started ahead of its dependencies, so that it never starts once the flow
        is failing; its completion still comes (with an error). Only pipelining sessions get this call."""

    def release(self, layer: str) -> None:
        """No task of this run will read ``layer``'s outputs again: drop what is held of them."""

    def close(self) -> None:
        """Release what the session took; tasks still running are abandoned.

        A session may also offer ``started(tasks) -> keys``: which of its tasks in flight run now (not
        waiting for inputs or for room on a node), read when progress is drawn
        (:data:`laminar.engine.snapshot.Started`). Without it every task in flight counts as running."""


class Executor(Protocol):
    """Where tasks run. Holds configuration only: every execution gets its own ``Session``, so one
    executor serves any number of flows at once (``executor = Ray()`` shared by several flows)."""

    def open(self, run: Run) -> Session:
        """Start serving ``run`` (start pools, connect to a cluster); owns no scheduling decisions."""


class Completions:
    """A thread-safe inbox of completions: callbacks ``put``, the engine's thread ``drain``s."""

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
