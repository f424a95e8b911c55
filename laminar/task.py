"""What the engine hands an executor and gets back: :class:`Task`, :class:`Input`, :class:`Completion`.

These types sit below everything that schedules or places work: the engine
makes tasks, executors (``Thread``, ``laminar_ray``) place them, the worker side
(:mod:`laminar.runner`) runs them, and all of them import this module, never
each other.

A task names the dependency splits it reads (``inputs``) and, when it was
submitted ahead of them (on a backend that pipelines, such as Ray), the keys of
the upstream tasks still in flight whose outputs it takes (``after``, like
Prefect's ``wait_for``). A completion says why a task failed (:class:`Cause`):
its own error, an upstream task's error handed on by the backend, its worker
lost, or withdrawn by the engine. The engine never has to guess which it was.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laminar.options import LayerConfiguration


class TaskKind(str, enum.Enum):
    entry = "entry"  # evaluate entry hooks -> bool
    submission = "submission"  # run submission hooks -> Container
    retry = "retry"  # run retry hooks -> Container
    run = "run"  # run the layer -> records.SplitMeta (with its document, for the journal)


class Cause(str, enum.Enum):
    """Why a task failed."""

    own = "own"  # the task's own code (or its submission) raised
    upstream = "upstream"  # a task whose output it takes failed; the backend handed that error on
    worker_lost = "worker_lost"  # the process running it died (killed, node lost, out of memory)
    withdrawn = "withdrawn"  # the engine withdrew it (Session.cancel) before it ran


@dataclass(frozen=True)
class Input:
    """How one dependency is seen by a task.

    ``split`` is the dependency's split to read, or None to read a foreach
    dependency whole (each attribute an Accessor over splits). ``items`` picks
    single shard items for a foreach split (None: the whole value, broadcast).
    Only ``__call__`` sees the selection: a foreach layer's hooks see every
    dependency whole, as a join does (see :func:`laminar.runner.execute`).
    """

    layer: str
    state: str
    split: int | None = 0
    items: Mapping[str, int | None] = field(default_factory=dict)
    splits: int | None = None  # the dependency's split count, when it is read whole
    #: For a foreach dependency read whole (``split`` None) only because a foreach layer's execution hooks
    #: see it so: the split its ``__call__`` reads (``items`` then selects within that split).
    pick: int | None = None


@dataclass(frozen=True)
class Task:
    key: int
    kind: TaskKind
    layer: str
    index: int | None  # foreach split number, None for a plain layer
    splits: int | None
    attempt: int  # of this split, counted over every run of the execution (a resume goes on counting)
    configuration: LayerConfiguration
    inputs: Mapping[str, Input]
    error: BaseException | None = None  # the last failure, for retry hooks
    #: Keys of the upstream run tasks still in flight when this one was submitted ahead of them: the
    #: backend starts it once their outputs exist (or fails it with their error, Cause.upstream).
    after: frozenset[int] = frozenset()
    #: Whether a dependent reads this task's outputs in this run: a backend that hands outputs on (Ray's
    #: refs, the documents Thread holds) keeps them only then, until the engine releases the layer.
    feeds: bool = True
    #: Attempts of this split in earlier runs of the execution (a resume): ``Retry`` counts only this run's.
    earlier: int = 0

    @property
    def tries(self) -> int:
        """Attempts of this split in this run, this one included: what ``Retry.attempts`` bounds."""
        return self.attempt - self.earlier

    @property
    def split(self) -> int:
        """The split number used in the datastore (0 for a plain layer)."""
        return self.index or 0

    @property
    def label(self) -> str:
        return f"{self.layer}[{self.index}]" if self.index is not None else self.layer


@dataclass(frozen=True)
class Completion:
    """A task that ended: its ``value`` (an entry task's bool, a submission or retry task's Container, a
    run's SplitMeta), or its ``error`` and the ``cause`` of it."""

    task: Task
    value: Any = None
    error: BaseException | None = None
    cause: Cause = Cause.own  # read only when ``error`` is set
    out_of_memory: bool = False
    #: The run's SplitMeta came from the cache (laminar.cache), not from running it: the task may be its
    #: unit's submission task, whose hooks (resources only) then never ran.
    cached: bool = False

    @property
    def worker_lost(self) -> bool:
        return self.error is not None and self.cause is Cause.worker_lost
