"""Progress on Ray: a split handed to Ray counts as queued until a node has room for it, then as running."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, layers
from laminar.configurations.layers import Container
from laminar.display.progress import Progress, Row
from laminar_ray import Ray

pytestmark = pytest.mark.usefixtures("ray_cluster")


class Crowd(Flow): ...


@Crowd.register
class Seats(Layer):
    def __call__(self) -> None:
        self.shard(n=range(6))


@Crowd.register(
    container=Container(cpu=1, memory=0),
    foreach=layers.ForEach(parameters=[layers.Parameter(layer=Seats, attribute="n")]),
)
class Sit(Layer):
    def __call__(self, seats: Seats) -> None:
        time.sleep(1.0)
        self.n = seats.n


class Frames:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def draw(self, title: str, rows: Sequence[Row]) -> None:
        self.rows.extend(row for row in rows if row.name == "Sit")

    def close(self) -> None:
        pass


def test_splits_beyond_the_cpus_of_the_cluster_count_as_queued_not_running(tmp_path: Path) -> None:
    frames = Frames()
    ticks = iter(range(10**6))
    progress = Progress(frames, flow="Crowd", execution="crowd", interval=0.5, clock=lambda: float(next(ticks)))
    flow = Crowd(datastore=datastores.Local(str(tmp_path)), executor=Ray())
    flow(execution="crowd", observer=progress, progress=False)
    progress.close()
    assert frames.rows and all(row.running <= 2 for row in frames.rows)  # the session's Ray has two CPUs
    assert any(row.running == 2 and row.queued >= 3 for row in frames.rows), frames.rows
    assert frames.rows[-1] == Row("Sit", "finished", 6, 6)
