"""On Ray, chained foreach layers stream split by split, and in-flight work stays within capacity."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter
from laminar.engine.snapshot import Snapshot
from laminar.executors import Run
from laminar.task import Completion, Task

pytestmark = pytest.mark.usefixtures("ray_cluster")

STEP = 0.4  # first-stage split k sleeps STEP * (k + 1) seconds
# A quarter CPU each and no memory request: every first-stage split runs at once on a 2-CPU Ray, so
# what the second stage waits for is the scheduler, not free slots.
LIGHT = Container(cpu=0.25, memory=0)


class Chained(Flow): ...


@Chained.register
class Numbers(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=list(range(p.count)))


@Chained.register(container=LIGHT, foreach=ForEach(parameters=[Parameter(layer=Numbers, attribute="n")]))
class Slow(Layer):
    def __call__(self, numbers: Numbers) -> None:
        self.started = time.time()
        time.sleep(STEP * (numbers.n + 1))
        self.n = numbers.n
        self.ended = time.time()


@Chained.register(container=LIGHT, foreach=ForEach(parameters=[Parameter(layer=Slow, attribute="n", index=None)]))
class Next(Layer):
    def __call__(self, slow: Slow) -> None:
        self.started = time.time()
        self.n = slow.n


def test_a_chained_foreach_streams_split_by_split(tmp_path: Path) -> None:
    from laminar_ray import Ray

    execution = Chained(datastore=datastores.Local(str(tmp_path)), executor=Ray())(count=4, progress=False)
    slow, following = execution.layer(Slow), execution.layer(Next)
    assert list(following.n) == [0, 1, 2, 3]
    # Split 0 of the second stage ran as soon as split 0 of the first finished: long before the
    # first stage's last (slowest) split ended, which a stage-by-stage run would have waited for.
    assert following.started[0] >= slow.ended[0]
    assert following.started[0] < max(slow.ended) - STEP, (list(slow.started), list(slow.ended), following.started[0])


class Wide(Flow): ...


@Wide.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=list(range(p.count)))


@Wide.register(container=LIGHT, foreach=ForEach(parameters=[Parameter(layer=Items, attribute="n")]))
class Each(Layer):
    def __call__(self, items: Items) -> None:
        time.sleep(0.02)
        self.n = items.n


@Wide.register
class Sum(Layer):
    def __call__(self, each: Each) -> None:
        self.total = sum(each.n)


def _counting_ray(max_in_flight: int) -> Any:
    from laminar_ray import Ray
    from laminar_ray.session import Session

    class Counting(Ray):
        """Counts tasks submitted to Ray and not yet reported back, over its sessions."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.pending = 0
            self.most = 0

        def open(self, run: Run) -> Session:
            session = super().open(run)
            submit, wait = session.submit, session.wait

            def counted_submit(task: Task) -> None:
                self.pending += 1
                self.most = max(self.most, self.pending)
                submit(task)

            def counted_wait(timeout: float | None, *, urgent: bool = True) -> list[Completion]:
                completions = wait(timeout, urgent=urgent)
                self.pending -= len(completions)
                return completions

            session.submit = counted_submit  # type: ignore[method-assign]
            session.wait = counted_wait  # type: ignore[method-assign]
            return session

    return Counting(max_in_flight=max_in_flight)


def test_in_flight_tasks_never_exceed_capacity(tmp_path: Path) -> None:
    executor = _counting_ray(max_in_flight=3)
    seen: list[int] = []

    def observe(snapshot: Snapshot) -> None:
        seen.append(len(snapshot.in_flight))

    execution = Wide(datastore=datastores.Local(str(tmp_path)), executor=executor)(
        count=30, observer=observe, progress=False
    )
    assert execution.layer(Sum).total == sum(range(30))
    assert max(seen) == 3  # the bound was reached, never passed
    assert executor.most == 3
    assert executor.pending == 0
