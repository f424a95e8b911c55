"""rchui/laminar docs/source/layers/scaling_out.md, every example as written, on each backend.

Changed only what the page leaves undefined or misspells, each where it happens: the ForEach listings
import ``Parameters`` from ``laminar.configurations.layers`` and call ``Parameter`` (imported here: the
original's layers module has no ``Parameters`` either); the join listing registers with ``@JoinFlow.layer``
(the original's ``Flow`` has no ``layer`` either: ``@JoinFlow.register``); flows are built with the test's
datastore and executor (``backend.flow(F)``). Splits run in parallel, so their prints are compared as
sets; each split's index is what the page prints beside its values.
"""

from laminar import Flow, Layer


def test_sharded_artifacts(backend, printed):
    # main.py

    class ShardedFlow(Flow): ...

    @ShardedFlow.register
    class Shard(Layer):
        def __call__(self) -> None:
            self.shard(foo=[1, 2, 3])

    @ShardedFlow.register
    class Process(Layer):
        def __call__(self, shard: Shard) -> None:
            print(list(shard.foo))
            print(shard.foo[1])
            print(shard.foo[1:])

    if flow := backend.flow(ShardedFlow):
        flow()
    printed(["[1, 2, 3]", "2", "[2, 3]"])


def test_foreach_loops(backend, printed):
    from laminar.configurations.layers import ForEach, Parameter

    class ForeachFlow(Flow): ...

    @ForeachFlow.register
    class Shard(Layer):
        def __call__(self) -> None:
            self.shard(foo=[1, 2])

    @ForeachFlow.register(foreach=ForEach(parameters=[Parameter(layer=Shard, attribute="foo")]))
    class Process(Layer):
        def __call__(self, shard: Shard) -> None:
            print(self.index, shard.foo)

    if flow := backend.flow(ForeachFlow):
        flow()
    printed(["0 1", "1 2"])


def test_an_attribute_that_was_not_sharded_goes_to_every_split(backend, printed):
    # main.py

    from laminar.configurations.layers import ForEach, Parameter

    class ForeachFlow(Flow): ...

    @ForeachFlow.register
    class Shard(Layer):
        def __call__(self) -> None:
            self.bar = "a"
            self.shard(foo=[1, 2])

    @ForeachFlow.register(
        foreach=ForEach(parameters=[Parameter(layer=Shard, attribute="foo"), Parameter(layer=Shard, attribute="bar")])
    )
    class Process(Layer):
        def __call__(self, shard: Shard) -> None:
            print(self.index, shard.foo, shard.bar)

    if flow := backend.flow(ForeachFlow):
        flow()
    printed(["0 1 a", "1 2 a"])


def test_grid_search(backend, printed):
    # main.py

    from laminar.configurations.layers import ForEach, Parameter

    class GridFlow(Flow): ...

    @GridFlow.register
    class Shard(Layer):
        def __call__(self) -> None:
            self.shard(foo=[1, 2, 3], bar=["a", "b"])

    @GridFlow.register(
        foreach=ForEach(parameters=[Parameter(layer=Shard, attribute="foo"), Parameter(layer=Shard, attribute="bar")])
    )
    class Process(Layer):
        def __call__(self, shard: Shard) -> None:
            print(self.index, shard.foo, shard.bar)
            self.pair = (shard.foo, shard.bar)

    if flow := backend.flow(GridFlow):
        execution = flow()
    # Every one of the 6 combinations runs once. The page prints foo varying fastest (0 1 a, 1 2 a, 2 3 a,
    # 3 1 b, ...); the original's code (itertools.product over the parameters in order) and its own
    # tests/flows/test_grid.py vary the first parameter slowest, which laminar follows (SPEC 3).
    printed(["0 1 a", "1 1 b", "2 2 a", "3 2 b", "4 3 a", "5 3 b"])
    assert list(execution.layer(Process).pair) == [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "b")]


def test_foreach_joins(backend, printed):
    # main.py

    from laminar.configurations.layers import ForEach, Parameter

    class JoinFlow(Flow): ...

    @JoinFlow.register
    class Shard(Layer):
        def __call__(self) -> None:
            self.shard(foo=[1, 2])

    @JoinFlow.register(foreach=ForEach(parameters=[Parameter(layer=Shard, attribute="foo")]))
    class Process(Layer):
        def __call__(self, shard: Shard) -> None:
            self.foo = shard.foo

    @JoinFlow.register  # the page's @JoinFlow.layer
    class Join(Layer):
        def __call__(self, process: Process) -> None:
            print(list(process.foo))
            print(process.foo[1])

    if flow := backend.flow(JoinFlow):
        flow()
    printed(["[1, 2]", "2"])


def test_chained_foreach(backend, printed):
    # main.py

    from laminar.configurations.layers import ForEach, Parameter

    class ChainedFlow(Flow): ...

    @ChainedFlow.register
    class Shard(Layer):
        def __call__(self) -> None:
            self.shard(foo=[1, 2, 3])

    @ChainedFlow.register(foreach=ForEach(parameters=[Parameter(layer=Shard, attribute="foo")]))
    class First(Layer):
        def __call__(self, shard: Shard) -> None:
            print(self.index, "First", shard.foo)
            self.foo = shard.foo

    @ChainedFlow.register(foreach=ForEach(parameters=[Parameter(layer=First, attribute="foo", index=None)]))
    class Second(Layer):
        def __call__(self, first: First) -> None:
            print(self.index, "Second", first.foo)

    if flow := backend.flow(ChainedFlow):
        flow()
    printed(["0 First 1", "1 First 2", "2 First 3", "0 Second 1", "1 Second 2", "2 Second 3"])
