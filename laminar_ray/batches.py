"""The driver's side of batched splits: which tasks share a Ray task, and what one batch has told so far.

Splits of one foreach layer whose task options are equal (after their submission hooks) form a
:class:`Group` with its own :class:`~laminar_ray.batching.Controller`; the session holds a group's tasks
until it submits them, a few batches at a time, as one streaming task each (:func:`laminar_ray.worker.
batch_function`). A :class:`Batch` in flight reads its generator's items in order: reports, each the
list of the outcomes (``[status, payload, seconds]``) of the next splits that finished, followed by the
refs of the artifacts of those of them that other tasks read. Splits whose outcome came are kept
whatever happens to the batch later (docs/batching.md).
"""

from __future__ import annotations

import collections
import math
import pickle
from dataclasses import dataclass, field
from typing import Any

from laminar import containers
from laminar.graph import Graph
from laminar.task import Task, TaskKind
from laminar_ray.batching import Controller

#: Batches of one group in flight at once, per slot: one running and one queued behind it, so a worker
#: finds the next batch as it finishes one, while the sizes still follow what the last batches took.
AHEAD = 2


def batchable(graph: Graph, task: Task) -> bool:
    """Whether ``task`` may share a Ray task: a run of a foreach layer's split, not started ahead, not in
    a process of its own (an image or a workdir), without a timeout (a split that does not stop in time
    has its worker ended, which would fail the rest of its batch with it), its layer not pinned to one
    split a task."""
    if task.kind is not TaskKind.run or task.after or task.index is None:
        return False
    foreach = graph[task.layer].configuration.foreach
    container = task.configuration.container
    return foreach is not None and foreach.batch != 1 and container.timeout is None and not containers.isolated(task)


@dataclass
class Group:
    """One layer's splits with one set of task options: the tasks not yet submitted, the batches out."""

    controller: Controller
    slots: int  # how many of the group's tasks the cluster runs at once
    pending: collections.deque[Task] = field(default_factory=collections.deque)
    out: int = 0  # batches in flight

    def cut(self, idle: bool) -> list[list[Task]]:
        """The batches to submit now: while fewer than ``AHEAD`` per slot are out, as the controller sizes.
        A pinned size waits for that many splits while the run has anything in flight (more may come:
        splits whose submission hooks run); once it is ``idle``, what is pending goes as it is."""
        batches = []
        pinned = self.controller.pinned
        while self.pending and self.out < AHEAD * self.slots:
            size = self.controller.size(remaining=len(self.pending), slots=self.slots)
            if pinned is not None and size < pinned and not idle:
                break
            batches.append([self.pending.popleft() for _ in range(size)])
            self.out += 1
        return batches


def slots(cpus: int, cpu: float) -> int:
    """How many tasks asking for ``cpu`` CPUs fit on ``cpus`` CPUs at once (all of them when 0)."""
    return cpus if cpu <= 0 else max(1, math.floor(cpus / cpu))


@dataclass
class Batch:
    """A batch in flight: its tasks in the order they run, and how far its generator's items were read."""

    group: Group
    tasks: list[Task]
    generator: Any  # ray.ObjectRefGenerator
    done: int = 0  # tasks whose outcome came
    unread: collections.deque[Any] = field(default_factory=collections.deque)  # refs read, not yet told
    report: list[Any] | None = None  # the outcomes of the next tasks, while their artifacts' refs come
    seconds: float = 0.0  # the worker's time for the tasks done

    @property
    def current(self) -> Task:
        return self.tasks[self.done]

    def remaining(self) -> list[Task]:
        return self.tasks[self.done :]


def header(tasks: list[Task], blobs: list[tuple[Any, ...]], counts: list[int], controller: Controller) -> bytes:
    """The first argument of a batched task: each split's first argument (the plain part of its Call,
    :meth:`~laminar_ray.wire.Call.parts`: one argument for all of them, as Ray's cost is per argument,
    pickled together, so that what they share goes once), how many of the arguments that follow are
    each split's, whether it yields its artifacts (other tasks read them), how many finished splits one
    report covers and the most seconds of work one covers (:meth:`Controller.together`)."""
    feeds = [bool(task.feeds) for task in tasks]
    report = (blobs, counts, feeds, controller.together(), controller.report)
    return pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)
