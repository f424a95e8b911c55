"""SPEC 3: shards, ForEach, broadcast, grids, 1:1 chaining, joins, index/splits, zero splits."""

from __future__ import annotations

import itertools

from laminar import Accessor, Flow, Layer, Parameters
from laminar.configurations.layers import ForEach, ForEachParameter, Parameter
from laminar.types import unwrap

# -- shard, Accessor, one-parameter ForEach, broadcast, join ---------------------------------------


class ShardFlow(Flow): ...


@ShardFlow.register
class Source(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(foo=p.items)
        self.constant = "same for all"


@ShardFlow.register(
    foreach=ForEach(
        parameters=[Parameter(layer=Source, attribute="foo"), Parameter(layer=Source, attribute="constant")]
    )
)
class Split(Layer):
    def __call__(self, source: Source) -> None:
        self.foo = source.foo * 10
        self.constant = source.constant
        self.index_seen = unwrap(self.index)
        self.splits_seen = self.splits


@ShardFlow.register
class Join(Layer):
    def __call__(self, split: Split) -> None:
        assert isinstance(split.foo, Accessor)
        self.foos = list(split.foo)
        self.indices = list(split.index_seen)
        self.length = len(split.foo)
        self.constants = set(split.constant)


def test_shard_is_read_as_an_accessor(backend):
    execution = backend.flow(ShardFlow)(items=[1, 2, 3])
    foo = execution.layer(Source).foo
    assert isinstance(foo, Accessor)
    assert len(foo) == 3
    assert list(foo) == [1, 2, 3]
    assert foo[0] == 1
    assert foo[-1] == 3
    assert list(foo[1:]) == [2, 3]
    assert execution.layer(Source).constant == "same for all"  # not sharded: a plain value


def test_foreach_runs_one_split_per_item_and_broadcasts_the_rest(backend):
    execution = backend.flow(ShardFlow)(items=[1, 2, 3])
    split = execution.layer(Split)
    assert split.splits == 3
    assert list(split.foo) == [10, 20, 30]
    assert list(split.index_seen) == [0, 1, 2]
    assert list(split.splits_seen) == [3, 3, 3]
    assert list(split.constant) == ["same for all"] * 3


def test_join_reads_accessors_in_split_order(backend):
    items = list(range(12))
    execution = backend.flow(ShardFlow)(items=items)
    join = execution.layer(Join)
    assert join.foos == [i * 10 for i in items]
    assert join.indices == items
    assert join.length == 12
    assert join.constants == {"same for all"}


def test_zero_splits_finish_the_foreach_layer_and_its_join(backend):
    execution = backend.flow(ShardFlow)(items=[])
    assert execution.layer(Split).state.finished
    join = execution.layer(Join)
    assert join.state.finished
    assert join.foos == []
    assert join.length == 0


# -- grids ------------------------------------------------------------------------------------------


class GridFlow(Flow): ...


@GridFlow.register
class Letters(Layer):
    def __call__(self) -> None:
        self.shard(letter=["a", "b"])


@GridFlow.register
class Numbers(Layer):
    def __call__(self) -> None:
        self.shard(number=[1, 2, 3])
        self.shard(sign=["+", "-"])


@GridFlow.register(
    foreach=ForEach(
        parameters=[
            ForEachParameter(layer=Letters, attribute="letter"),
            ForEachParameter(layer=Numbers, attribute="number"),
            ForEachParameter(layer=Numbers, attribute="sign"),
        ]
    )
)
class Cell(Layer):
    def __call__(self, letters: Letters, numbers: Numbers) -> None:
        self.cell = (letters.letter, numbers.number, numbers.sign)
        self.index_seen = self.index


def test_grid_is_the_cartesian_product_first_parameter_slowest(backend):
    execution = backend.flow(GridFlow)()
    cells = list(execution.layer(Cell).cell)
    assert cells == list(itertools.product(["a", "b"], [1, 2, 3], ["+", "-"]))
    assert list(execution.layer(Cell).index_seen) == list(range(12))


# -- chaining foreach layers 1:1 with index=None -----------------------------------------------------


class ChainFlow(Flow): ...


@ChainFlow.register
class Numbers2(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=p.items)


@ChainFlow.register(foreach=ForEach(parameters=[Parameter(layer=Numbers2, attribute="n")]))
class Square(Layer):
    def __call__(self, numbers: Numbers2) -> None:
        self.n = numbers.n
        self.square = numbers.n**2


@ChainFlow.register(
    foreach=ForEach(
        parameters=[Parameter(layer=Square, attribute="n", index=None), Parameter(Square, "square", index=None)]
    )
)
class Describe(Layer):
    def __call__(self, square: Square) -> None:
        self.text = f"{square.n}^2={square.square}"
        self.pair = (self.index, square.index)


@ChainFlow.register(foreach=ForEach(parameters=[Parameter(layer=Describe, attribute="text", index=None)]))
class Shout(Layer):
    def __call__(self, describe: Describe) -> None:
        self.text = describe.text.upper()


@ChainFlow.register
class Collect(Layer):
    def __call__(self, shout: Shout, square: Square) -> None:
        self.texts = list(shout.text)
        self.squares = list(square.square)


def test_index_none_chains_foreach_layers_one_to_one(backend):
    execution = backend.flow(ChainFlow)(items=[3, 1, 2])
    assert list(execution.layer(Describe).text) == ["3^2=9", "1^2=1", "2^2=4"]
    assert list(execution.layer(Describe).pair) == [(0, 0), (1, 1), (2, 2)]
    assert execution.layer(Collect).texts == ["3^2=9", "1^2=1", "2^2=4"]
    assert execution.layer(Collect).squares == [9, 1, 4]


def test_index_none_chain_with_zero_splits(backend):
    execution = backend.flow(ChainFlow)(items=[])
    assert execution.layer(Shout).state.finished
    assert execution.layer(Collect).texts == []


# -- a foreach over a foreach layer's split (default index 0) ------------------------------------------


class SplitIndexFlow(Flow): ...


SplitIndexFlow.register(Numbers2)
SplitIndexFlow.register(foreach=ForEach(parameters=[Parameter(layer=Numbers2, attribute="n")]))(Square)


@SplitIndexFlow.register(foreach=ForEach(parameters=[Parameter(layer=Square, attribute="square", index=1)]))
class FromSecond(Layer):
    def __call__(self, square: Square) -> None:
        self.value = square.square


def test_parameter_index_reads_one_split_of_a_foreach_layer(backend):
    execution = backend.flow(SplitIndexFlow)(items=[2, 5, 7])
    # Square[1] assigned square=25 (not sharded): broadcast to one split
    assert list(execution.layer(FromSecond).value) == [25]
