"""The Ray cluster an executor uses: the connection, its nodes, what is kept across runs, and every
fast path through Ray's private API (one place to look when Ray changes; ``tests/ray/test_cluster.py``
fails loudly if one is gone).

A :class:`Cluster` belongs to one :class:`~laminar_ray.Ray` executor and
outlives its runs: the remote functions made for a graph and a set of task
options, the pickled graphs, and the submitters per container are made once and
kept, so running a flow again exports nothing.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import ray

from laminar.graph import Graph, own_modules
from laminar.options import Container
from laminar_ray.kept import Kept
from laminar_ray.wire import Program

# Set before a local Ray starts: a request no node can satisfy fails in seconds instead of hanging, and an
# out-of-memory kill reaches laminar at once (Ray's own OOM retries would repeat the same request, while
# laminar's Retry runs retry hooks that can raise it).
LOCAL_RAY_ENV = {
    "RAY_enable_autoscaler_v2": "1",
    "RAY_enable_infeasible_task_early_exit": "true",
    "RAY_task_oom_retries": "0",
}

FUNCTIONS = 256  # remote functions (and submitters) a cluster keeps
PROGRAMS = 16  # pickled graphs a cluster keeps
NODES_EVERY = 10.0  # seconds between reads of the cluster's nodes (~0.4 ms a read)

#: Submits a remote function with its task's arguments under a task name of its own.
Submit = Callable[[str, tuple[Any, ...]], Any]
#: A cluster's submitter for one container of one graph: the container, its options as JSON, the submit.
Submitter = tuple[Container, str, Submit]


class Cluster:
    """A connection to Ray (joined or started here) and what is kept for it across runs."""

    def __init__(self, address: str | None, init: Mapping[str, Any]) -> None:
        self.address = address
        self.init = dict(init)
        self.started = False  # whether this process started the Ray it uses
        self.nodes: list[dict[str, float]] = []
        self._nodes_at = -NODES_EVERY
        # graph digest and container (JSON) -> submits that graph's layer function with that container's
        # options (and the graph's hook function); kept across runs, so running a flow again exports nothing
        self.functions: Kept[str, Any] = Kept(FUNCTIONS)
        # (graph digest, id(container)) -> that container's Submitter: the containers of a kept graph's
        # layers stay the same objects run after run; hooks may make one per task
        self.submitters: Kept[tuple[str, int], Submitter] = Kept(FUNCTIONS)
        # id(graph) -> the graph (kept alive, so that no other graph takes its id meanwhile) and its Program
        self._programs: Kept[int, tuple[Graph, Program]] = Kept(PROGRAMS)

    def connect(self) -> None:
        """Join or start Ray (idempotent). Never shuts down a Ray it did not start."""
        quiet_scheduler_events()
        if ray.is_initialized():
            return
        if self.address is not None or os.environ.get("RAY_ADDRESS"):
            ray.init(address=self.address, **self.init)
            return
        for name, value in LOCAL_RAY_ENV.items():
            os.environ.setdefault(name, value)  # read by the raylet and GCS processes ray.init starts
        settings: dict[str, Any] = {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        ray.init(address="local", **{**settings, **self.init})
        self.started = True

    def refresh_nodes(self) -> None:
        """Read the cluster's nodes again unless they were read in the last :data:`NODES_EVERY` seconds."""
        if time.monotonic() - self._nodes_at > NODES_EVERY:
            self.nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
            self._nodes_at = time.monotonic()

    def cpus(self) -> int:
        """The CPUs of the cluster's nodes (at least one)."""
        return max(1, int(sum(node.get("CPU", 0.0) for node in self.nodes)))

    def function(self, key: str, make: Callable[[], Any]) -> Any:
        """The remote function kept under ``key`` (a graph's digest and task options), made by ``make`` the
        first time; the least recently used go past a few hundred (a notebook that edits its flow makes a
        new graph each time)."""
        return self.functions.keep(key, make)

    def program(self, graph: Graph) -> Program:
        """The graph pickled for the workers, once per graph object (flows keep theirs while their classes
        stay as they are: pickling a hundred layer classes defined in ``__main__`` costs ~5 ms)."""
        return self._programs.keep(id(graph), lambda: (graph, Program.of(ship_by_value(graph))))[1]


def quiet_scheduler_events() -> None:
    """Keep the autoscaler's resource-demand events off the driver's console, unless the environment sets
    ``RAY_SCHEDULER_EVENTS`` (Ray's own switch for them, read when ray is imported, so it is set here as
    the value it would have read). A cluster without node types to add reports every task that waits
    for a free CPU as "No available node types can fulfill resource requests": merely queued, which the
    progress display shows as such; a request no node can ever meet is refused before it is submitted
    (:func:`laminar_ray.options.check_feasible`)."""
    if "RAY_SCHEDULER_EVENTS" not in os.environ:
        from ray._private import ray_constants

        ray_constants.AUTOSCALER_EVENTS = 0


def ship_by_value(graph: Graph) -> Graph:
    """Send the flow's own modules by value, so workers need not import them; return ``graph``.

    Layers defined in ``__main__``, a notebook, or a test module not on the workers' path run anyway
    (:func:`laminar.graph.own_modules`). Done before the graph is pickled (once per graph); cloudpickle
    keeps a module registered, so later tasks' errors and containers go by value too.
    """
    for module in own_modules(graph):
        ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    return graph


# -- Ray's private API: the fast paths ------------------------------------------------------------------


def named(function: Any) -> Submit:
    """Submit the remote function ``function`` with ``args`` under a task name of its own per call.

    ``function.options(name=...).remote(...)`` validates every option again and builds a wrapper class
    on each call (measured: ~0.12 ms a task, an eighth of the driver's work for one); the options were
    validated when ``function`` was made, so only the name is added, through the entry point that
    ``options`` itself calls (``RemoteFunction._remote``, private). A Ray without it gets ``options``.
    """
    if has_fast_submit(function):
        remote, defaults = function._remote, function._default_options
        environment = function._serialized_base_runtime_env_info

        def submit(name: str, args: tuple[Any, ...]) -> Any:
            settings = {**defaults, "name": name}
            return remote(args=args, kwargs={}, serialized_runtime_env_info=environment, **settings)

        return submit
    return lambda name, args: function.options(name=name).remote(*args)


def streams() -> bool:
    """Whether this connection runs streaming generators (``num_returns="streaming"``), which batched
    splits are: Ray Client (``ray://``) does not."""
    import ray.util.client

    return not ray.util.client.ray.is_connected()  # type: ignore[no-untyped-call]


def ready_items(generator: Any) -> tuple[list[Any], bool, Exception | None]:
    """The refs a streaming task's generator has ready now, oldest first; whether it ended (all read); and
    what reading it raised, if it did (the task failed: its worker died), after the refs read before.

    ``ObjectRefGenerator.next_ready`` and ``next`` cost ~50 us an item in the driver; the private
    ``_next_sync(timeout_s=0)``, which both call, ~15 us (a batch of trivial splits yields one an item).
    A Ray without it gets the public pair."""
    refs: list[Any] = []
    fast = has_fast_items(generator)
    try:
        while True:
            if fast:
                ref = generator._next_sync(timeout_s=0)
                if ref.is_nil():
                    return refs, False, None
            elif generator.next_ready():
                ref = next(generator)
            else:
                return refs, bool(generator.is_finished()), None
            refs.append(ref)
    except StopIteration:
        return refs, True, None
    except Exception as error:
        return refs, False, error


def has_fast_items(generator: Any) -> bool:
    """Whether this Ray's streaming generators have the private non-blocking read :func:`ready_items` uses."""
    return callable(getattr(generator, "_next_sync", None))


def has_fast_submit(function: Any) -> bool:
    """Whether this Ray's remote functions have the private entry point :func:`named` uses."""
    remote = getattr(function, "_remote", None)
    defaults = getattr(function, "_default_options", None)
    return callable(remote) and isinstance(defaults, dict) and hasattr(function, "_serialized_base_runtime_env_info")


def worker_info() -> dict[str, Any]:
    """Where this task runs, as its record keeps it: the Ray node and the resources Ray granted it."""
    context = ray.get_runtime_context()
    granted = context.get_assigned_resources()  # type: ignore[no-untyped-call]
    return {"node": context.get_node_id(), "granted": dict(granted)}


def in_worker() -> bool:
    """Whether this process is a Ray worker (``ray._private.worker``: Ray has no public way to ask)."""
    return bool(ray._private.worker.global_worker.mode == ray.WORKER_MODE)


def cancelled() -> bool:
    """Whether Ray cancelled the task this worker runs (``ray.cancel``, which raises KeyboardInterrupt in
    it): told apart from a KeyboardInterrupt the layer raised itself (``core_worker.is_canceled``, private)."""
    return bool(ray._private.worker.global_worker.core_worker.is_canceled())  # type: ignore[attr-defined]


def trim() -> None:
    """Give freed heap memory back to the OS (glibc only; elsewhere nothing).

    Submitting and completing Ray tasks allocates and frees in a pattern that left glibc's heap holding
    freed memory (measured when completions came through Ray callbacks: ~10 KiB per task, never
    returned; a 100,000-split run would have kept well over 1 GiB resident).
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
