"""A batched fan-out whose driver the test kills mid-way. Run as a script: ``batchcrash.py ROOT RAY_ADDRESS LOG``.

Its splits run three a Ray task (``batch=3``), each appending its number to ``LOG`` when it starts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, layers


class BatchCrash(Flow): ...


@BatchCrash.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@BatchCrash.register(
    container=layers.Container(cpu=1, memory=0),
    foreach=layers.ForEach(parameters=[layers.Parameter(layer=Items, attribute="n")], batch=3),
)
class Square(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        with open(Path(p.log), "a") as log:
            log.write(f"{items.n}\n")
        import ray

        time.sleep(p.pause)
        self.value = items.n**2
        self.task = str(ray.get_runtime_context().get_task_id())


@BatchCrash.register
class Total(Layer):
    def __call__(self, square: Square) -> None:
        self.total = sum(square.value)


if __name__ == "__main__":
    import ray

    from laminar_ray import Ray

    root, address, log = sys.argv[1:4]
    ray.init(address=address)
    if flow := BatchCrash(datastore=datastores.Local(root), executor=Ray()):
        flow(execution="crashed", count=18, pause=0.4, log=log, progress=False)
