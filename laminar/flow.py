"""``Flow``: a set of registered layers, run as one execution.

>>> from laminar import Layer
>>> from laminar.configurations import datastores, executors
>>> class Greet(Flow): ...
>>> @Greet.register
... class Hello(Layer):
...     def __call__(self) -> None:
...         self.value = "hello"
>>> flow = Greet(datastore=datastores.Memory(), executor=executors.Thread())
>>> flow().layer(Hello).value
'hello'
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar, overload

from laminar import cache as cache_
from laminar import checks, hooks, settings
from laminar import parameters as parameters_
from laminar.datastore import Datastore, layout
from laminar.display import jupyter, mermaid
from laminar.display import progress as progress_
from laminar.engine import loop, prior
from laminar.engine.snapshot import Observer
from laminar.errors import ArtifactError, ConfigurationError, ExecutionExists, ExecutionNotFound
from laminar.executors import registry
from laminar.executors.base import Executor
from laminar.graph import PARAMETERS, Graph, Registration, build
from laminar.journal import Policy
from laminar.layer import Layer, Parameters
from laminar.logs import LogPolicy
from laminar.options import Cache, Catch, Container, ForEach, LayerConfiguration, Retry
from laminar.records import ExecutionRecord
from laminar.results import Execution
from laminar.runtime import in_worker

L = TypeVar("L", bound=type[Layer])

#: What ``flow.execution(...)`` and every command that takes an execution id accept for the newest one.
LATEST = "latest"

_clock = threading.Lock()
_last = [0]


def new_execution_id() -> str:
    """A unique id that sorts by creation time: UTC timestamp (microseconds) and random suffix."""
    with _clock:
        now = max(time.time_ns() // 1000, _last[0] + 1)
        _last[0] = now
    stamp = datetime.fromtimestamp(now / 1e6, tz=timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return f"{stamp}Z-{secrets.token_hex(3)}"


def _definition(flow: type[Flow]) -> tuple[object, ...]:
    """What a flow's graph is built from, as objects compared by identity: the flow's registrations
    and problems, and the attributes of the flow's classes and of its layers' classes (below ``Flow``
    and ``Layer``), which hold ``__call__`` and the hooks. ~1 us a layer."""
    parts: list[object] = [*flow.registry.values(), *flow._problems]
    _add_classes(parts, flow, Flow)
    for registration in flow.registry.values():
        _add_classes(parts, registration.layer, Layer)
    return tuple(parts)


def _add_classes(parts: list[object], cls: type, base: type) -> None:
    """Append ``cls`` and its bases below ``base``, each followed by its attributes (not the kept graph)."""
    for klass in cls.__mro__:
        if klass is base:
            break
        parts.append(klass)
        parts.extend(value for name, value in vars(klass).items() if name != "_built")


def _same(kept: tuple[object, ...], now: tuple[object, ...]) -> bool:
    return len(kept) == len(now) and all(a is b for a, b in zip(kept, now, strict=True))


class Scheduler:
    """laminar's engine (:mod:`laminar.engine`), by the original's name: the active scheduler that decides
    what runs next, submits it and waits for it. It is the only one, and every flow's default."""

    def __repr__(self) -> str:
        return "Scheduler()"


@dataclass
class FlowConfiguration:
    """Where a flow keeps its data and where it runs (``executor=None``: Ray, chosen at run time)."""

    datastore: Datastore
    executor: Executor | None = None
    #: When the records of a run are committed (see :mod:`laminar.journal`); None: the default.
    journal: Policy | None = None
    #: How its splits' output is kept (see :mod:`laminar.logs`); None: the default.
    logs: LogPolicy | None = None
    #: The cache of every layer that does not set its own (see :mod:`laminar.cache`); None: no cache.
    cache: Cache | None = None


#: Every flow's registry lists the built-in Parameters layer, as the original's does
#: (``sorted(CombinedFlow.registry) == ["A", "B", "C", "Parameters"]``); it is not a node of the graph.
_PARAMETERS = Registration(Parameters, LayerConfiguration())


class Flow:
    """A workflow: subclass it, register layers on it, call an instance to run it."""

    registry: ClassVar[dict[str, Registration]] = {PARAMETERS: _PARAMETERS}
    _problems: ClassVar[list[str]] = []
    _built: ClassVar[tuple[tuple[object, ...], Graph] | None] = None  # see graph()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.registry = {PARAMETERS: _PARAMETERS}
        cls._problems = []
        hooks.collect(cls)  # flow-wide hooks: a @staticmethod above a hook decorator is refused here
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Flow) and base is not Flow:
                for name, registration in base.registry.items():
                    cls._add(name, registration)

    @classmethod
    def _add(cls, name: str, registration: Registration) -> None:
        existing = cls.registry.get(name)
        if existing is not None and existing.layer is not registration.layer:
            first, second = (f"{c.__module__}.{c.__qualname__}" for c in (existing.layer, registration.layer))
            cls._problems.append(
                f"two different layers are named {name!r} ({first} and {second}); "
                "layer names must be unique within a flow: rename one"
            )
            return
        cls.registry[name] = registration
        for subclass in cls.__subclasses__():  # flows inheriting this one get it too
            subclass._add(name, registration)

    @overload
    @classmethod
    def register(cls, layer: L) -> L: ...
    @overload
    @classmethod
    def register(
        cls,
        *,
        container: Container | None = None,
        retry: Retry | None = None,
        catch: Catch | None = None,
        foreach: ForEach | None = None,
        cache: Cache | bool | None = None,
    ) -> Callable[[L], L]: ...
    @classmethod
    def register(
        cls,
        layer: L | None = None,
        *,
        container: Container | None = None,
        retry: Retry | None = None,
        catch: Catch | None = None,
        foreach: ForEach | None = None,
        cache: Cache | bool | None = None,
    ) -> L | Callable[[L], L]:
        """Register a layer on this flow, bare (``@F.register``) or configured (``@F.register(...)``).

        ``cache``: a ``Cache`` (or True for ``Cache()``) reuses its results across executions; False
        never does, whatever the flow's ``cache``; None follows it."""

        def add(target: L) -> L:
            if not (isinstance(target, type) and issubclass(target, Layer)):
                raise ConfigurationError(f"{cls.__name__}.register decorates Layer subclasses, got {target!r}")
            if target is Parameters or target.__name__ == PARAMETERS:
                raise ConfigurationError(f"{cls.__name__}: 'Parameters' is the built-in parameters layer's name")
            if issubclass(target, Parameters):
                raise ConfigurationError(
                    f"{cls.__name__}.register({target.__name__}): {target.__name__} declares the flow's parameters "
                    f"(a Parameters class); it is never registered: layers read it by taking `p: {target.__name__}`"
                )
            layout.segment("layer name", target.__name__)
            for keyword, value in (("container", container), ("retry", retry), ("catch", catch), ("foreach", foreach)):
                checks.option(cls.__name__, target.__name__, keyword, value)
            checks.layer(cls.__name__, target)
            configuration = LayerConfiguration(
                container=container.model_copy(deep=True) if container is not None else Container(),
                retry=retry,
                catch=catch,
                foreach=foreach,
                cache=Cache() if cache is True else cache,
            )
            cls._add(target.__name__, Registration(target, configuration))
            return target

        return add(layer) if layer is not None else add

    def __init__(
        self,
        *,
        datastore: Datastore | None = None,
        executor: Executor | None = None,
        journal: Policy | None = None,
        logs: LogPolicy | None = None,
        scheduler: Scheduler | None = None,
        cache: Cache | None = None,
    ) -> None:
        if scheduler is not None and not isinstance(scheduler, Scheduler):  # the original's keyword
            raise ConfigurationError(
                f"{type(self).__name__}(scheduler={scheduler!r}): laminar has one scheduler, its engine: "
                "pass schedulers.Scheduler() or nothing"
            )
        if datastore is None:  # LAMINAR_DATASTORE, a laminar.toml, else ./.laminar (see laminar.settings);
            # workers and modules only being imported never use it: only the scheduling process refuses
            # one that Ray would delete
            datastore = settings.default_datastore(self.name, check=not in_worker())
        self.configuration = FlowConfiguration(
            datastore=datastore, executor=executor, journal=journal, logs=logs, cache=cache
        )

    @property
    def name(self) -> str:
        return type(self).__name__

    def __bool__(self) -> bool:
        """True in the process that schedules; False in a worker that re-imports the script."""
        return not in_worker()

    def __repr__(self) -> str:
        return f"{self.name}(datastore={self.configuration.datastore!r}, executor={self.configuration.executor!r})"

    def graph(self) -> Graph:
        """The validated graph; raises FlowDefinitionError listing every problem.

        Built once per flow class and kept while the classes it is built from stay as they are (see
        :func:`_definition`): resolving the annotations and signatures of a hundred layers costs ~4 ms
        a run. Registering a layer, or assigning a method or hook on a layer or flow class, builds it
        anew; a definition with problems is never kept, so it raises on every call.
        """
        cls = type(self)
        definition = _definition(cls)
        kept: tuple[tuple[object, ...], Graph] | None = cls.__dict__.get("_built")  # not a base class's
        if kept is not None and _same(kept[0], definition):
            return kept[1]
        graph = build(self.name, cls.registry, hooks.collect(cls), cls._problems)
        cls._built = (definition, graph)
        return graph

    def mermaid(self) -> str:
        """The graph as Mermaid ``stateDiagram-v2`` text (see :mod:`laminar.display.mermaid`)."""
        return mermaid.mermaid(self.graph())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows a flow as its diagram."""
        return jupyter.flow_bundle(self.graph(), repr(self))

    def executor(self) -> Executor:
        """The configured executor, or Ray (joining a reachable cluster or starting a local one)."""
        if self.configuration.executor is None:
            try:
                self.configuration.executor = registry.create("ray")
            except ConfigurationError as error:  # pragma: no cover - ray is a dependency
                raise ConfigurationError(
                    f"{self.name}: no executor given; {error}, or pass executor=executors.Thread()"
                ) from None
        return self.configuration.executor

    def __call__(
        self,
        *,
        execution: str | None = None,
        observer: Observer | None = None,
        progress: bool | None = None,
        cache: Cache | bool | None = None,
        refresh: list[type[Layer] | str] | None = None,
        **parameters: Any,
    ) -> Execution:
        """Run the flow; keyword arguments are parameters (read through the ``Parameters`` layer), validated
        against the flow's declared parameters, if it has any (:mod:`laminar.parameters`), before any work.

        ``progress`` shows live progress (default: in a terminal or Jupyter, unless ``LAMINAR_PROGRESS=0``).
        ``cache=False`` neither reads nor writes the cache in this run (a ``Cache``: every layer's default
        for this run); ``refresh=[A]`` runs ``A`` even when cached, and keeps its new result.
        """
        identifier = layout.segment("execution id", execution) if execution is not None else new_execution_id()
        parameters = parameters_.validate(self.name, self.graph().parameters, parameters)
        return self._run(
            identifier,
            resume=False,
            parameters=parameters,
            observer=observer,
            progress=progress,
            cache=cache,
            refresh=refresh,
        )

    def execution(self, id: str) -> Execution:
        """A past (or running) execution, for results and ``resume()``; needs only the datastore.

        ``"latest"`` is the newest; an id the datastore does not know raises ExecutionNotFound."""
        if id == LATEST:
            return self.latest()
        store = self.configuration.datastore
        # started, even if its own record was damaged or removed since (resume mends it from its parameters')
        if not store.has_execution(self.name, layout.segment("execution id", id)):
            known = store.execution_ids(self.name)
            hint = f"its latest: {', '.join(known[-3:])}" if known else "it has none there"
            raise ExecutionNotFound(f"{self.name} has no execution {id!r} in {store.url} ({hint})")
        return Execution(self, id)

    def executions(self) -> list[Execution]:
        """Every execution of this flow in its datastore, newest first (by the time each was created)."""
        store = self.configuration.datastore
        created = {}
        for id in store.execution_ids(self.name):
            try:
                record = store.read_execution(self.name, id)
            except ArtifactError:  # damaged: listed oldest (a resume of it writes it again)
                record = {}
            if record is not None:
                created[id] = ExecutionRecord.from_json(record).created
        return [Execution(self, id) for id in sorted(created, key=lambda id: (created[id], id), reverse=True)]

    def latest(self) -> Execution:
        """The newest execution of this flow in its datastore (generated ids sort by creation time)."""
        found = self.executions()
        if not found:
            raise ExecutionNotFound(f"{self.name} has no executions in {self.configuration.datastore.url}")
        return found[0]

    def submit(
        self,
        *,
        execution: str | None = None,
        resume: bool = False,
        address: str | None = None,
        wait: bool = False,
        resume_on_failure: int = 0,
        **parameters: Any,
    ) -> Any:
        """Run the flow as a Ray job on a cluster (the driver runs there); returns the submission
        (``.id``, ``.job_id``, ``.wait()``, ``.stop()``) once submitted, or with ``wait`` once finished.
        ``address``: the cluster's job server (``http://head:8265``). More options (working dir, pip,
        runtime_env): :func:`laminar_ray.jobs.submit`."""
        parameters_.validate(self.name, self.graph().parameters, parameters)  # here, before a job exists
        jobs = registry.extension("ray-jobs")
        submission = jobs.submit(
            self, parameters, execution=execution, resume=resume, address=address, resume_on_failure=resume_on_failure
        )
        if wait:
            submission.wait()
        return submission

    def _run(
        self,
        identifier: str,
        *,
        resume: bool,
        parameters: dict[str, Any],
        progress: bool | None = None,
        observer: Observer | None = None,
        rerun: Collection[type[Layer] | str] = (),
        cache: Cache | bool | None = None,
        refresh: list[type[Layer] | str] | None = None,
    ) -> Execution:
        graph = self.graph()
        store = self.configuration.datastore
        again = [layer if isinstance(layer, str) else layer.__name__ for layer in rerun]
        # an unknown layer is refused before anything changes; what reruns is never taken from the cache
        voided = prior.rerun_closure(graph, again)
        memo = self._memo(graph, identifier, cache, [*(refresh or []), *voided] or None)
        exists = store.has_execution(self.name, identifier)
        if resume and not exists:
            raise ExecutionNotFound(f"{self.name} has no execution {identifier!r} in {store.url}")
        if not resume and exists:
            raise ExecutionExists(
                f"{self.name} already has an execution {identifier!r} in {store.url}; resume it with "
                f"{self.name}().execution({identifier!r}).resume() or choose another id"
            )

        with progress_.observing(self.name, identifier, progress=progress, observer=observer) as observe:
            loop.execute(
                graph,
                executor=self.executor(),
                datastore=store,
                execution=identifier,
                parameters=None if resume else parameters,
                observer=observe,
                policy=self.configuration.journal,
                logs=self.configuration.logs,
                rerun=again,
                memo=memo,
            )
        return self.execution(identifier)

    def _memo(
        self, graph: Graph, identifier: str, cache: Cache | bool | None, refresh: list[type[Layer] | str] | None
    ) -> cache_.Memo | None:
        """This run's cache (None when no layer is cached): each layer's own ``Cache``, else this call's,
        else the flow's."""
        names = [r if isinstance(r, str) else getattr(r, "__name__", repr(r)) for r in refresh or []]
        unknown = [name for name in names if name not in graph.nodes]
        if unknown:
            raise ConfigurationError(
                f"{self.name}: refresh names {', '.join(map(repr, unknown))}, which it has no layer of; "
                f"its layers are: {', '.join(graph.nodes) or 'none'}"
            )
        if cache is False:
            return None
        default = cache if isinstance(cache, Cache) else self.configuration.cache
        caches = {}
        for name, node in graph.nodes.items():
            own = node.configuration.cache
            chosen = own if isinstance(own, Cache) else (None if own is False else default)
            if chosen is not None:
                caches[name] = chosen
        if not caches:
            return None
        return cache_.Memo(graph, self.configuration.datastore, identifier, caches, frozenset(names))
