"""A flow whose driver the test interrupts (SIGINT, as Ctrl-C) while a layer runs. As a script:
``interruptflow.py ROOT MARKS RAY_ADDRESS``: runs on Ray; once interrupted it stays alive (as a notebook's
kernel would) so that the test sees whether the layer's task was stopped."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores


class Stoppable(Flow): ...


@Stoppable.register
class Quick(Layer):
    def __call__(self, p: Parameters) -> None:
        self.value = 1


@Stoppable.register
class Long(Layer):
    def __call__(self, quick: Quick, p: Parameters) -> None:
        marks = Path(p.marks)
        (marks / "long-started").touch()
        if not (marks / "resuming").exists():
            for _ in range(600):  # a heartbeat a tenth of a second, for a minute
                (marks / "heartbeat").write_text(str(time.time()))
                time.sleep(0.1)
        self.value = quick.value + 1


@Stoppable.register
class After(Layer):
    def __call__(self, long: Long) -> None:
        self.value = long.value + 1


if __name__ == "__main__":
    import ray

    from laminar_ray import Ray

    root, marks, address = sys.argv[1:]
    ray.init(address=address)
    flow = Stoppable(datastore=datastores.Local(root), executor=Ray())
    try:
        flow(execution="stopped", marks=marks, progress=False)
    except KeyboardInterrupt as interrupt:
        notes = getattr(interrupt, "__notes__", [])
        print("interrupted:", *notes, flush=True)
        (Path(marks) / "interrupted").touch()
        time.sleep(60)  # alive, as a notebook would be: its tasks must have stopped anyway
