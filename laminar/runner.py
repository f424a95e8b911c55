"""What runs inside a worker for one task: build the layer, run its hooks and ``__call__``, store.

Every executor calls :func:`execute`; they differ only in where the
dependencies' artifacts come from (``artifacts``: the datastore for
``Thread``, Ray's object store for ``laminar_ray``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from laminar import deadline
from laminar.artifacts import Artifacts, Selected, Traced, split_of
from laminar.datastore import Datastore
from laminar.errors import LaminarError, UsageError, user_formatted
from laminar.graph import PARAMETERS, BoundHook, Graph
from laminar.hooks import Kind
from laminar.layer import Context, Layer, State, assigned
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
    return graph.parameters if name == PARAMETERS and name not in graph.nodes else graph[name].layer


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


def _views(
    graph: Graph, name: str, read: Input, source: Artifacts | None, flow: str, execution: str, hooks: bool
) -> tuple[Layer, Layer]:
    """A dependency as ``__call__`` sees it (a foreach split's own item of a parameter) and as hooks do:
    whole, as a join sees it (a sharded attribute an Accessor, a foreach dependency over its splits),
    so that ``memory[a.baz[self.index]]`` in a submission hook reads what the entry hooks read too.
    ``hooks``: whether any hook will look (else the second is the first)."""
    if read.pick is not None:  # sent whole for the execution hooks; __call__ reads split ``pick`` of it
        split = split_of(source, read.pick)
        call = dependency(graph, name, dataclasses.replace(read, split=read.pick, pick=None), split, flow, execution)
        whole = dataclasses.replace(read, items={}, pick=None)
        return call, dependency(graph, name, whole, source, flow, execution)
    call = dependency(graph, name, read, source, flow, execution)
    if not (hooks and read.items):
        return call, call
    return call, dependency(graph, name, dataclasses.replace(read, items={}), source, flow, execution)


def _call(
    function: Callable[..., Any], instance: Layer, parameters: Mapping[str, str], deps: Mapping[str, Layer]
) -> Any:
    return function(instance, **{p: deps[name] for p, name in parameters.items()})


def _hooks(hooks: tuple[BoundHook, ...], instance: Layer, deps: Mapping[str, Layer]) -> list[Any]:
    return [_call(bound.hook.function, instance, bound.parameters, deps) for bound in hooks]


def _returned(instance: Layer, what: str, value: Any, expected: str) -> UsageError:
    """The error for ``what`` (``__call__`` or a hook) returning ``value``, which laminar would drop."""
    context = instance._laminar
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return UsageError(str(context.flow), type(instance).__name__, f"{what} returned {shown}; {expected}")


def _entry(hooks: tuple[BoundHook, ...], instance: Layer, deps: Mapping[str, Layer]) -> bool:
    """Whether every entry hook is truthy; a hook that returns None (a branch that falls through without
    a return) is an error, not a silent skip."""
    for bound, result in zip(hooks, _hooks(hooks, instance, deps), strict=True):
        if result is None:
            raise _returned(
                instance,
                f"entry hook {bound.hook.qualname}",
                None,
                "an entry hook returns True to run the layer or False to skip it: does a branch fall through "
                "without a return?",
            )
        if not result:
            return False
    return True


def _changed(kind: Kind, hooks: tuple[BoundHook, ...], instance: Layer, deps: Mapping[str, Layer]) -> None:
    """Run submission or retry hooks, which change ``self.configuration.container`` and return nothing."""
    for bound, result in zip(hooks, _hooks(hooks, instance, deps), strict=True):
        if result is not None:
            raise _returned(
                instance,
                f"{kind.value} hook {bound.hook.qualname}",
                result,
                f"{kind.value} hooks return nothing and change the request in place, e.g. "
                "`self.configuration.container.memory = 2000`",
            )


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
    hooks = task.kind is not TaskKind.run or bool(node.hooks_of(Kind.execution))
    reads: dict[str, set[str]] = {}  # what a run reads of each dependency, for its record (the cache's)
    views = {
        name: _views(graph, name, read, _source(task, name, read, artifacts, reads), flow, execution, hooks)
        for name, read in task.inputs.items()
    }
    deps = {name: call for name, (call, _) in views.items()}
    seen = {name: whole for name, (_, whole) in views.items()}  # what hooks see (see _views)
    if task.kind is TaskKind.entry:
        return _entry(node.hooks_of(Kind.entry), instance, seen)
    if task.kind in (TaskKind.submission, TaskKind.retry):
        kind = Kind.submission if task.kind is TaskKind.submission else Kind.retry
        _changed(kind, node.hooks_of(kind), instance, seen)
        return instance.configuration.container
    where = {"host": _host(), "pid": os.getpid(), **(worker or {})}
    policy = logs or LogPolicy()
    label = (flow, execution, node.name, task.split, task.attempt)
    started = time.time()
    with captured(policy, whole_process=whole_process, live=_live(datastore, label)) as capture:
        try:
            with deadline.limit(task.configuration.container.timeout, flow, task.label):
                return _run(node.name, graph, task, instance, deps, seen, datastore, capture, where, started, reads)
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
    seen: Mapping[str, Layer],
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
            result = _call(bound.hook.function, instance, bound.parameters, seen)
            if inspect.isgenerator(result):
                next(result)
                generators.append(result)
            elif result is not None:
                expected = "execution hooks return nothing, or yield once to run code after the call"
                raise _returned(instance, f"execution hook {bound.hook.qualname}", result, expected)
        try:
            returned = _call(node.layer.__call__, instance, node.call, deps)
            if returned is not None:
                expected = "laminar keeps what a layer assigns to self, not what it returns: write self.result = ..."
                raise _returned(instance, "__call__", returned, expected)
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


@functools.cache
def _host() -> str:
    """This machine's name, as a split's record keeps it (asked once a process)."""
    return socket.gethostname()


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
