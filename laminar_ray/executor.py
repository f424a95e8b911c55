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
- completions are found by waiting on the oldest task in flight, and by
  an occasional sweep for tasks that finished out of turn
  (:mod:`laminar_ray.inflight`): no Ray callback per task.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import ray
import ray.exceptions

from laminar.errors import ConfigurationError
from laminar.executors.base import Run
from laminar.graph import Graph
from laminar_ray.kept import Kept
from laminar_ray.session import Session, Submitter
from laminar_ray.worker import Program

log = logging.getLogger("laminar.ray")


# Set before a local Ray starts: a request no node can satisfy fails in seconds instead of hanging, and an
# out-of-memory kill reaches laminar at once (Ray's own OOM retries would repeat the same request, while
# laminar's Retry runs retry hooks that can raise it).
_LOCAL_RAY_ENV = {
    "RAY_enable_autoscaler_v2": "1",
    "RAY_enable_infeasible_task_early_exit": "true",
    "RAY_task_oom_retries": "0",
}


_FUNCTIONS = 256  # remote functions an executor keeps
_PROGRAMS = 16  # pickled graphs an executor keeps


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
        self.nodes: list[dict[str, float]] = []
        # graph digest and container (JSON) -> submits that graph's layer function with that container's
        # options (and the graph's hook function); kept across runs, so running a flow again exports nothing
        self.functions: Kept[str, Any] = Kept(_FUNCTIONS)
        # (graph digest, id(container)) -> that container's Submitter (see Session._submitter): the containers
        # of a kept graph's layers stay the same objects run after run; hooks may make one per task
        self.submitters: Kept[tuple[str, int], Submitter] = Kept(_FUNCTIONS)
        # id(graph) -> the graph (kept alive, so that no other graph takes its id meanwhile) and its Program
        self._programs: Kept[int, tuple[Graph, Program]] = Kept(_PROGRAMS)
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
        for name, value in _LOCAL_RAY_ENV.items():
            os.environ.setdefault(name, value)  # read by the raylet and GCS processes ray.init starts
        settings: dict[str, Any] = {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        ray.init(address="local", **{**settings, **self.init})
        self.started = True

    def open(self, run: Run) -> Session:
        store = run.datastore
        if store.process_local:
            raise ConfigurationError(
                f"{run.flow}: datastore {store!r} lives in one process and Ray tasks run in others; "
                "use datastores.Local(...) on one machine or datastores.S3(...)/Fsspec(...) on a cluster"
            )
        self.connect()
        self.refresh_nodes()
        if not store.shared and len(self.nodes) > 1:
            warnings.warn(
                f"{run.flow}: datastore {store!r} is on a local disk but the Ray cluster has {len(self.nodes)} "
                "nodes; unless that path is a shared mount, use datastores.S3(...) or Fsspec(...)",
                stacklevel=2,
            )
        return Session(self, run)

    def function(self, key: str, make: Callable[[], Any]) -> Any:
        """The remote function kept under ``key`` (a graph's digest and task options), made by ``make``
        the first time; the least recently used go past a few hundred (a notebook that edits its flow
        makes a new graph each time)."""
        return self.functions.keep(key, make)

    def program(self, graph: Graph) -> Program:
        """The graph pickled for the workers, once per graph object (flows keep theirs while their
        classes stay as they are: pickling a hundred layer classes defined in ``__main__`` costs ~5 ms)."""
        return self._programs.keep(id(graph), lambda: (graph, Program.of(_ship_by_value(graph))))[1]

    # -- cluster ---------------------------------------------------------------------------------

    def refresh_nodes(self) -> None:
        """Read the cluster's nodes again unless they were read in the last 10 seconds (~0.4 ms a read)."""
        if time.monotonic() - self._nodes_at > 10:
            self.nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
            self._nodes_at = time.monotonic()


def _ship_by_value(graph: Graph) -> Graph:
    """Send the flow's own modules by value, so workers need not import them; return ``graph``.

    Layers defined in ``__main__``, a notebook, or a test module not on the workers' path run anyway.
    Installed packages (site-packages) stay by reference. Done before the graph is pickled (once per
    graph); cloudpickle keeps a module registered, so later tasks' errors and containers go by value too.
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
    return graph
