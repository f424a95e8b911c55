"""Driving the engine in tests: a fake executor that completes one task at a time, chosen by the test.

:class:`Fake` runs each task it completes with :func:`laminar.runner.execute` (so layers really run
and store), or reports an injected error instead; :class:`Pipelined` behaves like Ray, where a task
may be submitted while its dependencies still run. A pending retry timer is fired by advancing a
:class:`Clock` (the ``clock`` fixture in ``conftest.py``), never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, hooks
from laminar.engine.snapshot import Snapshot
from laminar.executors.base import Run
from laminar.executors.outputs import Outputs
from laminar.runner import execute
from laminar.task import Cause, Completion, Task


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


Pick = Callable[[Sequence[Task]], Task]


@dataclass
class Fake:
    """An Executor (and its own Session) that records every submission and completes tasks only when the
    engine waits."""

    clock: Clock
    limit: int = 100
    pick: Pick = lambda pending: pending[0]
    errors: dict[tuple[str, int], BaseException] = field(default_factory=dict)  # (label, attempt) -> error
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (event, kind, label)
    urgent: list[bool] = field(default_factory=list)  # what the engine said of each wait
    tasks: list[Task] = field(default_factory=list)  # every task submitted, in order
    pending: list[Task] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    completed: list[Completion] = field(default_factory=list)
    most_in_flight: int = 0
    run: Run | None = None
    outputs: Outputs | None = None  # what finished splits left for their dependents, as Thread keeps it
    pipelines: bool = False

    def open(self, run: Run) -> Fake:
        self.run = run
        self.outputs = Outputs(run)
        return self

    def capacity(self) -> int:
        return self.limit

    def submit(self, task: Task) -> None:
        self.tasks.append(task)
        self.pending.append(task)
        self.most_in_flight = max(self.most_in_flight, len(self.pending))
        self.log.append(("submit", task.kind.value, task.label))

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        self.urgent.append(urgent)
        if timeout is not None:  # a retry timer is pending: let it come due first
            self.timeouts.append(timeout)
            self.clock.now += timeout
            return []
        assert self.pending, "the engine waits with nothing in flight and no timer: it would hang"
        task = self.pick(self.pending)
        self.pending.remove(task)
        self.log.append(("complete", task.kind.value, task.label))
        completion = self._complete(task)
        self.completed.append(completion)
        return [completion]

    def _complete(self, task: Task) -> Completion:
        error = self.errors.get((task.label, task.attempt))
        if error is not None and task.kind.value == "run":
            return Completion(task, error=error)
        assert self.run is not None and self.outputs is not None
        try:
            value = execute(
                self.run.graph,
                task,
                flow=self.run.flow,
                execution=self.run.execution,
                datastore=self.run.datastore,
                artifacts=self.outputs.artifacts,
            )
        except Exception as raised:
            return Completion(task, error=raised)
        return Completion(task, value=self.outputs.keep(task, value))

    def release(self, layer: str) -> None:
        assert self.outputs is not None
        self.outputs.release(layer)

    def close(self) -> None:
        pass

    def submitted(self, kind: str = "run") -> list[str]:
        return [label for event, k, label in self.log if event == "submit" and k == kind]


def prefer(*labels: str) -> Pick:
    """Complete the first pending task whose label comes earliest in ``labels``; else the oldest."""

    def pick(pending: Sequence[Task]) -> Task:
        for label in labels:
            for task in pending:
                if task.label == label:
                    return task
        return pending[0]

    return pick


def run(flow_cls: type[Flow], fake: Fake, **parameters: Any) -> Snapshot:
    """Run ``flow_cls`` on ``fake``; return the snapshot as it ended."""
    seen: list[Snapshot] = []
    flow_cls(datastore=datastores.Memory(), executor=fake)(observer=seen.append, **parameters)
    return seen[-1]


def fail(
    flow_cls: type[Flow], fake: Fake, error: type[BaseException], match: str, **parameters: Any
) -> tuple[Snapshot, BaseException]:
    """Run a flow that must fail with ``error``; return the snapshot as it ended and the error."""
    seen: list[Snapshot] = []
    with pytest.raises(error, match=match) as raised:
        flow_cls(datastore=datastores.Memory(), executor=fake)(observer=seen.append, **parameters)
    return seen[-1], raised.value


def phases(snapshot: Snapshot) -> dict[str, str]:
    return {name: layer.phase.value for name, layer in snapshot.layers.items()}


@dataclass
class Pipelined(Fake):
    """A session like Ray's: a run task may be submitted while the run tasks of its dependencies are still
    pending; it completes only after those, and with their error if one of them failed (Ray hands an
    upstream task's error on to every task that takes its output)."""

    pipelines: bool = True
    waits_on: dict[int, list[Task]] = field(default_factory=dict)  # task key -> upstream tasks pending at submit
    errors_of: dict[int, BaseException] = field(default_factory=dict)  # task key -> the error it completed with
    cancelled: list[Task] = field(default_factory=list)

    def cancel(self, task: Task) -> None:
        self.log.append(("cancel", task.kind.value, task.label))
        if any(u in self.pending for u in self.waits_on.get(task.key, [])):  # not started: dropped
            self.cancelled.append(task)

    def submit(self, task: Task) -> None:
        if task.kind.value == "run":
            self.waits_on[task.key] = [t for t in self.pending if t.key in task.after]
        super().submit(task)

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        if timeout is not None:
            return super().wait(timeout, urgent=urgent)
        self.urgent.append(urgent)
        if self.cancelled:
            task = self.cancelled.pop()
            self.pending.remove(task)
            self.log.append(("complete", "cancelled", task.label))
            return [Completion(task, error=RuntimeError(f"{task.label} was cancelled"), cause=Cause.withdrawn)]
        ready = [t for t in self.pending if not any(u in self.pending for u in self.waits_on.get(t.key, []))]
        assert ready, "every pending task waits on another: a cycle"
        task = self.pick(ready)
        self.pending.remove(task)
        self.log.append(("complete", task.kind.value, task.label))
        upstream_errors = [self.errors_of[u.key] for u in self.waits_on.get(task.key, []) if u.key in self.errors_of]
        if upstream_errors:
            completion = Completion(task, error=upstream_errors[0], cause=Cause.upstream)
        else:
            completion = self._complete(task)
        if completion.error is not None:
            self.errors_of[task.key] = completion.error
        self.completed.append(completion)
        return [completion]


# A flow whose layers B and E have entry hooks: B's skips B, C and D when ``go`` is False.


class Skipping(Flow): ...


@Skipping.register
class A(Layer):
    def __call__(self, p: Parameters) -> None:
        self.go = p.go


@Skipping.register
class B(Layer):
    def __call__(self, a: A) -> None: ...

    @hooks.entry
    def gate(self, a: A) -> bool:
        return bool(a.go)


@Skipping.register
class C(Layer):
    def __call__(self, b: B) -> None: ...


@Skipping.register
class D(Layer):
    def __call__(self, c: C) -> None: ...


@Skipping.register
class E(Layer):
    def __call__(self, d: D, a: A) -> None: ...

    @hooks.entry
    def always(self) -> bool:
        return True
