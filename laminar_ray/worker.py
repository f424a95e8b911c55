"""What runs inside Ray workers: one function for layer runs, one for hooks.

Both receive the run's payload (graph, datastore) by reference and cache it
per worker process, so a 10,000-split fan-out deserializes the layer classes
once per worker, not once per task. Upstream artifacts arrive as resolved
ObjectRef arguments (``values``); splits that finished in an earlier run of a
resumed execution are read from the datastore instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray

from laminar import runner
from laminar.artifacts import Artifacts, Joined, Values
from laminar.datastore import Datastore, SplitMeta
from laminar.executors.base import Input, Task
from laminar.graph import Graph
from laminar.options import Container, LayerConfiguration, Retry


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


_payloads: dict[str, Payload] = {}


def _payload(key: str, boxed: list[Any]) -> Payload:
    payload = _payloads.get(key)
    if payload is None:
        payload = ray.get(boxed[0])
        _payloads.clear()  # keep one execution's classes per worker
        _payloads[key] = payload
    return payload


def _source(
    payload: Payload, slots: Mapping[str, Sequence[int | None]], values: Sequence[Any]
) -> runner.ArtifactSource:
    def one(name: str, split: int, slot: int | None) -> Artifacts:
        if slot is None:
            return payload.datastore.split(payload.flow, payload.execution, name, split)
        produced: Produced = values[slot]
        return Values(produced.values, produced.shards)

    def artifacts(name: str, read: Input) -> Artifacts:
        positions = slots[name]
        if read.split is None:
            return Joined([one(name, split, slot) for split, slot in enumerate(positions)])
        return one(name, read.split, positions[0])

    return artifacts


def _execute(
    key: str, boxed: list[Any], task: Task, slots: Mapping[str, Sequence[int | None]], values: Sequence[Any]
) -> Any:
    payload = _payload(key, boxed)
    return runner.execute(
        payload.graph,
        task,
        flow=payload.flow,
        execution=payload.execution,
        datastore=payload.datastore,
        artifacts=_source(payload, slots, values),
    )


@ray.remote
def run_layer(
    key: str, boxed: list[Any], task: Task, slots: Mapping[str, Sequence[int | None]], *values: Any
) -> tuple[SplitMeta, Produced]:
    outcome: runner.Outcome = _execute(key, boxed, task, slots, values)
    return outcome.meta, Produced(outcome.values, outcome.shards)


@ray.remote(num_cpus=0)
def run_hooks(key: str, boxed: list[Any], task: Task, slots: Mapping[str, Sequence[int | None]], *values: Any) -> Any:
    result = _execute(key, boxed, task, slots, values)
    if isinstance(result, LayerConfiguration):
        # Send back only what hooks may change. Layer classes (in ForEach) must never travel back:
        # unpickling a class shipped by value makes cloudpickle overwrite the driver's own class.
        return Changes(container=result.container, retry=result.retry)
    return result


@dataclass(frozen=True)
class Changes:
    """What submission and retry hooks changed, merged into the driver's configuration."""

    container: Container
    retry: Retry | None

    def apply(self, configuration: LayerConfiguration) -> LayerConfiguration:
        return configuration.model_copy(update={"container": self.container, "retry": self.retry})
