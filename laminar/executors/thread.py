"""``Thread``: runs tasks on a bounded set of threads in this process. The unit-test executor.

The threads are daemon threads, never joined: a run interrupted (Ctrl-C) or a split abandoned for its
timeout does not keep the process from exiting, as a ``ThreadPoolExecutor``'s workers would (the
interpreter joins them at exit, so Ctrl-C waited for the running layer).
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field

from laminar import containers, deadline, runner
from laminar.executors.base import Completions, Run
from laminar.executors.outputs import Outputs
from laminar.task import Completion, Task, TaskKind


class Thread:
    """Run layers in the calling process, up to ``workers`` at once per execution.

    ``Container`` resources, ``env`` and ``pip`` are not enforced here (one process), but a layer with
    an ``image`` runs each split in a container of it, limited to its ``cpu`` and ``memory``
    (:mod:`laminar.containers`); artifacts still round-trip through the datastore, as on any executor.
    A split over its ``timeout`` is interrupted (an exception raised in its thread); one still running
    :data:`laminar.deadline.GRACE` seconds later (blocked in C code, such as ``time.sleep``) is
    abandoned: its attempt fails with ``LayerTimeout``, another thread takes its place, and what it
    does once it returns is dropped.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)

    def __repr__(self) -> str:
        return f"Thread(workers={self.workers})"

    def open(self, run: Run) -> ThreadSession:
        return ThreadSession(run, self.workers)


@dataclass
class _Job:
    """A task on its way through a thread: which thread runs it, and whether its timeout gave up on it."""

    task: Task
    thread: int | None = None
    done: bool = False
    interrupted: bool = False  # an Expired was raised in its thread
    abandoned: bool = False  # reported as timed out: its thread's own outcome is dropped
    timer: threading.Timer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ThreadSession:
    """One execution's threads and completion inbox."""

    pipelines = False  # a task reads its inputs from the datastore: they must be there when it starts

    def __init__(self, run: Run, workers: int) -> None:
        self._run = run
        self._workers = workers
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._running: dict[int, _Job] = {}  # thread ident -> the job it runs
        self._lock = threading.Lock()
        self._closed = False
        self._done = Completions()
        self._outputs = Outputs(run)
        self._threads = 0  # started and not ended (abandoned ones excluded)
        self._idle = 0  # of those, waiting for a task
        self._pending = 0  # tasks submitted that no thread took yet

    def cancel(self, task: Task) -> None:
        raise NotImplementedError("a Thread session never starts tasks ahead")  # pipelines is False

    def capacity(self) -> int:
        return self._workers * 2

    def submit(self, task: Task) -> None:
        with self._lock:
            self._pending += 1
            start = self._pending > self._idle and self._threads < self._workers
            if start:
                self._threads += 1
        if start:  # threads start as tasks need them, up to ``workers``
            self._start_thread()
        self._jobs.put(_Job(task))

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        return self._done.drain(timeout)  # whatever finished meanwhile, in one batch

    def release(self, layer: str) -> None:
        self._outputs.release(layer)

    def close(self) -> None:
        """Stop the threads without waiting for them: tasks not started never start, and those still
        running (only after an interruption: a run ends once nothing is in flight) are interrupted."""
        with self._lock:
            self._closed = True
            running = [job for job in self._running.values() if not job.done]
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)
        for job in running:
            with job.lock:
                if not job.done and job.thread is not None:
                    deadline.interrupt(job.thread, KeyboardInterrupt)
                if job.timer is not None:
                    job.timer.cancel()

    # -- the threads ----------------------------------------------------------------------------------

    def _start_thread(self) -> None:
        threading.Thread(target=self._work, name=f"laminar-{self._run.flow}", daemon=True).start()

    def _work(self) -> None:
        ident = threading.get_ident()
        while (job := self._next()) is not None:
            self._begin(job, ident)
            completion = self._attempt(job)
            while True:
                try:
                    kept = self._end(job)
                    break
                except (deadline.Expired, KeyboardInterrupt):  # came just after the task returned
                    continue
            if not kept:  # abandoned for its timeout: a new thread took this one's place
                return
            self._done.put(completion)

    def _next(self) -> _Job | None:
        """The next task to run; None once the session closed (this thread then ends)."""
        job: _Job | None = None
        with self._lock:
            self._idle += 1
        try:
            while True:
                try:
                    job = self._jobs.get()
                    break
                except (deadline.Expired, KeyboardInterrupt):  # came in late, between two tasks
                    continue
        finally:
            with self._lock:
                self._idle -= 1
                if job is not None:
                    self._pending -= 1
                if job is None or self._closed:
                    self._threads -= 1
                    job = None
        return job

    def _begin(self, job: _Job, ident: int) -> None:
        job.thread = ident
        with self._lock:
            self._running[ident] = job
        seconds = job.task.configuration.container.timeout if job.task.kind is TaskKind.run else None
        if seconds is not None:
            job.timer = _timer(seconds, self._expire, job)

    def _end(self, job: _Job) -> bool:
        """The job's task returned: False if it was abandoned meanwhile (its outcome is dropped)."""
        with job.lock:
            job.done = True
            if job.timer is not None:
                job.timer.cancel()
            if job.interrupted and job.thread is not None:
                deadline.clear(job.thread)  # not seen yet: it must not hit the next task
        with self._lock:
            self._running.pop(threading.get_ident(), None)
        return not job.abandoned

    def _expire(self, job: _Job) -> None:
        """The job's timeout passed: interrupt its thread, and give it GRACE seconds to stop."""
        with job.lock:
            if job.done or job.thread is None:
                return
            job.interrupted = True
            deadline.interrupt(job.thread, deadline.Expired)
            job.timer = _timer(deadline.GRACE, self._abandon, job)

    def _abandon(self, job: _Job) -> None:
        """The job did not stop: report its attempt timed out and put a new thread in its place."""
        with job.lock:
            if job.done:
                return
            job.abandoned = True
        task = job.task
        seconds = task.configuration.container.timeout or 0.0
        stopped = f"abandoned (it did not stop within {deadline.GRACE:g} s: blocked outside Python code)"
        self._done.put(Completion(task, error=deadline.timed_out(self._run.flow, task.label, seconds, stopped=stopped)))
        with self._lock:
            replace = not self._closed
        if replace:  # the abandoned thread's place (its count is handed on)
            self._start_thread()
        else:
            with self._lock:
                self._threads -= 1

    def _attempt(self, job: _Job) -> Completion:
        task = job.task
        try:
            return Completion(task, value=self._execute(task))
        except deadline.Expired:  # raised outside the run's own limit (reading its inputs, say)
            seconds = task.configuration.container.timeout or 0.0
            return Completion(task, error=deadline.timed_out(self._run.flow, task.label, seconds))
        except BaseException as error:
            return Completion(task, error=error)

    def _execute(self, task: Task) -> object:
        run = self._run
        in_image = task.kind is TaskKind.run and task.configuration.container.image is not None
        outcome = (containers.execute if in_image else runner.execute)(
            run.graph,
            task,
            flow=run.flow,
            execution=run.execution,
            datastore=run.datastore,
            artifacts=self._outputs.artifacts,
        )
        return self._outputs.keep(task, outcome)  # before its completion is seen: dependents read through it


def _timer(seconds: float, action: object, job: _Job) -> threading.Timer:
    timer = threading.Timer(seconds, action, (job,))  # type: ignore[arg-type]
    timer.daemon = True
    timer.start()
    return timer
