"""Flows the display tests run, in-process and as drivers in other processes.

``Demo`` has every shape the drawings mark: a fan-out with a failing split (retried once), a foreach
layer that maps 1:1 onto it, and a join with an entry hook. ``Live`` runs slowly enough to be watched:
``python runflows.py STORE EXECUTION COUNT PAUSE`` runs it on a Thread executor with a Local datastore.
"""

from __future__ import annotations

import sys
import time

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors, hooks, layers


class Demo(Flow): ...


@Demo.register
class Load(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(item=range(p.count))
        self.table = {"a": [1, 2, 3]}


@Demo.register(
    foreach=layers.ForEach(parameters=[layers.Parameter(layer=Load, attribute="item")]),
    retry=layers.Retry(attempts=2, delay=0.01),
)
class Fit(Layer):
    def __call__(self, load: Load, p: Parameters) -> None:
        if load.item == p.bad:
            raise ValueError(f"item {load.item} is bad")
        self.score = load.item * 2


@Demo.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Fit, attribute="score", index=None)]))
class Check(Layer):
    def __call__(self, fit: Fit) -> None:
        self.ok = fit.score >= 0


@Demo.register
class Summary(Layer):
    def __call__(self, check: Check) -> None:
        self.n = len(check.ok)

    @hooks.entry
    def worth_it(self, load: Load) -> bool:
        return True


class Live(Flow): ...


@Live.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Live.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Items, attribute="n")]))
class Work(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        time.sleep(p.pause)
        self.y = items.n


@Live.register
class Total(Layer):
    def __call__(self, work: Work) -> None:
        self.total = sum(work.y)


if __name__ == "__main__":
    root, identifier, count, pause = sys.argv[1:5]
    flow = Live(datastore=datastores.Local(root=root), executor=executors.Thread(workers=2))
    flow(execution=identifier, progress=False, count=int(count), pause=float(pause))
