"""``Ray``: every layer split becomes one Ray task, sized from its own inputs.

The engine (``laminar.engine``) decides what runs; a Ray executor only places
tasks on Ray and reports completions (:mod:`laminar_ray.session`):

- run tasks get ``num_cpus``/``num_gpus``/``memory``/``resources`` and a
  ``runtime_env`` computed from the split's ``Container`` after its submission
  (or retry) hooks ran, and are checked against the cluster's nodes first;
- upstream artifacts travel as ObjectRefs, worker to worker: the driver keeps
  refs, never values; each task also writes its artifacts to the datastore;
- hooks that take layers run as ``num_cpus=0`` tasks next to the data;
  hooks that take none run here, in the driver.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from laminar.errors import ConfigurationError
from laminar.executors.base import Run
from laminar_ray.cluster import Cluster
from laminar_ray.session import Session


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
        self.cluster = Cluster(address, init or {})

    def __repr__(self) -> str:
        return f"Ray(address={self.address!r})"

    @property
    def started(self) -> bool:
        """Whether this executor started the (local) Ray it uses."""
        return self.cluster.started

    def connect(self) -> None:
        """Join or start Ray (idempotent). Never shuts down a Ray it did not start."""
        self.cluster.connect()

    def open(self, run: Run) -> Session:
        store = run.datastore
        if store.process_local:
            raise ConfigurationError(
                f"{run.flow}: datastore {store!r} lives in one process and Ray tasks run in others; "
                "use datastores.Local(...) on one machine or datastores.S3(...)/Fsspec(...) on a cluster"
            )
        self.cluster.connect()
        self.cluster.refresh_nodes()
        nodes = len(self.cluster.nodes)
        if not store.shared and nodes > 1:
            warnings.warn(
                f"{run.flow}: datastore {store!r} is on a local disk but the Ray cluster has {nodes} nodes; "
                "unless that path is a shared mount, use datastores.S3(...) or Fsspec(...)",
                stacklevel=2,
            )
        return Session(
            self.cluster,
            run,
            runtime_env=self.runtime_env,
            max_in_flight=self.max_in_flight,
            check_feasibility=self.check_feasibility,
        )
