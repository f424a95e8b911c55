"""Dynamic resources: a submission hook sizes each foreach split from its own input.

On Ray each split becomes a task requesting the memory and cpu its hook chose
(``--thread`` shows the same decisions without enforcing them).

    python examples/resources.py [--thread]
"""

import sys

from laminar import Flow, Layer
from laminar.configurations import executors, hooks
from laminar.configurations.layers import Container, ForEach, Parameter
from laminar.types import unwrap


class Sized(Flow): ...


@Sized.register
class Datasets(Layer):
    def __call__(self) -> None:
        self.shard(rows=[1_000, 50_000, 200_000])


@Sized.register(
    container=Container(cpu=0.5, memory=100),
    foreach=ForEach(parameters=[Parameter(layer=Datasets, attribute="rows")]),
)
class Process(Layer):
    @hooks.submission
    def size(self, datasets: Datasets) -> None:
        # Runs before this split is submitted. Hooks see a dependency whole, as a join does: this split's
        # input is datasets.rows[self.index] (inside __call__, datasets.rows is that item). ~1 KB per row,
        # at least 100 MB.
        self.configuration.container.memory = max(100, datasets.rows[unwrap(self.index)] // 1_000)

    def __call__(self, datasets: Datasets) -> None:
        self.rows = datasets.rows
        self.memory = self.configuration.container.memory  # what this split ran with


if flow := Sized(executor=executors.Thread() if "--thread" in sys.argv else None):
    execution = flow()
    process = execution.layer(Process)
    for rows, memory in zip(process.rows, process.memory, strict=True):
        print(f"split with {rows:>7} rows ran with memory={memory} MB")
