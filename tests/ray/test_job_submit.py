"""`ray job submit` against a real `ray start --head` on loopback; results read back from the datastore.

The head is stopped by the PIDs of the processes it started (found by its own
temp dir), never with `ray stop`, which would kill every Ray on the host.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from laminar.configurations import datastores

BIN = Path(sys.executable).parent


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
    return env


def _stop(temp_dir: str) -> None:
    """Kill the processes of this head only: those whose command line names its temp dir."""
    victims = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part for part in process.info["cmdline"] or []):
                victims.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for process in victims:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(victims, timeout=10)
    for process in alive:
        try:
            process.kill()  # gcs_server and raylet may ignore SIGTERM
        except psutil.NoSuchProcess:
            continue


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths have a length limit
    gcs, dashboard, client, agent_listen, agent_grpc, metrics, runtime_env = _free_ports(7)
    command = [
        str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent_listen}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}", f"--temp-dir={temp_dir}", "--num-cpus=2",
        "--disable-usage-stats",
    ]  # fmt: skip
    started = subprocess.run(command, capture_output=True, text=True, env=_environment(), timeout=120)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        _stop(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


FLOW = textwrap.dedent(
    """
    import sys
    from laminar import Flow, Layer
    from laminar.configurations import datastores, layers

    class Submitted(Flow): ...

    @Submitted.register
    class Numbers(Layer):
        def __call__(self) -> None:
            self.shard(n=[1, 2, 3, 4])

    @Submitted.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Numbers, attribute="n")]))
    class Square(Layer):
        def __call__(self, numbers: Numbers) -> None:
            self.value = numbers.n ** 2

    @Submitted.register
    class Sum(Layer):
        def __call__(self, square: Square) -> None:
            self.total = sum(square.value)
            print("total is", self.total)

    if flow := Submitted(datastore=datastores.Local(sys.argv[1])):  # no executor: joins the job's Ray
        flow(execution="from-a-job")
    """
)


@pytest.mark.slow
def test_ray_job_submit_runs_a_flow_whose_results_are_readable(head: str, tmp_path: Path) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "flow.py").write_text(FLOW)
    store = tmp_path / "store"
    submitted = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", head, "--working-dir", str(workdir), "--",
         sys.executable, "flow.py", str(store)],
        capture_output=True, text=True, env=_environment(), timeout=300,
    )  # fmt: skip
    output = submitted.stdout + submitted.stderr
    assert submitted.returncode == 0, output[-4000:]
    # The layer's stdout reached the submitter, prefixed with the task's name.
    assert "(Submitted.Sum pid=" in output and "total is 30" in output
    job = re.search(r"Job '(raysubmit_\w+)' succeeded", output)
    assert job is not None, output[-4000:]
    status = subprocess.run(
        [str(BIN / "ray"), "job", "status", "--address", head, job.group(1)],
        capture_output=True, text=True, env=_environment(), timeout=60,
    )  # fmt: skip
    assert status.returncode == 0 and "succeeded" in (status.stdout + status.stderr).lower()

    namespace: dict[str, object] = {}
    exec(compile(FLOW.split("if flow :=")[0], "flow", "exec"), namespace)  # the same classes, no run
    flow = namespace["Submitted"](datastore=datastores.Local(str(store)))  # type: ignore[operator]
    execution = flow.execution("from-a-job")
    assert execution.layer("Sum").total == 30
    assert list(execution.layer("Square").value) == [1, 4, 9, 16]
