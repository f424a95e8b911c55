"""What travels between the driver and Ray's workers, and how it is packed.

- A flow's graph as a :class:`Program`: pickled once in the driver, named by its
  digest, loaded once per worker (it travels inside the remote functions).
- An execution's :class:`Context` (flow, execution id, datastore): a few hundred
  bytes in every task, unpickled once per worker.
- A task as a :class:`Call`, packed by :meth:`Call.wire` into Ray arguments that
  Ray serializes cheaply (bytes and lists, which it packs with msgpack).
- What a layer task returns: its split's meta for the driver (:data:`MetaWire`)
  and its artifacts for dependent tasks (:data:`Produced`), lists and dicts only;
  or, when it ran nothing, an :class:`Again` (as its value) and None. What it
  raised that is not an ``Exception`` travels as :class:`Raised`.

``tests/ray/test_wire.py`` round-trips each.
"""

from __future__ import annotations

import enum
import hashlib
import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray

from laminar.datastore import Datastore
from laminar.graph import Graph
from laminar.logs import LogPolicy
from laminar.options import Container, LayerConfiguration
from laminar.records import SplitMeta
from laminar.task import Input, Task, TaskKind


class Again(str, enum.Enum):
    """Why a task ran nothing, and is to be submitted again (carrying every ref it reads)."""

    #: its worker does not hold a shared input it got the key of: it never resolved it
    missing = "laminar: a shared input is not kept in this worker"
    #: its worker resolved that shared input and dropped it since, to keep others
    dropped = "laminar: a shared input was dropped from this worker's cache"
    #: an upstream task it was submitted ahead of ran nothing (and was sent again): its inputs are the
    #: outputs of the task sent again
    stale = "laminar: an upstream task this task was submitted ahead of ran nothing"
    #: it was submitted ahead of its inputs, and the run was failing when they came: it was withdrawn
    withdrawn = "laminar: withdrawn (the run was failing when its inputs came)"


class Raised(Exception):
    """Carries what a layer raised that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``) out
    of its task: raised in a Ray worker, those would end the worker or read as Ray's own cancellation, and
    the driver would never learn what the layer raised. The session reports :attr:`error` itself."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error

    def __reduce__(self) -> tuple[type, tuple[BaseException]]:
        return type(self), (self.error,)


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
    logs: LogPolicy = field(default_factory=LogPolicy)

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
    #: submitted ahead of tasks it reads: it looks for its run's withdrawal before it runs anything
    ahead: bool = False

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
            bool(task.after),
        )

    def wire(self, values: Sequence[Any]) -> tuple[Any, ...]:
        plain, *rest = self.parts(values)
        return pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL), *rest

    def parts(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The Call and the task's ``values`` (refs) as the task's arguments, which Ray serializes cheaply.

        Ray packs bytes and lists with msgpack and hands anything else to cloudpickle, which calls back
        into Python for every object it meets (a Call holds dozens: its inputs and slots); and every
        argument costs each side ~30 us. So the plain values travel as one blob of the standard pickle
        (strings, numbers, tuples and dicts only; the shared inputs' keys among them), first; then, only
        when there are any, the shared inputs' refs in a list (Ray must see them to track them) and the
        exception and container, which may need cloudpickle (retries, containers changed by hooks); then
        the values. The blob says which of those follow it. :meth:`parts` gives the blob unpickled (a
        batch pickles its splits' together, their shared context once).
        """
        inputs = tuple(
            (name, read.layer, read.state, read.split, dict(read.items), read.splits, read.pick)
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
            self.ahead,
        )
        return plain, *((refs,) if refs else ()), *((more,) if more is not None else ()), *values

    @classmethod
    def unwire(cls, args: Sequence[Any]) -> tuple[Call, Sequence[Any]]:
        """The Call sent as ``args`` (see :meth:`wire`, or :meth:`parts` when the first is a tuple), and
        the task's values."""
        plain = args[0] if isinstance(args[0], tuple) else pickle.loads(args[0])
        key, context, kind, layer, index, splits, attempt, inputs, slots, keys, carried, more, ahead = plain
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
            {
                name: Input(layer, state, split, items, count, pick)
                for name, layer, state, split, items, count, pick in inputs
            },
            error,
            container,
            dict(slots),
            ahead,
        )
        return call, args[rest:]

    def task(self, default: LayerConfiguration) -> Task:
        configuration = default if self.container is None else default.model_copy(update={"container": self.container})
        return Task(
            0, self.kind, self.layer, self.index, self.splits, self.attempt, configuration, self.inputs, self.error
        )
