"""What runs inside Ray workers: one function for layer runs, one for hooks.

Both receive the run's payload (graph, datastore) by reference and cache it
per worker process, so a 10,000-split fan-out deserializes the layer classes
once per worker, not once per task. A task travels as a :class:`Call`: the
scheduler's task without its configuration (which holds layer classes, that
cloudpickle would ship by value on every call), plus the container when hooks changed it.
Upstream artifacts arrive as resolved ObjectRef arguments (``values``), or,
for a plain layer that every split of a foreach layer reads, as a ref boxed in
the Call, resolved once per worker (:func:`_resolve`); splits that finished in an earlier
run of a resumed execution are read from the datastore instead.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray

from laminar import runner, runtime
from laminar.artifacts import Artifacts, Joined, Values
from laminar.datastore import Datastore, SplitMeta
from laminar.executors.base import Input, Task, TaskKind
from laminar.graph import Graph
from laminar.options import Container, LayerConfiguration


def _mark_if_worker() -> None:
    """In a Ray worker, mark the process before any user module loads (the payload, task arguments)."""
    if ray._private.worker.global_worker.mode == ray.WORKER_MODE:
        runtime.mark_worker()


_mark_if_worker()  # Ray imports this module in a worker to load its task functions


@dataclass(frozen=True)
class Payload:
    """What every task of one execution shares."""

    key: str
    flow: str
    execution: str
    graph: Graph
    datastore: Datastore


@dataclass(frozen=True)
class Produced:
    """A split's artifacts as they travel between tasks in Ray's object store."""

    values: Mapping[str, Any]
    shards: frozenset[str]


@dataclass(frozen=True)
class Call:
    """A :class:`Task` as sent to a worker, with what it needs to run: one argument, pickled once.

    The configuration is the graph's, with ``container`` in place when hooks changed it. ``slots``
    says where each dependency split's artifacts sit: ``i >= 0`` among the task's other arguments,
    ``-i`` in ``boxed`` (resolved once per worker), None: read it from the datastore.
    """

    key: str
    boxed: list[Any]  # the Payload's ref, then refs every split reads: boxed, so that Ray passes them unresolved
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
        boxed: list[Any],
        task: Task,
        default: LayerConfiguration,
        slots: Mapping[str, Sequence[int | None]],
    ) -> Call:
        configuration = task.configuration
        container = None if configuration is default else configuration.container
        return cls(
            key,
            boxed,
            task.kind,
            task.layer,
            task.index,
            task.splits,
            task.attempt,
            task.inputs,
            task.error,
            container,
            slots,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Ray pickles task arguments with cloudpickle, which calls back into Python for every object it
        meets, and a Call holds dozens (its inputs and slots): those plain values travel as one blob of
        the standard pickle (strings, numbers, tuples and dicts only). Beside it go the refs, which Ray
        must see to track them, and the exception and container, which may need cloudpickle."""
        inputs = tuple(
            (name, read.layer, read.state, read.split, dict(read.items), read.splits)
            for name, read in self.inputs.items()
        )
        slots = tuple((name, tuple(positions)) for name, positions in self.slots.items())
        plain = (self.key, self.kind.value, self.layer, self.index, self.splits, self.attempt, inputs, slots)
        return _call, (pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL), self.boxed, self.error, self.container)

    def task(self, default: LayerConfiguration) -> Task:
        configuration = default if self.container is None else default.model_copy(update={"container": self.container})
        return Task(
            0, self.kind, self.layer, self.index, self.splits, self.attempt, configuration, self.inputs, self.error
        )


def _call(blob: bytes, boxed: list[Any], error: BaseException | None, container: Container | None) -> Call:
    key, kind, layer, index, splits, attempt, inputs, slots = pickle.loads(blob)
    return Call(
        key,
        boxed,
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


_payloads: dict[str, Payload] = {}
_shared: collections.OrderedDict[str, Any] = collections.OrderedDict()
SHARED_CACHE = 4  # upstream splits kept resolved per worker (least recently used dropped first)


def _payload(key: str, boxed: list[Any]) -> Payload:
    payload = _payloads.get(key)
    if payload is None:
        payload = ray.get(boxed[0])
        _payloads.clear()  # keep one execution's classes per worker
        _shared.clear()
        _payloads[key] = payload
    return payload


def _resolve(ref: Any) -> Any:
    """The value of a boxed ref: resolved once per worker (the few most recently used are kept)."""
    key = ref.hex()
    if key in _shared:
        _shared.move_to_end(key)
        return _shared[key]
    resolved = ray.get(ref)
    _shared[key] = resolved
    while len(_shared) > SHARED_CACHE:
        _shared.popitem(last=False)
    return resolved


def _source(
    payload: Payload, slots: Mapping[str, Sequence[int | None]], values: Sequence[Any], boxed: Sequence[Any]
) -> runner.ArtifactSource:
    def one(name: str, split: int, slot: int | None) -> Artifacts:
        if slot is None:
            return payload.datastore.split(payload.flow, payload.execution, name, split)
        produced: Produced = values[slot] if slot >= 0 else _resolve(boxed[-slot])
        return Values(produced.values, produced.shards)

    def artifacts(name: str, read: Input) -> Artifacts:
        positions = slots[name]
        if read.split is None:
            return Joined([one(name, split, slot) for split, slot in enumerate(positions)])
        return one(name, read.split, positions[0])

    return artifacts


def _execute(call: Call, values: Sequence[Any]) -> Any:
    payload = _payload(call.key, call.boxed)
    return runner.execute(
        payload.graph,
        call.task(payload.graph[call.layer].configuration),
        flow=payload.flow,
        execution=payload.execution,
        datastore=payload.datastore,
        artifacts=_source(payload, call.slots, values, call.boxed),
        # The split's document goes back to the scheduler, which commits it (with others of its
        # layer): written here, it would cost a create, a flush and a rename (more than a small task's
        # whole run) on the way to the dependents, which start on the task's outputs.
        commit=False,
    )


def layer_task(call: Call, *values: Any) -> tuple[SplitMeta, Produced]:
    """A layer run; the executor makes it a remote function once per distinct set of task options."""
    outcome: runner.Outcome = _execute(call, values)
    return outcome.meta, Produced(outcome.values, outcome.shards)


@ray.remote(num_cpus=0)
def run_hooks(call: Call, *values: Any) -> Any:
    return _execute(call, values)
