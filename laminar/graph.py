"""A flow's graph: which layer depends on which, found from type hints, validated as a whole.

Dependencies come only from annotations on ``__call__`` and on hooks (and the
layers a ``ForEach`` reads). Validation collects every problem of a flow —
missing annotations, unregistered dependencies, duplicate names, cycles,
foreach parameters on layers the layer does not depend on — and raises them
together in one :class:`~laminar.errors.FlowDefinitionError`.
"""

from __future__ import annotations

import difflib
import inspect
import os
import sys
import sysconfig
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from laminar import hooks as hooks_
from laminar import parameters as parameters_
from laminar.errors import FlowDefinitionError
from laminar.layer import Layer, Parameters
from laminar.options import LayerConfiguration

PARAMETERS = Parameters.__name__


@dataclass(frozen=True)
class Registration:
    """A layer class registered on a flow, with that flow's configuration for it."""

    layer: type[Layer]
    configuration: LayerConfiguration


@dataclass(frozen=True)
class BoundHook:
    """A hook with its layer parameters resolved to layer names."""

    hook: hooks_.Hook
    parameters: Mapping[str, str]  # parameter name -> dependency layer name


@dataclass(frozen=True)
class Node:
    """One layer of a validated flow."""

    name: str
    layer: type[Layer]
    configuration: LayerConfiguration
    call: Mapping[str, str]  # __call__ parameter name -> dependency layer name
    hooks: Mapping[hooks_.Kind, tuple[BoundHook, ...]]
    dependencies: tuple[str, ...]

    @property
    def foreach(self) -> bool:
        return self.configuration.foreach is not None

    def hooks_of(self, kind: hooks_.Kind) -> tuple[BoundHook, ...]:
        return self.hooks.get(kind, ())


@dataclass(frozen=True)
class Graph:
    """Nodes in a topological order (registration order among independent layers)."""

    flow: str
    nodes: Mapping[str, Node]
    dependents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The flow's declared parameters (:mod:`laminar.parameters`); ``Parameters`` itself: none declared.
    parameters: type[Parameters] = Parameters

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations; falls back to the defining module's namespace when the function's own
    globals lack a name (a function rebuilt by cloudpickle keeps only the globals its code uses, not
    names used only in string annotations)."""
    try:
        return typing.get_type_hints(function)
    except NameError:
        module = sys.modules.get(getattr(function, "__module__", "") or "")
        if module is None:
            raise
        return typing.get_type_hints(function, globalns={**vars(module), **getattr(function, "__globals__", {})})


def _parameters(
    function: Callable[..., Any],
    where: str,
    registry: Mapping[str, Registration],
    problems: list[str],
    declarations: list[type[Parameters]],
) -> dict[str, str]:
    """Map each parameter (after ``self``) of ``function`` to the layer its annotation names."""
    try:
        hints = _hints(function)
    except Exception as error:  # unresolvable forward references, typos in string annotations
        problems.append(f"{where}: cannot resolve its annotations ({error}); define the layers it names first")
        return {}
    resolved: dict[str, str] = {}
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        label = f"{where}: parameter {parameter.name!r}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            problems.append(f"{label}: *args/**kwargs cannot name a layer; list each dependency")
            continue
        annotation = hints.get(parameter.name, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty:
            problems.append(
                f"{label} has no annotation; annotate it with the layer it depends on, "
                f"e.g. `{parameter.name}: SomeLayer`"
            )
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, Layer)):
            problems.append(f"{label} is annotated {annotation!r}, which is not a Layer subclass")
            continue
        name = annotation.__name__
        if issubclass(annotation, Parameters):  # the flow's parameters, declared by a subclass or not
            resolved[parameter.name] = PARAMETERS
            declarations.append(annotation)
            continue
        registration = registry.get(name)
        if registration is None:
            close = difflib.get_close_matches(name, list(registry), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{label} depends on layer {name!r}, which is not registered with this flow; "
                f"register it with @Flow.register.{hint}"
            )
        elif registration.layer is not annotation:
            given, registered = (f"{c.__module__}.{c.__qualname__}" for c in (annotation, registration.layer))
            problems.append(
                f"{label} is annotated with {given}, but the layer named {name!r} registered with this "
                f"flow is {registered}; annotate it with the registered class"
            )
        else:
            resolved[parameter.name] = name
    return resolved


def _find_cycle(edges: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle as a list of names (first repeated at the end), or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        colour[name] = 1
        stack.append(name)
        for dependency in edges.get(name, ()):
            if colour.get(dependency) == 1:
                return [*stack[stack.index(dependency) :], dependency]
            if dependency not in colour and (found := visit(dependency)):
                return found
        stack.pop()
        colour[name] = 2
        return None

    for name in edges:
        if name not in colour and (found := visit(name)):
            return found
    return None


def build(
    flow: str,
    registry: Mapping[str, Registration],
    flow_hooks: list[hooks_.Hook],
    problems: list[str] | None = None,
) -> Graph:
    """Resolve and validate a flow's graph; raise every problem at once."""
    problems = list(problems or [])
    nodes: dict[str, Node] = {}
    declarations: list[type[Parameters]] = []  # the Parameters classes layers and hooks take
    for name, registration in registry.items():
        if name == PARAMETERS and registration.layer is Parameters:  # listed in every registry, never a node
            continue
        layer = registration.layer
        call = _parameters(layer.__call__, f"{name}.__call__", registry, problems, declarations)
        bound: dict[hooks_.Kind, list[BoundHook]] = {}
        for hook in [*flow_hooks, *hooks_.collect(layer)]:
            where = f"{name} hook {hook.qualname}"
            parameters = _parameters(hook.function, where, registry, problems, declarations)
            bound.setdefault(hook.kind, []).append(BoundHook(hook, parameters))
        dependencies = list(
            dict.fromkeys([*call.values(), *(d for b in bound.values() for h in b for d in h.parameters.values())])
        )
        foreach = registration.configuration.foreach
        for parameter in foreach.parameters if foreach else ():
            target = parameter.layer.__name__
            if target not in dependencies:
                problems.append(
                    f"{name}: ForEach parameter {target}.{parameter.attribute} reads layer {target!r}, "
                    f"which {name} does not depend on; add a parameter `{target.lower()}: {target}` to "
                    f"{name}.__call__"
                )
        nodes[name] = Node(
            name=name,
            layer=layer,
            configuration=registration.configuration,
            call=call,
            hooks={kind: tuple(items) for kind, items in bound.items()},
            dependencies=tuple(dependencies),
        )
    declared = parameters_.combined(declarations)
    problems.extend(parameters_.problems(declared))
    edges = {name: tuple(d for d in node.dependencies if d in nodes) for name, node in nodes.items()}
    cycle = _find_cycle(edges)
    if cycle:
        problems.append("cycle: " + " -> ".join(cycle) + "; a layer cannot depend on itself, directly or not")
    if problems:
        raise FlowDefinitionError(flow, problems)

    # Kahn's algorithm, registration order among layers that are ready together.
    order: list[str] = []
    remaining = {name: set(deps) for name, deps in edges.items()}
    while remaining:
        ready = [name for name, deps in remaining.items() if not deps]
        order.extend(ready)
        for name in ready:
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    dependents: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        for dependency in edges[name]:
            dependents[dependency].append(name)
    return Graph(
        flow=flow,
        nodes={name: nodes[name] for name in order},
        dependents={name: tuple(items) for name, items in dependents.items()},
        parameters=declared,
    )


def own_module(name: str | None) -> ModuleType | None:
    """Module ``name`` if it is the user's own: imported here and neither installed (site-packages) nor
    laminar's, nor ``__main__``. A process that runs layers elsewhere (a Ray worker, a container) may not
    be able to import it, so it travels by value (``__main__`` always does)."""
    module = sys.modules.get(name) if name else None
    path = getattr(module, "__file__", None)
    if module is None or path is None or name == "__main__" or str(name).split(".")[0] in ("laminar", "laminar_ray"):
        return None
    installed = tuple(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    return None if os.path.abspath(path).startswith(installed) else module


def own_modules(graph: Graph) -> list[ModuleType]:
    """The user's own modules (:func:`own_module`) that define the graph's layers and hooks."""
    found: dict[str, ModuleType] = {}
    for node in graph.nodes.values():
        for cls in (node.layer, *(bound.hook.owner for bounds in node.hooks.values() for bound in bounds)):
            module = own_module(cls.__module__)
            if module is not None:
                found[module.__name__] = module
    return list(found.values())
