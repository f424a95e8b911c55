"""One execution on Ray: its tasks, the ObjectRefs between them, and its completions.

``Ray.open`` makes one per execution, so one ``Ray`` executor serves several
flows at once. A session keeps refs, never values: a downstream task receives
its upstream artifacts from Ray's object store, worker to worker
(:mod:`laminar_ray.outputs`, which also decides when a shared input travels as
its key). The flow's graph travels in the remote functions (made once per graph
and set of task options, kept by the cluster across runs:
:mod:`laminar_ray.placement`), the execution's context in every task
(:mod:`laminar_ray.wire`). Completions are found by waiting on the oldest task
in flight (:mod:`laminar_ray.inflight`), and told in laminar's terms: an error
and its :class:`~laminar.task.Cause`. A task that ran nothing (its worker lacked
a shared input, or it was submitted ahead of such a task) is submitted again
carrying every ref; the engine never sees that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import ray
import ray.exceptions

from laminar import deadline, runner
from laminar.artifacts import Artifacts
from laminar.datastore import layout
from laminar.errors import LayerError, RemoteTraceback, ResourceError, with_source
from laminar.executors.base import Run
from laminar.options import Container
from laminar.records import attempt_of
from laminar.task import Cause, Completion, Input, Task, TaskKind
from laminar_ray import batches, cluster, options
from laminar_ray.batches import Batch, Group
from laminar_ray.batching import Controller
from laminar_ray.cluster import Cluster, streams
from laminar_ray.inflight import InFlight
from laminar_ray.outputs import Outputs
from laminar_ray.placement import Placement
from laminar_ray.wire import Again, Call, Context, Raised, meta_of

#: What Ray raises when the process running a task died.
_WORKER_LOST = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError)
#: Completions between two returns of freed heap memory to the OS (:func:`laminar_ray.cluster.trim`).
TRIM_EVERY = 2000


class Session:
    """Places one execution's tasks on Ray and reports their completions."""

    pipelines = True  # a task's arguments may be refs of tasks still running: Ray starts it when they exist

    def __init__(
        self,
        cluster: Cluster,
        run: Run,
        *,
        runtime_env: Mapping[str, Any],
        max_in_flight: int,
        check_feasibility: bool,
    ) -> None:
        self._run = run
        self._key = uuid.uuid4().hex
        self._placement = Placement(cluster, run.graph, runtime_env, check_feasibility=check_feasibility)
        self._context = Context(run.flow, run.execution, run.datastore, run.logs).pack()
        self._outputs = Outputs(run.graph, cluster.cpus(), self._key)
        self._in_flight: InFlight[Task | Batch] = InFlight()
        self._here: list[Completion] = []  # of hook tasks run in the driver, for the next wait
        self._failed: set[int] = set()  # keys of run tasks that failed (their dependents fail with their error)
        self._produced: dict[int, Any] = {}  # run task in flight -> the ref of its artifacts
        self._max_in_flight = max_in_flight
        self._cluster = cluster
        self._withdrawing = False  # the run left its withdrawal mark
        self._requests: dict[int, tuple[Container, dict[str, float]]] = {}  # id(container) -> its request
        self._completed = self._trimmed = 0
        self._timed: dict[int, float] = {}  # key -> when it was submitted, of run tasks with a timeout
        # batched splits (docs/batching.md): groups by layer and task options, batches by their key in
        # _in_flight (negative: the engine's task keys are not), tasks not yet told, tasks held for them
        self._groups: dict[tuple[str, str], Group] = {}
        self._batch_keys = 0
        self._untold: set[int] = set()
        self._held: list[Task] = []
        self._options: dict[int, tuple[Container, str]] = {}  # id(container) -> it, its options as JSON
        self._batching = streams()  # not through Ray Client, which runs no streaming generator

    def capacity(self) -> int:
        return self._max_in_flight

    def started(self, tasks: Sequence[Task]) -> list[int]:
        """Which of ``tasks`` (in flight, in the order they were handed over) run now, as Ray would have
        them: hook tasks (they take no CPU), and run tasks whose inputs exist, as many as the nodes have
        room for. An estimate for the progress display: asking Ray which task runs costs a round trip
        to its state service for each."""
        self._cluster.refresh_nodes()
        hooks = [task.key for task in tasks if task.kind is not TaskKind.run]
        ready = (
            (task.key, self._request(task.configuration.container))
            for task in tasks
            if task.kind is TaskKind.run and not any(key in self._in_flight for key in task.after)
        )
        return hooks + options.fit(ready, self._cluster.nodes)

    def _request(self, container: Container) -> dict[str, float]:
        request = self._requests.get(id(container))
        if request is None or request[0] is not container:
            request = self._requests[id(container)] = (container, options.request(container))
        return request[1]

    def release(self, layer: str) -> None:
        self._outputs.release(layer)

    def close(self) -> None:
        """Drop the refs held; tasks still in flight (only after an interruption: a run ends once nothing
        is) are cancelled, by force, so that they stop now, also in C code (their workers are ended).
        A task started ahead of upstream tasks still in flight is left to fail with their cancellation:
        cancelling a task while its arguments are resolved can crash the driver (Ray's
        reference_counter.cc check ``submitted_task_ref_count > 0``, ray-project/ray#56123)."""
        self._outputs = Outputs(self._run.graph, 1, self._key)
        keys = list(self._in_flight)
        for key in keys:
            task = self._in_flight.item(key)
            if isinstance(task, Batch) or (
                task is not None and not any(upstream in self._in_flight for upstream in task.after)
            ):  # a batch's splits are never started ahead (batches.batchable)
                with contextlib.suppress(Exception):
                    ray.cancel(self._in_flight.ref(key), force=True)

    # -- submission ------------------------------------------------------------------------------

    def submit(self, task: Task) -> None:
        if self._batching and batches.batchable(self._run.graph, task):
            self._group(task).pending.append(task)
            self._untold.add(task.key)
        elif task.after and not (self._untold.isdisjoint(task.after) and self._held_keys().isdisjoint(task.after)):
            # started ahead of batched splits (or of a task held for them): their artifacts' refs exist once
            # their batch yields them (once the held task is submitted)
            self._held.append(task)
        else:
            self._submit(task, carry=False)

    def _held_keys(self) -> set[int]:
        return {held.key for held in self._held}

    def _group(self, task: Task) -> Group:
        container = task.configuration.container
        known = self._options.get(id(container))
        if known is None or known[0] is not container:
            known = self._options[id(container)] = (container, container.model_dump_json())
        key = (task.layer, known[1])
        group = self._groups.get(key)
        if group is None:
            foreach = self._run.graph[task.layer].configuration.foreach
            pinned = foreach.batch if foreach is not None else None
            slots = batches.slots(self._cluster.cpus(), container.cpu)
            group = self._groups[key] = Group(Controller(pinned=pinned), slots)
        return group

    def _flush(self) -> None:
        """Submit the batches the groups have room for, then the tasks held for splits now told."""
        idle = not len(self._in_flight)
        for group in self._groups.values():
            for tasks in group.cut(idle):
                self._submit_batch(group, tasks)
        held, self._held = self._held, []
        waiting: set[int] = set()  # keys of the tasks held again in this pass (held in the order submitted)
        for task in held:
            if not (self._untold.isdisjoint(task.after) and waiting.isdisjoint(task.after)):
                self._held.append(task)
                waiting.add(task.key)
            elif not self._failed.isdisjoint(task.after):  # as Ray fails a task whose input failed
                error = LayerError(self._run.flow, task.label, "a split it was started ahead of failed")
                self._here.append(Completion(task, error=error, cause=Cause.upstream))
            else:
                self._submit(task, carry=False)

    def _submit_batch(self, group: Group, tasks: list[Task]) -> None:
        arguments: list[Any] = []
        blobs: list[tuple[Any, ...]] = []
        counts = []
        default = self._run.graph[tasks[0].layer].configuration
        for position, task in enumerate(tasks):
            # the first split carries its shared inputs' refs: its worker keeps them for the others
            slots, values, boxed = self._outputs.arguments(task.index, task.inputs, position == 0)
            call = Call.of(self._key, self._context, boxed, task, default, slots, task.inputs, None)
            plain, *wired = call.parts(values)
            blobs.append(plain)
            counts.append(len(wired))
            arguments.extend(wired)
        first, last = tasks[0], tasks[-1]
        name = f"{self._run.flow}.{first.label}" + (f"..{last.index}" if len(tasks) > 1 else "")
        function = self._placement.batch(first, name)
        header = batches.header(tasks, blobs, counts, group.controller)
        generator = function.options(name=name).remote(header, *arguments)
        self._batch_keys -= 1
        self._in_flight.add(self._batch_keys, Batch(group, tasks, generator), generator)

    def _submit(self, task: Task, *, carry: bool) -> None:
        """Submit ``task``; with ``carry``, every shared input goes as its ref (never as its key)."""
        error = task.error if task.kind is TaskKind.retry else None  # only retry hooks read it
        if task.kind is not TaskKind.run and not task.inputs:  # hooks that take no layer: run here
            self._run_here(task, dataclasses.replace(task, error=error))
            return
        slots, values, boxed = self._outputs.arguments(task.index, task.inputs, carry)
        default = self._run.graph[task.layer].configuration
        call = Call.of(self._key, self._context, boxed, task, default, slots, task.inputs, error)
        name = f"{self._run.flow}.{task.label}"
        if task.kind is TaskKind.run:
            if task.configuration.container.timeout is not None:
                self._timed[task.key] = time.monotonic()
            meta, produced = self._placement.layer(task, name)(name, call.wire(values))
            if task.feeds:  # a layer nothing reads needs no ref kept
                self._outputs.keep(task.layer, task.split, produced)
            self._in_flight.add(task.key, task, meta)
            self._produced[task.key] = produced
        else:
            function, env = self._placement.hooks(task.layer)
            hooks = function.options(name=f"{name}:{task.kind.value}", runtime_env=env)
            self._in_flight.add(task.key, task, hooks.remote(*call.wire(values)))

    def _run_here(self, task: Task, sent: Task) -> None:
        run = self._run
        try:
            value = runner.execute(
                run.graph, sent, flow=run.flow, execution=run.execution, datastore=run.datastore, artifacts=_none
            )
        except Exception as error:
            self._here.append(Completion(task, error=error))
        else:
            self._here.append(Completion(task, value=value))

    def cancel(self, task: Task) -> None:
        """Withdraw a task started ahead: the run leaves its withdrawal mark (once), which the task looks
        for before it runs anything; it then comes back as withdrawn. Not ``ray.cancel``: cancelling a
        task while Ray resolves its arguments can fail Ray's reference count check, which ends the
        driver's process (ray-project/ray#55131)."""
        if any(held.key == task.key for held in self._held):  # never submitted: it comes back withdrawn
            self._held = [held for held in self._held if held.key != task.key]
            error = LayerError(self._run.flow, task.label, "it was withdrawn before its inputs came")
            self._here.append(Completion(task, error=error, cause=Cause.withdrawn))
            return
        if not self._withdrawing:
            run = self._run
            run.datastore.write_json(layout.withdrawn(run.flow, run.execution, self._key), {"withdrawn": time.time()})
            self._withdrawing = True

    # -- completions -----------------------------------------------------------------------------

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        self._flush()
        completions, self._here = self._here, []
        if not completions:
            completions = self._completions(self._in_flight.finished(timeout, urgent=urgent))
            self._flush()
        self._completed += len(completions)
        if self._completed >= self._trimmed + TRIM_EVERY:
            self._trimmed = self._completed
            cluster.trim()
        return completions

    def _completions(self, found_finished: list[tuple[Task | Batch, Any]]) -> list[Completion]:
        """The completions of tasks found finished. Their values come in one ``ray.get`` (one per task
        cost the driver ~20 us more a task); should any have failed, each is got alone, for its own error.
        A batch found with outcomes ready tells those (:meth:`_told`)."""
        told: list[Completion] = []
        finished: list[tuple[Task, Any]] = []
        for item, ref in found_finished:
            if isinstance(item, Batch):
                told.extend(self._told(item))
            else:
                finished.append((item, ref))
        values = None
        if len(finished) > 1:
            with contextlib.suppress(Exception):
                values = ray.get([ref for _, ref in finished])
        if values is None:
            found = (self._completion(task, ref) for task, ref in finished)
        else:
            found = (self._received(task, value) for (task, _), value in zip(finished, values, strict=True))
        return told + [completion for completion in found if completion is not None]

    def _told(self, batch: Batch) -> list[Completion]:
        """The completions of the splits that ``batch``'s generator reported since it was last read (each
        report one ``ray.get`` for its splits, docs/batching.md); it goes back in flight while splits
        remain. A generator that fails (its worker died) fails every split not yet told, with the cause
        Ray gives (one attempt each); those told stay done."""
        refs, ended, failed = cluster.ready_items(batch.generator)
        batch.unread.extend(refs)
        completions: list[Completion] = []
        while batch.unread:
            if batch.report is None:
                try:
                    report = ray.get(batch.unread[0])
                    batch.report = pickle.loads(report) if isinstance(report, bytes) else report
                except Exception as raised:
                    return completions + self._batch_failed(batch, raised)
                batch.unread.popleft()
            report = batch.report
            tasks = batch.tasks[batch.done : batch.done + len(report)]
            feeding = sum(1 for task in tasks if task.feeds)
            if len(batch.unread) < feeding:  # the refs of its artifacts are on their way
                break
            batch.report = None
            produced = [batch.unread.popleft() for _ in range(feeding)]
            for task, (status, payload, seconds) in zip(tasks, report, strict=True):
                ref = produced.pop(0) if task.feeds else None
                batch.done += 1
                batch.seconds += seconds
                self._untold.discard(task.key)
                if status == "failed":
                    self._failed.add(task.key)
                    error, cause = self._failure(task, _TaskError(payload))
                    completions.append(Completion(task, error=error, cause=cause))
                    continue
                if status == "ok" and task.feeds:
                    self._outputs.keep(task.layer, task.split, ref)
                completion = self._value(task, payload)
                if completion is not None:
                    completions.append(completion)
        if failed is not None and batch.done < len(batch.tasks):
            completions += self._batch_failed(batch, failed)
        elif batch.done == len(batch.tasks):
            batch.group.out -= 1
            batch.group.controller.observe(splits=len(batch.tasks), seconds=batch.seconds)
        elif ended:  # it ended without telling every split: never so far
            error = LayerError(self._run.flow, batch.current.label, "its batch ended before it ran")
            completions += self._batch_failed(batch, error)
        else:
            self._batch_keys -= 1
            self._in_flight.add(self._batch_keys, batch, batch.generator)
        return completions

    def _batch_failed(self, batch: Batch, raised: Exception) -> list[Completion]:
        batch.group.out -= 1
        if batch.done:
            batch.group.controller.observe(splits=batch.done, seconds=batch.seconds)
        out_of_memory = isinstance(raised, ray.exceptions.OutOfMemoryError)
        completions = []
        for task in batch.remaining():
            self._untold.discard(task.key)
            self._failed.add(task.key)
            error, cause = self._failure(task, raised)
            completions.append(Completion(task, error=error, cause=cause, out_of_memory=out_of_memory))
        return completions

    def _completion(self, task: Task, ref: Any) -> Completion | None:
        """What a finished task's ref holds, Ray's failures told as laminar's; None if it ran nothing
        (it is submitted again: see :meth:`_received`)."""
        submitted = self._timed.pop(task.key, None)
        try:
            value = ray.get(ref)
        except Exception as raised:
            error, cause = self._failure(task, raised, submitted)
            if task.kind is TaskKind.run:
                self._failed.add(task.key)
                _handled(self._produced.pop(task.key, None))
            if task.after and self._upstream_failed(task):
                cause = Cause.upstream  # Ray handed on the error of a task whose output it takes
            out_of_memory = isinstance(raised, ray.exceptions.OutOfMemoryError)
            return Completion(task, error=error, cause=cause, out_of_memory=out_of_memory)
        return self._received(task, value)

    def _failure(self, task: Task, raised: Exception, submitted: float | None = None) -> tuple[BaseException, Cause]:
        """The error to report for what ``ray.get`` raised, and its cause. A task with a timeout whose
        worker died once that long had passed since it was submitted was ended by its own watchdog
        (:mod:`laminar.deadline`): its attempt timed out."""
        flow, label = self._run.flow, task.label
        if isinstance(raised, ray.exceptions.OutOfMemoryError):
            return MemoryError(f"{flow}.{label} was killed by Ray's memory monitor: {raised}"), Cause.worker_lost
        seconds = task.configuration.container.timeout
        if isinstance(raised, _WORKER_LOST) and seconds and submitted and time.monotonic() - submitted >= seconds:
            stopped = f"stopped by ending its worker process (it did not stop within {deadline.GRACE:g} s)"
            return deadline.timed_out(flow, label, seconds, stopped=stopped), Cause.worker_lost
        if isinstance(raised, _WORKER_LOST):
            message = f"its worker process died ({type(raised).__name__}): {raised}"
            return LayerError(flow, label, message), Cause.worker_lost
        if isinstance(raised, ray.exceptions.TaskCancelledError):
            return raised, Cause.withdrawn
        if isinstance(raised, ray.exceptions.TaskUnschedulableError):
            return ResourceError(f"{flow}.{label} cannot be scheduled by Ray: {raised}"), Cause.own
        if isinstance(raised, ray.exceptions.RuntimeEnvSetupError):
            pip = task.configuration.container.pip
            what = f"Container(pip={pip!r})" if pip else "the executor's runtime_env"
            message = f"its Python environment ({what}) could not be set up: {raised}"
            return LayerError(flow, label, message), Cause.own
        if isinstance(raised, (ray.exceptions.RayTaskError, _TaskError)):
            if not isinstance(raised.cause, BaseException):
                return raised, Cause.own
            # SystemExit, KeyboardInterrupt come wrapped (wire.Raised): what the layer raised is reported
            error = raised.cause.error if isinstance(raised.cause, Raised) else raised.cause
            noted = attempt_of(error)
            if isinstance(noted, dict) and noted.get("traceback"):  # the record's, with this driver's sources
                noted["traceback"] = with_source(noted["traceback"])
            text = noted.get("traceback") or getattr(raised, "traceback_str", None)
            if error.__cause__ is None and text:  # the layer's own frames, where it ran
                error.__cause__ = RemoteTraceback(str(text))
            return error, Cause.own
        return raised, Cause.own

    def _upstream_failed(self, task: Task) -> bool:
        """Whether a task whose outputs ``task`` takes failed: Ray then fails ``task`` with that error
        without running it. Such a failure may come back before the upstream's own (it is looked at)."""
        for key in task.after:
            if key in self._failed:
                return True
            ref = self._in_flight.ref(key)
            if ref is not None and ray.wait([ref], timeout=0, fetch_local=False)[0]:
                try:
                    ray.get(ref)
                except Exception:
                    return True
        return False

    def _received(self, task: Task, value: Any) -> Completion | None:
        self._produced.pop(task.key, None)
        return self._value(task, value)

    def _value(self, task: Task, value: Any) -> Completion | None:
        """The completion of a task that returned ``value``; None if it ran nothing. Then it is submitted
        again, carrying every ref: its worker lacked a shared input, or it was submitted ahead of such a
        task (a join), whose output it now takes from the task sent again. Completions come oldest first,
        so that task was mostly sent again already; one handled in the same batch after this one makes it
        come back stale once more, and go again."""
        self._timed.pop(task.key, None)
        again = _again(value)
        if again is Again.withdrawn:
            error = LayerError(self._run.flow, task.label, "it was withdrawn: the run was failing when its inputs came")
            return Completion(task, error=error, cause=Cause.withdrawn)
        if again is not None:
            if again is Again.dropped:  # the workers do not keep what they are sent: send it all
                self._outputs.carry_all()
            self._submit(task, carry=True)
            return None
        return Completion(task, value=meta_of(value) if task.kind is TaskKind.run else value)


class _TaskError(Exception):
    """A split of a batch raised ``cause`` (the batch went on): told as Ray tells a task's own error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.traceback_str = None


def _handled(ref: Any) -> None:
    """Get the error ``ref`` holds (a failed task's other return), so that Ray does not print it as an
    "Unhandled error" when the ref is dropped: laminar reports the failure itself, once."""
    if ref is not None:
        with contextlib.suppress(Exception):
            ray.get(ref, timeout=0)


def _again(value: Any) -> Again | None:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return Again(value)
    return None


def _none(name: str, read: Input) -> Artifacts:
    """Hook tasks run in the driver take no layers, so they never read artifacts."""
    raise AssertionError(f"a hook task run in the driver read {name!r}, but it takes no layer parameters")
