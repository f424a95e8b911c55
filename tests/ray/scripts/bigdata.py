"""Pass a 400 MB numpy array between two layers on Ray; print the driver's peak RSS growth as JSON."""

from __future__ import annotations

import json
import os
import resource
import sys

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np

from laminar import Flow, Layer
from laminar.configurations import datastores
from laminar_ray import Ray

SIZE = 400 * 1024 * 1024


class Big(Flow): ...


@Big.register
class Make(Layer):
    def __call__(self) -> None:
        self.array = np.ones(SIZE // 8, dtype=np.float64)


@Big.register
class Total(Layer):
    def __call__(self, make: Make) -> None:
        self.total = float(make.array.sum())


class Small(Flow): ...


@Small.register
class Tiny(Layer):
    def __call__(self) -> None:
        self.x = 1


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def main(root: str) -> None:
    executor = Ray()
    Small(datastore=datastores.Local(root), executor=executor)()  # Ray started and warmed up
    before = peak_bytes()
    execution = Big(datastore=datastores.Local(root), executor=executor)()
    after = peak_bytes()
    print(json.dumps({"total": execution.layer(Total).total, "growth": after - before, "size": SIZE}))


if __name__ == "__main__":
    main(sys.argv[1])
