"""A fan-out whose driver the test kills moments after one long split finished, while its sibling still
runs. Run as a script: ``durableflow.py ROOT EXECUTOR [RAY_ADDRESS]``, EXECUTOR ``thread`` or ``ray``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors, layers


class Durable(Flow): ...


@Durable.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(2))


@Durable.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Items, attribute="n")]))
class Work(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        marks = Path(p.marks)
        with open(marks / "runs", "a") as runs:  # one line per attempt: resume must not run split 0 again
            runs.write(f"{items.n}\n")
        if items.n == 0:
            time.sleep(p.work)  # the long split: its work must not be lost
            (marks / "long-finished").touch()  # the test kills the driver moments after this
        elif not (marks / "resuming").exists():
            time.sleep(60)  # still running when the driver is killed
        self.value = items.n + 1


@Durable.register
class Total(Layer):
    def __call__(self, work: Work) -> None:
        self.total = sum(work.value)


if __name__ == "__main__":
    root, kind, *address = sys.argv[1:]
    executor: object = executors.Thread()
    if kind == "ray":
        import ray

        from laminar_ray import Ray

        ray.init(address=address[0])
        executor = Ray()
    flow = Durable(datastore=datastores.Local(root), executor=executor)  # type: ignore[arg-type]
    flow(execution="durable", work=1.0, marks=str(Path(root).parent), progress=False)
