"""``Ray``: every layer split becomes one Ray task, sized from its own inputs.

The shared scheduler (``laminar.scheduler``) decides what runs; this class only
places tasks on Ray and reports completions:

- run tasks get ``num_cpus``/``num_gpus``/``memory``/``resources`` and a
  ``runtime_env`` computed from the split's ``Container`` after its submission
  (or retry) hooks ran, and are checked against the cluster's nodes first;
- upstream artifacts travel as ObjectRefs, worker to worker: the driver keeps
  refs, never values; each task also writes its artifacts to the datastore;
- hooks that take layers run as ``num_cpus=0`` tasks next to the data;
  hooks that take none run here, in the driver;
- completions arrive through ``ObjectRef.future()`` callbacks into a queue
  (no ``ray.wait`` loop over thousands of refs).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import queue
import sys
import sysconfig
import time
import uuid
import warnings
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import ray
import ray.exceptions

from laminar import runner
from laminar.errors import ConfigurationError, LayerError, ResourceError
from laminar.executors.base import Completion, Run, Task, TaskKind
from laminar.graph import Graph
from laminar.hooks import Kind
from laminar_ray import options, worker

log = logging.getLogger("laminar.ray")

_HOOK_KIND = {TaskKind.entry: Kind.entry, TaskKind.submission: Kind.submission, TaskKind.retry: Kind.retry}

# Set before a local Ray starts, so a request no node can satisfy fails in seconds instead of hanging.
_FAST_INFEASIBLE = {"RAY_enable_autoscaler_v2": "1", "RAY_enable_infeasible_task_early_exit": "true"}


class Ray:
    """Run flows on Ray.

    ``address``: a cluster to join; by default the one Ray already initialised in this process, else
    ``RAY_ADDRESS`` (set inside ``ray job submit``), else a new local Ray on 127.0.0.1.
    ``runtime_env``: fields (``pip``, ``working_dir``, ``py_modules``, ``env_vars``...) for every layer's task.
    ``max_in_flight``: how many tasks may be submitted and unfinished at once (backpressure).
    ``check_feasibility``: reject requests no current node can satisfy (turn off on autoscaling clusters).
    ``init``: more keyword arguments for ``ray.init`` when this executor starts or joins Ray.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        runtime_env: Mapping[str, Any] | None = None,
        max_in_flight: int = 2000,
        check_feasibility: bool = True,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.runtime_env = dict(runtime_env or {})
        self.max_in_flight = max_in_flight
        self.check_feasibility = check_feasibility
        self.init = dict(init or {})
        self.started = False
        self._done: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._refs: dict[str, dict[int, Any]] = {}  # layer -> split -> ObjectRef of its artifacts
        self._nodes: list[dict[str, float]] = []
        self._functions: dict[str, Any] = {}  # options -> remote function; kept across runs
        self._nodes_at = 0.0

    def __repr__(self) -> str:
        return f"Ray(address={self.address!r})"

    # -- connection -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Join or start Ray (idempotent). Never shuts down a Ray it did not start."""
        if ray.is_initialized():
            return
        if self.address is not None or os.environ.get("RAY_ADDRESS"):
            ray.init(address=self.address, **self.init)
            return
        for name, value in _FAST_INFEASIBLE.items():
            os.environ.setdefault(name, value)  # read by the raylet and GCS processes ray.init starts
        settings: dict[str, Any] = {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        ray.init(address="local", **{**settings, **self.init})
        self.started = True

    def open(self, run: Run) -> None:
        store = run.datastore
        if store.process_local:
            raise ConfigurationError(
                f"{run.flow}: datastore {store!r} lives in one process and Ray tasks run in others; "
                "use datastores.Local(...) on one machine or datastores.S3(...)/Fsspec(...) on a cluster"
            )
        self.connect()
        self._refresh_nodes(force=True)
        if not store.shared and len(self._nodes) > 1:
            warnings.warn(
                f"{run.flow}: datastore {store!r} is on a local disk but the Ray cluster has {len(self._nodes)} "
                "nodes; unless that path is a shared mount, use datastores.S3(...) or Fsspec(...)",
                stacklevel=2,
            )
        _ship_by_value(run.graph)
        self._run = run
        self._key = uuid.uuid4().hex
        payload = worker.Payload(self._key, run.flow, run.execution, run.graph, store)
        self._boxed = [ray.put(payload)]
        self._refs = {}
        self._graph: Graph = run.graph
        self._options: dict[str, Any] = {}  # layer -> its remote function, while hooks change nothing
        # Dependents of each layer that have not finished yet; once none is left, its refs are dropped.
        self._consumers: dict[str, set[str]] = {name: set() for name in run.graph.nodes}
        for name, node in run.graph.nodes.items():
            for dependency in node.dependencies:
                self._consumers.setdefault(dependency, set()).add(name)
        self._finished: dict[str, int] = {}
        self._completed = self._trimmed = 0

    def capacity(self) -> int:
        return self.max_in_flight

    def close(self) -> None:
        self._refs = {}
        self._boxed = []
        self._options = {}

    # -- submission ------------------------------------------------------------------------------

    def submit(self, task: Task) -> None:
        node = self._graph[task.layer]
        if task.kind is TaskKind.run:
            needed = set(node.call.values()) | {d for b in node.hooks_of(Kind.execution) for d in b.parameters.values()}
        else:
            needed = {d for b in node.hooks_of(_HOOK_KIND[task.kind]) for d in b.parameters.values()}
        # The task sent carries only the inputs it reads; completions report the scheduler's own task.
        sent = dataclasses.replace(
            task,
            inputs={k: v for k, v in task.inputs.items() if k in needed},
            error=task.error if task.kind is TaskKind.retry else None,
        )
        if task.kind is not TaskKind.run and not needed:
            self._run_here(task, sent)
            return
        slots, values = self._arguments(sent)
        call = worker.Call.of(self._key, self._boxed, sent, node.configuration, slots)
        name = f"{self._run.flow}.{task.label}"
        if task.kind is TaskKind.run:
            meta, produced = self._remote(task, name).remote(call, *values)
            if self._consumers.get(task.layer):  # a layer nothing reads needs no ref kept
                self._refs.setdefault(task.layer, {})[task.split] = produced
            self._watch(task, meta)
        else:
            hooks = worker.run_hooks.options(
                name=f"{name}:{task.kind.value}",
                runtime_env=options.runtime_env(
                    node.configuration.container.model_copy(update={"image": None}), self.runtime_env, name
                ),
            )
            self._watch(task, hooks.remote(call, *values))

    def _remote(self, task: Task, name: str) -> Any:
        """``worker.layer_task`` with this call's options, checked first.

        Validating a runtime_env costs more than a whole task's submission, so a remote function is
        made once per distinct set of options (most layers of a flow share one); only the task name is
        set per call. A container changed by hooks is checked and looked up again.
        """
        configuration = task.configuration
        unchanged = configuration is self._graph[task.layer].configuration
        found = self._options.get(task.layer) if unchanged else None
        if found is None:
            container = configuration.container
            if self.check_feasibility:
                self._refresh_nodes()
                options.check_feasible(options.request(container), self._nodes, name)
            settings = options.task_options(container, name=name, base_env=self.runtime_env)
            del settings["name"]
            key = repr(sorted(settings.items()))
            found = self._functions.get(key)
            if found is None:
                found = self._functions[key] = ray.remote(num_returns=2, **settings)(worker.layer_task)
            if unchanged:
                self._options[task.layer] = found
        return found.options(name=name)

    def _arguments(self, task: Task) -> tuple[dict[str, list[int | None]], list[Any]]:
        """ObjectRef arguments for a task's inputs, and where each dependency split sits among them.

        A plain layer read by a split of a foreach layer is read by every split: it goes boxed, so each
        worker resolves (deserializes) it once instead of once per split.
        """
        slots: dict[str, list[int | None]] = {}
        values: list[Any] = []
        for name, read in task.inputs.items():
            if read.state != "finished":
                continue
            splits = range(read.splits or 0) if read.split is None else [read.split]
            shared = task.index is not None and name in self._graph.nodes and not self._graph[name].foreach
            refs = self._refs.get(name, {})
            positions: list[int | None] = []
            for split in splits:
                ref = refs.get(split)
                if ref is None:
                    positions.append(None)  # finished in an earlier run (or released): read the datastore
                else:
                    positions.append(len(values))
                    values.append(worker.Shared([ref]) if shared else ref)
            slots[name] = positions
        return slots, values

    def _run_here(self, task: Task, sent: Task) -> None:
        run = self._run
        try:
            value = runner.execute(
                run.graph,
                sent,
                flow=run.flow,
                execution=run.execution,
                datastore=run.datastore,
                artifacts=lambda name, read: run.datastore.split(run.flow, run.execution, name, read.split or 0),
            )
        except Exception as error:
            self._done.put(Completion(task, error=error))
        else:
            self._done.put(Completion(task, value=value))

    def _watch(self, task: Task, ref: Any) -> None:
        ref.future().add_done_callback(lambda future: self._done.put(self._completion(task, future)))

    def _completion(self, task: Task, future: Future[Any]) -> Completion:
        label = f"{self._run.flow}.{task.label}"
        try:
            value = future.result()
        except ray.exceptions.OutOfMemoryError as error:
            return Completion(
                task,
                error=MemoryError(f"{label} was killed by Ray's memory monitor: {error}"),
                worker_lost=True,
                out_of_memory=True,
            )
        except (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError,
        ) as error:
            return Completion(
                task,
                error=LayerError(
                    self._run.flow, task.label, f"its worker process died ({type(error).__name__}): {error}"
                ),
                worker_lost=True,
            )
        except ray.exceptions.TaskUnschedulableError as error:
            return Completion(task, error=ResourceError(f"{label} cannot be scheduled by Ray: {error}"))
        except ray.exceptions.RuntimeEnvSetupError as error:
            image = task.configuration.container.image
            return Completion(
                task,
                error=LayerError(
                    self._run.flow, task.label, f"its runtime_env (image={image!r}) could not be set up: {error}"
                ),
            )
        except ray.exceptions.RayTaskError as error:
            cause = error.cause if isinstance(error.cause, BaseException) else error
            return Completion(task, error=cause)
        except Exception as error:
            return Completion(task, error=error)
        if isinstance(value, worker.Changes):
            value = value.apply(task.configuration)
        return Completion(task, value=value)

    def wait(self, timeout: float | None) -> list[Completion]:
        try:
            completions = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                completions.append(self._done.get_nowait())
            except queue.Empty:
                break
        for completion in completions:
            task = completion.task
            if task.kind is TaskKind.run and completion.error is None:
                self._finished_split(task)
        self._completed += len(completions)
        if self._completed >= self._trimmed + _TRIM_EVERY:
            self._trimmed = self._completed
            _trim()
        return completions

    def _finished_split(self, task: Task) -> None:
        """Count a finished split; when its layer finished, drop the refs no dependent can still read.

        A dependent that starts later anyway (a retry, a layer whose refs were dropped) reads the
        datastore, where every finished split's artifacts already are.
        """
        done = self._finished[task.layer] = self._finished.get(task.layer, 0) + 1
        if done < (task.splits if task.splits is not None else 1):
            return
        for dependency in self._graph[task.layer].dependencies:
            consumers = self._consumers.get(dependency)
            if consumers is not None:
                consumers.discard(task.layer)
                if not consumers:
                    self._refs.pop(dependency, None)

    # -- cluster ---------------------------------------------------------------------------------

    def _refresh_nodes(self, force: bool = False) -> None:
        if force or time.monotonic() - self._nodes_at > 10:
            self._nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
            self._nodes_at = time.monotonic()


# Ray's completion threads allocate and free in a pattern that leaves glibc's heap holding freed memory
# (measured: ~10 KiB per task, never returned): a 100,000-split run would keep well over 1 GiB resident.
_TRIM_EVERY = 2000


def _trim() -> None:
    """Give freed heap memory back to the OS (glibc only; elsewhere nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _ship_by_value(graph: Graph) -> None:
    """Send the flow's own modules by value, so workers need not import them.

    Layers defined in ``__main__``, a notebook, or a test module not on the workers' path run anyway.
    Installed packages (site-packages) stay by reference.
    """
    installed = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    for node in graph.nodes.values():
        classes = [node.layer, *(b.hook.owner for bs in node.hooks.values() for b in bs)]
        for cls in classes:
            module = sys.modules.get(cls.__module__)
            path = getattr(module, "__file__", None)
            if (
                module is None
                or cls.__module__ == "__main__"
                or cls.__module__.startswith(("laminar.", "laminar_ray."))
            ):
                continue
            if path is None or any(os.path.abspath(path).startswith(p) for p in installed):
                continue
            ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
