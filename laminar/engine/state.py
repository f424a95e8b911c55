"""The engine's state and its transitions: what runs next, decided without doing any of it.

State. Each layer is ``waiting`` until every dependency settled, then
``deciding`` while its entry hooks run, then ``open`` with a known number of
splits (units), then ``finished``, ``skipped`` or ``failed``. Each unit of an
open layer is waiting (for the upstream split it maps onto), queued, active,
finished or failed; a resumed execution starts the units (and layers) that
finished in an earlier run as finished (:class:`Prior`).

Policy. A layer with no entry hooks runs when all its dependencies finished and
is skipped when one was skipped; with entry hooks it runs iff they are all
truthy. A foreach layer that maps 1:1 onto another foreach layer opens as soon
as that layer's splits are known, and its split ``i`` starts when split ``i``
upstream finished (streaming). On a session that ``pipelines`` (Ray: a task can
take the outputs of tasks still running), a plain layer with no entry or
submission hooks whose unfinished dependencies all have their run tasks in
flight (a plain layer's one; every split not finished of a foreach layer, for a
join) starts *ahead*, naming those tasks (``Task.after``): the backend starts it
once their outputs exist, so a chain runs without a driver round trip per layer,
and a join is submitted while the last splits run. A task started ahead is a
speculation: if it fails with an upstream error, is withdrawn, or fails while a
dependency it was started ahead of has not finished, the layer goes back to
waiting (no attempt is counted) and is decided as usual once that dependency
changes. Once the flow is failing, tasks started ahead of unfinished
dependencies are withdrawn. Every task that needs a slot — entry hooks, retries
whose timer came due, then queued units — starts only while fewer than
``capacity`` are in flight; entry hooks and retries go first. A failed attempt
is retried (retry hooks, then a backoff timer) while ``Retry`` allows; otherwise
the flow is failing: nothing new starts, in-flight work settles, and the first
failure is raised.

Transitions (:meth:`State.advance`, :meth:`State.complete`) change the state and
return :mod:`effects <laminar.engine.effects>` for the loop to carry out; they
read no clock (``now`` is given, in seconds of ``time.monotonic``) and touch no
datastore, so a test drives them step by step and compares the state they leave
with a literal one.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laminar import foreach as foreach_
from laminar.engine.effects import Effect, Note, Release, Submit, Withdraw, WriteFailure, WriteLayer, WriteSplit
from laminar.engine.layers import (
    ACTIVE,
    FAILED,
    FINISHED,
    QUEUED,
    WAITING,
    LayerState,
    Prior,
    reading,
    streams_from,
    with_container,
)
from laminar.engine.snapshot import LayerView, Phase, Snapshot, Started
from laminar.errors import LaminarError, LayerError, formatted, retryable
from laminar.graph import PARAMETERS, Graph
from laminar.hooks import Kind
from laminar.options import LayerConfiguration
from laminar.records import FailureRecord, LayerRecord, SplitMeta, attempt_of
from laminar.task import Cause, Completion, Input, Task, TaskKind


@dataclass
class State:
    """One execution of a graph, as the engine knows it. See the module docstring."""

    graph: Graph
    pipelines: bool  # whether the session may be given tasks ahead of their dependencies
    capacity: int  # tasks in flight at most
    layers: dict[str, LayerState]
    #: seconds to add to ``now`` (time.monotonic) for the wall-clock times that records hold
    epoch: float = 0.0
    prior: Prior = field(default_factory=Prior)
    queue: collections.deque[tuple[str, int]] = field(default_factory=collections.deque)
    ready: collections.deque[Task] = field(default_factory=collections.deque)  # built, waiting for a slot
    in_flight: dict[int, Task] = field(default_factory=dict)
    timers: list[tuple[float, int, Task]] = field(default_factory=list)  # (due, key, task) heap of retries
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    #: Waiting layers whose dependencies changed since they were last looked at: deciding looks at these
    #: only, so a completion costs O(its dependents), not O(layers).
    candidates: set[str] = field(default_factory=set)
    streaming: dict[str, list[str]] = field(default_factory=dict)  # upstream -> layers streaming from it
    hook_tasks: int = 0  # entry, submission and retry tasks in flight
    next_key: int = 0
    unopened: int = 0  # layers before this position (in graph order) are open or settled
    #: The Parameters layer's meta (its names), which grids may read.
    parameters: SplitMeta = field(default_factory=lambda: SplitMeta((), {}))
    order: dict[str, int] = field(default_factory=dict)  # layer -> its position in graph order
    names: list[str] = field(default_factory=list)  # layers in graph order
    reads: dict[tuple[str, TaskKind], frozenset[str]] = field(default_factory=dict)  # see _sent
    whole: dict[str, frozenset[str]] = field(default_factory=dict)  # see _seen_whole
    #: Layers never started ahead of their dependencies: the cache looks each of their units up by its
    #: inputs' digests, known only once they finished (laminar.cache).
    settle_first: frozenset[str] = frozenset()

    @classmethod
    def start(
        cls,
        graph: Graph,
        *,
        pipelines: bool,
        capacity: int,
        prior: Prior | None = None,
        parameters: SplitMeta | None = None,
        epoch: float = 0.0,
        settle_first: frozenset[str] = frozenset(),
    ) -> State:
        """The state of an execution about to run: every layer waiting, but those ``prior`` finished."""
        prior = prior or Prior()
        layers = {name: LayerState(node) for name, node in graph.nodes.items()}
        for name, layer in layers.items():
            layer.readers = set(graph.dependents.get(name, ()))
            if name in prior.layers:
                count = prior.layers[name]
                layer.phase = Phase.finished
                layer.units = bytearray([FINISHED]) * (1 if count is None else count)
                layer.finished = layer.count
        state = cls(
            graph,
            pipelines,
            capacity,
            layers,
            epoch=epoch,
            prior=prior,
            candidates=set(graph.nodes),
            settle_first=settle_first,
        )
        state.names = list(graph.nodes)
        state.order = {name: position for position, name in enumerate(state.names)}
        if parameters is not None:
            state.parameters = parameters
        return state

    # -- queries ---------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Nothing is in flight, timed, or (unless the flow is failing) waiting to start."""
        return not (self.in_flight or self.timers or ((self.queue or self.ready) and not self.failures))

    def next_timer(self) -> float | None:
        """When the next retry comes due (seconds of time.monotonic), if one is waiting."""
        return self.timers[0][0] if self.timers else None

    def urgent(self) -> bool:
        """Whether a completion may let more work start. Once every layer that runs opened and its units
        were all submitted (a chain whose layers all started ahead), completions only finish units and
        layers: the session may then report them in batches, a while late, and wake the driver less."""
        if self.queue or self.ready or self.failures or self.hook_tasks or any(self.streaming.values()):
            return True
        names = self.names
        while self.unopened < len(names):  # each layer passed once (unless one goes back to waiting)
            if self.layers[names[self.unopened]].phase in (Phase.waiting, Phase.deciding):
                return True
            self.unopened += 1
        return False

    def snapshot(self, execution: str, started: Started | None = None) -> Snapshot:
        """What observers and progress see of this state: a copy, which later transitions leave as it is
        (``started``: the session's way to tell which tasks in flight run, if it has one)."""
        layers = {
            name: LayerView(
                name, layer.phase, layer.count, layer.finished, layer.active, layer.failed, layer.retries, layer.cached
            )
            for name, layer in self.layers.items()
        }
        in_flight = tuple(self.in_flight.values())
        return Snapshot(self.graph.flow, execution, layers, in_flight, tuple(self.failures), started)

    def _phase(self, name: str) -> Phase:
        layer = self.layers.get(name)
        return Phase.finished if layer is None else layer.phase  # the Parameters layer is always there

    # -- transitions -----------------------------------------------------------------------------

    def advance(self, now: float) -> list[Effect]:
        """Decide the layers whose dependencies changed, fire due retries, start tasks while there are
        slots; repeated until nothing more can happen now."""
        effects: list[Effect] = []
        progressed = True
        while progressed:
            progressed = False
            if not self.failures and self.candidates:
                names = sorted(self.candidates, key=self.order.__getitem__)
                self.candidates.clear()
                for name in names:
                    layer = self.layers[name]
                    if layer.phase is not Phase.waiting:
                        continue
                    if self._decidable(layer):
                        self._decide(layer, now, effects)
                    elif self.pipelines and (pending := self._ahead_of(layer)):
                        layer.ahead = pending
                        self._open(layer, now, effects)
                    else:
                        continue
                    progressed = True
            self._fire_timers(now)
            while len(self.in_flight) < self.capacity:
                if self.ready:
                    self._dispatch(self.ready.popleft(), effects)
                elif self.queue and not self.failures:
                    name, index = self.queue.popleft()
                    self._start(self.layers[name], index, effects)
                else:
                    break
                progressed = True
        return effects

    def complete(self, completion: Completion, now: float) -> list[Effect]:
        """A task ended: finish or fail its unit, decide its layer, schedule a retry."""
        effects: list[Effect] = []
        task = self.in_flight.pop(completion.task.key, None)  # as the engine made it (all its inputs)
        if task is None:
            return effects
        layer = self.layers[task.layer]
        if task.kind is TaskKind.run:
            layer.running.pop(task.split, None)
            if completion.error is not None and layer.ahead and self._speculative(layer, completion):
                self._back_to_waiting(layer)
                return effects
        else:
            self.hook_tasks -= 1
        if task.kind is TaskKind.entry:
            if completion.error is not None:
                self._fail_layer(layer, task.label, completion.error, effects)
            elif completion.value:
                self._open(layer, now, effects)
            else:
                self._skip(layer, effects)
        elif completion.error is not None:
            self._failed_attempt(layer, task, completion, now, effects)
        elif completion.cached:  # a hit: the run's meta, whichever task of the unit was looked up
            self._finish_unit(layer, task, completion.value, now, effects, cached=True)
        elif task.kind is TaskKind.submission:
            self._dispatch(
                self._again(task, kind=TaskKind.run, configuration=with_container(task, completion.value)), effects
            )
        elif task.kind is TaskKind.retry:
            self._schedule_retry(task, with_container(task, completion.value), now)
        else:
            self._finish_unit(layer, task, completion.value, now, effects)
        return effects

    # -- deciding layers -------------------------------------------------------------------------

    def _decidable(self, layer: LayerState) -> bool:
        stream = streams_from(self.graph, layer.node)
        for dependency in layer.node.dependencies:
            phase = self._phase(dependency)
            if not (phase.settled or (phase is Phase.open and dependency == stream)):
                return False
        return True

    def _ahead_of(self, layer: LayerState) -> tuple[str, ...]:
        """The dependencies ``layer`` can start ahead of (see the module docstring); () if it cannot."""
        node = layer.node
        if node.foreach or node.hooks_of(Kind.entry) or node.hooks_of(Kind.submission):
            return ()
        if node.name in self.settle_first:
            return ()
        pending = []
        for dependency in node.dependencies:
            phase = self._phase(dependency)
            if phase is Phase.finished:
                continue
            if not self.layers[dependency].submitted:
                return ()
            pending.append(dependency)
        return tuple(pending)

    def _ahead_of_unfinished(self, layer: LayerState) -> bool:
        """True while ``layer`` started ahead of a dependency that has not finished (yet, or at all)."""
        return any(self._phase(d) is not Phase.finished for d in layer.ahead)

    def _speculative(self, layer: LayerState, completion: Completion) -> bool:
        """Whether the failure of ``layer``'s run task started ahead is not (yet) its own: an upstream's
        error handed on, a withdrawal, or any failure while a dependency it started ahead of has not
        finished (it is decided again once that dependency settles)."""
        return completion.cause in (Cause.upstream, Cause.withdrawn) or self._ahead_of_unfinished(layer)

    def _touch(self, name: str) -> None:
        """``name`` changed phase or started running: its waiting dependents may be decidable now."""
        self.candidates.update(self.graph.dependents.get(name, ()))

    def _decide(self, layer: LayerState, now: float, effects: list[Effect]) -> None:
        node = layer.node
        if node.hooks_of(Kind.entry):
            layer.phase = Phase.deciding
            self.ready.append(self._task(layer, TaskKind.entry, None, 1, node.configuration, self._inputs(layer)))
        elif all(self._phase(d) in (Phase.finished, Phase.open) for d in node.dependencies):
            self._open(layer, now, effects)
        else:
            self._skip(layer, effects)

    def _inputs(self, layer: LayerState) -> dict[str, Input]:
        inputs = {}
        for name in layer.node.dependencies:
            upstream = self.layers.get(name)
            phase = Phase.finished.value if name in layer.ahead else self._phase(name).value
            if upstream is not None and upstream.node.foreach:
                inputs[name] = Input(name, phase, split=None, items={}, splits=upstream.count)
            else:
                inputs[name] = Input(name, phase)
        return inputs

    def _skip(self, layer: LayerState, effects: list[Effect]) -> None:
        layer.phase = Phase.skipped
        self._settled(layer, effects)
        effects.append(WriteLayer(layer.node.name, LayerRecord("skipped")))
        effects.append(Note(logging.INFO, f"{self.graph.flow}.{layer.node.name} skipped"))

    def _open(self, layer: LayerState, now: float, effects: list[Effect]) -> None:
        name = layer.node.name
        layer.started = now
        config = layer.node.configuration.foreach
        if config is not None:
            try:
                layer.grid = foreach_.build(
                    config,
                    is_foreach=lambda other: other in self.graph.nodes and self.graph[other].foreach,
                    splits=lambda other: self.layers[other].count,
                    meta=self._meta,
                )
            except (foreach_.GridError, LaminarError) as error:
                self._fail_layer(layer, name, LayerError(self.graph.flow, name, str(error)), effects)
                return
            if (warning := layer.grid.one_split_of_whole_values(self.graph.flow, name)) is not None:
                effects.append(Note(logging.WARNING, warning))
        layer.phase = Phase.open
        layer.inputs = None
        self._touch(name)
        layer.units = bytearray(layer.grid.size if layer.grid else 1)
        done = self.prior.splits.get(name, frozenset())
        layer.stream = layer.grid.streams_from if layer.grid else None
        if layer.stream is not None:
            self.streaming.setdefault(layer.stream, []).append(name)
        for index in range(layer.count):
            if index in done:
                layer.units[index] = FINISHED
                layer.finished += 1
            elif layer.stream is None or self.layers[layer.stream].units[index] == FINISHED:
                self._enqueue(layer, index)
        if layer.finished == layer.count:
            self._finish_layer(layer, now, effects)

    def _meta(self, name: str, split: int) -> SplitMeta:
        """A finished split's meta: kept from its completion, else from the prior run."""
        if name == PARAMETERS and name not in self.layers:
            return self.prior.metas.get((name, split), self.parameters)
        found = self.layers[name].metas.get(split) or self.prior.metas.get((name, split))
        if found is None:
            raise LaminarError(f"{self.graph.flow}.{name}[{split}]: its meta is not known (it did not finish)")
        return found

    def _enqueue(self, layer: LayerState, index: int) -> None:
        layer.units[index] = QUEUED
        self.queue.append((layer.node.name, index))

    # -- units -----------------------------------------------------------------------------------

    def _unit_inputs(self, layer: LayerState, index: int) -> dict[str, Input]:
        """A unit's inputs: the layer's (the same for every unit of an open layer: its dependencies settled,
        or the one it streams from, which every unit's selection replaces) and its grid's selection."""
        if layer.inputs is None:
            layer.inputs = self._inputs(layer)
        inputs = dict(layer.inputs)
        for name, (split, items) in (layer.grid.selection(index) if layer.grid else {}).items():
            inputs[name] = Input(name, Phase.finished.value, split=split, items=items)
        return inputs

    def _start(self, layer: LayerState, index: int, effects: list[Effect]) -> None:
        layer.units[index] = ACTIVE
        layer.active += 1
        kind = TaskKind.submission if layer.node.hooks_of(Kind.submission) else TaskKind.run
        earlier = self.prior.attempts.get((layer.node.name, index), 0)
        task = self._task(layer, kind, index, earlier + 1, layer.node.configuration, self._unit_inputs(layer, index))
        if earlier:
            task = dataclasses.replace(task, earlier=earlier)
        self._dispatch(task, effects)

    def _task(
        self,
        layer: LayerState,
        kind: TaskKind,
        index: int | None,
        attempt: int,
        configuration: LayerConfiguration,
        inputs: dict[str, Input],
    ) -> Task:
        key, self.next_key = self.next_key, self.next_key + 1
        return Task(
            key=key,
            kind=kind,
            layer=layer.node.name,
            index=index if layer.node.foreach else None,
            splits=layer.splits,
            attempt=attempt,
            configuration=configuration,
            inputs=inputs,
            feeds=bool(layer.readers),
        )

    def _after(self, task: Task) -> frozenset[int]:
        """The run tasks in flight whose outputs ``task`` takes (it starts ahead of them)."""
        keys: set[int] = set()
        for name in self.layers[task.layer].ahead:
            read = task.inputs.get(name)
            running = self.layers[name].running
            if read is None or read.split is None:
                keys.update(running.values())
            elif read.split in running:
                keys.add(running[read.split])
        return frozenset(keys)

    def _dispatch(self, task: Task, effects: list[Effect]) -> None:
        layer = self.layers[task.layer]
        if task.kind is TaskKind.run:
            if layer.ahead and self._ahead_of_unfinished(layer):
                task = dataclasses.replace(task, after=self._after(task))
            layer.running[task.split] = task.key
            if self.pipelines and layer.submitted:
                self._touch(task.layer)  # its dependents may start ahead of it now
        else:
            self.hook_tasks += 1
        self.in_flight[task.key] = task
        effects.append(Submit(self._sent(task)))

    def _sent(self, task: Task) -> Task:
        """``task`` as the session gets it: with only the inputs it reads (the layers its hooks of that kind
        take; for a run, those ``__call__`` and its execution hooks take). The engine keeps the whole
        task: the run that follows a submission task reads others.

        A foreach layer's hooks see each dependency whole, as a join does (its entry hooks, which run
        before there are splits, can see nothing else): its submission and retry tasks read the layer's
        inputs without the split's selection, and a run whose execution hooks take a foreach dependency
        it reads one split of gets that dependency whole, with the split its ``__call__`` reads
        (``Input.pick``)."""
        reads = self.reads.get((task.layer, task.kind))
        if reads is None:
            reads = self.reads[(task.layer, task.kind)] = reading(self.graph[task.layer], task.kind)
        inputs = task.inputs
        if task.index is not None and self.graph[task.layer].hooks:
            inputs = self._seen_whole(task)
        if len(reads) == len(inputs) and inputs is task.inputs:
            return task
        return dataclasses.replace(task, inputs={k: v for k, v in inputs.items() if k in reads})

    def _seen_whole(self, task: Task) -> Mapping[str, Input]:
        """A foreach split's inputs as its hooks see them (see :meth:`_sent`)."""
        layer = self.layers[task.layer]
        if task.kind in (TaskKind.submission, TaskKind.retry):
            if layer.inputs is None:
                layer.inputs = self._inputs(layer)
            return layer.inputs
        whole = self.whole.get(task.layer)
        if whole is None:  # the foreach dependencies its execution hooks take
            node = layer.node
            takes = {d for bound in node.hooks_of(Kind.execution) for d in bound.parameters.values()}
            whole = self.whole[task.layer] = frozenset(
                d for d in takes if d in self.layers and self.layers[d].node.foreach
            )
        inputs = task.inputs
        for name in whole:
            read = inputs.get(name)
            if read is not None and read.split is not None:
                count = self.layers[name].count
                inputs = {**inputs, name: Input(name, read.state, None, read.items, count, pick=read.split)}
        return inputs

    def _fire_timers(self, now: float) -> None:
        """Move due retries to ``ready``; once the flow is failing, abandon every waiting task."""
        while self.timers and (self.timers[0][0] <= now or self.failures):
            self.ready.append(heapq.heappop(self.timers)[2])
        while self.failures and self.ready:
            task = self.ready.popleft()
            if task.kind is not TaskKind.entry:  # a retry holds its unit active; an entry task holds none
                self.layers[task.layer].active -= 1

    def _back_to_waiting(self, layer: LayerState) -> None:
        """A layer started ahead failed with the error of a dependency: it waits again, and is looked at
        once that dependency changes (its retry starts, or it settles), or at once if all have finished
        (it is then decided as usual, not started ahead: a task rejected at submission cannot loop)."""
        layer.phase = Phase.waiting
        if not self._ahead_of_unfinished(layer):
            self.candidates.add(layer.node.name)
        self.unopened = min(self.unopened, self.order[layer.node.name])
        layer.units = bytearray()
        layer.active = layer.finished = 0
        layer.running.clear()
        layer.ahead = ()

    def _finish_unit(
        self, layer: LayerState, task: Task, meta: SplitMeta, now: float, effects: list[Effect], *, cached: bool = False
    ) -> None:
        index = task.split
        if cached:
            layer.cached += 1
            origin = meta.document["record"].get("cached_from") if meta.document is not None else None
            if isinstance(origin, str):
                layer.cached_from.add(origin)
        layer.units[index] = FINISHED
        layer.active -= 1
        layer.finished += 1
        layer.attempt = max(layer.attempt, task.attempt)
        if meta.document is not None:  # left to the journal: committed with others
            effects.append(WriteSplit(layer.node.name, index, meta.document))
            meta = SplitMeta(meta.names, meta.shards)
        layer.metas[index] = meta
        for name in self.streaming.get(layer.node.name, ()):
            downstream = self.layers[name]
            if downstream.phase is Phase.open and downstream.units[index] == WAITING:
                self._enqueue(downstream, index)
        if layer.finished == layer.count:
            self._finish_layer(layer, now, effects)

    def _finish_layer(self, layer: LayerState, now: float, effects: list[Effect]) -> None:
        name = layer.node.name
        layer.phase = Phase.finished
        if layer.stream is not None:
            self.streaming[layer.stream].remove(name)
        names = tuple(self._meta(name, 0).names) if layer.count else ()
        started = None if layer.started is None else layer.started + self.epoch
        origin = next(iter(layer.cached_from)) if layer.cached == layer.count and len(layer.cached_from) == 1 else None
        record = LayerRecord(
            "finished",
            layer.splits,
            names,
            started,
            now + self.epoch,
            attempt=layer.attempt,
            cached=layer.cached,
            cached_from=origin,
        )
        effects.append(WriteLayer(name, record))
        self._settled(layer, effects)

    def _settled(self, layer: LayerState, effects: list[Effect]) -> None:
        """``layer`` settled: its dependents may be decidable, and a dependency nothing reads any more is
        released (a layer nothing reads was never held)."""
        name = layer.node.name
        self._touch(name)
        for dependency in layer.node.dependencies:
            upstream = self.layers.get(dependency)
            if upstream is not None and name in upstream.readers:
                upstream.readers.discard(name)
                if not upstream.readers:
                    effects.append(Release(dependency))

    def _failed_attempt(
        self, layer: LayerState, task: Task, completion: Completion, now: float, effects: list[Effect]
    ) -> None:
        retry = task.configuration.retry
        error = completion.error
        assert error is not None
        if task.kind is TaskKind.run:  # every failed attempt of a run is recorded, retried or not
            effects.append(WriteFailure(layer.node.name, task.split, self._failure(task, completion, now)))
        again = task.kind is TaskKind.run and not self.failures and retryable(error)
        if retry is not None and again and task.tries < retry.attempts:
            effects.append(
                Note(
                    logging.WARNING,
                    f"{self.graph.flow}.{task.label} attempt {task.tries}/{retry.attempts} failed: {error!r}; retrying",
                )
            )
            layer.retries += 1
            retried = self._again(task, error=error)
            if layer.node.hooks_of(Kind.retry):
                self._dispatch(self._again(retried, kind=TaskKind.retry), effects)
            else:
                self._schedule_retry(retried, task.configuration, now)
            return
        layer.units[task.split] = FAILED
        layer.active -= 1
        layer.failed += 1
        layer.attempt = max(layer.attempt, task.attempt)
        self._fail_layer(layer, task.label, error, effects)

    def _failure(self, task: Task, completion: Completion, now: float) -> FailureRecord:
        """The record of a failed run attempt: what the runner noted on its error where it ran (started,
        ended, worker, log, the traceback with the layer's frames), else what the engine knows."""
        error = completion.error
        assert error is not None
        noted = attempt_of(error)
        return FailureRecord(
            task.attempt,
            repr(error),
            completion.worker_lost,
            traceback=noted.get("traceback") or formatted(error),
            ended=noted.get("ended") or now + self.epoch,
            started=noted.get("started"),
            worker=noted.get("worker") or {},
            log=noted.get("log"),
            resources=task.configuration.container.requested(),
        )

    def _schedule_retry(self, task: Task, configuration: LayerConfiguration, now: float) -> None:
        retry = configuration.retry or task.configuration.retry
        delay = retry.wait(task.tries) if retry else 0.0
        again = self._again(task, kind=TaskKind.run, attempt=task.attempt + 1, configuration=configuration)
        heapq.heappush(self.timers, (now + delay, again.key, again))

    def _fail_layer(self, layer: LayerState, label: str, error: BaseException, effects: list[Effect]) -> None:
        if layer.phase is not Phase.failed:
            layer.phase = Phase.failed
            self._touch(layer.node.name)
            record = LayerRecord("failed", error=repr(error), split=label, attempt=layer.attempt)
            effects.append(WriteLayer(layer.node.name, record))
        if not self.failures:
            self._withdraw_ahead(effects)
        self.failures.append((label, error))
        effects.append(Note(logging.ERROR, f"{self.graph.flow}.{label} failed: {error!r}"))

    def _withdraw_ahead(self, effects: list[Effect]) -> None:
        """The flow is failing: nothing new may start, so tasks started ahead of running dependencies
        are withdrawn (like queued units, they never start)."""
        for task in list(self.in_flight.values()):
            if task.kind is TaskKind.run and self._ahead_of_unfinished(self.layers[task.layer]):
                effects.append(Withdraw(task))

    def _again(self, task: Task, **changes: Any) -> Task:
        """The next task of the same unit (a new key: keys identify one dispatch)."""
        key, self.next_key = self.next_key, self.next_key + 1
        return dataclasses.replace(task, key=key, after=frozenset(), **changes)
