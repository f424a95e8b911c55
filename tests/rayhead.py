"""A real ``ray start --head`` on loopback for tests: its own temp dir and free ports, stopped by PID.

``ray stop`` would kill every Ray on the host; :func:`stop` kills only the processes of one head: those
whose command line names its temp dir (gcs_server, raylet, dashboard, workers...), their descendants
(a job's driver names no temp dir), SIGTERM first, then SIGKILL (gcs_server and raylet may ignore it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def environment(**changes: str) -> dict[str, str]:
    """This environment on loopback with token auth, no address of another cluster, this venv's bin
    first on the PATH (as ``source .venv/bin/activate`` does: a job's ``python`` is this one)."""
    env = dict(os.environ)
    for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "LAMINAR_DATASTORE"):
        env.pop(name, None)
    env.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="token",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(changes)
    return env


@dataclass(frozen=True)
class Head:
    temp_dir: str
    gcs: str  # 127.0.0.1:PORT, for ray.init and RAY_ADDRESS
    dashboard: str  # http://127.0.0.1:PORT, for the Jobs SDK and RAY_API_SERVER_ADDRESS
    client: str  # ray://127.0.0.1:PORT, for Ray Client

    def stop(self) -> None:
        stop(self.temp_dir, self.gcs)

    def logs(self, pattern: str, tail: int = 3000) -> str:
        """The last ``tail`` characters of each of the head's log files matching ``pattern`` (a glob,
        such as ``ray_client_server*``), each under its name: what a failed test shows of why."""
        shown = []
        for path in sorted(Path(self.temp_dir).glob(f"session_*/logs/{pattern}")):
            text = path.read_text(errors="replace")
            if text.strip():
                shown.append(f"--- {path.name}\n{text[-tail:]}")
        return "\n".join(shown) or f"(no log file matching {pattern} under {self.temp_dir})"


def start_flags(temp_dir: str) -> tuple[list[str], Head]:
    """``ray start`` flags that give a head its own temp dir and free ports on 127.0.0.1, and that head."""
    gcs, dashboard, client, agent_listen, agent_grpc, metrics, runtime_env = free_ports(7)
    flags = [
        f"--port={gcs}", "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent_listen}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}", f"--temp-dir={temp_dir}", "--num-cpus=2", "--disable-usage-stats",
    ]  # fmt: skip
    head = Head(temp_dir, f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dashboard}", f"ray://127.0.0.1:{client}")
    return flags, head


def temp_dir() -> str:
    return tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths have a length limit


def start() -> Head:
    """Start a head; on failure stop what started and raise with ray start's output."""
    flags, head = start_flags(temp_dir())
    command = [str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", *flags]
    # Ray Client's proxy forks a server per client while gRPC threads run; with gRPC's fork handlers on,
    # that server dies at start now and then ("Starting Ray client server failed", ray-project/ray#63202;
    # 2 of 25 connections on this machine under load, 0 of 50 with them off)
    env = environment(GRPC_ENABLE_FORK_SUPPORT="0")
    started = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if started.returncode != 0:
        head.stop()
        raise RuntimeError(f"ray start failed: {started.stdout[-2000:]}{started.stderr[-2000:]}")
    return head


def stop(temp_dir: str, gcs: str | None = None) -> None:
    """Kill the processes of the head with this temp dir, and their descendants; remove the temp dir.

    Ray Client's servers name the head only by its GCS address (``--address=127.0.0.1:PORT``), and are
    no raylet's children: left running, they would hold ports (23000, ...) that the next head's Ray Client
    needs, so they go too."""
    victims: dict[int, psutil.Process] = {}
    marks = [temp_dir, *((f"--address={gcs}",) if gcs else ())]
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(mark in part for part in process.info["cmdline"] or [] for mark in marks):
                victims[process.pid] = process
                victims.update((child.pid, child) for child in process.children(recursive=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    victims.pop(os.getpid(), None)
    for process in victims.values():
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(list(victims.values()), timeout=3)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    shutil.rmtree(temp_dir, ignore_errors=True)
