"""Shared fixtures: one local Ray and one S3 server per test session, and the backends flow tests run on.

``backend`` is parametrized over executor x datastore pairs; a test module
builds flows with ``backend.flow(MyFlow)``. A new executor or datastore opts
into the whole end-to-end suite by adding one entry to ``BACKENDS``.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import uuid
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
# Workers' prints reach the driver each as printed: Ray's deduplication would hold back lines that differ
# only in numbers ("0 1 a", "1 2 a"), which the documentation pages' tests (tests/original/) compare.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

from backends import Backend
from scheduling import Clock

from laminar import Flow
from laminar.configurations import datastores, executors
from laminar.datastore import Datastore
from laminar.executors import Executor

F = TypeVar("F", bound=Flow)

# Scripts that tests run in their own processes (and flow modules they share) are not test modules:
# never collect them, not even for doctests.
collect_ignore_glob = ["ray/scripts/*.py", "reliability/*flow*.py", "backends.py", "subprocesses.py", "rayhead.py"]


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


@pytest.fixture(scope="session")
def ray_head() -> Iterator[Any]:
    """One real ``ray start --head`` on 127.0.0.1 (own temp dir, free ports, dashboard) for the session's
    job tests, started with this venv first on the PATH; stopped by PID (``rayhead``)."""
    import rayhead

    head = rayhead.start()
    try:
        yield head
    finally:
        head.stop()


@dataclass(frozen=True)
class S3Server:
    """A real S3-speaking server (moto) on loopback that checks credentials, and a user's keys for it."""

    endpoint: str
    key: str
    secret: str

    def options(self, **changes: Any) -> dict[str, Any]:
        """s3fs storage options, as a user would pass them to ``datastores.S3``."""
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"region_name": "us-east-1"},
        }
        options.update(changes)
        return options

    def bucket(self) -> str:
        """A new, empty bucket."""
        import boto3

        name = f"laminar-{uuid.uuid4().hex[:16]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
        ).create_bucket(Bucket=name)
        return name

    def datastore(self, **changes: Any) -> Datastore:
        return datastores.S3(root=f"s3://{self.bucket()}/laminar", **self.options(**changes))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto in server mode on 127.0.0.1 (a free port), with an IAM user and authentication switched on."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="x"
        )
        iam.create_user(UserName="laminar")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="laminar", PolicyName="everything", PolicyDocument=json.dumps(policy))
        created = iam.create_access_key(UserName="laminar")["AccessKey"]
        # From now on moto rejects unknown keys and bad signatures, like S3 does.
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(request, timeout=10).read()
        yield S3Server(endpoint, created["AccessKeyId"], created["SecretAccessKey"])
    finally:
        server.stop()


def _thread(_: pytest.FixtureRequest) -> Executor:
    return executors.Thread()


def _ray(request: pytest.FixtureRequest) -> Executor:
    request.getfixturevalue("ray_cluster")
    from laminar_ray import Ray

    return Ray()


def _s3(request: pytest.FixtureRequest, _: Path) -> Datastore:
    server: S3Server = request.getfixturevalue("s3_server")
    return server.datastore()


DatastoreFactory = Callable[[pytest.FixtureRequest, Path], Datastore]
BACKENDS: dict[str, tuple[Callable[[pytest.FixtureRequest], Executor], DatastoreFactory]] = {
    "thread-memory": (_thread, lambda _, __: datastores.Memory()),
    "thread-local": (_thread, lambda _, path: datastores.Local(root=str(path / "store"))),
    "thread-s3": (_thread, _s3),
    "ray-local": (_ray, lambda _, path: datastores.Local(root=str(path / "store"))),
    "ray-s3": (_ray, _s3),
}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    make_executor, make_datastore = BACKENDS[request.param]
    return Backend(request.param, make_datastore(request, tmp_path), make_executor(request))


@pytest.fixture
def memory() -> Backend:
    """The unit-test setup: Thread + Memory."""
    return Backend("thread-memory", datastores.Memory(), executors.Thread())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fake clock for the engine (``scheduling.py``): retry timers come due when it is advanced."""
    from laminar.engine import loop

    clock = Clock()
    monkeypatch.setattr(loop, "time", clock)
    return clock
