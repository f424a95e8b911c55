"""What runs inside Ray workers: one function for layer runs, one for hooks, per flow graph.

A flow's graph (its layer and hook classes) travels inside the remote functions
(:func:`layer_function`, :func:`hook_function`), pickled once as a
:class:`Program`: Ray exports a function once and each worker loads it once, so
a 10,000-split fan-out deserializes the layer classes once per worker, not once
per task, and a task carries no reference to them. Functions are made per
graph, not per run: running the same flow again reuses them. What changes per
run (the execution and the datastore) travels as a few hundred bytes in every
task, unpickled once per worker (:func:`_context`).

A task travels as a :class:`Call`: the scheduler's task without its
configuration (which holds layer classes), plus the container when hooks changed
it. Upstream artifacts arrive as resolved ObjectRef arguments (``values``), or,
for a plain layer that every split of a foreach layer reads, shared: the first
tasks carry its ref boxed in the Call (Ray passes it on unresolved), and each
worker that resolves it keeps the value; later tasks carry only the ref's key
(:func:`_shared_inputs`). A worker that does not hold a value it is handed the key
of runs nothing and returns :data:`MISSING`; the session submits that task again
carrying the refs. A task submitted ahead of it (a join) then received None for
its output: it runs nothing either and returns :data:`STALE`, and is submitted
again with the new task's output. Splits that finished in an earlier run of a
resumed execution are read from the datastore instead.
"""

from __future__ import annotations

import collections
import hashlib
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import ray

from laminar import runner, runtime
from laminar.artifacts import Artifacts, Joined, Values
from laminar.datastore import Datastore
from laminar.graph import Graph
from laminar.options import Container, LayerConfiguration
from laminar.records import SplitMeta
from laminar.task import Input, Task, TaskKind
from laminar_ray.kept import Kept


def _mark_if_worker() -> None:
    """In a Ray worker, mark the process before any user module loads (the payload, task arguments)."""
    if ray._private.worker.global_worker.mode == ray.WORKER_MODE:
        runtime.mark_worker()


_mark_if_worker()  # Ray imports this module in a worker to load its task functions


@dataclass(frozen=True)
class Program:
    """A flow's graph, pickled once in the driver; ``digest`` names it in the workers' caches."""

    digest: str
    blob: bytes

    @classmethod
    def of(cls, graph: Graph) -> Program:
        blob = ray.cloudpickle.dumps(graph)  # type: ignore[no-untyped-call]
        return cls(hashlib.sha256(blob).hexdigest(), blob)


@dataclass(frozen=True)
class Context:
    """What every task of one execution shares besides the graph."""

    flow: str
    execution: str
    datastore: Datastore

    def pack(self) -> bytes:
        return ray.cloudpickle.dumps(self)  # type: ignore[no-untyped-call,no-any-return]


# A layer task returns two objects, built of lists and dicts only: Ray packs those with msgpack (a
# value of another type inside, a numpy array say, goes to cloudpickle alone, its buffers out of band)
# instead of cloudpickling a whole object per return, which measured ~0.1 ms a task.
#: A split's artifacts as dependent tasks receive them: ``[values, shard names]``.
Produced = list[Any]
#: A split's SplitMeta as the driver receives it: ``[names, shards, document]``.
MetaWire = list[Any]


def meta_wire(meta: SplitMeta) -> MetaWire:
    return [list(meta.names), dict(meta.shards), meta.document]


def meta_of(wire: MetaWire) -> SplitMeta:
    names, shards, document = wire
    return SplitMeta(tuple(names), shards, document)


@dataclass(frozen=True)
class Call:
    """A :class:`Task` as sent to a worker, with what it needs to run (sent as :meth:`wire` makes it).

    The configuration is the graph's, with ``container`` in place when hooks changed it. ``slots``
    says where each dependency split's artifacts sit: ``i >= 0`` among the task's other arguments,
    ``~i`` (negative) in ``boxed[i]`` (a ref, resolved once per worker, or its key), None: read it from
    the datastore.
    """

    key: str  # the execution's, naming its context in the workers' caches
    context: bytes  # the pickled Context
    boxed: list[Any]  # inputs every split reads: refs (boxed, so that Ray passes them unresolved) or their keys
    kind: TaskKind
    layer: str
    index: int | None
    splits: int | None
    attempt: int
    inputs: Mapping[str, Input]
    error: BaseException | None
    container: Container | None  # None: the graph's own
    slots: Mapping[str, Sequence[int | None]]

    @classmethod
    def of(
        cls,
        key: str,
        context: bytes,
        boxed: list[Any],
        task: Task,
        default: LayerConfiguration,
        slots: Mapping[str, Sequence[int | None]],
        inputs: Mapping[str, Input],
        error: BaseException | None,
    ) -> Call:
        """The Call of ``task``, sending only ``inputs`` and ``error`` of its own."""
        configuration = task.configuration
        container = None if configuration is default else configuration.container
        return cls(
            key,
            context,
            boxed,
            task.kind,
            task.layer,
            task.index,
            task.splits,
            task.attempt,
            inputs,
            error,
            container,
            slots,
        )

    def wire(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The Call and the task's ``values`` (refs) as the task's arguments, which Ray serializes cheaply.

        Ray packs bytes and lists with msgpack and hands anything else to cloudpickle, which calls back
        into Python for every object it meets (a Call holds dozens: its inputs and slots); and every
        argument costs each side ~30 us. So the plain values travel as one blob of the standard pickle
        (strings, numbers, tuples and dicts only; the shared inputs' keys among them), first; then, only
        when there are any, the shared inputs' refs in a list (Ray must see them to track them) and the
        exception and container, which may need cloudpickle (retries, containers changed by hooks); then
        the values. The blob says which of those follow it.
        """
        inputs = tuple(
            (name, read.layer, read.state, read.split, dict(read.items), read.splits)
            for name, read in self.inputs.items()
        )
        slots = tuple((name, tuple(positions)) for name, positions in self.slots.items())
        more = None if self.error is None and self.container is None else (self.error, self.container)
        keys = tuple(entry if isinstance(entry, str) else None for entry in self.boxed)  # None: a ref, in refs
        refs = [entry for entry in self.boxed if not isinstance(entry, str)]
        plain = (
            self.key,
            self.context,
            self.kind.value,
            self.layer,
            self.index,
            self.splits,
            self.attempt,
            inputs,
            slots,
            keys,
            bool(refs),
            more is not None,
        )
        blob = pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
        return blob, *((refs,) if refs else ()), *((more,) if more is not None else ()), *values

    @classmethod
    def unwire(cls, args: Sequence[Any]) -> tuple[Call, Sequence[Any]]:
        """The Call sent as ``args`` (see :meth:`wire`), and the task's values."""
        key, context, kind, layer, index, splits, attempt, inputs, slots, keys, carried, more = pickle.loads(args[0])
        rest = 1
        refs: Iterator[Any] = iter(())
        if carried:
            refs, rest = iter(args[rest]), rest + 1
        if more:
            more, rest = args[rest], rest + 1
        error, container = more or (None, None)
        call = cls(
            key,
            context,
            [entry if entry is not None else next(refs) for entry in keys],
            TaskKind(kind),
            layer,
            index,
            splits,
            attempt,
            {name: Input(layer, state, split, items, count) for name, layer, state, split, items, count in inputs},
            error,
            container,
            dict(slots),
        )
        return call, args[rest:]

    def task(self, default: LayerConfiguration) -> Task:
        configuration = default if self.container is None else default.model_copy(update={"container": self.container})
        return Task(
            0, self.kind, self.layer, self.index, self.splits, self.attempt, configuration, self.inputs, self.error
        )


CACHED = 4  # graphs and contexts kept per worker (the least recently used dropped first)
SHARED = 8  # shared inputs' values kept per worker: a task that reads more always carries their refs
_graphs: Kept[str, Graph] = Kept(CACHED)
_contexts: Kept[str, Context] = Kept(CACHED)
_dropped: collections.deque[str] = collections.deque(maxlen=64)  # keys of shared inputs dropped, latest last
_shared: Kept[str, Any] = Kept(SHARED, dropped=_dropped.append)

#: What a task returns instead of running when its worker does not hold a shared input it got the key of:
#: it never resolved it (MISSING), or resolved it and dropped it since, to keep others (DROPPED).
MISSING = "laminar: a shared input is not kept in this worker"
DROPPED = "laminar: a shared input was dropped from this worker's cache"
#: What a task returns instead of running when an upstream task it was submitted ahead of ran nothing
#: (returned MISSING or DROPPED, and was sent again): its inputs are the outputs of the task sent again.
STALE = "laminar: an upstream task this task was submitted ahead of ran nothing"
#: Every outcome of a task that ran nothing, and is to be sent again.
AGAIN = (MISSING, DROPPED, STALE)


class _Missing(Exception):
    """A shared input came as a key this worker holds no value for."""

    def __init__(self, dropped: bool) -> None:
        self.outcome = DROPPED if dropped else MISSING
        super().__init__(self.outcome)


def _graph(program: Program) -> Graph:
    return _graphs.keep(program.digest, lambda: pickle.loads(program.blob))


def _context(call: Call) -> Context:
    return _contexts.keep(call.key, lambda: pickle.loads(call.context))


def _lacking(key: str) -> Any:
    raise _Missing(dropped=key in _dropped)


def _shared_inputs(boxed: Sequence[Any]) -> list[Any]:
    """The values of a task's shared inputs: a ref is resolved once per worker and its value kept under its
    key; a key finds the value kept (:class:`_Missing` if there is none). All are resolved before the task
    runs anything, and held here, so that resolving one cannot drop another from the worker's cache."""
    return [
        _shared.keep(entry, partial(_lacking, entry))
        if isinstance(entry, str)
        else _shared.keep(entry.hex(), partial(ray.get, entry))
        for entry in boxed
    ]


def _source(
    context: Context, slots: Mapping[str, Sequence[int | None]], values: Sequence[Any], shared: Sequence[Any]
) -> runner.ArtifactSource:
    def one(name: str, split: int, slot: int | None) -> Artifacts:
        if slot is None:
            return context.datastore.split(context.flow, context.execution, name, split)
        produced: Produced = values[slot] if slot >= 0 else shared[~slot]
        return Values(produced[0], frozenset(produced[1]))

    def artifacts(name: str, read: Input) -> Artifacts:
        positions = slots[name]
        if read.split is None:
            return Joined([one(name, split, slot) for split, slot in enumerate(positions)])
        return one(name, read.split, positions[0])

    return artifacts


def _execute(program: Program, args: Sequence[Any]) -> Any:
    """Run the task sent as ``args``: its outcome, or one of :data:`AGAIN` (having run nothing)."""
    call, values = Call.unwire(args)
    if any(produced is None for produced in values):  # the output of an upstream task that ran nothing
        return STALE
    try:
        shared = _shared_inputs(call.boxed)
    except _Missing as missing:
        return missing.outcome
    graph = _graph(program)
    context = _context(call)
    return runner.execute(
        graph,
        call.task(graph[call.layer].configuration),
        flow=context.flow,
        execution=context.execution,
        datastore=context.datastore,
        artifacts=_source(context, call.slots, values, shared),
    )


def layer_function(program: Program) -> Callable[..., tuple[MetaWire | str, Produced | None]]:
    """The function of a flow's layer runs; the executor makes it remote once per distinct set of task
    options. It returns two objects: the split's meta (with its document), which only the driver reads,
    and its artifacts, which only dependent tasks read (or one of :data:`AGAIN`, and None)."""

    def layer_task(*args: Any) -> tuple[MetaWire | str, Produced | None]:
        outcome = _execute(program, args)
        if isinstance(outcome, str):  # one of AGAIN (compared by value: this function travels by value)
            return outcome, None
        return meta_wire(outcome.meta), [dict(outcome.values), list(outcome.shards)]

    return layer_task


def hook_function(program: Program) -> Callable[..., Any]:
    """The function of a flow's hook tasks (entry, submission and retry hooks that take layers)."""

    def run_hooks(*args: Any) -> Any:
        return _execute(program, args)

    return run_hooks
