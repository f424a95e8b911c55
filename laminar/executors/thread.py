"""``Thread``: runs tasks on a bounded set of threads in this process. The unit-test executor.

The threads are daemon threads, never joined: a run interrupted (Ctrl-C) or a split abandoned for its
timeout does not keep the process from exiting, as a ``ThreadPoolExecutor``'s workers would (the
interpreter joins them at exit, so Ctrl-C waited for the running layer).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from laminar import containers, deadline, runner
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

    A split over its ``timeout`` is interrupted (an exception raised in its thread); one still running
    :data:`laminar.deadline.GRACE` seconds later (blocked in C code, such as ``time.sleep``) is
    abandoned: its attempt fails with ``LayerTimeout``, another thread takes its place, and what it
    does once it returns is dropped.
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

    def __init__(self, run: Run, workers: int, infeasible: str = "warn") -> None:
        self._run = run
        self._infeasible = infeasible
        self._warned: set[tuple[str, str]] = set()
        self._workers = workers
        # while it runs, sys.stdout and sys.stderr are routed by thread: each split's output is its own
        self._routing = contextlib.ExitStack()
        if run.logs.capture:
            self._routing.enter_context(routed())
        self._names = 0  # threads started so far (each thread's name is its own: logs name it)
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

    def started(self, tasks: Sequence[Task]) -> set[int]:
        """The keys of the tasks a thread runs now (the others wait for a thread)."""
        with self._lock:
            return {job.task.key for job in self._running.values() if not job.done}

    def submit(self, task: Task) -> None:
        if task.kind is TaskKind.run and self._infeasible != "ignore":
            self._check(task)
        with self._lock:
            self._pending += 1
            start = self._pending > self._idle and self._threads < self._workers
            if start:
                self._threads += 1
        if start:  # threads start as tasks need them, up to ``workers``
            self._start_thread()
        self._jobs.put(_Job(task))

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
        self._routing.close()

    # -- the threads ----------------------------------------------------------------------------------

    def _start_thread(self) -> None:
        with self._lock:
            self._names += 1
            name = f"laminar-{self._run.flow}_{self._names}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

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
        where: dict[str, Any] = {
            "flow": run.flow,
            "execution": run.execution,
            "datastore": run.datastore,
            "artifacts": self._outputs.artifacts,
            "logs": run.logs,
        }
        if containers.isolated(task):
            outcome = containers.execute(run.graph, task, **where)
        else:
            outcome = runner.execute(run.graph, task, **where, worker={"thread": threading.current_thread().name})
        return self._outputs.keep(task, outcome)  # before its completion is seen: dependents read through it


def _timer(seconds: float, action: object, job: _Job) -> threading.Timer:
    timer = threading.Timer(seconds, action, (job,))  # type: ignore[arg-type]
    timer.daemon = True
    timer.start()
    return timer
