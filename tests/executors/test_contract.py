"""What every executor's Session must do, run against Thread and Ray (like dask's ``GetFunctionTestMixin``).

A new executor opts in with a subclass of :class:`SessionContract` that says how to make it. The sessions
are driven directly here, with tasks built by hand: what the engine may rely on, nothing of how.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors
from laminar.configurations.layers import ForEach, Parameter
from laminar.datastore import Datastore
from laminar.executors.base import Executor, Run, Session
from laminar.records import SplitMeta
from laminar.task import Cause, Completion, Input, Task, TaskKind


class Contract(Flow): ...


@Contract.register
class Source(Layer):
    def __call__(self, p: Parameters) -> None:
        if p.fail == "source":
            raise LookupError("the source fails")
        time.sleep(p.sleep)
        self.x = p.start


@Contract.register
class Double(Layer):
    def __call__(self, source: Source) -> None:
        self.x = source.x * 2


@Contract.register
class Gate(Layer):
    def __call__(self, source: Source) -> None: ...


@Contract.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=list(range(p.count)))


@Contract.register(foreach=ForEach(parameters=[Parameter(Items, "n")]))
class Square(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        if items.n == p.fail_split:
            raise ValueError(f"split {items.n} fails")
        Path(p.directory, f"ran-{items.n}-{time.monotonic_ns()}").touch()
        self.square = items.n * items.n


@Contract.register
class Total(Layer):
    def __call__(self, square: Square) -> None:
        self.total = sum(square.square)


def _task(key: int, layer: str, inputs: dict[str, Input] | None = None, **changes: Any) -> Task:
    graph = Contract().graph()
    fields: dict[str, Any] = {"index": None, "splits": None, "attempt": 1, "kind": TaskKind.run}
    fields.update(changes)
    return Task(key=key, layer=layer, configuration=graph[layer].configuration, inputs=inputs or {}, **fields)


PARAMETERS = {"Parameters": Input("Parameters", "finished")}  # inputs are keyed by layer


class SessionContract:
    """The behaviours every Session must show. Subclasses provide the ``executor`` fixture (and may replace
    ``datastore``); a session that pipelines opts into :class:`PipeliningContract` instead."""

    #: whether the session takes tasks ahead of their dependencies (``Session.pipelines``)
    pipelines = False

    @pytest.fixture
    def executor(self) -> Executor:
        raise NotImplementedError

    @pytest.fixture
    def datastore(self, tmp_path: Path) -> Datastore:
        return datastores.Local(str(tmp_path / "store"))

    def _open(self, executor: Executor, store: Datastore, **parameters: Any) -> Iterator[Session]:
        """A session of a new execution whose parameters are written, as the engine writes them."""
        flow = Contract(datastore=store, executor=executor)
        execution = f"contract-{time.monotonic_ns()}"
        values = {"fail": None, "start": 3, "sleep": 0.0, "count": 3, "fail_split": -1, "directory": "."}
        values.update(parameters)
        stored = store.write_split("Contract", execution, "Parameters", 0, values, set())
        assert stored.names
        session = executor.open(Run("Contract", execution, flow.graph(), store))
        try:
            yield session
        finally:
            session.close()

    @staticmethod
    def _wait(session: Session, count: int, timeout: float = 60) -> list[Completion]:
        """Completions until ``count`` came (each one once), failing after ``timeout`` seconds."""
        found: list[Completion] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {len(found)} of {count} completions came"
            found.extend(session.wait(1.0))
        assert len(found) == count, found
        return found

    def test_capacity_and_pipelining_are_declared(self, executor: Executor, datastore: Datastore) -> None:
        for session in self._open(executor, datastore):
            assert session.capacity() >= 1
            assert session.pipelines is self.pipelines

    def test_a_run_reports_its_split_meta_with_the_uncommitted_document(
        self, executor: Executor, datastore: Datastore
    ) -> None:
        for session in self._open(executor, datastore):
            session.submit(_task(0, "Source", PARAMETERS))
            (done,) = self._wait(session, 1)
            assert done.task.key == 0 and done.error is None
            assert isinstance(done.value, SplitMeta) and done.value.names == ("x",)
            assert done.value.document is not None  # for the journal: nothing was committed
            (execution,) = datastore.execution_ids("Contract")
            assert datastore.finished_splits("Contract", execution, "Source") == set()

    def test_a_dependent_submitted_after_its_dependency_finished_reads_its_output(
        self, executor: Executor, datastore: Datastore
    ) -> None:
        for session in self._open(executor, datastore, start=21):
            session.submit(_task(0, "Source", PARAMETERS))
            self._wait(session, 1)
            session.submit(_task(1, "Double", {"Source": Input("Source", "finished")}))
            (done,) = self._wait(session, 1)
            assert done.error is None and done.value.names == ("x",)
            entries = done.value.document["artifacts"]
            assert list(entries) == ["x"]

    def test_an_own_failure_keeps_its_type_and_message_and_its_cause_is_own(
        self, executor: Executor, datastore: Datastore
    ) -> None:
        for session in self._open(executor, datastore, fail="source"):
            session.submit(_task(0, "Source", PARAMETERS))
            (done,) = self._wait(session, 1)
            assert isinstance(done.error, LookupError) and "the source fails" in str(done.error)
            assert done.cause is Cause.own and not done.worker_lost

    def test_hook_tasks_return_their_values(self, executor: Executor, datastore: Datastore) -> None:
        for session in self._open(executor, datastore):
            session.submit(_task(0, "Gate", {}, kind=TaskKind.submission))
            (done,) = self._wait(session, 1)
            assert done.error is None and done.value.cpu == 1  # the container its hooks left

    def test_a_wait_with_nothing_finished_returns_after_its_timeout(
        self, executor: Executor, datastore: Datastore
    ) -> None:
        for session in self._open(executor, datastore, sleep=2.0):
            session.submit(_task(0, "Source", PARAMETERS))
            started = time.monotonic()
            assert session.wait(0.1) == []
            assert time.monotonic() - started < 1.5
            self._wait(session, 1)

    def test_through_the_engine_in_flight_stays_within_capacity_and_resume_reruns_no_finished_split(
        self, executor: Executor, datastore: Datastore, tmp_path: Path
    ) -> None:
        counted = _Counting(executor)
        flow = Contract(datastore=datastore, executor=counted)
        common = {"fail": None, "start": 1, "sleep": 0.0, "count": 12, "directory": str(tmp_path)}
        with pytest.raises(ValueError, match="split 7 fails"):
            flow(execution="resumed", progress=False, fail_split=7, **common)
        assert 0 < counted.most <= counted.capacity
        ran = {path.name.split("-")[1] for path in tmp_path.glob("ran-*")}
        finished = datastore.finished_splits("Contract", "resumed", "Square")
        assert {str(i) for i in finished} == ran and "7" not in ran
        for path in tmp_path.glob("ran-*"):
            path.unlink()
        # the split that failed reads its parameters again: it fails again, and nothing finished reruns
        with pytest.raises(ValueError, match="split 7 fails"):
            flow.execution("resumed").resume(progress=False)
        again = {path.name.split("-")[1] for path in tmp_path.glob("ran-*")}
        assert not again & ran, again & ran


class PipeliningContract(SessionContract):
    """What a session that pipelines must do besides: tasks ahead of their dependencies."""

    pipelines = True

    def test_a_task_ahead_of_a_failing_upstream_fails_with_cause_upstream(
        self, executor: Executor, datastore: Datastore
    ) -> None:
        for session in self._open(executor, datastore, fail="source"):
            session.submit(_task(0, "Source", PARAMETERS))
            session.submit(_task(1, "Double", {"Source": Input("Source", "finished")}, after=frozenset({0})))
            found = {done.task.key: done for done in self._wait(session, 2)}
            assert found[0].cause is Cause.own and found[1].cause is Cause.upstream
            assert isinstance(found[1].error, LookupError)

    def test_a_withdrawn_task_ahead_of_a_running_upstream_never_runs(
        self, executor: Executor, datastore: Datastore
    ) -> None:
        for session in self._open(executor, datastore, sleep=1.0):
            session.submit(_task(0, "Source", PARAMETERS))
            ahead = _task(1, "Double", {"Source": Input("Source", "finished")}, after=frozenset({0}))
            session.submit(ahead)
            session.cancel(ahead)
            found = {done.task.key: done for done in self._wait(session, 2)}
            assert found[0].error is None
            assert found[1].error is not None and found[1].cause is Cause.withdrawn


class _Counting:
    """An executor whose sessions count the tasks submitted and not yet reported back."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self.most = 0
        self.capacity = 0

    def open(self, run: Run) -> Session:
        session = self._executor.open(run)
        self.capacity = session.capacity()
        pending: set[int] = set()
        submit, wait = session.submit, session.wait

        def counted_submit(task: Task) -> None:
            pending.add(task.key)
            self.most = max(self.most, len(pending))
            submit(task)

        def counted_wait(timeout: float | None, *, urgent: bool = True) -> list[Completion]:
            found = wait(timeout, urgent=urgent)
            pending.difference_update(done.task.key for done in found)
            return found

        session.submit = counted_submit  # type: ignore[method-assign]
        session.wait = counted_wait  # type: ignore[method-assign]
        return session


class TestThread(SessionContract):
    @pytest.fixture
    def executor(self) -> Executor:
        return executors.Thread(workers=2)


@pytest.mark.usefixtures("ray_cluster")
class TestRay(PipeliningContract):
    @pytest.fixture
    def executor(self) -> Executor:
        from laminar_ray import Ray

        return Ray(max_in_flight=4)
