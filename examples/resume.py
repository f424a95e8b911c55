"""Resume after a failure: finished layers and foreach splits are kept and not run again.

Split 2 of Work fails on the first run (while a marker file exists). After the
cause is fixed, ``resume()`` runs only what did not finish.

    python examples/resume.py [--thread]
"""

import sys
import tempfile
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import executors
from laminar.configurations.layers import ForEach, Parameter


class Fragile(Flow): ...


@Fragile.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.workdir = p.workdir
        self.shard(item=range(4))


@Fragile.register(foreach=ForEach(parameters=[Parameter(layer=Items, attribute="item")]))
class Work(Layer):
    def __call__(self, items: Items) -> None:
        workdir = Path(items.workdir)
        with open(workdir / f"ran-{items.item}", "a") as log:  # count the runs of each split
            log.write("x")
        if items.item == 2 and (workdir / "broken").exists():
            raise RuntimeError("split 2 cannot run while 'broken' exists")
        self.result = items.item * 10


@Fragile.register
class Total(Layer):
    def __call__(self, work: Work) -> None:
        self.total = sum(work.result)


if flow := Fragile(executor=executors.Thread() if "--thread" in sys.argv else None):
    workdir = Path(tempfile.mkdtemp(prefix="laminar-resume-"))
    (workdir / "broken").touch()
    try:
        flow(execution=f"resume-{workdir.name}", workdir=str(workdir))
    except RuntimeError as error:
        print(f"first run failed: {error}")
    execution = flow.execution(f"resume-{workdir.name}")
    print(f"after the failure: { {name: state.phase for name, state in execution.layers().items()} }")

    (workdir / "broken").unlink()  # fix the cause
    execution.resume()
    runs = {item: len((workdir / f"ran-{item}").read_text()) for item in range(4)}
    print(f"after resume: Total.total = {execution.layer(Total).total}")
    print(f"runs per split: {runs} (only split 2 ran twice)")
