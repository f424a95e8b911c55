"""``Thread``: runs tasks on a bounded pool of threads in this process. The unit-test executor."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

from laminar import containers, runner
from laminar.executors.base import Completions, Run
from laminar.executors.outputs import Outputs
from laminar.task import Completion, Task


class Thread:
    """Run layers in the calling process, up to ``workers`` at once per execution.

    ``Container`` resources, ``env`` and ``pip`` are not enforced here (one process), but a layer with
    an ``image`` runs each split in a container of it, limited to its ``cpu`` and ``memory``
    (:mod:`laminar.containers`); artifacts still round-trip through the datastore, as on any executor.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)

    def __repr__(self) -> str:
        return f"Thread(workers={self.workers})"

    def open(self, run: Run) -> ThreadSession:
        return ThreadSession(run, self.workers)


class ThreadSession:
    """One execution's thread pool and completion inbox."""

    pipelines = False  # a task reads its inputs from the datastore: they must be there when it starts

    def __init__(self, run: Run, workers: int) -> None:
        self._run = run
        self._workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"laminar-{run.flow}")
        self._done = Completions()
        self._outputs = Outputs(run)

    def cancel(self, task: Task) -> None:
        raise NotImplementedError("a Thread session never starts tasks ahead")  # pipelines is False

    def capacity(self) -> int:
        return self._workers * 2

    def submit(self, task: Task) -> None:
        future = self._pool.submit(self._execute, task)
        future.add_done_callback(lambda done: self._done.put(self._completion(task, done)))

    @staticmethod
    def _completion(task: Task, future: Future[object]) -> Completion:
        error = future.exception()
        return Completion(task, error=error) if error is not None else Completion(task, value=future.result())

    def _execute(self, task: Task) -> object:
        run = self._run
        outcome = (containers.execute if containers.isolated(task) else runner.execute)(
            run.graph,
            task,
            flow=run.flow,
            execution=run.execution,
            datastore=run.datastore,
            artifacts=self._outputs.artifacts,
        )
        return self._outputs.keep(task, outcome)  # before its completion is seen: dependents read through it

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        return self._done.drain(timeout)  # whatever finished meanwhile, in one batch

    def release(self, layer: str) -> None:
        self._outputs.release(layer)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
