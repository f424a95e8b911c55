"""What runs inside Ray workers: one function for layer runs, one for hooks, per flow graph.

A flow's graph (its layer and hook classes) travels inside the remote functions
(:func:`layer_function`, :func:`hook_function`), pickled once as a
:class:`~laminar_ray.wire.Program`: Ray exports a function once and each worker
loads it once, so a 10,000-split fan-out deserializes the layer classes once per
worker, not once per task, and a task carries no reference to them. What changes
per run (the execution and the datastore) travels as a few hundred bytes in every
task, unpickled once per worker (:func:`_context`).

Upstream artifacts arrive as resolved ObjectRef arguments, or, for a plain layer
that every split of a foreach layer reads, shared: the first tasks carry its ref
boxed in the Call (Ray passes it on unresolved), and each worker that resolves it
keeps the value; later tasks carry only the ref's key (:func:`_shared_inputs`). A
worker that does not hold a value it is handed the key of runs nothing and
returns :attr:`Again.missing` (or :attr:`Again.dropped`); the session submits
that task again carrying the refs. A task submitted ahead of it (a join) then
received None for its output: it runs nothing either and returns
:attr:`Again.stale`, and is submitted again with the new task's output. Splits
that finished in an earlier run of a resumed execution are read from the
datastore instead.
"""

from __future__ import annotations

import collections
import pickle
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import ray

from laminar import containers, runner, runtime
from laminar.artifacts import Artifacts, Joined, Values
from laminar.datastore import layout
from laminar.errors import UnpicklableError
from laminar.graph import Graph
from laminar.records import attach, attempt_of
from laminar.task import Input, TaskKind
from laminar_ray import cluster
from laminar_ray.kept import Kept
from laminar_ray.wire import Again, Call, Context, MetaWire, Produced, Program, Raised, meta_wire

if cluster.in_worker():  # Ray imports this module in a worker to load its task functions
    runtime.mark_worker()  # before any user module loads there (the payload, task arguments)

CACHED = 4  # graphs and contexts kept per worker (the least recently used dropped first)
SHARED = 8  # shared inputs' values kept per worker: a task that reads more always carries their refs
_graphs: Kept[str, Graph] = Kept(CACHED)
_contexts: Kept[str, Context] = Kept(CACHED)
_dropped: collections.deque[str] = collections.deque(maxlen=64)  # keys of shared inputs dropped, latest last
_shared: Kept[str, Any] = Kept(SHARED, dropped=_dropped.append)


class _Missing(Exception):
    """A shared input came as a key this worker holds no value for."""

    def __init__(self, dropped: bool) -> None:
        self.outcome = Again.dropped if dropped else Again.missing
        super().__init__(self.outcome.value)


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


def _withdrawn(call: Call) -> bool:
    """Whether the run that submitted this task ahead withdrew it meanwhile (it is failing): it left a mark
    in the datastore. (``ray.cancel`` of a task whose inputs are being resolved can crash the driver on
    Ray's reference count check, so a withdrawal is a mark each such task looks for.)"""
    context = _context(call)
    return context.datastore.exists(layout.withdrawn(context.flow, context.execution, call.key))


def _execute(program: Program, args: Sequence[Any], worker: Mapping[str, Any] | None = None) -> Any:
    """Run the task sent as ``args``: its outcome, or an :class:`Again` (having run nothing). What the
    layer raises that is not an ``Exception`` is raised as :class:`Raised` (but Ray's own cancellation).
    ``worker``: where it runs, when the caller knows (a batch asks Ray once for all its splits)."""
    try:
        return _run(program, args, worker)
    except (SystemExit, KeyboardInterrupt) as error:
        if isinstance(error, KeyboardInterrupt) and cluster.cancelled():
            raise  # ray.cancel: Ray reports it as the task cancelled
        raise Raised(error) from None


def _run(program: Program, args: Sequence[Any], worker: Mapping[str, Any] | None) -> Any:
    call, values = Call.unwire(args)
    if call.ahead and _withdrawn(call):
        return Again.withdrawn
    if any(produced is None for produced in values):  # the output of an upstream task that ran nothing
        return Again.stale
    try:
        shared = _shared_inputs(call.boxed)
    except _Missing as missing:
        return missing.outcome
    graph = _graph(program)
    context = _context(call)
    task = call.task(graph[call.layer].configuration)
    # A run in an image (or a workdir of its own): this task only starts the split's container (process)
    # and waits for it (its resources stand for the container's); the container runs the same function
    # and hands back the same outcome.
    where: dict[str, Any] = {
        "flow": context.flow,
        "execution": context.execution,
        "datastore": context.datastore,
        "artifacts": _source(context, call.slots, values, shared),
        "logs": context.logs,
    }
    if containers.isolated(task):
        return containers.execute(graph, task, **where)
    # a Ray worker runs one task at a time: its stdout and stderr are the split's (whole_process)
    if worker is None and task.kind is TaskKind.run:
        worker = cluster.worker_info()
    return runner.execute(graph, task, **where, whole_process=True, worker=worker)


def layer_function(program: Program) -> Callable[..., tuple[MetaWire | str, Produced | None]]:
    """The function of a flow's layer runs; the executor makes it remote once per distinct set of task
    options. It returns two objects: the split's meta (with its document), which only the driver reads,
    and its artifacts, which only dependent tasks read (or an :class:`Again`'s value, and None)."""

    def layer_task(*args: Any) -> tuple[MetaWire | str, Produced | None]:
        outcome = _execute(program, args)
        if isinstance(outcome, Again):  # a plain string on the wire: Ray packs it without cloudpickle
            return outcome.value, None
        return meta_wire(outcome.meta), [dict(outcome.values), list(outcome.shards)]

    return layer_task


def batch_function(program: Program) -> Callable[..., Iterator[Any]]:
    """The function of a batch of one layer's splits (docs/batching.md): a generator that runs them one
    after another, each exactly as :func:`layer_function` would, and reports what finished as it goes, so
    that what finished reaches the driver even if this worker dies later. A report is yielded once it
    covers ``together`` splits or ``every`` seconds passed since the last (``together`` is 1 until the
    driver measured the layer's splits; quick ones then share a report), and at the end. A report is the
    list of the outcomes of the splits it covers, each ``[status, payload, seconds]`` (``ok`` and its
    meta, ``again`` and an :class:`Again`'s value, or ``failed`` and the exception the split raised, with
    its attempt attached, as ``runner.execute`` raises it), followed by, for each of those splits that
    dependents read, its artifacts (None if it has none), in order. A split that raises fails alone: the
    batch goes on with the next."""

    def batch_task(header: bytes, *args: Any) -> Iterator[Any]:
        blobs, counts, feeds, together, every = pickle.loads(header)
        worker = cluster.worker_info()  # the same for every split of the task
        outcomes: list[list[Any]] = []
        produced: list[Any] = []
        at = 0
        reported = time.perf_counter()
        last = len(counts) - 1
        for position, (blob, count, feed) in enumerate(zip(blobs, counts, feeds, strict=True)):
            started = time.perf_counter()
            try:
                outcome = _execute(program, (blob, *args[at : at + count]), worker)
            except Exception as error:
                outcomes.append(["failed", _portable(error), time.perf_counter() - started])
                artifacts = None
            else:
                seconds = time.perf_counter() - started
                if isinstance(outcome, Again):
                    outcomes.append(["again", outcome.value, seconds])
                    artifacts = None
                else:
                    outcomes.append(["ok", meta_wire(outcome.meta), seconds])
                    artifacts = [dict(outcome.values), list(outcome.shards)]
            if feed:
                produced.append(artifacts)
            at += count
            if position == last or len(outcomes) >= together or time.perf_counter() - reported >= every:
                yield _report(outcomes)
                for artifacts in produced:  # (not ``yield from``: Ray sends into the generator)
                    yield artifacts
                outcomes, produced = [], []
                reported = time.perf_counter()

    return batch_task


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives the trip to the driver, else an :class:`UnpicklableError` in its place,
    with its attempt's record: a report holds several splits' outcomes, and one exception the driver
    cannot unpickle would fail the report's other splits with it."""
    try:
        ray.cloudpickle.loads(ray.cloudpickle.dumps(error))  # type: ignore[no-untyped-call]
    except Exception as why:
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        stand_in = UnpicklableError(kind, str(error), f"{type(why).__name__}: {why}")
        attach(stand_in, attempt_of(error))
        return stand_in
    return error


def _report(outcomes: list[list[Any]]) -> Any:
    """A batch's report as it goes on the wire: pickled here when the standard pickle can (Ray passes
    bytes through; a list of documents it would pickle object by object, calling back into Python),
    else as it is (an exception only cloudpickle can carry)."""
    try:
        return pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return outcomes


def hook_function(program: Program) -> Callable[..., Any]:
    """The function of a flow's hook tasks (entry, submission and retry hooks that take layers)."""

    def run_hooks(*args: Any) -> Any:
        outcome = _execute(program, args)
        return outcome.value if isinstance(outcome, Again) else outcome

    return run_hooks
