"""``Thread``: runs tasks on a bounded pool of threads in this process. The unit-test executor."""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from laminar import containers, runner
from laminar.errors import ConfigurationError, InfeasibleWarning, ResourceError
from laminar.executors import machine
from laminar.executors.base import Completions, Run
from laminar.executors.outputs import Outputs
from laminar.logs import routed
from laminar.task import Completion, Task, TaskKind


class Thread:
    """Run layers in the calling process, up to ``workers`` at once per execution.

    ``Container`` resources, ``env`` and ``pip`` are not enforced here (one process), but a layer with
    an ``image`` runs each split in a container of it, limited to its ``cpu`` and ``memory``
    (:mod:`laminar.containers`); artifacts still round-trip through the datastore, as on any executor.

    ``infeasible``: what to do with a split that asks for more than this machine has, which Ray would
    refuse here (:mod:`laminar.executors.machine`): ``"warn"`` (the default: an ``InfeasibleWarning``
    once per layer and request; the split runs, since a flow meant for a cluster may be tested here),
    ``"error"`` (its layer fails with a ``ResourceError``, as on Ray) or ``"ignore"``.
    """

    def __init__(self, workers: int | None = None, *, infeasible: str = "warn") -> None:
        if infeasible not in ("warn", "error", "ignore"):
            raise ConfigurationError(f"Thread(infeasible={infeasible!r}): use 'warn', 'error' or 'ignore'")
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)
        self.infeasible = infeasible

    def __repr__(self) -> str:
        return f"Thread(workers={self.workers})"

    def open(self, run: Run) -> ThreadSession:
        return ThreadSession(run, self.workers, self.infeasible)


class ThreadSession:
    """One execution's thread pool and completion inbox."""

    pipelines = False  # a task reads its inputs from the datastore: they must be there when it starts

    def __init__(self, run: Run, workers: int, infeasible: str = "warn") -> None:
        self._run = run
        self._infeasible = infeasible
        self._warned: set[tuple[str, str]] = set()
        self._workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"laminar-{run.flow}")
        # while it runs, sys.stdout and sys.stderr are routed by thread: each split's output is its own
        self._routing = contextlib.ExitStack()
        if run.logs.capture:
            self._routing.enter_context(routed())
        self._done = Completions()
        self._outputs = Outputs(run)
        self._running: set[int] = set()  # keys of the tasks a thread runs now (set.add/discard are atomic)

    def cancel(self, task: Task) -> None:
        raise NotImplementedError("a Thread session never starts tasks ahead")  # pipelines is False

    def capacity(self) -> int:
        return self._workers * 2

    def started(self, tasks: Sequence[Task]) -> set[int]:
        """The keys of the tasks a thread runs now (the others wait in the pool's queue)."""
        return self._running.copy()  # one C call: atomic under the GIL, as add and discard are

    def submit(self, task: Task) -> None:
        if task.kind is TaskKind.run and self._infeasible != "ignore":
            self._check(task)
        future = self._pool.submit(self._execute, task)
        future.add_done_callback(lambda done: self._done.put(self._completion(task, done)))

    def _check(self, task: Task) -> None:
        """Warn about, or refuse, a request no node of this machine could satisfy (see :class:`Thread`)."""
        over = machine.beyond(task.configuration.container)
        if not over:
            return
        shown = machine.describe(over)
        label = f"{self._run.flow}.{task.label}"
        if self._infeasible == "error":
            raise ResourceError(
                f"{label} requests {shown}; Ray would refuse it on this machine: lower the layer's Container "
                "request (or what its hooks set), or run it on a cluster that has it"
            )
        if (task.layer, shown) not in self._warned:
            self._warned.add((task.layer, shown))
            warnings.warn(
                f"{label} requests {shown}: Thread runs it anyway (it enforces no resources), but Ray would "
                "refuse it on this machine; Thread(infeasible='error') refuses it here too",
                InfeasibleWarning,
                stacklevel=2,
            )

    @staticmethod
    def _completion(task: Task, future: Future[object]) -> Completion:
        error = future.exception()
        return Completion(task, error=error) if error is not None else Completion(task, value=future.result())

    def _execute(self, task: Task) -> object:
        self._running.add(task.key)
        try:
            return self._executed(task)
        finally:
            self._running.discard(task.key)

    def _executed(self, task: Task) -> object:
        run, source = self._run, self._outputs.artifacts
        if containers.isolated(task):
            outcome = containers.execute(
                run.graph, task, flow=run.flow, execution=run.execution, datastore=run.datastore, artifacts=source,
                logs=run.logs,
            )  # fmt: skip
        else:
            outcome = runner.execute(
                run.graph, task, flow=run.flow, execution=run.execution, datastore=run.datastore, artifacts=source,
                logs=run.logs, worker={"thread": threading.current_thread().name},
            )  # fmt: skip
        return self._outputs.keep(task, outcome)  # before its completion is seen: dependents read through it

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        return self._done.drain(timeout)  # whatever finished meanwhile, in one batch

    def release(self, layer: str) -> None:
        self._outputs.release(layer)

    def close(self) -> None:
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._routing.close()
