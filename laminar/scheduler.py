"""The scheduler: decides what runs next, for every executor.

State. Each layer is ``waiting`` until every dependency settled, then
``deciding`` while its entry hooks run, then ``open`` with a known number of
splits (units), then ``finished``, ``skipped`` or ``failed``. Each unit of an
open layer is waiting (for the upstream split it maps onto), queued, active,
finished or failed; ``resume`` starts units that already finished as finished.

Policy. A layer with no entry hooks runs when all its dependencies finished and
is skipped when one was skipped; with entry hooks it runs iff they are all
truthy. A foreach layer that maps 1:1 onto another foreach layer opens as soon
as that layer's splits are known, and its split ``i`` starts when split ``i``
upstream finished (streaming). On a session that ``pipelines`` (Ray: a task can
take the ObjectRefs of tasks still running), a plain layer with no entry or
submission hooks whose unfinished dependencies all have their run tasks in
flight (a plain layer's one; every split not finished of a foreach layer, for a
join) starts *ahead*, without waiting for them: the backend starts it once their
outputs exist, so a chain runs without a driver round trip per layer, and a join
is submitted while the last splits run.
If it fails while one of those dependencies has not finished, or after one had a
failed attempt, that failure is theirs (Ray hands the upstream error on): the
layer goes back to waiting and is decided as usual once they settle. Once the
flow is failing, tasks started ahead of unfinished dependencies are withdrawn
(``Session.cancel``). Every task that needs a slot — entry hooks, retries whose
timer came due, then queued units — starts only while fewer than the executor's
capacity are in flight; entry hooks and retries go first. A
failed attempt is retried (retry hooks, then a backoff timer) while ``Retry``
allows; otherwise the flow is failing: nothing new starts, in-flight work
settles, and the first failure is raised.

Loop. ``_advance`` (decide layers, start queued units, fire due timers) then
block in the executor session's ``wait`` for completions, until nothing is in flight,
queued or timed. A wait is ``urgent`` unless every layer opened (or settled) and
every task that will run was submitted, when completions can only finish units
and layers: the session may then report them in batches.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from laminar import foreach as foreach_
from laminar.datastore import Datastore
from laminar.errors import LaminarError, LayerError
from laminar.executors.base import Executor, Run
from laminar.graph import Graph, Node
from laminar.hooks import Kind
from laminar.journal import Journal, Policy
from laminar.options import Container, LayerConfiguration
from laminar.records import FailureRecord, LayerRecord, SplitMeta
from laminar.runner import Outcome
from laminar.task import Completion, Input, Task, TaskKind

log = logging.getLogger("laminar")

WAITING, QUEUED, ACTIVE, FINISHED, FAILED = range(5)


class Phase(str, enum.Enum):
    waiting = "waiting"
    deciding = "deciding"
    open = "open"
    finished = "finished"
    skipped = "skipped"
    failed = "failed"

    @property
    def settled(self) -> bool:
        return self in (Phase.finished, Phase.skipped, Phase.failed)


@dataclass
class LayerRun:
    """One layer's progress in this execution."""

    node: Node
    phase: Phase = Phase.waiting
    grid: foreach_.Grid | None = None
    units: bytearray = field(default_factory=bytearray)
    finished: int = 0
    failed: int = 0
    active: int = 0
    metas: dict[int, SplitMeta] = field(default_factory=dict)
    stream: str | None = None  # the foreach layer this one maps 1:1 onto, while streaming
    ahead: tuple[str, ...] = ()  # dependencies still running when this layer started ahead of them
    ahead_failed: int = 0  # their failed run attempts when it started ahead of them
    started: float = 0.0
    inputs: dict[str, Input] | None = None  # its units' inputs before their grid's selection, once opened

    @property
    def count(self) -> int:
        return len(self.units)

    @property
    def splits(self) -> int | None:
        return self.count if self.node.foreach else None


Observer = Callable[["Scheduler"], None]


class Scheduler:
    """Runs one execution of a validated graph on an executor. See the module docstring."""

    def __init__(
        self,
        *,
        graph: Graph,
        executor: Executor,
        datastore: Datastore,
        execution: str,
        resume: bool = False,
        observer: Observer | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.graph = graph
        self.flow = graph.flow
        self.executor = executor
        self.datastore = datastore
        self.execution = execution
        self.resume = resume
        self.observer = observer
        self.layers = {name: LayerRun(node) for name, node in graph.nodes.items()}
        self.queue: collections.deque[tuple[str, int]] = collections.deque()
        self.ready: collections.deque[Task] = collections.deque()  # built tasks waiting for a slot
        self.in_flight: dict[int, Task] = {}
        self.timers: list[tuple[float, int, Task]] = []
        self.failures: list[tuple[str, BaseException]] = []
        self._keys = itertools.count()
        self._streaming: dict[str, list[str]] = collections.defaultdict(list)  # upstream -> dependents
        self._order = {name: position for position, name in enumerate(graph.nodes)}
        # Waiting layers whose dependencies changed since they were last looked at: deciding looks at
        # these only, so a completion costs O(its dependents), not O(layers).
        self._candidates: set[str] = set(graph.nodes)
        self._runs: collections.Counter[str] = collections.Counter()  # layer -> its run tasks in flight
        self._failed: collections.Counter[str] = collections.Counter()  # layer -> its failed run attempts
        self._hook_tasks = 0  # entry, submission and retry hook tasks in flight
        self._names = list(graph.nodes)
        self._unopened = 0  # layers before this position (in _names) are open or settled
        self.journal = Journal(self.datastore, self.flow, self.execution, policy)

    # -- main loop -------------------------------------------------------------------------------

    def run(self, start: Callable[[Journal], None] | None = None) -> None:
        """Run to the end; ``start`` runs once the executor accepted the run, before any task, given the
        execution's journal."""
        if self.resume:
            self._load_finished_layers()
        self.session = self.executor.open(Run(self.flow, self.execution, self.graph, self.datastore))
        try:
            if start is not None:
                start(self.journal)
            while True:
                self._advance()
                if not (self.in_flight or self.timers or ((self.queue or self.ready) and not self.failures)):
                    break
                timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
                for completion in self.session.wait(timeout, urgent=self._urgent()):
                    self._complete(completion)
        finally:
            self.journal.close()
            self.session.close()
        self.journal.check()
        if self.failures:
            label, error = self.failures[0]
            if hasattr(error, "add_note"):
                error.add_note(
                    f"laminar: layer {self.flow}.{label} failed in execution {self.execution!r}; "
                    f"finished work is kept: resume with {self.flow}().execution({self.execution!r}).resume()"
                )
            raise error

    def _advance(self) -> None:
        progressed = True
        while progressed:
            progressed = False
            if not self.failures and self._candidates:
                names = sorted(self._candidates, key=self._order.__getitem__)
                self._candidates.clear()
                for name in names:
                    run = self.layers[name]
                    if run.phase is not Phase.waiting:
                        continue
                    if self._decidable(run):
                        self._decide(run)
                    elif self.session.pipelines and (pending := self._ahead_of(run)):
                        run.ahead = pending
                        run.ahead_failed = self._failed_runs(pending)
                        self._open(run)
                    else:
                        continue
                    progressed = True
            self._fire_timers()
            capacity = self.session.capacity()
            while len(self.in_flight) < capacity:
                if self.ready:
                    self._dispatch(self.ready.popleft())
                elif self.queue and not self.failures:
                    name, index = self.queue.popleft()
                    self._start(self.layers[name], index)
                else:
                    break
                progressed = True
        self._notify()

    def _urgent(self) -> bool:
        """Whether a completion may let more work start. Once every layer that runs opened and its units
        were all submitted (a chain whose layers all started ahead), completions only finish units and
        layers: the session may then report them in batches, a while late, and wake the driver less."""
        if self.queue or self.ready or self.failures or self._hook_tasks or any(self._streaming.values()):
            return True
        while self._unopened < len(self._names):  # each layer passed once (unless one goes back to waiting)
            if self.layers[self._names[self._unopened]].phase in (Phase.waiting, Phase.deciding):
                return True
            self._unopened += 1
        return False

    def _notify(self) -> None:
        if self.observer is not None:
            self.observer(self)

    # -- deciding layers ---------------------------------------------------------------------------

    def _load_finished_layers(self) -> None:
        for name, run in self.layers.items():
            found = self.datastore.read_layer_record(self.flow, self.execution, name)
            record = LayerRecord.from_json(found) if found is not None else None
            if record is not None and record.finished:
                run.phase = Phase.finished
                count = record.splits
                run.units = bytearray([FINISHED]) * (1 if count is None else count)
                run.finished = run.count

    def _phase(self, name: str) -> Phase:
        run = self.layers.get(name)
        return Phase.finished if run is None else run.phase  # the Parameters layer is always there

    def _streams_from(self, node: Node) -> str | None:
        """The upstream foreach layer ``node`` maps 1:1 onto with every parameter, if any."""
        config = node.configuration.foreach
        if config is None or node.hooks_of(Kind.entry):
            return None
        layers = {p.layer.__name__ for p in config.parameters if p.index is None}
        if len(layers) != 1 or any(p.index is not None for p in config.parameters):
            return None
        (upstream,) = layers
        return upstream if self.graph.nodes.get(upstream) and self.graph[upstream].foreach else None

    def _decidable(self, run: LayerRun) -> bool:
        stream = self._streams_from(run.node)
        for dependency in run.node.dependencies:
            phase = self._phase(dependency)
            if not (phase.settled or (phase is Phase.open and dependency == stream)):
                return False
        return True

    def _ahead_of(self, run: LayerRun) -> tuple[str, ...]:
        """The dependencies ``run`` can start ahead of (see the module docstring); () if it cannot."""
        node = run.node
        if node.foreach or node.hooks_of(Kind.entry) or node.hooks_of(Kind.submission):
            return ()
        pending = []
        for dependency in node.dependencies:
            phase = self._phase(dependency)
            if phase is Phase.finished:
                continue
            if phase is not Phase.open or not self._submitted(self.layers[dependency]):
                return ()
            pending.append(dependency)
        return tuple(pending)

    def _submitted(self, run: LayerRun) -> bool:
        """Every unit of the open layer ``run`` finished or has its run task in flight: a task that takes
        all its outputs can be submitted now (on Ray, with the refs of those still running)."""
        return self._runs[run.node.name] + run.finished == run.count

    def _ahead_of_unfinished(self, run: LayerRun) -> bool:
        """True while ``run`` started ahead of a dependency that has not finished (yet, or at all)."""
        return any(self._phase(d) is not Phase.finished for d in run.ahead)

    def _failed_runs(self, layers: tuple[str, ...]) -> int:
        return sum(self._failed[name] for name in layers)

    def _upstream_failure(self, run: LayerRun) -> bool:
        """Whether the failure of ``run``'s task started ahead is that of a dependency: one has not finished,
        or one had a failed attempt since ``run`` started (Ray handed its error on; its retry may have
        finished before this failure came back, as the task that failed may still have waited for a worker)."""
        return self._ahead_of_unfinished(run) or self._failed_runs(run.ahead) > run.ahead_failed

    def _touch(self, name: str) -> None:
        """``name`` changed phase or started running: its waiting dependents may be decidable now."""
        self._candidates.update(self.graph.dependents.get(name, ()))

    def _decide(self, run: LayerRun) -> None:
        if run.node.hooks_of(Kind.entry):
            run.phase = Phase.deciding
            self.ready.append(self._task(run, TaskKind.entry, None, 1, run.node.configuration, self._layer_inputs(run)))
        elif all(self._phase(d) in (Phase.finished, Phase.open) for d in run.node.dependencies):
            self._open(run)
        else:
            self._skip(run)

    def _layer_inputs(self, run: LayerRun) -> dict[str, Input]:
        inputs = {}
        for name in run.node.dependencies:
            upstream = self.layers.get(name)
            phase = Phase.finished.value if name in run.ahead else self._phase(name).value
            if upstream is not None and upstream.node.foreach:
                inputs[name] = Input(name, phase, split=None, items={}, splits=upstream.count)
            else:
                inputs[name] = Input(name, phase)
        return inputs

    def _skip(self, run: LayerRun) -> None:
        run.phase = Phase.skipped
        self._touch(run.node.name)
        self.journal.layer(run.node.name, LayerRecord("skipped"))
        log.info("%s.%s skipped", self.flow, run.node.name)

    def _open(self, run: LayerRun) -> None:
        name = run.node.name
        run.started = time.time()
        config = run.node.configuration.foreach
        if config is not None:
            try:
                run.grid = foreach_.build(
                    config,
                    is_foreach=lambda layer: layer in self.graph.nodes and self.graph[layer].foreach,
                    splits=lambda layer: self.layers[layer].count,
                    meta=self._meta,
                )
            except (foreach_.GridError, LaminarError) as error:
                self._fail_layer(run, name, LayerError(self.flow, name, str(error)))
                return
        run.phase = Phase.open
        run.inputs = None
        self._touch(name)
        run.units = bytearray(run.grid.size if run.grid else 1)
        done = self.datastore.finished_splits(self.flow, self.execution, name) if self.resume else set()
        run.stream = run.grid.streams_from if run.grid else None
        if run.stream is not None:
            self._streaming[run.stream].append(name)
        for index in range(run.count):
            if index in done:
                run.units[index] = FINISHED
                run.finished += 1
            elif run.stream is None or self.layers[run.stream].units[index] == FINISHED:
                self._enqueue(run, index)
        if run.finished == run.count:
            self._finish_layer(run)

    def _meta(self, layer: str, split: int) -> SplitMeta:
        if layer not in self.layers:  # Parameters
            return self.datastore.read_meta(self.flow, self.execution, layer, split)
        run = self.layers[layer]
        if split not in run.metas:
            run.metas[split] = self.datastore.read_meta(self.flow, self.execution, layer, split)
        return run.metas[split]

    def _enqueue(self, run: LayerRun, index: int) -> None:
        run.units[index] = QUEUED
        self.queue.append((run.node.name, index))

    # -- units -----------------------------------------------------------------------------------

    def _unit_inputs(self, run: LayerRun, index: int) -> dict[str, Input]:
        """A unit's inputs: the layer's (the same for every unit of an open layer: its dependencies settled,
        or the one it streams from, which every unit's selection replaces) and its grid's selection."""
        if run.inputs is None:
            run.inputs = self._layer_inputs(run)
        inputs = dict(run.inputs)
        for name, (split, items) in (run.grid.selection(index) if run.grid else {}).items():
            inputs[name] = Input(name, Phase.finished.value, split=split, items=items)
        return inputs

    def _start(self, run: LayerRun, index: int) -> None:
        run.units[index] = ACTIVE
        run.active += 1
        kind = TaskKind.submission if run.node.hooks_of(Kind.submission) else TaskKind.run
        self._dispatch(self._task(run, kind, index, 1, run.node.configuration, self._unit_inputs(run, index)))

    def _task(
        self,
        run: LayerRun,
        kind: TaskKind,
        index: int | None,
        attempt: int,
        configuration: LayerConfiguration,
        inputs: dict[str, Input],
        error: BaseException | None = None,
    ) -> Task:
        return Task(
            key=next(self._keys),
            kind=kind,
            layer=run.node.name,
            index=index if run.node.foreach else None,
            splits=run.splits,
            attempt=attempt,
            configuration=configuration,
            inputs=inputs,
            error=error,
        )

    def _dispatch(self, task: Task) -> None:
        self.in_flight[task.key] = task
        if task.kind is not TaskKind.run:
            self._hook_tasks += 1
        else:
            self._runs[task.layer] += 1
            if self.session.pipelines and self._submitted(self.layers[task.layer]):
                self._touch(task.layer)  # its dependents may start ahead of it now
        try:
            self.session.submit(task)
        except LaminarError as error:  # e.g. a request no node can satisfy, rejected up front
            self._complete(Completion(task, error=error))

    def _fire_timers(self) -> None:
        """Move due retries to ``ready``; once the flow is failing, abandon every waiting task."""
        now = time.monotonic()
        while self.timers and (self.timers[0][0] <= now or self.failures):
            self.ready.append(heapq.heappop(self.timers)[2])
        while self.failures and self.ready:
            task = self.ready.popleft()
            if task.kind is not TaskKind.entry:  # a retry holds its unit active; an entry task holds none
                self.layers[task.layer].active -= 1

    def _complete(self, completion: Completion) -> None:
        task = completion.task
        if self.in_flight.pop(task.key, None) is None:
            return
        if task.kind is not TaskKind.run:
            self._hook_tasks -= 1
        run = self.layers[task.layer]
        if task.kind is TaskKind.run:
            self._runs[task.layer] -= 1
            if completion.error is not None:
                self._failed[task.layer] += 1
                if self._upstream_failure(run):
                    self._back_to_waiting(run)
                    return
        if task.kind is TaskKind.entry:
            if completion.error is not None:
                self._fail_layer(run, task.label, completion.error)
            elif completion.value:
                self._open(run)
            else:
                self._skip(run)
        elif completion.error is not None:
            self._failed_attempt(run, task, completion)
        elif task.kind is TaskKind.submission:
            self._dispatch(self._again(task, kind=TaskKind.run, configuration=self._with(task, completion.value)))
        elif task.kind is TaskKind.retry:
            self._schedule_retry(task, self._with(task, completion.value))
        else:
            self._finish_unit(run, task, completion.value)
        self._notify()

    def _back_to_waiting(self, run: LayerRun) -> None:
        """A layer started ahead failed with the error of a dependency: it waits again, and is looked at
        once that dependency changes (its retry starts, or it settles), or at once if all have finished
        (it is then decided as usual, not started ahead: a task rejected at submission cannot loop)."""
        run.phase = Phase.waiting
        if not self._ahead_of_unfinished(run):
            self._candidates.add(run.node.name)
        self._unopened = min(self._unopened, self._order[run.node.name])
        run.units = bytearray()
        run.active = run.finished = 0
        run.ahead = ()
        self._notify()

    @staticmethod
    def _with(task: Task, container: Container) -> LayerConfiguration:
        """The task's configuration with the container its submission or retry hooks returned."""
        return task.configuration.model_copy(update={"container": container})

    def _finish_unit(self, run: LayerRun, task: Task, outcome: Any) -> None:
        index = task.split
        run.units[index] = FINISHED
        run.active -= 1
        run.finished += 1
        meta = outcome.meta if isinstance(outcome, Outcome) else outcome
        if isinstance(meta, SplitMeta):
            if meta.document is not None:  # left to the scheduler: committed with others
                self.journal.split(run.node.name, index, meta.document)
                meta = SplitMeta(meta.names, meta.shards)
            run.metas[index] = meta
        for name in self._streaming.get(run.node.name, ()):
            downstream = self.layers[name]
            if downstream.phase is Phase.open and downstream.units[index] == WAITING:
                self._enqueue(downstream, index)
        if run.finished == run.count:
            self._finish_layer(run)

    def _finish_layer(self, run: LayerRun) -> None:
        run.phase = Phase.finished
        self._touch(run.node.name)
        if run.stream is not None:
            self._streaming[run.stream].remove(run.node.name)
        names = list(self._meta(run.node.name, 0).names) if run.count else []
        record = LayerRecord("finished", run.splits, tuple(names), started=run.started, ended=time.time())
        self.journal.layer(run.node.name, record)

    def _failed_attempt(self, run: LayerRun, task: Task, completion: Completion) -> None:
        retry = task.configuration.retry
        if task.kind is TaskKind.run and retry is not None and task.attempt < retry.attempts and not self.failures:
            log.warning(
                "%s.%s attempt %d/%d failed: %r; retrying",
                self.flow,
                task.label,
                task.attempt,
                retry.attempts,
                completion.error,
            )
            retried = self._again(task, error=completion.error)
            if run.node.hooks_of(Kind.retry):
                self._dispatch(self._again(retried, kind=TaskKind.retry))
            else:
                self._schedule_retry(retried, task.configuration)
            return
        run.units[task.split] = FAILED
        run.active -= 1
        run.failed += 1
        error = completion.error
        assert error is not None
        failure = FailureRecord(task.attempt, repr(error), worker_lost=completion.worker_lost)
        self.journal.failure(run.node.name, task.split, failure)
        self._fail_layer(run, task.label, error)

    def _schedule_retry(self, task: Task, configuration: LayerConfiguration) -> None:
        retry = configuration.retry or task.configuration.retry
        delay = retry.wait(task.attempt) if retry else 0.0
        again = self._again(task, kind=TaskKind.run, attempt=task.attempt + 1, configuration=configuration)
        heapq.heappush(self.timers, (time.monotonic() + delay, task.key, again))

    def _fail_layer(self, run: LayerRun, label: str, error: BaseException) -> None:
        if run.phase is not Phase.failed:
            run.phase = Phase.failed
            self._touch(run.node.name)
            self.journal.layer(run.node.name, LayerRecord("failed", error=repr(error), split=label))
        if not self.failures:
            self._withdraw_ahead()
        self.failures.append((label, error))
        log.error("%s.%s failed: %r", self.flow, label, error)

    def _withdraw_ahead(self) -> None:
        """The flow is failing: nothing new may start, so tasks started ahead of running dependencies
        are withdrawn (like queued units, they never start)."""
        for task in list(self.in_flight.values()):
            run = self.layers[task.layer]
            if task.kind is TaskKind.run and self._ahead_of_unfinished(run):
                self.session.cancel(task)

    def _again(self, task: Task, **changes: Any) -> Task:
        """The next task of the same unit (a new key: keys identify one dispatch)."""
        return dataclasses.replace(task, key=next(self._keys), **changes)
