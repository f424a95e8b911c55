"""Scaling out: shards, a foreach layer, a grid of two parameters, a 1:1 chain and a join.

python examples/foreach.py [--thread]
"""

import sys

from laminar import Flow, Layer
from laminar.configurations import executors
from laminar.configurations.layers import ForEach, Parameter


class Grid(Flow): ...


@Grid.register
class Inputs(Layer):
    def __call__(self) -> None:
        self.shard(size=[10, 20, 30])  # each item stored separately
        self.shard(rate=[0.1, 0.5])
        self.unit = "ms"  # not sharded: broadcast to every split


@Grid.register(foreach=ForEach(parameters=[Parameter(layer=Inputs, attribute="size")]))
class Square(Layer):
    def __call__(self, inputs: Inputs) -> None:
        self.square = inputs.size**2  # inputs.size is this split's item


@Grid.register(foreach=ForEach(parameters=[Parameter(layer=Square, attribute="square", index=None)]))
class Half(Layer):
    def __call__(self, square: Square) -> None:
        self.half = square.square / 2  # split i of Square feeds split i here (no join in between)


@Grid.register(
    foreach=ForEach(
        parameters=[
            Parameter(layer=Inputs, attribute="size"),
            Parameter(layer=Inputs, attribute="rate"),
            Parameter(layer=Inputs, attribute="unit"),
        ]
    )
)
class Cost(Layer):
    def __call__(self, inputs: Inputs) -> None:
        self.label = f"{inputs.size}x{inputs.rate}"  # 3 sizes x 2 rates = 6 splits
        self.cost = f"{inputs.size * inputs.rate:g}{inputs.unit}"


@Grid.register
class Join(Layer):
    def __call__(self, half: Half, cost: Cost) -> None:
        self.halves = list(half.half)  # an Accessor over Half's splits, in split order
        self.costs = dict(zip(cost.label, cost.cost, strict=True))


if flow := Grid(executor=executors.Thread() if "--thread" in sys.argv else None):
    execution = flow()
    print(f"Square splits: {list(execution.layer(Square).square)}")
    print(f"Half (1:1 after Square): {execution.layer(Join).halves}")
    print(f"Cost grid ({len(execution.layer(Cost).cost)} splits): {execution.layer(Join).costs}")
