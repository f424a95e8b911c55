"""On Ray, a chain of plain layers is submitted at once: Ray starts each as its upstream output exists."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, Retry
from laminar.scheduler import Scheduler

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

    def observe(scheduler: Scheduler) -> None:
        running = {task.layer for task in scheduler.in_flight.values()}
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
