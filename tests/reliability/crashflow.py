"""A fan-out whose driver the test kills mid-way. Run as a script: ``crashflow.py ROOT RAY_ADDRESS``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, layers


class Crash(Flow): ...


@Crash.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Crash.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Items, attribute="n")]))
class Square(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        with open(Path(p.log), "a") as log:
            log.write(f"{items.n}\n")
        time.sleep(p.pause)
        self.value = items.n**2


@Crash.register
class Total(Layer):
    def __call__(self, square: Square) -> None:
        self.total = sum(square.value)


if __name__ == "__main__":
    import ray

    from laminar_ray import Ray

    root, address, log = sys.argv[1:4]
    ray.init(address=address)
    if flow := Crash(datastore=datastores.Local(root), executor=Ray()):
        flow(execution="crashed", count=12, pause=0.4, log=log)
