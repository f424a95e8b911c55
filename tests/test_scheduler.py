"""The scheduler driven by a fake executor that completes one task at a time, chosen by the test.

The fake runs each task it completes with :func:`laminar.runner.execute` (so layers really run and
store), or reports an injected error instead. A pending retry timer is fired by advancing a fake
clock, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar import scheduler as scheduler_module
from laminar.artifacts import Artifacts
from laminar.configurations import datastores, hooks
from laminar.configurations.layers import Container, ForEach, Parameter, Retry
from laminar.datastore import layout
from laminar.executors.base import Completion, Input, Run, Task
from laminar.runner import execute
from laminar.scheduler import Scheduler


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
    scheduler waits."""

    clock: Clock
    limit: int = 100
    pick: Pick = lambda pending: pending[0]
    errors: dict[tuple[str, int], BaseException] = field(default_factory=dict)  # (label, attempt) -> error
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (event, kind, label)
    tasks: list[Task] = field(default_factory=list)  # every task submitted, in order
    pending: list[Task] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    completed: list[Completion] = field(default_factory=list)
    most_in_flight: int = 0
    run: Run | None = None
    pipelines: bool = False

    def open(self, run: Run) -> Fake:
        self.run = run
        return self

    def capacity(self) -> int:
        return self.limit

    def submit(self, task: Task) -> None:
        self.tasks.append(task)
        self.pending.append(task)
        self.most_in_flight = max(self.most_in_flight, len(self.pending))
        self.log.append(("submit", task.kind.value, task.label))

    def wait(self, timeout: float | None) -> list[Completion]:
        if timeout is not None:  # a retry timer is pending: let it come due first
            self.timeouts.append(timeout)
            self.clock.now += timeout
            return []
        assert self.pending, "the scheduler waits with nothing in flight and no timer: it would hang"
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
        assert self.run is not None
        try:
            value = execute(
                self.run.graph,
                task,
                flow=self.run.flow,
                execution=self.run.execution,
                datastore=self.run.datastore,
                artifacts=self._artifacts,
            )
        except Exception as raised:
            return Completion(task, error=raised)
        return Completion(task, value=value)

    def _artifacts(self, name: str, read: Input) -> Artifacts:
        assert self.run is not None
        store, flow, execution = self.run.datastore, self.run.flow, self.run.execution
        if read.split is None:
            return store.layer(flow, execution, name, read.splits)
        return store.split(flow, execution, name, read.split)

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


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(scheduler_module, "time", clock)
    return clock


def run(flow_cls: type[Flow], fake: Fake, **parameters: Any) -> Scheduler:
    """Run ``flow_cls`` on ``fake``; return the scheduler as it ended."""
    seen: list[Scheduler] = []
    flow_cls(datastore=datastores.Memory(), executor=fake)(observer=seen.append, **parameters)
    return seen[-1]


def fail(
    flow_cls: type[Flow], fake: Fake, error: type[BaseException], match: str, **parameters: Any
) -> tuple[Scheduler, BaseException]:
    """Run a flow that must fail with ``error``; return the scheduler as it ended and the error."""
    seen: list[Scheduler] = []
    with pytest.raises(error, match=match) as raised:
        flow_cls(datastore=datastores.Memory(), executor=fake)(observer=seen.append, **parameters)
    return seen[-1], raised.value


def phases(scheduler: Scheduler) -> dict[str, str]:
    return {name: layer.phase.value for name, layer in scheduler.layers.items()}


# -- skip propagation and entry decisions --------------------------------------------------------------


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


def test_false_entry_hook_skips_the_layer_and_its_subtree(clock: Clock) -> None:
    fake = Fake(clock)
    scheduler = run(Skipping, fake, go=False)
    assert phases(scheduler) == {"A": "finished", "B": "skipped", "C": "skipped", "D": "skipped", "E": "finished"}
    assert fake.log == [
        ("submit", "run", "A"),
        ("complete", "run", "A"),
        ("submit", "entry", "B"),
        ("complete", "entry", "B"),
        ("submit", "entry", "E"),  # C and D were skipped without any task
        ("complete", "entry", "E"),
        ("submit", "run", "E"),
        ("complete", "run", "E"),
    ]


def test_true_entry_hook_opens_the_layer(clock: Clock) -> None:
    fake = Fake(clock)
    scheduler = run(Skipping, fake, go=True)
    assert set(phases(scheduler).values()) == {"finished"}
    assert fake.submitted("run") == ["A", "B", "C", "D", "E"]
    assert fake.submitted("entry") == ["B", "E"]


def test_entry_hook_error_fails_the_flow_with_that_error(clock: Clock) -> None:
    fake = Fake(clock)
    scheduler, _ = fail(Skipping, fake, AttributeError, "go", nothing=1)  # A reads p.go and fails
    assert fake.submitted("entry") == []
    assert phases(scheduler)["A"] == "failed"


# -- streaming 1:1 foreach ---------------------------------------------------------------------------------


class Streaming(Flow): ...


@Streaming.register
class Items(Layer):
    def __call__(self) -> None:
        self.shard(n=[0, 1, 2])


@Streaming.register(foreach=ForEach(parameters=[Parameter(Items, "n")]))
class Stage1(Layer):
    def __call__(self, items: Items) -> None:
        self.n = items.n


@Streaming.register(foreach=ForEach(parameters=[Parameter(Stage1, "n", index=None)]))
class Stage2(Layer):
    def __call__(self, stage1: Stage1) -> None:
        self.n = stage1.n


def test_split_i_of_a_one_to_one_stage_starts_when_split_i_upstream_finished(clock: Clock) -> None:
    fake = Fake(clock, pick=prefer("Items", "Stage1[1]", "Stage2[1]"))
    scheduler = run(Streaming, fake)
    after = fake.log.index(("complete", "run", "Stage1[1]"))
    # the very next submission is Stage2[1], while Stage1[0] and Stage1[2] are still running
    assert fake.log[after + 1] == ("submit", "run", "Stage2[1]")
    assert fake.log.index(("complete", "run", "Stage1[0]")) > after + 1
    assert fake.log.index(("submit", "run", "Stage2[0]")) > fake.log.index(("complete", "run", "Stage1[0]"))
    assert fake.submitted("run")[:4] == ["Items", "Stage1[0]", "Stage1[1]", "Stage1[2]"]
    assert phases(scheduler) == {"Items": "finished", "Stage1": "finished", "Stage2": "finished"}


# -- bounded in flight ----------------------------------------------------------------------------------


class Wide(Flow): ...


@Wide.register
class Many(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Wide.register(foreach=ForEach(parameters=[Parameter(Many, "n")]), retry=Retry(attempts=2, delay=1, jitter=0))
class Each(Layer):
    def __call__(self, many: Many) -> None:
        self.n = many.n


@Wide.register
class Gate1(Layer):
    @hooks.entry
    def yes(self) -> bool:
        return True


@Wide.register
class Gate2(Layer):
    @hooks.entry
    def yes(self) -> bool:
        return True


def test_never_more_than_capacity_in_flight(clock: Clock) -> None:
    fake = Fake(clock, limit=2)
    scheduler = run(Wide, fake, count=7)
    assert fake.most_in_flight == 2
    assert len(fake.submitted("run")) == 1 + 7 + 2
    assert scheduler.layers["Each"].finished == 7


def test_entry_tasks_respect_capacity(clock: Clock) -> None:
    fake = Fake(clock, limit=1)
    run(Wide, fake, count=2)
    assert fake.most_in_flight == 1


def test_retries_respect_capacity(clock: Clock) -> None:
    # Each[0] fails; while its retry waits, a queued split takes the free slot; when the timer fires
    # the retry must wait for a slot too.
    fake = Fake(clock, limit=2, pick=prefer("Many", "Each[0]"), errors={("Each[0]", 1): RuntimeError("once")})
    scheduler = run(Wide, fake, count=4)
    assert fake.most_in_flight == 2
    assert scheduler.layers["Each"].finished == 4
    assert [t.attempt for t in fake.tasks if t.label == "Each[0]" and t.kind.value == "run"] == [1, 2]


# -- retries ----------------------------------------------------------------------------------------------


class Retrying(Flow): ...


@Retrying.register(retry=Retry(attempts=3, delay=5, backoff=2, jitter=0))
class Flaky(Layer):
    def __call__(self) -> None:
        self.memory = self.configuration.container.memory
        self.attempt = self.state.attempt


class RetryingWithHook(Flow): ...


@RetryingWithHook.register(retry=Retry(attempts=3, delay=5, backoff=2, jitter=0))
class Hooked(Layer):
    def __call__(self) -> None:
        self.memory = self.configuration.container.memory

    @hooks.retry
    def more_memory(self) -> None:
        assert isinstance(self.state.error, MemoryError)
        self.configuration.container.memory *= 2


def test_failed_attempts_are_retried_after_backoff(clock: Clock) -> None:
    fake = Fake(clock, errors={("Flaky", 1): RuntimeError("1"), ("Flaky", 2): RuntimeError("2")})
    scheduler = run(Retrying, fake)
    assert [t.attempt for t in fake.tasks] == [1, 2, 3]
    assert fake.timeouts == [5.0, 10.0]  # delay, then delay * backoff
    assert phases(scheduler) == {"Flaky": "finished"}


def test_retry_gives_up_after_attempts(clock: Clock) -> None:
    errors: dict[tuple[str, int], BaseException] = {("Flaky", i): RuntimeError(f"attempt {i}") for i in (1, 2, 3)}
    fake = Fake(clock, errors=errors)
    scheduler, _ = fail(Retrying, fake, RuntimeError, "attempt 3")
    assert [t.attempt for t in fake.tasks] == [1, 2, 3]
    assert phases(scheduler) == {"Flaky": "failed"}


def test_retry_hooks_run_before_the_wait_and_set_the_next_configuration(clock: Clock) -> None:
    fake = Fake(clock, errors={("Hooked", 1): MemoryError(), ("Hooked", 2): MemoryError()})
    run(RetryingWithHook, fake)
    assert [(t.kind.value, t.attempt) for t in fake.tasks] == [
        ("run", 1),
        ("retry", 1),
        ("run", 2),
        ("retry", 2),
        ("run", 3),
    ]
    runs = [t for t in fake.tasks if t.kind.value == "run"]
    assert [t.configuration.container.memory for t in runs] == [1500, 3000, 6000]


# -- failure -----------------------------------------------------------------------------------------------


class Failing(Flow): ...


@Failing.register
class Bad(Layer):
    def __call__(self) -> None:
        raise KeyError("bad")


@Failing.register
class Good(Layer):
    def __call__(self) -> None:
        self.ok = True


@Failing.register
class AfterGood(Layer):
    def __call__(self, good: Good) -> None: ...


@Failing.register
class AfterBad(Layer):
    def __call__(self, bad: Bad) -> None: ...


def test_failure_stops_new_work_and_raises_after_in_flight_settles(clock: Clock) -> None:
    fake = Fake(clock, pick=prefer("Bad"))
    scheduler, error = fail(Failing, fake, KeyError, "bad")
    # Good was in flight when Bad failed: it was completed before the raise, and nothing else started
    assert fake.log == [
        ("submit", "run", "Bad"),
        ("submit", "run", "Good"),
        ("complete", "run", "Bad"),
        ("complete", "run", "Good"),
    ]
    assert phases(scheduler) == {"Bad": "failed", "Good": "finished", "AfterGood": "waiting", "AfterBad": "waiting"}
    notes = "\n".join(getattr(error, "__notes__", []))
    assert "Failing.Bad" in notes and "resume" in notes


def test_failure_leaves_queued_units_unstarted(clock: Clock) -> None:
    fake = Fake(clock, limit=2, errors={("Each[0]", 1): RuntimeError("x"), ("Each[0]", 2): RuntimeError("x")})
    fail(Wide, fake, RuntimeError, "x", count=5)
    each = [label for label in fake.submitted("run") if label.startswith("Each[")]
    assert "Each[4]" not in each
    assert not fake.pending


def test_hooks_send_back_only_the_container(clock: Clock) -> None:
    """A configuration holds classes (ForEach layers, Catch exceptions); they must not travel back."""
    fake = Fake(clock, errors={("Hooked", 1): MemoryError()})
    run(RetryingWithHook, fake)
    returned = [c.value for c in fake.completed if c.task.kind.value == "retry"]
    assert [type(value) for value in returned] == [Container]
    assert returned[0].memory == 3000


# -- starting ahead on a session that pipelines (Ray) -----------------------------------------------------


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
            upstream = set(task.inputs)
            self.waits_on[task.key] = [
                t for t in self.pending if t.kind.value == "run" and t.index is None and t.layer in upstream
            ]
        super().submit(task)

    def wait(self, timeout: float | None) -> list[Completion]:
        if timeout is not None:
            return super().wait(timeout)
        if self.cancelled:
            task = self.cancelled.pop()
            self.pending.remove(task)
            self.log.append(("complete", "cancelled", task.label))
            return [Completion(task, error=RuntimeError(f"{task.label} was cancelled"))]
        ready = [t for t in self.pending if not any(u in self.pending for u in self.waits_on.get(t.key, []))]
        assert ready, "every pending task waits on another: a cycle"
        task = self.pick(ready)
        self.pending.remove(task)
        self.log.append(("complete", task.kind.value, task.label))
        upstream_errors = [self.errors_of[u.key] for u in self.waits_on.get(task.key, []) if u.key in self.errors_of]
        completion = Completion(task, error=upstream_errors[0]) if upstream_errors else self._complete(task)
        if completion.error is not None:
            self.errors_of[task.key] = completion.error
        self.completed.append(completion)
        return [completion]


class Chain(Flow): ...


@Chain.register(retry=Retry(attempts=2, delay=1, jitter=0))
class First(Layer):
    def __call__(self) -> None:
        self.x = 0


@Chain.register
class Second(Layer):
    def __call__(self, first: First) -> None:
        self.x = first.x + 1


@Chain.register
class Third(Layer):
    def __call__(self, second: Second, first: First) -> None:
        self.x = second.x + first.x + 1


def test_a_chain_is_submitted_at_once_when_the_session_pipelines(clock: Clock) -> None:
    fake = Pipelined(clock)
    scheduler = run(Chain, fake)
    assert fake.log[:3] == [("submit", "run", "First"), ("submit", "run", "Second"), ("submit", "run", "Third")]
    assert phases(scheduler) == {"First": "finished", "Second": "finished", "Third": "finished"}
    # the layers started ahead saw their dependencies as finished, and read their artifacts
    third = next(t for t in fake.tasks if t.layer == "Third")
    assert {name: read.state for name, read in third.inputs.items()} == {"Second": "finished", "First": "finished"}
    assert fake.run is not None
    assert fake.run.datastore.split("Chain", fake.run.execution, "Third", 0).get("x") == 2


def test_without_pipelining_each_layer_waits_for_its_dependencies(clock: Clock) -> None:
    fake = Fake(clock)
    run(Chain, fake)
    assert fake.log[:3] == [("submit", "run", "First"), ("complete", "run", "First"), ("submit", "run", "Second")]


def test_a_layer_started_ahead_of_a_failed_attempt_waits_for_the_retry(clock: Clock) -> None:
    fake = Pipelined(clock, errors={("First", 1): RuntimeError("first attempt")})
    scheduler = run(Chain, fake)
    assert phases(scheduler) == {"First": "finished", "Second": "finished", "Third": "finished"}
    # Second and Third failed with First's error: neither was retried as a failure of its own (attempt 1
    # again) and neither left a failure record; they started again once First's retry was in flight.
    assert [(t.layer, t.attempt) for t in fake.tasks] == [
        ("First", 1),
        ("Second", 1),
        ("Third", 1),
        ("First", 2),
        ("Second", 1),
        ("Third", 1),
    ]
    assert fake.run is not None
    store, execution = fake.run.datastore, fake.run.execution
    assert store.read_json(layout.failure("Chain", execution, "Second", 0)) is None
    assert store.split("Chain", execution, "Third", 0).get("x") == 2


def test_a_dependency_that_fails_for_good_fails_the_flow_with_its_own_error(clock: Clock) -> None:
    errors: dict[tuple[str, int], BaseException] = {("First", i): RuntimeError(f"first {i}") for i in (1, 2)}
    fake = Pipelined(clock, errors=errors)
    scheduler, _ = fail(Chain, fake, RuntimeError, "first 2")
    assert phases(scheduler) == {"First": "failed", "Second": "waiting", "Third": "waiting"}


def test_layers_with_entry_hooks_are_never_started_ahead(clock: Clock) -> None:
    fake = Pipelined(clock)
    scheduler = run(Skipping, fake, go=False)
    assert phases(scheduler) == {"A": "finished", "B": "skipped", "C": "skipped", "D": "skipped", "E": "finished"}
    assert fake.log[:2] == [("submit", "run", "A"), ("complete", "run", "A")]


class Branches(Flow): ...


@Branches.register
class Slow(Layer):
    def __call__(self) -> None:
        self.x = 1


@Branches.register
class AfterSlow(Layer):
    def __call__(self, slow: Slow) -> None:
        self.x = slow.x


@Branches.register
class Breaks(Layer):
    def __call__(self) -> None:
        raise KeyError("breaks")


def test_tasks_started_ahead_are_withdrawn_once_the_flow_is_failing(clock: Clock) -> None:
    fake = Pipelined(clock, pick=prefer("Breaks"))
    scheduler, _ = fail(Branches, fake, KeyError, "breaks")
    assert sorted(label for event, _, label in fake.log[:3] if event == "submit") == ["AfterSlow", "Breaks", "Slow"]
    # Breaks failed while Slow still ran: AfterSlow, waiting on it, was withdrawn and never ran; Slow settled
    assert ("cancel", "run", "AfterSlow") in fake.log
    assert ("complete", "cancelled", "AfterSlow") in fake.log
    assert ("complete", "run", "AfterSlow") not in fake.log
    assert phases(scheduler) == {"Slow": "finished", "AfterSlow": "waiting", "Breaks": "failed"}
