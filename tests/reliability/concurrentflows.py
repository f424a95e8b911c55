"""Two flows sharing layers; run at once by test_concurrency (also from subprocesses)."""

from __future__ import annotations

from laminar import Flow, Layer, Parameters
from laminar.configurations import layers


class Left(Flow): ...


class Right(Flow): ...


@Left.register
@Right.register
class Values(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))
        self.shared = b"x" * 100_000  # the same bytes from every run: contended dedup writes


@Left.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Values, attribute="n")]))
@Right.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Values, attribute="n")]))
class Scaled(Layer):
    def __call__(self, values: Values, p: Parameters) -> None:
        self.value = values.n * p.factor
