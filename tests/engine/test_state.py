"""The engine's transitions, one at a time, against literal states and effects (no session, no datastore)."""

from __future__ import annotations

import logging

from laminar import Flow, Layer, Parameters
from laminar.configurations import hooks
from laminar.configurations.layers import ForEach, Parameter, Retry
from laminar.engine.effects import Note, Release, Submit, Withdraw, WriteFailure, WriteLayer, WriteSplit
from laminar.engine.layers import ACTIVE, FINISHED, QUEUED, WAITING, Prior
from laminar.engine.snapshot import Phase
from laminar.engine.state import State
from laminar.records import FailureRecord, LayerRecord, SplitMeta
from laminar.task import Cause, Completion, Input, Task, TaskKind


class Chain(Flow): ...


@Chain.register(retry=Retry(attempts=2, delay=5, backoff=2, jitter=0))
class A(Layer):
    def __call__(self) -> None:
        self.x = 1


@Chain.register
class B(Layer):
    def __call__(self, a: A) -> None:
        self.x = a.x + 1


def _meta(**shards: int) -> SplitMeta:
    return SplitMeta(("x", *shards), shards, document={"artifacts": {}, "record": {"attempt": 1}})


def _run(state: State, key: int, layer: str, index: int | None = None, **changes: object) -> Task:
    """The run task the state built under ``key`` (as submitted)."""
    task = state.in_flight[key]
    assert (task.kind, task.layer, task.index) == (TaskKind.run, layer, index)
    for name, value in changes.items():
        assert getattr(task, name) == value, name
    return task


def test_a_chain_without_pipelining_submits_each_layer_once_the_one_before_finished() -> None:
    graph = Chain().graph()
    state = State.start(graph, pipelines=False, capacity=10)
    effects = state.advance(now=100.0)
    a = _run(state, 0, "A", attempt=1, inputs={}, after=frozenset(), feeds=True)
    assert effects == [Submit(a)]
    assert {name: layer.phase for name, layer in state.layers.items()} == {"A": Phase.open, "B": Phase.waiting}
    assert state.layers["A"].units == bytearray([ACTIVE]) and state.layers["A"].running == {0: 0}
    assert state.urgent() and not state.done

    effects = state.complete(Completion(a, value=_meta()), now=101.0)
    assert effects == [
        WriteSplit("A", 0, {"artifacts": {}, "record": {"attempt": 1}}),
        WriteLayer("A", LayerRecord("finished", None, ("x",), started=100.0, ended=101.0, attempt=1)),
    ]
    assert state.layers["A"].units == bytearray([FINISHED]) and state.layers["A"].running == {}
    assert state.layers["A"].metas == {0: SplitMeta(("x",), {})}  # the document went to the journal

    effects = state.advance(now=101.0)
    b = _run(state, 1, "B", inputs={"A": Input("A", "finished")}, feeds=False)  # nothing reads B
    assert effects == [Submit(b)]
    assert state.complete(Completion(b, value=_meta()), now=102.0) == [
        WriteSplit("B", 0, {"artifacts": {}, "record": {"attempt": 1}}),
        WriteLayer("B", LayerRecord("finished", None, ("x",), started=101.0, ended=102.0, attempt=1)),
        Release("A"),  # its one reader finished: what the session holds of A can go
    ]
    assert state.done and state.failures == []


def test_on_a_pipelining_session_the_chain_is_submitted_at_once_and_names_what_it_waits_for() -> None:
    state = State.start(Chain().graph(), pipelines=True, capacity=10)
    effects = state.advance(now=0.0)
    a, b = _run(state, 0, "A"), _run(state, 1, "B", after=frozenset({0}))
    assert effects == [Submit(a), Submit(b)]
    assert state.layers["B"].ahead == ("A",) and state.layers["B"].phase is Phase.open
    assert b.inputs == {"A": Input("A", "finished")}  # it reads A's output once A finished
    assert not state.urgent()  # everything that will run is in flight


def test_an_upstream_failure_handed_on_sends_the_layer_back_to_waiting_without_an_attempt() -> None:
    state = State.start(Chain().graph(), pipelines=True, capacity=10)
    state.advance(now=0.0)
    a, b = state.in_flight[0], state.in_flight[1]
    first = RuntimeError("first")
    effects = state.complete(Completion(a, error=first), now=1.0)
    requested = {"cpu": 1.0, "memory": 1500, "gpu": 0.0}
    assert effects == [
        # every failed attempt is recorded, also one that is retried
        WriteFailure(
            "A", 0, FailureRecord(1, repr(first), traceback="RuntimeError: first\n", ended=1.0, resources=requested)
        ),
        Note(logging.WARNING, "Chain.A attempt 1/2 failed: RuntimeError('first'); retrying"),
    ]
    ((due, key, retried),) = state.timers
    assert (due, retried.attempt, retried.layer, retried.error) == (6.0, 2, "A", first)  # delay 5
    # B failed with A's error: it waits again, no attempt counted, no record written
    assert state.complete(Completion(b, error=RuntimeError("first"), cause=Cause.upstream), now=1.5) == []
    layer = state.layers["B"]
    assert (layer.phase, layer.units, layer.ahead, layer.running) == (Phase.waiting, bytearray(), (), {})
    assert "B" not in state.candidates  # looked at again once A changes
    assert state.advance(now=2.0) == [] and state.urgent()
    effects = state.advance(now=6.0)  # the retry came due; B starts ahead of it again
    a2, b2 = _run(state, key, "A", attempt=2), _run(state, key + 1, "B", attempt=1, after=frozenset({key}))
    assert effects == [Submit(a2), Submit(b2)]


def test_an_own_failure_after_the_dependency_finished_is_the_layers_own_and_fails_the_flow() -> None:
    state = State.start(Chain().graph(), pipelines=True, capacity=10)
    state.advance(now=0.0)
    a, b = state.in_flight[0], state.in_flight[1]
    state.complete(Completion(a, value=_meta()), now=1.0)
    error = ValueError("B itself")
    effects = state.complete(Completion(b, error=error), now=2.0)
    assert effects == [
        WriteFailure(
            "B",
            0,
            FailureRecord(
                1,
                "ValueError('B itself')",
                traceback="ValueError: B itself\n",
                ended=2.0,
                resources={"cpu": 1.0, "memory": 1500, "gpu": 0.0},
            ),
        ),
        WriteLayer("B", LayerRecord("failed", error="ValueError('B itself')", split="B", attempt=1)),
        Note(logging.ERROR, "Chain.B failed: ValueError('B itself')"),
    ]
    assert state.failures == [("B", error)] and state.done


class Branches(Flow): ...


@Branches.register
class Slow(Layer):
    def __call__(self) -> None: ...


@Branches.register
class AfterSlow(Layer):
    def __call__(self, slow: Slow) -> None: ...


@Branches.register
class Breaks(Layer):
    def __call__(self) -> None: ...


def test_once_the_flow_fails_tasks_started_ahead_of_running_dependencies_are_withdrawn() -> None:
    state = State.start(Branches().graph(), pipelines=True, capacity=10)
    state.advance(now=0.0)
    slow, breaks, after = (state.in_flight[k] for k in (0, 1, 2))  # graph order: ready together, then after
    assert (slow.layer, after.layer, breaks.layer) == ("Slow", "AfterSlow", "Breaks")
    effects = state.complete(Completion(breaks, error=KeyError("breaks")), now=1.0)
    assert Withdraw(after) in effects
    assert state.complete(Completion(after, error=RuntimeError("cancelled"), cause=Cause.withdrawn), now=2.0) == []
    assert state.layers["AfterSlow"].phase is Phase.waiting
    assert state.advance(now=2.0) == []  # nothing new starts while failing
    state.complete(Completion(slow, value=_meta()), now=3.0)
    assert state.done and [label for label, _ in state.failures] == ["Breaks"]


class Fan(Flow): ...


@Fan.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=[1, 2, 3])


@Fan.register(foreach=ForEach(parameters=[Parameter(Items, "n")]))
class Each(Layer):
    def __call__(self, items: Items) -> None: ...


@Fan.register(foreach=ForEach(parameters=[Parameter(Each, "x", index=None)]))
class Then(Layer):
    def __call__(self, each: Each) -> None: ...


@Fan.register
class Gate(Layer):
    @hooks.entry
    def no(self, then: Then) -> bool:
        return False


def test_a_fan_out_opens_with_its_grid_streams_one_to_one_and_a_false_entry_hook_skips() -> None:
    state = State.start(Fan().graph(), pipelines=False, capacity=2)
    state.advance(now=0.0)
    items = _run(state, 0, "Items")
    state.complete(Completion(items, value=_meta(n=3)), now=1.0)
    effects = state.advance(now=1.0)
    first, second = _run(state, 1, "Each", 0), _run(state, 2, "Each", 1)
    assert effects == [Submit(first), Submit(second)]  # capacity 2: Each[2] queued
    assert first.inputs["Items"] == Input("Items", "finished", split=0, items={"n": 0})
    assert state.layers["Each"].units == bytearray([ACTIVE, ACTIVE, QUEUED])
    assert state.layers["Then"].phase is Phase.open and state.layers["Then"].units == bytearray([WAITING] * 3)
    assert list(state.queue) == [("Each", 2)] and state.streaming == {"Each": ["Then"]}

    state.complete(Completion(second, value=_meta()), now=2.0)
    assert list(state.queue) == [("Each", 2), ("Then", 1)]  # split 1 streams on at once
    for now in (3.0, 4.0, 5.0, 6.0, 7.0):
        state.advance(now=now)
        task = next(iter(state.in_flight.values()))
        effects = state.complete(Completion(task, value=_meta()), now=now)
    entry = state.advance(now=8.0)
    (submitted,) = entry
    assert isinstance(submitted, Submit) and submitted.task.kind is TaskKind.entry
    effects = state.complete(Completion(submitted.task, value=False), now=9.0)
    assert effects == [
        Release("Then"),
        WriteLayer("Gate", LayerRecord("skipped")),
        Note(logging.INFO, "Fan.Gate skipped"),
    ]
    assert {name: layer.phase for name, layer in state.layers.items()} == {
        "Items": Phase.finished,
        "Each": Phase.finished,
        "Then": Phase.finished,
        "Gate": Phase.skipped,
    }
    assert state.done


def test_a_resumed_execution_starts_what_finished_before_as_finished() -> None:
    prior = Prior(layers={"Items": None}, splits={"Each": frozenset({0, 2})}, metas={("Items", 0): _meta(n=3)})
    state = State.start(Fan().graph(), pipelines=False, capacity=10, prior=prior)
    effects = state.advance(now=0.0)
    submitted = [(effect.task.layer, effect.task.index) for effect in effects if isinstance(effect, Submit)]
    # Each's splits 0 and 2 finished in the earlier run, so Then's 0 and 2 (which stream from them) start
    assert submitted == [("Each", 1), ("Then", 0), ("Then", 2)]
    assert state.layers["Items"].phase is Phase.finished
    assert state.layers["Each"].units == bytearray([FINISHED, ACTIVE, FINISHED])


def test_an_error_another_attempt_cannot_mend_is_not_retried() -> None:
    from laminar.errors import ConfigurationError

    state = State.start(Chain().graph(), pipelines=False, capacity=10)
    state.advance(now=0.0)
    a = state.in_flight[0]  # A has Retry(attempts=2)
    effects = state.complete(Completion(a, error=ConfigurationError("wrong for good")), now=1.0)
    assert state.timers == [] and state.failures[0][0] == "A"
    assert [type(effect) for effect in effects] == [WriteFailure, WriteLayer, Note]
