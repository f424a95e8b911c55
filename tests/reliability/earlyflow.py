"""A flow whose driver the test kills within moments of starting. Run as a script:
``earlyflow.py ROOT EXECUTOR [RAY_ADDRESS]``, EXECUTOR ``thread`` or ``ray``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors


class Early(Flow): ...


@Early.register
class First(Layer):
    def __call__(self, p: Parameters) -> None:
        (Path(p.marks) / "first-started").touch()
        if not (Path(p.marks) / "resuming").exists():  # the test marks the resume
            time.sleep(60)  # killed long before this ends
        self.x = p.x * 2


@Early.register
class Second(Layer):
    def __call__(self, first: First, p: Parameters) -> None:
        self.total = first.x + len(p.label)


if __name__ == "__main__":
    root, kind, *address = sys.argv[1:]
    executor: object = executors.Thread()
    if kind == "ray":
        import ray

        from laminar_ray import Ray

        ray.init(address=address[0])
        executor = Ray()
    flow = Early(datastore=datastores.Local(root), executor=executor)  # type: ignore[arg-type]
    print("ready", flush=True)
    sys.stdin.readline()  # the test says when: it then watches for the moment to kill
    flow(execution="early", x=21, label="laminar", marks=str(Path(root).parent), progress=False)
