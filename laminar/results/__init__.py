"""Results: an :class:`Execution` read back from the datastore (no executor, no Ray needed), and the
summaries that tables and pictures of it are drawn from.

>>> from laminar import Flow, Layer
>>> from laminar.configurations import datastores, executors
>>> class Numbers(Flow): ...
>>> @Numbers.register
... class Count(Layer):
...     def __call__(self) -> None:
...         self.shard(n=[1, 2, 3])
>>> flow = Numbers(datastore=datastores.Memory(), executor=executors.Thread())
>>> execution = flow()
>>> list(execution.layer(Count).n), execution.layer(Count).state.finished
([1, 2, 3], True)
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol, TypeVar, overload

from laminar.datastore import Datastore
from laminar.display import jupyter, mermaid, report
from laminar.display.model import AttemptView, SplitView
from laminar.display.summary import LayerSummary
from laminar.errors import ExecutionNotFound, LaminarError
from laminar.graph import PARAMETERS, Graph
from laminar.layer import Context, Layer, Parameters, State, assigned
from laminar.records import ExecutionRecord, LayerRecord
from laminar.results import views

L = TypeVar("L", bound=Layer)


class Stored(Protocol):
    @property
    def datastore(self) -> Datastore: ...


class Definition(Protocol):
    """What an execution needs of its flow (a :class:`~laminar.flow.Flow`; results sit below flows)."""

    @property
    def name(self) -> str: ...

    @property
    def configuration(self) -> Stored: ...

    def graph(self) -> Graph: ...

    def __call__(self, *, execution: str | None = None, **parameters: Any) -> Execution: ...

    def _run(
        self,
        identifier: str,
        *,
        resume: bool,
        parameters: dict[str, Any],
        progress: bool | None,
        rerun: Collection[type[Layer] | str] = (),
    ) -> Execution: ...


class Execution:
    """A flow's execution: ``.layer(A).attr``, ``.layer(A).state``, ``.resume()``, ``.next(...)``."""

    def __init__(self, flow: Definition, id: str) -> None:
        self.flow = flow
        self.id = id

    def __repr__(self) -> str:
        return f"Execution(flow={self.flow.name!r}, id={self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Execution) and (other.flow.name, other.id) == (self.flow.name, self.id)

    def __hash__(self) -> int:
        return hash((self.flow.name, self.id))

    @property
    def _store(self) -> Datastore:
        return self.flow.configuration.datastore

    @property
    def record(self) -> dict[str, Any]:
        """The execution's own record (creation time, parameter names)."""
        record = self._store.read_execution(self.flow.name, self.id)
        if record is None:
            raise ExecutionNotFound(f"{self.flow.name} has no execution {self.id!r} in {self._store.url}")
        return record

    @overload
    def layer(self, layer: type[L]) -> L: ...
    @overload
    def layer(self, layer: str) -> Layer: ...
    def layer(self, layer: type[L] | str) -> L | Layer:
        """The layer as it ended: artifacts as attributes (Accessors over splits for foreach layers)."""
        graph = self.flow.graph()
        nodes = graph.nodes
        name = PARAMETERS if isinstance(layer, type) and issubclass(layer, Parameters) else _named(layer)
        if name == PARAMETERS:
            cls: type[Layer] = graph.parameters  # the flow's declared parameters (or Parameters itself)
        elif name in nodes:
            cls = nodes[name].layer
        else:
            known = ", ".join(sorted(nodes)) or "none"
            raise LaminarError(f"{self.flow.name} has no layer {name!r} (its layers: {known})")
        store = self._store
        record = self._layer_record(name)
        phase, splits, attempt = record.state, record.splits, record.attempt
        artifacts = store.layer(self.flow.name, self.id, name, splits) if phase == "finished" else None
        if artifacts is None and name == PARAMETERS:  # its record not written yet: the claim holds a copy
            claimed = ExecutionRecord.from_json(self.record).document
            if claimed is not None:
                phase, artifacts = "finished", store.split_of(self.flow.name, self.id, name, 0, claimed)
        instance = cls.__new__(cls)
        instance._laminar = Context(
            flow=self.flow.name,
            execution=self.id,
            splits=splits,
            state=State(phase, attempt=attempt),
            artifacts=artifacts,
        )
        return instance

    def _layer_record(self, name: str) -> LayerRecord:
        found = self._store.read_layer_record(self.flow.name, self.id, name)
        return LayerRecord.from_json(found) if found is not None else LayerRecord("pending")

    @property
    def parameters(self) -> Parameters:
        """The parameters the execution was started with."""
        return self.layer(Parameters)

    def layers(self) -> dict[str, State]:
        """Each registered layer's final state."""
        return {name: self.layer(name).state for name in self.flow.graph().nodes}

    def splits(self, layer: type[Layer] | str) -> list[SplitView]:
        """Each split of ``layer`` (a plain layer has one, index 0) with its attempts, oldest first: state,
        start and end, resources asked for and granted, where it ran, error and traceback, what it wrote.
        Splits not started yet are left out."""
        name = self._name(layer)
        store = self._store
        files = store.attempts(self.flow.name, self.id, name)
        finished = store.finished_splits(self.flow.name, self.id, name)
        return [
            views.split_view(store, self.flow.name, self.id, name, index, files.get(index), index in finished)
            for index in sorted(finished | set(files))
        ]

    def logs(self, layer: type[Layer] | str, index: int | None = None, *, attempt: int = -1) -> AttemptView:
        """One attempt of one split (``index`` None: a plain layer's, or the foreach layer's only split; else
        the split's index; ``attempt`` -1: the last, else its number) with what it wrote: ``.stdout``,
        ``.stderr``, and how it ended."""
        name = self._name(layer)
        found = {split.index: split for split in self.splits(name)}
        if index is None:
            if len(found) > 1:
                raise LaminarError(f"{self.flow.name}.{name} has {len(found)} splits; pass index=")
            index = next(iter(found), 0)
        split = found.get(index)
        if split is None or not split.attempts:
            raise LaminarError(f"{self.flow.name}.{name}[{index}] of execution {self.id!r} has not run yet")
        numbers = [a.number for a in split.attempts]
        chosen = split.attempts[-1] if attempt == -1 else next((a for a in split.attempts if a.number == attempt), None)
        if chosen is None:
            raise LaminarError(f"{self.flow.name}.{name}[{index}] has no attempt {attempt} (its attempts: {numbers})")
        return chosen

    def _name(self, layer: type[Layer] | str) -> str:
        name = layer if isinstance(layer, str) else layer.__name__
        nodes = self.flow.graph().nodes
        if name not in nodes:
            known = ", ".join(sorted(nodes)) or "none"
            raise LaminarError(f"{self.flow.name} has no layer {name!r} (its layers: {known})")
        return name

    def summary(self) -> list[LayerSummary]:
        """Each layer (graph order) with its state, splits, artifacts and timings, as its records tell it."""
        return summary(self)

    def mermaid(self) -> str:
        """The flow's Mermaid diagram with each layer coloured by its state in this execution."""
        return mermaid.execution_mermaid(self.flow.graph(), self.summary())

    def resume(self, *, progress: bool | None = None, rerun: Collection[type[Layer] | str] = ()) -> Execution:
        """Run again, skipping every layer and foreach split that already finished and can be read back
        (damaged records are set aside and what they recorded runs again).

        ``rerun``: layers (classes or names) to run again although they finished, with every layer
        downstream of them: ``execution.resume(rerun=[Train])`` after an artifact of ``Train`` was found
        corrupt or removed, say (the new run's write replaces the damaged artifact)."""
        return self.flow._run(self.id, resume=True, parameters={}, progress=progress, rerun=rerun)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows an execution as its graph coloured by state (SVG) beside a table of its layers."""
        title = f"{self.flow.name} execution {self.id}"
        graph = self.flow.graph()
        view = views.execution_view(self._store, self.flow.name, self.id, graph, splits=False, previews=False)
        return jupyter.execution_bundle(graph, self.summary(), title, repr(self), view)

    def report(self) -> str:
        """This execution as one self-contained HTML page (graph, timeline, parameters, layers, splits,
        failures): what ``laminar report`` writes."""
        view = views.execution_view(self._store, self.flow.name, self.id, self.flow.graph())
        return report.document(view, source=self._store.url)

    def next(self, flow: Definition, linker: Callable[[Execution], Layer]) -> Execution:
        """Run ``flow`` under this execution's id with the parameters ``linker`` builds from this one."""
        parameters = linker(self)
        return flow(execution=self.id, **assigned(parameters))


def _named(layer: type[Layer] | str) -> str:
    return layer if isinstance(layer, str) else layer.__name__


def summary(execution: Execution) -> list[LayerSummary]:
    """Each layer of ``execution`` (graph order) with its state, splits, artifacts and timings."""
    rows = []
    for name in execution.flow.graph().nodes:
        record = execution._layer_record(name)
        rows.append(
            LayerSummary(
                name,
                record.state,
                record.splits,
                record.names,
                record.started,
                record.ended,
                record.error,
                record.cached,
                record.cached_from,
            )
        )
    return rows
