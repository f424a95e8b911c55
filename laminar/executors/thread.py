"""``Thread``: runs tasks on a bounded pool of threads in this process. The unit-test executor."""

from __future__ import annotations

import os
import queue
from concurrent.futures import Future, ThreadPoolExecutor

from laminar import runner
from laminar.artifacts import Artifacts
from laminar.executors.base import Completion, Input, Run, Task


class Thread:
    """Run layers in the calling process, up to ``workers`` at once.

    ``Container`` resources and ``env`` are not enforced here (one process);
    artifacts still round-trip through the datastore, as on any executor.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: ThreadPoolExecutor | None = None
        self._done: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._run: Run | None = None

    def __repr__(self) -> str:
        return f"Thread(workers={self.workers})"

    def open(self, run: Run) -> None:
        self._run = run
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"laminar-{run.flow}")

    def capacity(self) -> int:
        return self.workers * 2

    def submit(self, task: Task) -> None:
        assert self._pool is not None, "Thread.submit before open"
        future = self._pool.submit(self._execute, task)
        future.add_done_callback(lambda done: self._done.put(self._completion(task, done)))

    @staticmethod
    def _completion(task: Task, future: Future[object]) -> Completion:
        error = future.exception()
        return Completion(task, error=error) if error is not None else Completion(task, value=future.result())

    def _execute(self, task: Task) -> object:
        run = self._run
        assert run is not None
        return runner.execute(
            run.graph,
            task,
            flow=run.flow,
            execution=run.execution,
            datastore=run.datastore,
            artifacts=self._artifacts,
        )

    def _artifacts(self, name: str, read: Input) -> Artifacts:
        run = self._run
        assert run is not None
        if read.split is None:
            return run.datastore.layer(run.flow, run.execution, name, read.splits)
        return run.datastore.split(run.flow, run.execution, name, read.split)

    def wait(self, timeout: float | None) -> list[Completion]:
        try:
            completions = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                completions.append(self._done.get_nowait())
            except queue.Empty:
                return completions

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
