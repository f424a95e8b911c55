"""SPEC 5: execution, submission, retry and entry hooks, on layers and on flows."""

from __future__ import annotations

from collections.abc import Iterator

from laminar import Flow, Layer, Parameters
from laminar.configurations import hooks
from laminar.configurations.layers import Container, ForEach, Parameter, Retry
from laminar.types import unwrap

# -- execution hooks: generator (around) and plain (before), flow-wide first, definition order -------


class AroundFlow(Flow):
    @hooks.execution
    def flow_wide(self) -> Iterator[None]:
        self.events = [f"flow:{self.name}:before"]
        yield
        self.events.append(f"flow:{self.name}:after")


@AroundFlow.register
class Wrapped(Layer):
    def __call__(self) -> None:
        self.events.append("call")

    @hooks.execution
    def first(self) -> Iterator[None]:
        self.events.append("first:before")
        yield
        self.events.append("first:after")

    @hooks.execution
    def plain(self) -> None:
        self.events.append("plain")

    @hooks.execution
    def second(self) -> Iterator[None]:
        self.events.append("second:before")
        yield
        self.events.append("second:after")


@AroundFlow.register
class Other(Layer):
    """Has no hooks of its own: only the flow's."""

    def __call__(self, wrapped: Wrapped) -> None:
        self.events.append(f"call after {len(wrapped.events)} events")


def test_execution_hooks_run_around_the_call_in_definition_order(backend):
    execution = backend.flow(AroundFlow)()
    assert execution.layer(Wrapped).events == [
        "flow:Wrapped:before",
        "first:before",
        "plain",
        "second:before",
        "call",
        "second:after",
        "first:after",
        "flow:Wrapped:after",
    ]


def test_flow_hooks_apply_to_every_layer(backend):
    execution = backend.flow(AroundFlow)()
    assert execution.layer(Other).events == ["flow:Other:before", "call after 8 events", "flow:Other:after"]


# -- submission hooks: per split, from inputs; the change is seen inside the layer -------------------

SHARED = Container(cpu=1, memory=100)


class SubmissionFlow(Flow): ...


@SubmissionFlow.register
class Sizes(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(size=p.sizes)


@SubmissionFlow.register(container=SHARED, foreach=ForEach(parameters=[Parameter(layer=Sizes, attribute="size")]))
class Sized(Layer):
    def __call__(self, sizes: Sizes) -> None:
        container = self.configuration.container
        self.seen = (sizes.size, container.memory, container.cpu, container.env.get("SPLIT"))

    @hooks.submission
    def memory_from_input(self, sizes: Sizes) -> None:
        # hooks see a dependency whole, as a join does: this split's item is sizes.size[self.index]
        self.configuration.container.memory = 100 * sizes.size[unwrap(self.index)]

    @hooks.submission
    def tag(self) -> None:
        # runs after memory_from_input (definition order) and sees its change
        self.configuration.container.env["SPLIT"] = f"{self.index}:{self.configuration.container.memory}"


@SubmissionFlow.register(container=SHARED)
class Unchanged(Layer):
    """Shares the Container object with Sized at registration; must not see Sized's changes."""

    def __call__(self, sized: Sized) -> None:
        self.memory = self.configuration.container.memory
        self.env = dict(self.configuration.container.env)


def test_submission_hooks_change_each_splits_container(backend):
    execution = backend.flow(SubmissionFlow)(sizes=[1, 3, 2])
    assert list(execution.layer(Sized).seen) == [
        (1, 100, 1, "0:100"),
        (3, 300, 1, "1:300"),
        (2, 200, 1, "2:200"),
    ]


def test_a_hook_changing_one_layers_container_changes_no_other(backend):
    execution = backend.flow(SubmissionFlow)(sizes=[5])
    assert execution.layer(Unchanged).memory == 100
    assert execution.layer(Unchanged).env == {}
    # nor the registration, nor the object passed to register
    assert SubmissionFlow.registry["Sized"].configuration.container.memory == 100
    assert SubmissionFlow.registry["Sized"].configuration.container.env == {}
    assert SHARED.memory == 100 and SHARED.env == {}


# -- retry hooks: run before each retry; e.g. double the memory -------------------------------------


class OutOfMemory(Exception):
    pass


class RetryFlow(Flow): ...


@RetryFlow.register(container=Container(memory=100), retry=Retry(attempts=4, delay=0, jitter=0))
class Hungry(Layer):
    def __call__(self, p: Parameters) -> None:
        memory = self.configuration.container.memory
        if memory < p.needs:
            raise OutOfMemory(f"{memory} MB is not enough")
        self.memory = memory
        self.attempt = self.state.attempt

    @hooks.retry
    def double_memory(self) -> None:
        assert isinstance(self.state.error, OutOfMemory)
        self.configuration.container.memory *= 2


def test_retry_hook_runs_before_each_retry_and_changes_resources(backend):
    execution = backend.flow(RetryFlow)(needs=350)
    assert execution.layer(Hungry).memory == 400
    assert execution.layer(Hungry).attempt == 3


def test_retry_hook_does_not_run_on_success(backend):
    execution = backend.flow(RetryFlow)(needs=50)
    assert execution.layer(Hungry).memory == 100
    assert execution.layer(Hungry).attempt == 1


# -- flow-wide entry hooks --------------------------------------------------------------------------


class EntryFlow(Flow):
    @hooks.entry
    def not_excluded(self, p: Parameters) -> bool:
        return self.name not in p.exclude


@EntryFlow.register
class Kept(Layer):
    def __call__(self) -> None:
        self.ran = True


@EntryFlow.register
class Dropped(Layer):
    def __call__(self) -> None:
        self.ran = True

    @hooks.entry
    def also(self) -> bool:
        return True


def test_flow_entry_hooks_apply_to_every_layer(backend):
    execution = backend.flow(EntryFlow)(exclude=["Dropped"])
    assert execution.layer(Kept).ran is True
    assert execution.layer(Dropped).state.skipped
    execution = backend.flow(EntryFlow)(exclude=[])
    assert execution.layer(Dropped).ran is True
