"""What runs inside a worker for one task: build the layer, run its hooks and ``__call__``, store.

Every executor calls :func:`execute`; they differ only in where the
dependencies' artifacts come from (``artifacts``: the datastore for
``Thread``, Ray's object store for ``laminar_ray``).
"""

from __future__ import annotations

import inspect
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from laminar.artifacts import Artifacts, Selected, Traced
from laminar.datastore import Datastore
from laminar.errors import LaminarError, user_formatted
from laminar.graph import PARAMETERS, BoundHook, Graph
from laminar.hooks import Kind
from laminar.layer import Context, Layer, Parameters, State, assigned
from laminar.logs import Capture, LogPolicy, captured
from laminar.options import LayerConfiguration
from laminar.records import LOG_INLINE, SELF, SplitMeta, SplitRecord, attach, attempt_of, log_size
from laminar.task import Input, Task, TaskKind

ArtifactSource = Callable[[str, Input], Artifacts]


@dataclass(frozen=True)
class Outcome:
    """A finished run: its meta for the engine and its values for executors that pass them on."""

    meta: SplitMeta
    values: Mapping[str, Any]
    shards: frozenset[str]


def _layer_class(graph: Graph, name: str) -> type[Layer]:
    return Parameters if name == PARAMETERS and name not in graph.nodes else graph[name].layer


def dependency(graph: Graph, name: str, read: Input, source: Artifacts | None, flow: str, execution: str) -> Layer:
    """A dependency as its dependents see it: an instance whose attributes load lazily."""
    cls = _layer_class(graph, name)
    instance = cls.__new__(cls)
    artifacts = Selected(source, read.items) if source is not None and read.items else source
    instance._laminar = Context(
        flow=flow,
        execution=execution,
        index=read.split if graph.nodes.get(name) and graph[name].foreach else None,
        state=State(read.state),
        artifacts=artifacts if read.state == "finished" else None,
    )
    return instance


def _call(
    function: Callable[..., Any], instance: Layer, parameters: Mapping[str, str], deps: Mapping[str, Layer]
) -> Any:
    return function(instance, **{p: deps[name] for p, name in parameters.items()})


def _hooks(hooks: tuple[BoundHook, ...], instance: Layer, deps: Mapping[str, Layer]) -> list[Any]:
    return [_call(bound.hook.function, instance, bound.parameters, deps) for bound in hooks]


def execute(
    graph: Graph,
    task: Task,
    *,
    flow: str,
    execution: str,
    datastore: Datastore,
    artifacts: ArtifactSource,
    logs: LogPolicy | None = None,
    whole_process: bool = False,
    worker: Mapping[str, Any] | None = None,
) -> Any:
    """Run ``task``; return a bool (entry), a Container (submission, retry) or an Outcome (run).

    A run stores its artifacts and hands back its split's document uncommitted
    (``Outcome.meta.document``): the engine's journal commits it, with others. What it writes to stdout
    and stderr is kept in its record (:mod:`laminar.logs`: ``whole_process`` when this process runs one
    split at a time, so its file descriptors are the split's), with ``worker`` (where it ran); if it
    fails, the exception it raises carries the same about its attempt (:func:`laminar.records.attach`).

    Hooks hand back only the container they may change, never the whole configuration: that holds
    classes (``ForEach`` layers, ``Catch`` exceptions), and a class sent back from a worker that got it
    by value is re-applied onto the driver's own class by cloudpickle, replacing its methods with
    copies whose globals miss names used only in annotations (the graph could no longer be resolved).
    """
    node = graph[task.layer]
    instance = node.layer.__new__(node.layer)
    instance._laminar = Context(
        flow=flow,
        execution=execution,
        template=task.configuration,
        index=task.index,
        splits=task.splits,
        state=State("running", attempt=task.attempt, error=task.error),
        seen=set() if task.kind is TaskKind.run else None,
    )
    reads: dict[str, set[str]] = {}  # what a run reads of each dependency, for its record (the cache's)
    deps = {
        name: dependency(graph, name, read, _source(task, name, read, artifacts, reads), flow, execution)
        for name, read in task.inputs.items()
    }
    if task.kind is TaskKind.entry:
        return all(bool(result) for result in _hooks(node.hooks_of(Kind.entry), instance, deps))
    if task.kind in (TaskKind.submission, TaskKind.retry):
        kind = Kind.submission if task.kind is TaskKind.submission else Kind.retry
        _hooks(node.hooks_of(kind), instance, deps)
        return instance.configuration.container
    where = {"host": socket.gethostname(), "pid": os.getpid(), **(worker or {})}
    policy = logs or LogPolicy()
    label = (flow, execution, node.name, task.split, task.attempt)
    started = time.time()
    with captured(policy, whole_process=whole_process, live=_live(datastore, label)) as capture:
        try:
            return _run(node.name, graph, task, instance, deps, datastore, capture, where, started, reads)
        except BaseException as error:
            ended = time.time()
            attach(error, {"started": started, "ended": ended, "worker": where, "traceback": user_formatted(error)})
            failed_with = error
    # the capture has ended: what the split wrote last is in it
    attach(failed_with, {**attempt_of(failed_with), **_log(capture)})
    raise failed_with


def _run(
    name: str,
    graph: Graph,
    task: Task,
    instance: Layer,
    deps: Mapping[str, Layer],
    datastore: Datastore,
    capture: Capture,
    worker: Mapping[str, Any],
    started: float,
    reads: Mapping[str, set[str]],
) -> Outcome:
    node = graph[name]
    flow, execution = instance._laminar.flow or "", instance._laminar.execution or ""
    caught: BaseException | None = None
    generators = []
    try:
        for bound in node.hooks_of(Kind.execution):
            result = _call(bound.hook.function, instance, bound.parameters, deps)
            if inspect.isgenerator(result):
                next(result)
                generators.append(result)
        try:
            _call(node.layer.__call__, instance, node.call, deps)
        except BaseException:
            for generator in reversed(generators):
                generator.close()  # runs the hook's finally blocks
            raise
        for generator in reversed(generators):
            _resume(generator)
    except Exception as error:
        catch = _configuration(instance).catch
        if catch is None or not catch.catches(error) or isinstance(error, LaminarError):
            raise
        caught = error
    values = assigned(instance)
    shards = frozenset(instance._laminar.shards)
    container = _configuration(instance).container
    meta = datastore.write_split(
        flow,
        execution,
        name,
        task.split,
        values,
        set(shards),
        record=lambda: SplitRecord(
            attempt=task.attempt,
            started=started,
            ended=time.time(),
            caught=repr(caught) if caught is not None else None,
            resources=container.requested(),
            worker=worker,
            reads=_reads(reads, instance._laminar.seen),
            **_kept_log(capture, datastore, (flow, execution, name, task.split, task.attempt)),
        ).to_json(),
        commit=False,
    )
    return Outcome(meta=meta, values=values, shards=shards)


def _source(
    task: Task, name: str, read: Input, artifacts: ArtifactSource, reads: dict[str, set[str]]
) -> Artifacts | None:
    """A finished dependency's artifacts as the task sees them; a run's reads are noted (``Traced``)."""
    if read.state != "finished":
        return None
    found = artifacts(name, read)
    return Traced(found, reads.setdefault(name, set())) if task.kind is TaskKind.run else found


def _reads(reads: Mapping[str, set[str]], seen: set[str] | None) -> dict[str, tuple[str, ...]]:
    """What a run read, for its record: of each dependency, and of itself (:data:`records.SELF`)."""
    found = {dependency: tuple(sorted(names)) for dependency, names in reads.items() if names}
    if seen:
        found[SELF] = tuple(sorted(seen))
    return found


#: Where a split's attempt's log goes: (flow, execution, layer, split, attempt).
Label = tuple[str, str, str, int, int]


def _live(datastore: Datastore, label: Label) -> Callable[[Capture], None]:
    """Write what a long split wrote so far to its log file (read by ``laminar logs --follow``)."""

    def live(capture: Capture) -> None:
        datastore.write_log(*label, capture.to_json(running=True))

    return live


def _log(capture: Capture) -> dict[str, Any]:
    return {} if capture.empty else {"log": capture.to_json()}


def _kept_log(capture: Capture, datastore: Datastore, label: Label) -> dict[str, Any]:
    """A finished split's log for its record: kept in it when short, else in its log file (named in it)."""
    capture.settle()
    if capture.empty:
        return {}
    log = capture.to_json()
    if log_size(log) <= LOG_INLINE:
        return {"log": log}
    return {"log_file": datastore.write_log(*label, log)}


def _configuration(instance: Layer) -> LayerConfiguration:
    """The run's configuration as its hooks left it, read without copying it when none asked for it."""
    context = instance._laminar
    configuration = context.configuration or context.template
    assert configuration is not None  # execute sets the template
    return configuration


def _resume(generator: Any) -> None:
    """Resume a context-manager-style hook after the call; it must not yield again."""
    try:
        next(generator)
    except StopIteration:
        return
    generator.close()
    raise LaminarError(f"execution hook {generator.__qualname__} yielded more than once; yield exactly once")
