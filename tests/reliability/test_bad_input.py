"""Bad input is a clear error, early, naming flow, layer and what to fix; nothing finished is lost."""

from __future__ import annotations

import threading

import pytest
from backends import Backend

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors, hooks, layers
from laminar.errors import ArtifactError, ConfigurationError, FlowDefinitionError, LayerError


class Shards(Flow): ...


@Shards.register
class NotIterable(Layer):
    def __call__(self) -> None:
        self.shard(x=5)


def test_sharding_a_non_iterable_names_the_layer_and_attribute(backend: Backend) -> None:
    with pytest.raises(TypeError, match=r"NotIterable\.shard\(x=\.\.\.\) needs an iterable, got int"):
        backend.flow(Shards)()


class Missing(Flow): ...


@Missing.register
class Source(Layer):
    def __call__(self) -> None:
        self.shard(items=[1, 2])


@Missing.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Source, attribute="itemz")]))
class Each(Layer):
    def __call__(self, source: Source) -> None:
        self.value = source.itemz


def test_foreach_over_an_artifact_that_does_not_exist_names_both_and_keeps_finished_work(backend: Backend) -> None:
    flow = backend.flow(Missing)
    with pytest.raises(LayerError, match=r"Missing\.Each: .*Source has no artifact 'itemz' \(its artifacts: items\)"):
        flow(execution="missing")
    assert list(flow.execution("missing").layer(Source).items) == [1, 2]


class Unpicklable(Flow): ...


@Unpicklable.register
class Holds(Layer):
    def __call__(self) -> None:
        self.fine = 1
        self.lock = threading.Lock()


def test_an_artifact_that_cannot_be_serialized_names_layer_and_attribute(backend: Backend) -> None:
    with pytest.raises(ArtifactError, match=r"Unpicklable\.Holds\[0\].*artifact 'lock'.*cannot be serialized"):
        backend.flow(Unpicklable)()


class Uses(Flow): ...


@Uses.register
class Reads(Layer):
    def __call__(self, p: Parameters) -> None:
        self.value = p.value


def test_parameters_that_cannot_be_serialized_fail_before_anything_is_written(backend: Backend) -> None:
    flow = backend.flow(Uses)
    with pytest.raises(ArtifactError, match=r"Uses\.Parameters\[0\].*artifact 'value'.*cannot be serialized"):
        flow(execution="bad-parameters", value=threading.Lock())
    assert "bad-parameters" not in flow.configuration.datastore.execution_ids(flow)
    assert flow(execution="bad-parameters", value=3).layer(Reads).value == 3  # the id is still free


@pytest.mark.parametrize("identifier", ["../escape", "/etc/passwd", "a/b", "nul\x00byte", "", ".hidden"])
def test_execution_ids_that_would_escape_the_datastore_are_refused(identifier: str) -> None:
    flow = Uses(datastore=datastores.Memory(), executor=executors.Thread())
    with pytest.raises(ConfigurationError, match="cannot be used as a datastore path"):
        flow(execution=identifier, value=1)
    with pytest.raises(ConfigurationError, match="cannot be used as a datastore path"):
        flow.execution(identifier)


def test_layer_names_that_would_escape_the_datastore_are_refused() -> None:
    class Escapes(Flow): ...

    weird = type("../up", (Layer,), {})  # only type() can make such a name; refuse it all the same
    with pytest.raises(ConfigurationError, match="layer name"):
        Escapes.register(weird)


class WrongHooks(Flow): ...


@WrongHooks.register
class First(Layer):
    pass


@WrongHooks.register
class Second(Layer):
    @hooks.entry
    def unannotated(self, first) -> bool:  # type: ignore[no-untyped-def]
        return True

    @hooks.submission
    def variadic(self, *layers: First) -> None:
        pass


def test_hooks_with_wrong_signatures_are_reported_together_before_any_work() -> None:
    flow = WrongHooks(datastore=datastores.Memory(), executor=executors.Thread())
    with pytest.raises(FlowDefinitionError) as info:
        flow()
    message = str(info.value)
    assert "2 problems" in message
    assert "Second hook Second.unannotated: parameter 'first' has no annotation" in message
    assert "Second hook Second.variadic: parameter 'layers': *args/**kwargs cannot name a layer" in message
    assert flow.configuration.datastore.execution_ids(flow) == []


def test_an_entry_hook_cannot_yield() -> None:
    with pytest.raises(ConfigurationError, match="entry hooks return a value and cannot yield"):

        class Yields(Layer):
            @hooks.entry
            def gen(self):  # type: ignore[no-untyped-def]
                yield True
