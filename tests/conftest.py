"""Shared fixtures: one local Ray per test session, and the backends every flow test runs on.

``backend`` is parametrized over executor x datastore pairs; a test module
builds flows with ``backend.flow(MyFlow)``. A new executor or datastore opts
into the whole end-to-end suite by adding one entry to ``BACKENDS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

# Ray must stay on loopback here, and fail fast on requests no node can satisfy.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_enable_autoscaler_v2", "1")
os.environ.setdefault("RAY_enable_infeasible_task_early_exit", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from laminar import Flow
from laminar.configurations import datastores, executors
from laminar.datastore import Datastore
from laminar.executors import Executor

F = TypeVar("F", bound=Flow)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray for the whole session (2 CPUs plus custom resources for tests)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            resources={"laminar_test": 4},
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=True,
        )
    yield ray
    ray.shutdown()


@dataclass
class Backend:
    """An executor and a datastore to run flows on."""

    name: str
    datastore: Datastore
    executor: Executor

    def flow(self, cls: type[F]) -> F:
        return cls(datastore=self.datastore, executor=self.executor)


def _thread(_: pytest.FixtureRequest) -> Executor:
    return executors.Thread()


def _ray(request: pytest.FixtureRequest) -> Executor:
    request.getfixturevalue("ray_cluster")
    from laminar_ray import Ray

    return Ray()


BACKENDS: dict[str, tuple[Callable[[pytest.FixtureRequest], Executor], Callable[[Path], Datastore]]] = {
    "thread-memory": (_thread, lambda _: datastores.Memory()),
    "thread-local": (_thread, lambda path: datastores.Local(root=str(path / "store"))),
    "ray-local": (_ray, lambda path: datastores.Local(root=str(path / "store"))),
}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    make_executor, make_datastore = BACKENDS[request.param]
    return Backend(request.param, make_datastore(tmp_path), make_executor(request))


@pytest.fixture
def memory() -> Backend:
    """The unit-test setup: Thread + Memory."""
    return Backend("thread-memory", datastores.Memory(), executors.Thread())
