"""``Execution``: one run of a flow, read back from the datastore (no executor, no Ray needed).

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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from laminar.graph import PARAMETERS
from laminar.layer import Context, Layer, Parameters, State, assigned

if TYPE_CHECKING:  # annotation only: flow imports this module at call time
    from laminar.flow import Flow

L = TypeVar("L", bound=Layer)


class Execution:
    """A flow's execution: ``.layer(A).attr``, ``.layer(A).state``, ``.resume()``, ``.next(...)``."""

    def __init__(self, flow: Flow, id: str) -> None:
        self.flow = flow
        self.id = id

    def __repr__(self) -> str:
        return f"Execution(flow={self.flow.name!r}, id={self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Execution) and (other.flow.name, other.id) == (self.flow.name, self.id)

    def __hash__(self) -> int:
        return hash((self.flow.name, self.id))

    @property
    def record(self) -> dict[str, Any]:
        """The execution's own record (creation time, parameter names)."""
        from laminar.errors import ExecutionNotFound

        store = self.flow.configuration.datastore
        record = store.read_execution(self.flow.name, self.id)
        if record is None:
            raise ExecutionNotFound(f"{self.flow.name} has no execution {self.id!r} in {store.url}")
        return record

    @overload
    def layer(self, layer: type[L]) -> L: ...
    @overload
    def layer(self, layer: str) -> Layer: ...
    def layer(self, layer: type[L] | str) -> L | Layer:
        """The layer as it ended: artifacts as attributes (Accessors over splits for foreach layers)."""
        name = layer if isinstance(layer, str) else layer.__name__
        registry = type(self.flow).registry
        if name == PARAMETERS:
            cls: type[Layer] = Parameters
        elif name in registry:
            cls = registry[name].layer
        else:
            from laminar.errors import LaminarError

            known = ", ".join(sorted(registry)) or "none"
            raise LaminarError(f"{self.flow.name} has no layer {name!r} (its layers: {known})")
        store = self.flow.configuration.datastore
        record = store.read_layer_record(self.flow.name, self.id, name) or {}
        phase = str(record.get("state", "pending"))
        splits = record.get("splits")
        instance = cls.__new__(cls)
        instance._laminar = Context(
            flow=self.flow.name,
            execution=self.id,
            splits=splits,
            state=State(phase),
            artifacts=store.layer(self.flow.name, self.id, name, splits) if phase == "finished" else None,
        )
        return instance

    @property
    def parameters(self) -> Parameters:
        """The parameters the execution was started with."""
        return self.layer(Parameters)

    def layers(self) -> dict[str, State]:
        """Each registered layer's final state."""
        return {name: self.layer(name).state for name in type(self.flow).registry}

    def resume(self, *, progress: bool | None = None) -> Execution:
        """Run again, skipping every layer and foreach split that already finished."""
        return self.flow._run(self.id, resume=True, parameters={}, observer=None, progress=progress)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows an execution as a table of its layers coloured by state, and its diagram."""
        from laminar.diagram import execution_bundle

        return execution_bundle(self)

    def next(self, flow: Flow, linker: Callable[[Execution], Layer]) -> Execution:
        """Run ``flow`` under this execution's id with the parameters ``linker`` builds from this one."""
        parameters = linker(self)
        return flow(execution=self.id, **assigned(parameters))
