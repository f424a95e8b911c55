"""What an observer sees of a running execution: a :class:`Snapshot`, never the engine itself.

``flow(observer=...)`` calls the observer with one after every step of the engine
(the completions one wait brought carried out, then the state advanced: on Ray
a step often holds many splits' completions), and the live progress display
draws from them. A snapshot is a copy: later changes of
the execution leave it as it is.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from laminar.task import Task, TaskKind

#: What a session may offer to say which of its tasks in flight are running (the keys of those it
#: thinks are): Ray's estimate (``laminar_ray.session.Session.started``). Without one, all are.
Started = Callable[[Sequence[Task]], Collection[int]]


class Phase(str, enum.Enum):
    """Where a layer is: ``waiting`` for its dependencies, ``deciding`` (its entry hooks run), ``open``
    (its splits run), then ``finished``, ``skipped`` or ``failed``."""

    waiting = "waiting"
    deciding = "deciding"
    open = "open"
    finished = "finished"
    skipped = "skipped"
    failed = "failed"

    @property
    def settled(self) -> bool:
        return self in (Phase.finished, Phase.skipped, Phase.failed)


@dataclass(frozen=True)
class LayerView:
    """One layer's progress: its phase and its split (unit) counts."""

    name: str
    phase: Phase
    total: int  # its splits (units), once open
    finished: int
    active: int  # started and not ended (running, queued on the executor, or waiting for a retry)
    failed: int
    retries: int = 0  # attempts that failed and were tried again
    cached: int = 0  # finished units taken from the cache instead of run


@dataclass(frozen=True)
class Snapshot:
    """An execution's layers, the tasks in flight and the failures so far."""

    flow: str
    execution: str
    layers: Mapping[str, LayerView]  # graph order
    in_flight: tuple[Task, ...]
    failures: tuple[tuple[str, BaseException], ...]
    started: Started | None = None

    def running(self) -> dict[str, int]:
        """Per layer, its units whose task is running now, as far as the executor can tell: a task handed
        to Ray waits there until its inputs exist and a node has room for it. Asked for when drawn (it
        may cost the executor a look at its cluster), never on every change."""
        held = [task for task in self.in_flight if task.kind is not TaskKind.entry]  # an entry task holds no unit
        started = {task.key for task in held} if self.started is None else set(self.started(held))
        return dict(collections.Counter(task.layer for task in held if task.key in started))


#: What ``flow(observer=...)`` takes: called with a snapshot after every step of the engine.
Observer = Callable[[Snapshot], None]
