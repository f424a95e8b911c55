"""On Ray, a chain of plain layers is submitted at once, and a join with the splits it reads: Ray starts each task
as its upstream outputs exist."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter, Retry
from laminar.engine.snapshot import Snapshot

pytestmark = pytest.mark.usefixtures("ray_cluster")

LIGHT = Container(cpu=0.25, memory=0)


class Pipeline(Flow): ...


@Pipeline.register(container=LIGHT)
class Blocked(Layer):
    """Waits until the test has seen every layer of the chain in flight at once (or 60 s)."""

    def __call__(self, p: Parameters) -> None:
        deadline = time.monotonic() + 60
        while not Path(p.directory, "all-in-flight").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.x = 1


@Pipeline.register(container=LIGHT)
class Middle(Layer):
    def __call__(self, blocked: Blocked) -> None:
        self.x = blocked.x + 1


@Pipeline.register(container=LIGHT)
class Last(Layer):
    def __call__(self, middle: Middle, blocked: Blocked) -> None:
        self.x = middle.x + blocked.x


def test_a_chain_is_in_flight_at_once_before_its_first_layer_finished(tmp_path: Path) -> None:
    from laminar_ray import Ray

    seen: list[set[str]] = []

    def observe(snapshot: Snapshot) -> None:
        running = {task.layer for task in snapshot.in_flight}
        seen.append(running)
        if running == {"Blocked", "Middle", "Last"}:
            (tmp_path / "all-in-flight").touch()

    started = time.monotonic()
    flow = Pipeline(datastore=datastores.Local(str(tmp_path / "store")), executor=Ray())
    execution = flow(directory=str(tmp_path), observer=observe, progress=False)
    assert {"Blocked", "Middle", "Last"} in seen
    assert time.monotonic() - started < 50  # Blocked did not wait for its deadline
    assert execution.layer(Last).x == 3
    assert execution.layer(Middle).state.finished


class Flaky(Flow): ...


@Flaky.register(container=LIGHT, retry=Retry(attempts=2, delay=0.1))
class FailsOnce(Layer):
    def __call__(self) -> None:
        self.attempt = self.state.attempt
        if self.attempt == 1:
            raise RuntimeError("first attempt")


@Flaky.register(container=LIGHT)
class Reads(Layer):
    def __call__(self, fails: FailsOnce) -> None:
        self.seen = fails.attempt
        self.attempt = self.state.attempt


def test_a_layer_started_ahead_of_a_failed_attempt_runs_once_on_the_retried_output(tmp_path: Path) -> None:
    from laminar_ray import Ray

    execution = Flaky(datastore=datastores.Local(str(tmp_path)), executor=Ray())(progress=False)
    reads = execution.layer(Reads)
    assert reads.seen == 2  # it ran on the second attempt's output, never on the failed one
    assert reads.attempt == 1  # the upstream failure was not counted as an attempt of its own
    assert execution.layer(FailsOnce).attempt == 2


class Fan(Flow): ...


@Fan.register(container=LIGHT)
class Numbers(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=[1, 2, 3])


@Fan.register(
    container=LIGHT, foreach=ForEach(parameters=[Parameter(Numbers, "n")]), retry=Retry(attempts=2, delay=0.1)
)
class Split(Layer):
    """Split 1 fails its first attempt; every split waits until the test saw the join in flight (or 60 s)."""

    def __call__(self, numbers: Numbers, p: Parameters) -> None:
        deadline = time.monotonic() + 60
        while not Path(p.directory, "join-in-flight").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.attempt = self.state.attempt
        if numbers.n == 2 and self.attempt == 1:
            raise RuntimeError("split 1, first attempt")
        self.x = 10 * numbers.n


@Fan.register(container=LIGHT)
class Join(Layer):
    def __call__(self, split: Split) -> None:
        self.total = sum(split.x)
        self.attempts = list(split.attempt)
        self.attempt = self.state.attempt


def test_a_join_is_in_flight_with_the_splits_it_reads(tmp_path: Path) -> None:
    """The join is submitted while its splits run (the observer sees both in flight before any finished),
    and runs once, on the output of the retried split, its own first attempt."""
    from laminar_ray import Ray

    seen: list[set[str]] = []

    def observe(snapshot: Snapshot) -> None:
        running = {task.layer for task in snapshot.in_flight}
        seen.append(running)
        if running == {"Split", "Join"}:
            (tmp_path / "join-in-flight").touch()

    started = time.monotonic()
    flow = Fan(datastore=datastores.Local(str(tmp_path / "store")), executor=Ray())
    execution = flow(directory=str(tmp_path), observer=observe, progress=False)
    assert {"Split", "Join"} in seen
    assert time.monotonic() - started < 50  # the splits did not wait for their deadline
    join = execution.layer(Join)
    assert (join.total, join.attempts, join.attempt) == (60, [1, 2, 1], 1)
