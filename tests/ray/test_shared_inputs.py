"""On Ray, a plain layer that every split of a foreach layer reads is deserialized once per worker, not per split."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter

pytestmark = pytest.mark.usefixtures("ray_cluster")

SPLITS = 40


class Counted:
    """A value that appends its process id to ``log`` each time it is unpickled."""

    def __init__(self, log: str) -> None:
        self.log = log

    def __reduce__(self) -> tuple[Any, ...]:
        return _loaded, (self.log,)


def _loaded(log: str) -> Counted:
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    return Counted(log)


class Shared(Flow): ...


@Shared.register
class Source(Layer):
    def __call__(self, p: Parameters) -> None:
        self.model = Counted(p.log)
        self.shard(n=list(range(SPLITS)))


@Shared.register(
    container=Container(cpu=0.5, memory=0), foreach=ForEach(parameters=[Parameter(layer=Source, attribute="n")])
)
class Use(Layer):
    def __call__(self, source: Source) -> None:
        self.log = source.model.log
        self.n = source.n
        self.pid = os.getpid()


def test_a_plain_layer_read_by_every_split_is_loaded_once_per_worker(tmp_path: Path) -> None:
    from laminar_ray import Ray

    log = tmp_path / "loads"
    log.touch()
    flow = Shared(datastore=datastores.Local(str(tmp_path / "store")), executor=Ray())
    execution = flow(log=str(log), progress=False)
    use = execution.layer(Use)
    assert sorted(use.n) == list(range(SPLITS)) and set(use.log) == {str(log)}
    loads = collections.Counter(log.read_text().split())
    workers = {str(pid) for pid in use.pid}
    # Every worker that ran splits loaded the shared value exactly once (resolved per split, it would be
    # loaded SPLITS times in all).
    assert set(loads) == workers, (loads, workers)
    assert all(count == 1 for count in loads.values()), loads
    assert sum(loads.values()) < SPLITS
