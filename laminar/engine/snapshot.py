"""What an observer sees of a running execution: a :class:`Snapshot`, never the engine itself.

``flow(observer=...)`` calls the observer with one after every change, and the
live progress display draws from them. A snapshot is a copy: later changes of
the execution leave it as it is.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from laminar.task import Task


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
    active: int  # started and not ended (running, or waiting for a retry)
    failed: int


@dataclass(frozen=True)
class Snapshot:
    """An execution's layers, the tasks in flight and the failures so far."""

    flow: str
    execution: str
    layers: Mapping[str, LayerView]  # graph order
    in_flight: tuple[Task, ...]
    failures: tuple[tuple[str, BaseException], ...]


#: What ``flow(observer=...)`` takes: called with a snapshot after every change.
Observer = Callable[[Snapshot], None]
