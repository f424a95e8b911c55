"""SPEC 6-7: Catch, Retry, failing flows and resume().

Runs are counted by appending a line to a file in a directory passed as a flow parameter, which
works whichever process (thread or Ray worker) runs the layer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import Catch, ForEach, Parameter, Retry


def record(directory: str, label: str) -> None:
    with open(Path(directory) / "runs", "a") as file:
        file.write(label + "\n")


def runs(directory: Path) -> list[str]:
    path = directory / "runs"
    return path.read_text().splitlines() if path.exists() else []


class Boom(Exception):
    """A user's own exception type, which must reach the caller unchanged."""


# -- Catch --------------------------------------------------------------------------------------------


class CatchFlow(Flow): ...


@CatchFlow.register(catch=Catch(TypeError, OSError))
class Careful(Layer):
    def __call__(self, p: Parameters) -> None:
        self.before = "saved"
        if p.error == "file":
            raise FileNotFoundError("a subclass of OSError")
        if p.error == "value":
            raise ValueError("not caught")
        self.after = "also saved"


@CatchFlow.register
class Reader(Layer):
    def __call__(self, careful: Careful) -> None:
        self.finished = careful.state.finished
        self.before = careful.before


def test_catch_finishes_the_layer_with_what_it_saved(backend):
    execution = backend.flow(CatchFlow)(error="file")
    careful = execution.layer(Careful)
    assert careful.state.finished
    assert careful.before == "saved"
    with pytest.raises(AttributeError, match="after"):
        careful.after  # noqa: B018
    assert execution.layer(Reader).finished is True
    assert execution.layer(Reader).before == "saved"


def test_catch_does_not_catch_other_exceptions(backend):
    with pytest.raises(ValueError, match="not caught"):
        backend.flow(CatchFlow)(error="value")


# -- Retry ------------------------------------------------------------------------------------------------


class RetryFlow(Flow): ...


@RetryFlow.register(retry=Retry(attempts=3, delay=0, jitter=0))
class Flaky(Layer):
    def __call__(self, p: Parameters) -> None:
        record(p.directory, f"Flaky attempt {self.state.attempt}")
        if self.state.attempt < p.succeed_on:
            raise Boom(f"attempt {self.state.attempt} failed")
        self.attempt = self.state.attempt


def test_retry_until_an_attempt_succeeds(backend, tmp_path):
    execution = backend.flow(RetryFlow)(directory=str(tmp_path), succeed_on=3)
    assert execution.layer(Flaky).attempt == 3
    assert runs(tmp_path) == ["Flaky attempt 1", "Flaky attempt 2", "Flaky attempt 3"]


def test_retry_gives_up_after_its_attempts_with_the_last_error(backend, tmp_path):
    flow = backend.flow(RetryFlow)
    with pytest.raises(Boom, match="attempt 3 failed"):
        flow(directory=str(tmp_path), succeed_on=10, execution="gives-up")
    assert len(runs(tmp_path)) == 3
    assert flow.execution("gives-up").layer(Flaky).state.failed


# -- a failing flow ---------------------------------------------------------------------------------


class FailingFlow(Flow): ...


@FailingFlow.register
class Slow(Layer):
    """Independent of Fails; in flight when Fails fails, and must settle (finish) before the raise.

    It finishes only once the scheduler itself knows of the failure (the test's observer marks it),
    so AfterSlow can never be started legitimately before the flow is failing.
    """

    def __call__(self, p: Parameters) -> None:
        import time

        deadline = time.monotonic() + 60
        while not (Path(p.directory) / "driver-saw-failure").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        record(p.directory, "Slow")
        self.value = "kept"


@FailingFlow.register
class Fails(Layer):
    def __call__(self, p: Parameters) -> None:
        raise Boom("the layer's own message")


@FailingFlow.register
class AfterSlow(Layer):
    def __call__(self, slow: Slow, p: Parameters) -> None:
        record(p.directory, "AfterSlow")


def test_failing_layer_raises_its_own_exception_after_in_flight_work_settles(backend, tmp_path):
    flow = backend.flow(FailingFlow)

    def observe(scheduler):
        if scheduler.failures:
            (tmp_path / "driver-saw-failure").touch()

    with pytest.raises(Boom, match="the layer's own message") as raised:
        flow(directory=str(tmp_path), execution="failing", observer=observe)
    assert type(raised.value) is Boom
    execution = flow.execution("failing")
    assert execution.layer(Fails).state.failed
    # Slow was in flight: it settled, and its work stays readable
    assert runs(tmp_path) == ["Slow"]
    assert execution.layer(Slow).state.finished
    assert execution.layer(Slow).value == "kept"
    # nothing new started once the flow was failing
    assert "AfterSlow" not in runs(tmp_path)
    assert not execution.layer(AfterSlow).state.finished


# -- resume -----------------------------------------------------------------------------------------------


class ResumeFlow(Flow): ...


@ResumeFlow.register
class Start(Layer):
    def __call__(self, p: Parameters) -> None:
        record(p.directory, "Start")
        self.shard(n=range(4))


@ResumeFlow.register(foreach=ForEach(parameters=[Parameter(layer=Start, attribute="n")]))
class Each(Layer):
    def __call__(self, start: Start, p: Parameters) -> None:
        record(p.directory, f"Each[{self.index}]")
        if start.n == 2 and (Path(p.directory) / "break").exists():
            raise Boom("split 2 is broken")
        self.square = start.n**2


@ResumeFlow.register
class End(Layer):
    def __call__(self, each: Each, p: Parameters) -> None:
        record(p.directory, "End")
        self.total = sum(each.square)


def test_resume_skips_finished_layers_and_finished_splits(backend, tmp_path):
    (tmp_path / "break").touch()
    flow = backend.flow(ResumeFlow)
    with pytest.raises(Boom, match="split 2 is broken"):
        flow(directory=str(tmp_path), execution="resumable")
    first = runs(tmp_path)
    assert first.count("Start") == 1
    assert "Each[2]" in first and "End" not in first
    finished_first = {label for label in first if label.startswith("Each") and label != "Each[2]"}

    (tmp_path / "break").unlink()
    execution = ResumeFlow(datastore=backend.datastore, executor=backend.executor).execution("resumable").resume()
    assert execution.id == "resumable"
    assert execution.layer(End).total == 0 + 1 + 4 + 9
    second = runs(tmp_path)[len(first) :]
    assert "Start" not in second
    assert "Each[2]" in second
    assert not finished_first & set(second)  # no finished split ran again
    assert second.count("End") == 1
    # every split ran exactly once to the end over both runs
    assert sorted(set(first + second) - {"Start", "End"}) == [f"Each[{i}]" for i in range(4)]


def test_resume_of_a_finished_execution_runs_nothing(backend, tmp_path):
    flow = backend.flow(ResumeFlow)
    flow(directory=str(tmp_path), execution="done")
    before = runs(tmp_path)
    flow.execution("done").resume()
    assert runs(tmp_path) == before


def test_resume_of_an_unknown_execution_fails(backend):
    from laminar.errors import ExecutionNotFound

    with pytest.raises(ExecutionNotFound, match="no-such-id"):
        backend.flow(ResumeFlow).execution("no-such-id").resume()


def test_running_an_existing_id_again_is_refused(backend, tmp_path):
    from laminar.errors import ConfigurationError

    flow = backend.flow(ResumeFlow)
    flow(directory=str(tmp_path), execution="once")
    with pytest.raises(ConfigurationError, match="resume"):
        flow(directory=str(tmp_path), execution="once")
