"""SPEC 5: a foreach layer's hooks see each dependency whole, as a join sees it; only ``__call__`` sees the
split's own item. The original's hooks page: ``memory[a.baz[unwrap(self.index)]]`` in a submission hook."""

from __future__ import annotations

from collections.abc import Iterator

from laminar import Flow, Layer
from laminar.configurations import hooks, layers
from laminar.types import unwrap

MEMORY = {"a": 1000, "b": 1500, "c": 2000}


class Whole(Flow): ...


@Whole.register
class A(Layer):
    def __call__(self) -> None:
        self.shard(baz=["a", "b", "c"])
        self.note = "plain"


@Whole.register(
    container=layers.Container(cpu=0.5, memory=100),
    foreach=layers.ForEach(parameters=[layers.ForEachParameter(layer=A, attribute="baz")]),
)
class B(Layer):
    def __call__(self, a: A) -> None:
        self.seen = (a.baz, self.configuration.container.memory, self.configuration.container.env["WHOLE"])

    @hooks.entry
    def whole_in_entry(self, a: A) -> bool:
        return list(a.baz) == ["a", "b", "c"]  # an item would skip the layer

    @hooks.submission
    def configure_container(self, a: A) -> None:
        self.configuration.container.memory = MEMORY[a.baz[unwrap(self.index)]]
        self.configuration.container.env["WHOLE"] = ",".join(a.baz)

    @hooks.execution
    def around(self, a: A) -> Iterator[None]:
        self.around_saw = list(a.baz)
        yield


def test_submission_hooks_see_the_dependency_whole_and_call_the_item(backend):
    b = backend.flow(Whole)().layer(B)
    assert list(b.seen) == [("a", 1000, "a,b,c"), ("b", 1500, "a,b,c"), ("c", 2000, "a,b,c")]
    assert list(b.around_saw) == [["a", "b", "c"]] * 3


# -- a foreach layer mapped 1:1 onto another: its hooks see the upstream's splits whole ---------------


class Chained(Flow): ...


@Chained.register
class Shard(Layer):
    def __call__(self) -> None:
        self.shard(foo=[1, 2, 3])


@Chained.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Shard, attribute="foo")]))
class First(Layer):
    def __call__(self, shard: Shard) -> None:
        self.foo = shard.foo * 10


@Chained.register(
    container=layers.Container(cpu=0.5, memory=100),
    foreach=layers.ForEach(parameters=[layers.Parameter(layer=First, attribute="foo", index=None)]),
)
class Second(Layer):
    def __call__(self, first: First) -> None:
        self.item = first.foo
        self.memory = self.configuration.container.memory

    @hooks.submission
    def from_upstream(self, first: First) -> None:
        self.configuration.container.memory = 100 + first.foo[unwrap(self.index)]

    @hooks.execution
    def around(self, first: First) -> None:
        self.upstream = list(first.foo)


def test_hooks_of_a_chained_foreach_see_every_upstream_split(backend):
    second = backend.flow(Chained)().layer(Second)
    assert list(second.item) == [10, 20, 30]
    assert list(second.memory) == [110, 120, 130]
    assert list(second.upstream) == [[10, 20, 30]] * 3


# -- retry hooks too ------------------------------------------------------------------------------


class Retried(Flow): ...


@Retried.register
class Sizes(Layer):
    def __call__(self) -> None:
        self.shard(size=[1, 2])


@Retried.register(
    container=layers.Container(cpu=0.5, memory=100),
    retry=layers.Retry(attempts=2, delay=0, jitter=0),
    foreach=layers.ForEach(parameters=[layers.Parameter(layer=Sizes, attribute="size")]),
)
class Grows(Layer):
    def __call__(self, sizes: Sizes) -> None:
        if self.state.attempt == 1:
            raise MemoryError("first attempt")
        self.memory = self.configuration.container.memory

    @hooks.retry
    def more(self, sizes: Sizes) -> None:
        self.configuration.container.memory = 1000 * sizes.size[unwrap(self.index)] + len(sizes.size)


def test_retry_hooks_see_the_dependency_whole(backend):
    assert list(backend.flow(Retried)().layer(Grows).memory) == [1002, 2002]
