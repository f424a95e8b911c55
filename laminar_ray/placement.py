"""Where and how a task runs on Ray: its remote function made with its task options, kept per container.

Checking a request against the nodes and validating a runtime_env cost more than a whole task's
submission, so both happen once per distinct container (most layers of a flow share one, and hooks
that size splits repeat a few sizes), and the remote function made then is kept by the cluster across
runs; only the task name is set per call (:func:`laminar_ray.cluster.named`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ray

from laminar.graph import Graph
from laminar.options import Container
from laminar.task import Task
from laminar_ray import options, worker
from laminar_ray.cluster import Cluster, Submit, Submitter, named
from laminar_ray.wire import Program


class Placement:
    """One run's way to Ray's remote functions: layer runs sized by their containers, hooks beside the data."""

    def __init__(
        self, cluster: Cluster, graph: Graph, runtime_env: Mapping[str, Any], *, check_feasibility: bool
    ) -> None:
        self._cluster = cluster
        self._graph = graph
        self._runtime_env = dict(runtime_env)
        self._check = check_feasibility
        self.program = cluster.program(graph)
        self._checked: set[str] = set()  # containers whose request was checked against the nodes (this run)
        self._hook_envs: dict[str, dict[str, Any]] = {}  # layer -> its hook tasks' validated runtime_env

    def layer(self, task: Task, name: str) -> Submit:
        """What submits the layer function with ``task``'s options (its request checked first)."""
        container = task.configuration.container
        _, options_key, submit = self._cluster.submitters.keep(
            (self.program.digest, id(container)), lambda: self._submitter(container, name)
        )
        if self._check and options_key not in self._checked:  # once per run: clusters change
            self._cluster.refresh_nodes()
            options.check_feasible(options.request(container), self._cluster.nodes, name)
            self._checked.add(options_key)
        return submit

    def batch(self, task: Task, name: str) -> Any:
        """The remote function of a batch of splits with ``task``'s options (a streaming generator: see
        :func:`laminar_ray.worker.batch_function`); its request is checked as :meth:`layer` checks it."""
        self.layer(task, name)
        container = task.configuration.container
        program = self.program

        def make() -> Any:
            settings = options.task_options(container, name=name, base_env=self._runtime_env)
            del settings["name"]
            return ray.remote(num_returns="streaming", **settings)(worker.batch_function(program))

        return self._cluster.function(f"{program.digest}:{container.model_dump_json()}:batch", make)

    def _submitter(self, container: Container, name: str) -> Submitter:
        """The cluster's entry for ``container``: it (kept alive, so that no other takes its id), its options
        as JSON, and what submits the layer function with them."""
        options_key = container.model_dump_json()
        program: Program = self.program

        def make() -> Submit:
            settings = options.task_options(container, name=name, base_env=self._runtime_env)
            del settings["name"]
            return named(ray.remote(num_returns=2, **settings)(worker.layer_function(program)))

        return container, options_key, self._cluster.function(f"{program.digest}:{options_key}", make)

    def hooks(self, layer: str) -> tuple[Any, dict[str, Any]]:
        """The remote function of a layer's hook tasks (``num_cpus=0``: they run beside the data), with the
        layer's registered env and never its image (validated once)."""
        program = self.program
        function = self._cluster.function(
            f"{program.digest}:hooks", lambda: ray.remote(num_cpus=0)(worker.hook_function(program))
        )
        env = self._hook_envs.get(layer)
        if env is None:
            container = self._graph[layer].configuration.container.model_copy(update={"image": None})
            env = self._hook_envs[layer] = options.runtime_env(container, self._runtime_env, layer)
        return function, env
