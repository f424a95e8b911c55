"""The refs of one run's finished splits, and which a task carries: every ref, or a shared input's key.

Shared inputs. The splits of a foreach layer all read the plain layers it takes.
Each worker resolves such a ref once and keeps its value, so a task needs the
ref only when its worker has not resolved it yet; and a ref inside a task's
arguments costs Ray ~0.25 ms on each side (the driver pickles and tracks it,
the worker registers as its borrower and reports back), against ~2 us for its
key. So the first tasks that read a shared input, as many as the cluster has
CPUs, carry its ref, and after them about one task in :data:`CARRY_EVERY`,
chosen at random; the others carry its key. A worker handed a key it holds no
value for runs nothing and says so, and the task is submitted again carrying
every ref. The first tasks need not reach every worker (a worker whose lease
came late finds one worker ran them all): the tasks that carry at random reach
it after a few misses, wherever the queue's order puts it. A worker that held
the value and dropped it (its cache full) says so, and from then on every task
carries its refs.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from typing import Any

from laminar.graph import Graph
from laminar.task import Input
from laminar_ray import worker

#: After the first tasks, about one task in this many carries a shared input's ref.
CARRY_EVERY = 16

#: Where each dependency split of a task sits: ``i >= 0`` among its resolved arguments, ``~i`` among its
#: boxed shared inputs, None: read it from the datastore.
Slots = dict[str, list[int | None]]


class Outputs:
    """Refs of the artifacts of a run's finished splits (and of those running: Ray resolves them once they
    exist), by layer and split, until the engine releases their layer."""

    def __init__(self, graph: Graph, carriers: int, seed: str) -> None:
        self._graph = graph
        self._refs: dict[str, dict[int, Any]] = {}  # layer -> split -> ObjectRef of its artifacts
        self._carriers = carriers  # tasks that carry each shared input's ref before its key goes instead
        self._carried: dict[str, int] = {}  # shared ref's key -> tasks that carried the ref
        self._random = random.Random(seed)

    def keep(self, layer: str, split: int, ref: Any) -> None:
        self._refs.setdefault(layer, {})[split] = ref

    def release(self, layer: str) -> None:
        """No dependent reads ``layer`` again: drop its refs (a later reader reads the datastore, where
        every finished split's artifacts are)."""
        self._refs.pop(layer, None)

    def carry_all(self) -> None:
        """A worker dropped a shared input it held: from now on every task carries its refs."""
        self._carriers = sys.maxsize

    def arguments(
        self, index: int | None, inputs: Mapping[str, Input], carry: bool
    ) -> tuple[Slots, list[Any], list[Any]]:
        """ObjectRef arguments for a task's inputs (``values``), its shared inputs (``boxed``: refs or keys),
        and where each dependency split sits (``slots``).

        Ray resolves the refs among a task's arguments before it runs. The shared inputs (boxed in the
        task's Call, which Ray passes on unresolved) are the plain layers a split of a foreach layer reads;
        each goes as its ref or its key (see the module docstring), every one as its ref with ``carry``.
        """
        slots: Slots = {}
        values: list[Any] = []
        boxed: list[Any] = []
        for name, read in inputs.items():
            if read.state != "finished":
                continue
            splits = range(read.splits or 0) if read.split is None else [read.split]
            shared = index is not None and name in self._graph.nodes and not self._graph[name].foreach
            refs = self._refs.get(name, {})
            positions: list[int | None] = []
            for split in splits:
                ref = refs.get(split)
                if ref is None:
                    positions.append(None)  # finished in an earlier run (or released): read the datastore
                elif shared:
                    positions.append(~len(boxed))
                    boxed.append(ref)
                else:
                    positions.append(len(values))
                    values.append(ref)
            slots[name] = positions
        if boxed and not carry and len(boxed) <= worker.SHARED:
            boxed = [self._shared_entry(ref) for ref in boxed]
        return slots, values, boxed

    def _shared_entry(self, ref: Any) -> Any:
        """What a task carries of the shared input ``ref``: the ref itself while fewer than the cluster's
        CPUs carried it (counted), then in about one task in ``CARRY_EVERY``; else its key."""
        key = ref.hex()
        carried = self._carried.get(key, 0)
        if carried >= self._carriers and self._random.random() * CARRY_EVERY >= 1.0:
            return key
        self._carried[key] = carried + 1
        return ref
