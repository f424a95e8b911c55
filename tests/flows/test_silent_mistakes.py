"""Issue 21, "no silent mistakes": what a layer returns where laminar would drop it is an error at that
layer, naming it and the fix, on every backend."""

from __future__ import annotations

import logging

import pytest

from laminar import Flow, Layer
from laminar.configurations import hooks, layers
from laminar.errors import UsageError


class Returns(Flow): ...


@Returns.register
class Computes(Layer):
    def __call__(self) -> int:  # a Prefect/Airflow habit: the value would be dropped
        return 42


def test_call_returning_a_value_fails_the_layer(backend):
    with pytest.raises(UsageError, match=r"Returns.Computes: __call__ returned 42; .*self.result = \.\.\."):
        backend.flow(Returns)()


class FallsThrough(Flow): ...


@FallsThrough.register
class Source(Layer):
    def __call__(self) -> None:
        self.n = 1


@FallsThrough.register
class Gated(Layer):
    def __call__(self, source: Source) -> None:
        self.ran = True

    @hooks.entry
    def when_big(self, source: Source) -> bool:
        if source.n > 10:
            return True
        # falls through: None


def test_an_entry_hook_returning_none_fails_the_layer_instead_of_skipping_it(backend):
    flow = backend.flow(FallsThrough)
    with pytest.raises(
        UsageError, match=r"FallsThrough.Gated: entry hook Gated.when_big returned None; .*fall through"
    ):
        flow()


class ReturnsMemory(Flow): ...


@ReturnsMemory.register
class Sized(Layer):
    def __call__(self) -> None: ...

    @hooks.submission
    def size(self) -> int:
        return 2000  # instead of self.configuration.container.memory = 2000


def test_a_submission_hook_returning_a_value_fails_the_layer(backend):
    with pytest.raises(UsageError, match=r"submission hook Sized.size returned 2000; .*container.memory = 2000"):
        backend.flow(ReturnsMemory)()


class RetryReturns(Flow): ...


@RetryReturns.register(retry=layers.Retry(attempts=2, delay=0, jitter=0))
class Flaky(Layer):
    def __call__(self) -> None:
        raise OSError("flaky")

    @hooks.retry
    def more(self) -> int:
        return self.configuration.container.memory * 2


def test_a_retry_hook_returning_a_value_fails_the_layer(backend):
    with pytest.raises(UsageError, match=r"retry hook Flaky.more returned 3000; retry hooks return nothing"):
        backend.flow(RetryReturns)()


class ExecutionReturns(Flow): ...


@ExecutionReturns.register
class Connected(Layer):
    def __call__(self) -> None: ...

    @hooks.execution
    def connect(self) -> str:
        return "connection"


def test_a_plain_execution_hook_returning_a_value_fails_the_layer(backend):
    with pytest.raises(UsageError, match=r"execution hook Connected.connect returned 'connection'"):
        backend.flow(ExecutionReturns)()


def test_a_usage_error_is_not_retried(memory):
    class Again(Flow): ...

    calls = []

    @Again.register(retry=layers.Retry(attempts=3, delay=0, jitter=0))
    class Once(Layer):
        def __call__(self) -> int:
            calls.append(1)
            return 1

    with pytest.raises(UsageError):
        memory.flow(Again)()
    assert calls == [1]


class Assigned(Flow): ...


@Assigned.register
class Listed(Layer):
    def __call__(self) -> None:
        self.foo = [1, 2, 3]  # assigned, where self.shard(foo=[1, 2, 3]) was meant


@Assigned.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Listed, attribute="foo")]))
class Each(Layer):
    def __call__(self, listed: Listed) -> None:
        self.got = listed.foo


def test_a_foreach_over_an_assigned_list_warns_naming_shard(backend, caplog):
    with caplog.at_level(logging.WARNING, logger="laminar"):
        execution = backend.flow(Assigned)()
    assert list(execution.layer(Each).got) == [[1, 2, 3]]  # one split with the whole list, as before
    (warning,) = [r.getMessage() for r in caplog.records if "ForEach reads" in r.getMessage()]
    assert warning == (
        "Assigned.Each: its ForEach reads Listed.foo, which was assigned, not sharded, so Each runs 1 split "
        "that gets the whole value; to run one split per item, write self.shard(foo=...) in Listed.__call__ "
        "instead of self.foo = ..."
    )


class Sharded(Flow): ...


@Sharded.register
class Mixed(Layer):
    def __call__(self) -> None:
        self.shard(foo=[1, 2])
        self.bar = "broadcast beside a sharded axis is fine"


@Sharded.register(foreach=layers.ForEach(parameters=[layers.Parameter(Mixed, "foo"), layers.Parameter(Mixed, "bar")]))
class Both(Layer):
    def __call__(self, mixed: Mixed) -> None: ...


def test_a_foreach_over_a_sharded_attribute_does_not_warn(memory, caplog):
    with caplog.at_level(logging.WARNING, logger="laminar"):
        memory.flow(Sharded)()
    assert not [r for r in caplog.records if "ForEach reads" in r.getMessage()]
