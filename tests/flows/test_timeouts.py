"""``Container(timeout=...)``: a split over its time is stopped on every executor, fails its attempt with
``LayerTimeout`` naming the layer and the limit, and is retried under ``Retry``. Each test is bounded: its
layers would otherwise sleep a minute."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from backends import Backend

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import Container, Retry
from laminar.deadline import GRACE
from laminar.errors import ConfigurationError, LayerTimeout

SLEEP = 60.0  # what a split over its time would sleep: the tests end long before


def mark(directory: str, text: str) -> None:
    with open(Path(directory) / "marks", "a") as file:
        file.write(text + "\n")


def marks(directory: Path) -> list[str]:
    path = directory / "marks"
    return path.read_text().split() if path.exists() else []


class Slow(Flow): ...


@Slow.register(container=Container(cpu=0, memory=0, timeout=0.5))
class Sleeps(Layer):
    def __call__(self, p: Parameters) -> None:
        mark(p.directory, f"started-{self.state.attempt}")
        if p.how == "ignores":
            try:
                time.sleep(SLEEP)
            except BaseException:  # what a careless layer does: the executor must stop it anyway
                mark(p.directory, "ignored")
                time.sleep(SLEEP)
        else:
            time.sleep(SLEEP)
        mark(p.directory, "finished")


@pytest.mark.parametrize("backend", ["thread-local", "ray-local"], indirect=True)
@pytest.mark.parametrize("how", ["sleeps", "ignores"])
def test_a_split_over_its_timeout_is_stopped_and_its_error_names_the_layer_and_limit(
    backend: Backend, tmp_path: Path, how: str
) -> None:
    flow = backend.flow(Slow)
    started = time.monotonic()
    with pytest.raises(LayerTimeout, match=r"Slow\.Sleeps: ran longer than its timeout of 0\.5 s") as caught:
        flow(execution="e", directory=str(tmp_path), how=how, progress=False)
    assert time.monotonic() - started < SLEEP / 2  # stopped, not waited for
    assert isinstance(caught.value, TimeoutError) and caught.value.seconds == 0.5
    assert "Container(timeout=0.5)" in str(caught.value)
    failure = backend.datastore.read_json("flows/Slow/e/Sleeps/0.failure-1.json")
    assert failure["error"].startswith("LayerTimeout(") and "timeout of 0.5 s" in failure["error"], failure
    assert "finished" not in marks(tmp_path)


class Flaky(Flow): ...


@Flaky.register(container=Container(cpu=0, memory=0, timeout=0.5), retry=Retry(attempts=2, delay=0, jitter=0))
class SlowOnce(Layer):
    def __call__(self, p: Parameters) -> None:
        mark(p.directory, f"attempt-{self.state.attempt}")
        if self.state.attempt == 1:
            time.sleep(SLEEP)
        self.value = self.state.attempt


@pytest.mark.parametrize("backend", ["thread-local", "ray-local"], indirect=True)
def test_a_timed_out_attempt_is_retried_under_retry(backend: Backend, tmp_path: Path) -> None:
    execution = backend.flow(Flaky)(execution="e", directory=str(tmp_path), progress=False)
    assert execution.layer(SlowOnce).value == 2
    assert marks(tmp_path) == ["attempt-1", "attempt-2"]
    record = backend.datastore.read_split_record("Flaky", "e", "SlowOnce", 0)
    assert record is not None and record["attempt"] == 2


def test_a_timeout_must_be_a_finite_number_of_seconds() -> None:
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ConfigurationError, match="timeout"):
            Container(timeout=bad)
    assert Container(timeout=2.5).timeout == 2.5 and Container().timeout is None


def test_the_grace_a_split_has_to_stop_is_short() -> None:
    assert 0 < GRACE <= 5
