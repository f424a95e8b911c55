"""One execution on Ray: its tasks, the ObjectRefs between them, and its completions.

``Ray.open`` makes one per execution, so one ``Ray`` executor serves several
flows at once. A session keeps refs, never values: a downstream task receives
its upstream artifacts from Ray's object store, worker to worker. The flow's
graph travels in the remote functions (made once per graph and set of task
options, kept by the executor across runs), the execution's context in every
task (see :mod:`laminar_ray.worker`).

Shared inputs. The splits of a foreach layer all read the plain layers it takes.
Each worker resolves such a ref once and keeps its value, so a task needs the
ref only when its worker has not resolved it yet; and a ref inside a task's
arguments costs Ray ~0.25 ms on each side (the driver pickles and tracks it,
the worker registers as its borrower and reports back), against ~2 us for its
key. So the first tasks that read a shared input, as many as the cluster has
CPUs, carry its ref, and after them about one task in :data:`CARRY_EVERY`,
chosen at random; the others carry its key. A worker handed a key it holds no
value for runs nothing and says so, and the task is submitted again carrying
every ref; the scheduler never sees that. The first tasks need not reach every
worker (a worker whose lease came late finds one worker ran them all): the
tasks that carry at random reach it after a few misses, wherever the queue's
order puts it. A worker that held the value and dropped it (its cache full)
says so, and from then on every task carries its refs. A join submitted ahead
of a split that ran nothing holds that split's first output (None): it runs
nothing either, and is submitted again once the split was.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import random
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ray
import ray.exceptions

from laminar import runner
from laminar.artifacts import Artifacts
from laminar.errors import LayerError, ResourceError
from laminar.executors.base import Run
from laminar.graph import Graph
from laminar.hooks import Kind
from laminar.options import Container
from laminar.task import Cause, Completion, Input, Task, TaskKind
from laminar_ray import options, worker
from laminar_ray.inflight import InFlight

if TYPE_CHECKING:  # annotation only: executor imports this module
    from laminar_ray.executor import Ray

#: An executor's submitter for one container of one graph: the container, its options as JSON, the submit.
Submitter = tuple[Container, str, Callable[[str, tuple[Any, ...]], Any]]

_HOOK_KIND = {TaskKind.entry: Kind.entry, TaskKind.submission: Kind.submission, TaskKind.retry: Kind.retry}


class Session:
    """Places one execution's tasks on Ray and reports their completions."""

    pipelines = True  # a task's arguments may be refs of tasks still running: Ray starts it when they exist

    def __init__(self, executor: Ray, run: Run) -> None:
        self.executor = executor
        self._in_flight: InFlight[Task] = InFlight()
        self._here: list[Completion] = []  # of hook tasks run in the driver, for the next wait
        self._run = run
        self._key = uuid.uuid4().hex
        self._program = executor.program(run.graph)
        self._context = worker.Context(run.flow, run.execution, run.datastore).pack()
        self._refs: dict[str, dict[int, Any]] = {}  # layer -> split -> ObjectRef of its artifacts
        self._graph: Graph = run.graph
        self._checked: set[str] = set()  # containers whose request was checked against the nodes
        self._hook_envs: dict[str, dict[str, Any]] = {}  # layer -> its hook tasks' validated runtime_env
        self._failed: set[int] = set()  # keys of run tasks that failed (their dependents fail with their error)
        self._completed = self._trimmed = 0
        self._needed: dict[tuple[str, TaskKind], frozenset[str]] = {}  # inputs a task of (layer, kind) reads
        # shared inputs (see the module docstring): tasks that carry each ref, then its key
        self._carriers = _carriers(executor.nodes)
        self._carried: dict[str, int] = {}  # shared ref's key -> tasks that carried the ref
        self._random = random.Random(self._key)

    def capacity(self) -> int:
        return self.executor.max_in_flight

    def close(self) -> None:
        self._refs = {}

    # -- submission ------------------------------------------------------------------------------

    def submit(self, task: Task) -> None:
        self._submit(task, carry=False)

    def _submit(self, task: Task, *, carry: bool) -> None:
        """Submit ``task``; with ``carry``, every shared input goes as its ref (never as its key)."""
        node = self._graph[task.layer]
        needed = self._needed.get((task.layer, task.kind))
        if needed is None:  # the layers its hooks take, and for a run those its __call__ takes too
            kind = Kind.execution if task.kind is TaskKind.run else _HOOK_KIND[task.kind]
            reads = {d for b in node.hooks_of(kind) for d in b.parameters.values()}
            if task.kind is TaskKind.run:
                reads.update(node.call.values())
            needed = self._needed[(task.layer, task.kind)] = frozenset(reads)
        # The task sent carries only the inputs it reads; completions report the scheduler's own task.
        inputs = {k: v for k, v in task.inputs.items() if k in needed}
        error = task.error if task.kind is TaskKind.retry else None
        if task.kind is not TaskKind.run and not needed:
            self._run_here(task, dataclasses.replace(task, inputs=inputs, error=error))
            return
        slots, values, boxed = self._arguments(task.index, inputs, carry)
        call = worker.Call.of(self._key, self._context, boxed, task, node.configuration, slots, inputs, error)
        name = f"{self._run.flow}.{task.label}"
        if task.kind is TaskKind.run:
            meta, produced = self._submitter(task, name)(name, call.wire(values))
            if task.feeds:  # a layer nothing reads needs no ref kept
                self._refs.setdefault(task.layer, {})[task.split] = produced
            self._in_flight.add(task.key, task, meta)
        else:
            hooks = self._hooks().options(name=f"{name}:{task.kind.value}", runtime_env=self._hook_env(task.layer))
            self._in_flight.add(task.key, task, hooks.remote(*call.wire(values)))

    def _hooks(self) -> Any:
        """The remote function of this flow's hook tasks (``num_cpus=0``: they run beside the data)."""
        return self.executor.function(
            f"{self._program.digest}:hooks", lambda: ray.remote(num_cpus=0)(worker.hook_function(self._program))
        )

    def _hook_env(self, layer: str) -> dict[str, Any]:
        """The runtime_env of a layer's hook tasks: its registered env, never its image; validated once."""
        env = self._hook_envs.get(layer)
        if env is None:
            container = self._graph[layer].configuration.container.model_copy(update={"image": None})
            env = self._hook_envs[layer] = options.runtime_env(container, self.executor.runtime_env, layer)
        return env

    def _submitter(self, task: Task, name: str) -> Callable[[str, tuple[Any, ...]], Any]:
        """What submits ``worker.layer_task`` with this task's options (checked first), given a name.

        Checking a request and validating a runtime_env cost more than a whole task's submission, so
        both happen once per distinct container (most layers of a flow share one, and hooks that size
        splits repeat a few sizes), and the remote function made then is reused; only the task name is
        set per call.
        """
        container = task.configuration.container
        _, options_key, submit = self.executor.submitters.keep(
            (self._program.digest, id(container)), lambda: self._make_submitter(container, name)
        )
        if self.executor.check_feasibility and options_key not in self._checked:  # once per run: clusters change
            self.executor.refresh_nodes()
            options.check_feasible(options.request(container), self.executor.nodes, name)
            self._checked.add(options_key)
        return submit

    def _make_submitter(self, container: Container, name: str) -> Submitter:
        """The executor's entry for ``container``: it (kept alive, so that no other takes its id), its options
        as JSON, and what submits the layer function with them."""
        options_key = container.model_dump_json()

        def make() -> Callable[[str, tuple[Any, ...]], Any]:
            settings = options.task_options(container, name=name, base_env=self.executor.runtime_env)
            del settings["name"]
            return _named(ray.remote(num_returns=2, **settings)(worker.layer_function(self._program)))

        return container, options_key, self.executor.function(f"{self._program.digest}:{options_key}", make)

    def _arguments(
        self, index: int | None, inputs: Mapping[str, Input], carry: bool
    ) -> tuple[dict[str, list[int | None]], list[Any], list[Any]]:
        """ObjectRef arguments for a task's inputs, its shared inputs, and where each dependency split sits.

        Ray resolves the refs among a task's arguments (``values``) before it runs. The shared inputs
        (in the task's ``Call``, which Ray passes on unresolved) are the plain layers a split of a foreach
        layer reads: every split reads them, so each worker resolves (deserializes) one once instead of
        once per split; each goes as its ref or its key (see the module docstring). Slot ``i >= 0`` is
        ``values[i]``, slot ``~i`` is ``boxed[i]``.
        """
        slots: dict[str, list[int | None]] = {}
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

    def _run_here(self, task: Task, sent: Task) -> None:
        run = self._run
        try:
            value = runner.execute(
                run.graph,
                sent,
                flow=run.flow,
                execution=run.execution,
                datastore=run.datastore,
                artifacts=_no_inputs,
            )
        except Exception as error:
            self._here.append(Completion(task, error=error))
        else:
            self._here.append(Completion(task, value=value))

    def _completion(self, task: Task, ref: Any) -> Completion | None:
        """What a finished task's ref holds, Ray's failures told as laminar's; None if it ran nothing
        (it is submitted again: see :meth:`_resend`)."""
        try:
            value = ray.get(ref)
        except Exception as raised:
            error, cause = self._failure(task, raised)
            if task.kind is TaskKind.run:
                self._failed.add(task.key)
            if task.after and self._upstream_failed(task):
                cause = Cause.upstream  # Ray handed on the error of a task whose output it takes
            out_of_memory = isinstance(raised, ray.exceptions.OutOfMemoryError)
            return Completion(task, error=error, cause=cause, out_of_memory=out_of_memory)
        return self._received(task, value)

    def _failure(self, task: Task, raised: Exception) -> tuple[BaseException, Cause]:
        """The error to report for what ``ray.get`` raised, and its cause."""
        label = f"{self._run.flow}.{task.label}"
        if isinstance(raised, ray.exceptions.OutOfMemoryError):
            return MemoryError(f"{label} was killed by Ray's memory monitor: {raised}"), Cause.worker_lost
        if isinstance(
            raised,
            (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError),
        ):
            message = f"its worker process died ({type(raised).__name__}): {raised}"
            return LayerError(self._run.flow, task.label, message), Cause.worker_lost
        if isinstance(raised, ray.exceptions.TaskCancelledError):
            return raised, Cause.withdrawn
        if isinstance(raised, ray.exceptions.TaskUnschedulableError):
            return ResourceError(f"{label} cannot be scheduled by Ray: {raised}"), Cause.own
        if isinstance(raised, ray.exceptions.RuntimeEnvSetupError):
            image = task.configuration.container.image
            message = f"its runtime_env (image={image!r}) could not be set up: {raised}"
            return LayerError(self._run.flow, task.label, message), Cause.own
        if isinstance(raised, ray.exceptions.RayTaskError):
            return (raised.cause if isinstance(raised.cause, BaseException) else raised), Cause.own
        return raised, Cause.own

    def _upstream_failed(self, task: Task) -> bool:
        """Whether a task whose outputs ``task`` takes failed: Ray then fails ``task`` with that error
        without running it. Such a failure may come back before the upstream's own (it is looked at)."""
        for key in task.after:
            if key in self._failed:
                return True
            ref = self._in_flight.ref(key)
            if ref is not None and ray.wait([ref], timeout=0, fetch_local=False)[0]:
                try:
                    ray.get(ref)
                except Exception:
                    return True
        return False

    def _completions(self, finished: list[tuple[Task, Any]]) -> list[Completion]:
        """The completions of tasks found finished. Their values come in one ``ray.get`` (one per task
        cost the driver ~20 us more a task); should any have failed, each is got alone, for its own error."""
        values = None
        if len(finished) > 1:
            with contextlib.suppress(Exception):
                values = ray.get([ref for _, ref in finished])
        if values is None:
            found = (self._completion(task, ref) for task, ref in finished)
        else:
            found = (self._received(task, value) for (task, _), value in zip(finished, values, strict=True))
        return [completion for completion in found if completion is not None]

    def _received(self, task: Task, value: Any) -> Completion | None:
        """The completion of a task that returned ``value``; None if it ran nothing (see _completion)."""
        if isinstance(value, str) and value in worker.AGAIN:
            if value == worker.DROPPED:  # the workers do not keep what they are sent: send it all
                self._carriers = sys.maxsize
            self._resend(task)
            return None
        return Completion(task, value=worker.meta_of(value) if task.kind is TaskKind.run else value)

    def _resend(self, task: Task) -> None:
        """Submit again a task that ran nothing, carrying every ref: its worker lacked a shared input, or it
        was submitted ahead of such a task (a join), whose output it now takes from the task sent again.
        Completions come oldest first, so that task was mostly sent again already; one handled in the same
        batch after this one makes it come back STALE once more, and go again."""
        self._submit(task, carry=True)

    def cancel(self, task: Task) -> None:
        """Withdraw a task started ahead: Ray drops it if it still waits for its arguments."""
        ref = self._in_flight.ref(task.key)
        if ref is not None:
            ray.cancel(ref)

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        completions, self._here = self._here, []
        if not completions:
            completions = self._completions(self._in_flight.finished(timeout, urgent=urgent))
        self._completed += len(completions)
        if self._completed >= self._trimmed + _TRIM_EVERY:
            self._trimmed = self._completed
            _trim()
        return completions

    def release(self, layer: str) -> None:
        """No dependent reads ``layer`` again: drop its refs (a later reader, a retry say, reads the
        datastore, where every finished split's artifacts are)."""
        self._refs.pop(layer, None)


#: What Ray raises when the process running a task died.
_WORKER_LOST = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError)

#: After the first tasks, about one task in this many carries a shared input's ref (see the module docstring).
CARRY_EVERY = 16


def _carriers(nodes: list[dict[str, float]]) -> int:
    """How many tasks carry each shared input's ref: one per CPU of the cluster, at least one."""
    return max(1, int(sum(node.get("CPU", 0.0) for node in nodes)))


def _named(function: Any) -> Callable[[str, tuple[Any, ...]], Any]:
    """Submit the remote function ``function`` with ``args`` under a task name of its own per call.

    ``function.options(name=...).remote(...)`` validates every option again and builds a wrapper class
    on each call (measured: ~0.12 ms a task, an eighth of the driver's work for one); the options were
    validated when ``function`` was made, so only the name is added, through the entry point that
    ``options`` itself calls. A Ray without that entry point gets ``options``.
    """
    remote = getattr(function, "_remote", None)
    defaults = getattr(function, "_default_options", None)
    if callable(remote) and isinstance(defaults, dict) and hasattr(function, "_serialized_base_runtime_env_info"):
        environment = function._serialized_base_runtime_env_info

        def submit(name: str, args: tuple[Any, ...]) -> Any:
            settings = {**defaults, "name": name}
            return remote(args=args, kwargs={}, serialized_runtime_env_info=environment, **settings)

        return submit
    return lambda name, args: function.options(name=name).remote(*args)


def _no_inputs(name: str, read: Input) -> Artifacts:
    """Hook tasks run in the driver take no layers, so they never read artifacts."""
    raise AssertionError(f"a hook task run in the driver read {name!r}, but it takes no layer parameters")


# Submitting and completing Ray tasks allocates and frees in a pattern that left glibc's heap holding
# freed memory (measured when completions came through Ray callbacks: ~10 KiB per task, never returned;
# a 100,000-split run would have kept well over 1 GiB resident).
_TRIM_EVERY = 2000


def _trim() -> None:
    """Give freed heap memory back to the OS (glibc only; elsewhere nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
