"""The host side: start one container for one task with podman, wait, and hand back its outcome.

Errors say what failed and the fix: the image is not there (:class:`ImageMissingError`, in well under a
second: containers start with ``--pull=never``), podman is missing or misconfigured
(:class:`RuntimeMissingError`), the image's Python, laminar or cloudpickle differ from the host's
(:class:`MismatchError`), or the container died: its exit code and the tail of its stderr
(:class:`ContainerError`; :class:`ContainerMemoryError`, also a ``MemoryError``, when it was killed at
its ``--memory`` limit, so that retry hooks can raise ``Container.memory``).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from laminar.containers.entry import EXIT_MISMATCH, EXIT_ORPHANED, EXIT_UNPICKLE, TASK_DIR, versions
from laminar.errors import ConfigurationError, LaminarError
from laminar.graph import own_module

if TYPE_CHECKING:  # annotations only: the container side need not import the datastore to start
    from laminar.datastore import Datastore
    from laminar.options import Container

TAIL_LINES = 40  # of the container's stderr, in errors
CDI_SPECS = ("/etc/cdi", "/var/run/cdi")  # where podman finds the nvidia.com/gpu devices


class ContainerError(LaminarError):
    """A task's container failed: its exit code, the last lines of its stderr and the command."""

    def __init__(self, message: str, exit_code: int | None = None, stderr: str = "", command: str = "") -> None:
        self.message = message
        self.exit_code = exit_code
        self.stderr = stderr
        self.command = command
        super().__init__(message)

    def __reduce__(self) -> Any:  # errors cross process boundaries (Ray)
        return type(self), (self.message, self.exit_code, self.stderr, self.command)


class ImageMissingError(ContainerError):
    """The image is not in the local storage of the podman that was to run it."""

    retryable = False  # the same image fails the same way every time


class RuntimeMissingError(ContainerError):
    """podman is not installed, or refuses to start containers as configured."""

    retryable = False  # the same image fails the same way every time


class MismatchError(ContainerError):
    """The image's Python minor version, laminar or cloudpickle differ from the host's (or it has no laminar)."""

    retryable = False  # the same image fails the same way every time


class ContainerMemoryError(ContainerError, MemoryError):
    """The container was killed (SIGKILL) while it had a ``--memory`` limit: most likely out of memory."""


@dataclass(frozen=True)
class Launch:
    """How to start a task's container. ``memory`` in MB, ``mounts`` as (host path, container path, mode).

    ``network="host"`` lets the task reach a datastore (or anything else) on the host's loopback;
    ``watch_parent`` adds ``--pid=host`` so that the container stops when the process waiting for it dies.
    """

    image: str
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/laminar"
    cpus: float = 0
    memory: int = 0
    gpus: float = 0
    mounts: Sequence[tuple[str, str, str]] = ()
    network: str = "host"
    watch_parent: bool = True
    podman: str = "podman"
    python: str = "python3"
    options: Sequence[str] = ()  # more ``podman run`` options, as given


def launch_for(container: Container, datastore: Datastore, **more: Any) -> Launch:
    """The launch of a layer's task from its ``Container`` and the flow's datastore.

    A datastore on a local disk is mounted at its own path, so that every path it computes stays true
    inside the container; one behind a URL (S3, GCS...) is reached over the network, and the image must
    hold its fsspec implementation (s3fs...).
    """
    if container.image is None:
        raise ConfigurationError("launch_for: the Container has no image; run the task in-process instead")
    if datastore.process_local:
        raise ConfigurationError(
            f"{datastore!r} lives in this process's memory and a container is another process; "
            "use datastores.Local(...) or datastores.S3(...) with Container(image=...)"
        )
    mounts = list(more.pop("mounts", ()))
    root = datastore.root.removeprefix("file://")
    if root.startswith("/"):
        os.makedirs(root, exist_ok=True)
        mounts.append((root, root, "rw"))
    return Launch(
        image=container.image,
        env=dict(container.env),
        workdir=container.workdir or "/laminar",
        cpus=container.cpu,
        memory=container.memory,
        gpus=container.gpu,
        mounts=tuple(mounts),
        **more,
    )


def command(launch: Launch, directory: str, *, name: str) -> list[str]:
    """The ``podman run`` command line of ``launch`` with the task's ``directory`` mounted."""
    args = [launch.podman, "run", "--rm", "--pull=never", f"--name={name}", f"--network={launch.network}"]
    if launch.watch_parent:
        args.append("--pid=host")
    args += ["-v", f"{directory}:{TASK_DIR}:rw", f"--workdir={launch.workdir}"]
    for host, inside, mode in launch.mounts:
        args += ["-v", f"{host}:{inside}:{mode}"]
    if launch.env:
        args.append(f"--env-file={directory}/env")  # not on the command line, where ps would show them
    if launch.cpus:
        args.append(f"--cpus={launch.cpus:g}")
    if launch.memory:  # no swap beyond it: over the limit the container is killed, not slowed down
        args += [f"--memory={launch.memory}m", f"--memory-swap={launch.memory}m"]
    if launch.gpus:
        args += ["--device", "nvidia.com/gpu=all"]
    return [*args, *launch.options, launch.image, launch.python, "-m", "laminar.containers", TASK_DIR]


def run(launch: Launch, function: Callable[..., Any], /, *args: Any, label: str = "task", **kwargs: Any) -> Any:
    """Call ``function(*args, **kwargs)`` inside a container of ``launch.image``; return what it returned.

    What it raised is raised here (the user's own exception, with the container's traceback as a note);
    a container that failed raises :class:`ContainerError` or a subclass. ``label`` names the task in
    errors (``Flow.Layer[3]``).
    """
    podman = shutil.which(launch.podman)
    if podman is None:
        raise RuntimeMissingError(
            f"{label}: Container(image={launch.image!r}) needs podman, which is not installed here "
            f"({launch.podman!r} is not on PATH); install it (Debian: apt-get install podman runc) and point "
            "CONTAINERS_CONF at a containers.conf (see docs/containers-findings.md)"
        )
    _check_gpus(launch, label)
    import cloudpickle

    module = own_module(getattr(function, "__module__", None))  # the image never saw it: it goes by value
    if module is not None:
        cloudpickle.register_pickle_by_value(module)

    directory = tempfile.mkdtemp(prefix="laminar-task-")
    try:
        _write_task(Path(directory), launch, label, cloudpickle.dumps((function, args, kwargs)))
        name = f"laminar-{uuid.uuid4().hex[:12]}"
        argv = command(launch, directory, name=name)
        argv[0] = podman
        code, tail = _wait(argv, podman, name)
        outcome = Path(directory, "outcome.pkl")
        if code == 0 and outcome.exists():
            return _returned(cloudpickle.loads(outcome.read_bytes()))
        raise _failure(launch, label, code, tail, " ".join(argv))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_in(
    workdir: str,
    env: Mapping[str, str],
    function: Callable[..., Any],
    /,
    *args: Any,
    label: str = "task",
    **kwargs: Any,
) -> Any:
    """Call ``function(*args, **kwargs)`` in a new process of this Python whose working directory is
    ``workdir`` (``Container(workdir=...)`` without an image): a thread cannot have a working directory of
    its own, and a worker that changed its own would move every task it runs later. Same outcome and
    errors as :func:`run`; ``env`` is set in that process."""
    if not os.path.isdir(workdir):
        raise ConfigurationError(
            f"{label}: Container(workdir={workdir!r}) is not a directory on this node, where the split runs "
            "without an image; create it, point workdir at one that exists, or give the layer an image "
            "(Container(image=...): workdir is then the container's working directory)"
        )
    import cloudpickle

    module = own_module(getattr(function, "__module__", None))  # the new process never imported it
    if module is not None:
        cloudpickle.register_pickle_by_value(module)
    directory = tempfile.mkdtemp(prefix="laminar-task-")
    try:
        _write_task(
            Path(directory), Launch(image="", watch_parent=True), label, cloudpickle.dumps((function, args, kwargs))
        )
        argv = [sys.executable, "-m", "laminar.containers", directory]
        code, tail = _wait(argv, None, "", cwd=workdir, env={**os.environ, **env})
        outcome = Path(directory, "outcome.pkl")
        if code == 0 and outcome.exists():
            return _returned(cloudpickle.loads(outcome.read_bytes()))
        told = f"\nthe last lines of its stderr:\n{tail.rstrip()}" if tail.strip() else " (its stderr was empty)"
        raise ContainerError(f"{label}: its process (in {workdir}) exited with code {code}{told}", code, tail)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _check_gpus(launch: Launch, label: str) -> None:
    if launch.gpus and not any(Path(d).is_dir() and any(Path(d).iterdir()) for d in CDI_SPECS):
        raise RuntimeMissingError(
            f"{label}: Container(gpu={launch.gpus:g}) in image {launch.image!r}, but podman has no CDI "
            f"specification of the GPUs (none in {', '.join(CDI_SPECS)}); run "
            "`nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (nvidia-container-toolkit) on this node"
        )


def _write_task(directory: Path, launch: Launch, label: str, blob: bytes) -> None:
    header = {**versions(), "label": label, "parent": os.getpid() if launch.watch_parent else None}
    (directory / "task.json").write_text(json.dumps(header))
    (directory / "task.pkl").write_bytes(blob)
    if launch.env:
        for key, value in launch.env.items():
            if "\n" in value or "=" in key:
                raise ConfigurationError(f"{label}: Container env {key!r}: names without '=', values on one line")
        (directory / "env").write_text("".join(f"{key}={value}\n" for key, value in launch.env.items()))


def _wait(argv: list[str], podman: str | None, name: str, **popen: Any) -> tuple[int, str]:
    """Run the container (or, without ``podman``, the process) to its end, its stdout passed through and
    its stderr passed through and kept (the tail); if this thread is interrupted meanwhile (a cancelled
    task), remove the container."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=None, stderr=subprocess.PIPE, **popen)
    assert process.stderr is not None
    reader = threading.Thread(target=_forward, args=(process.stderr, tail), daemon=True, name=f"{name}-stderr")
    reader.start()
    try:
        code = process.wait()
    except BaseException:
        if podman is not None:
            subprocess.run([podman, "rm", "-f", "-t", "2", name], capture_output=True, check=False, timeout=60)
        process.kill()
        raise
    reader.join(timeout=5)
    return code, "".join(tail)


def _forward(stream: IO[bytes], tail: collections.deque[str]) -> None:
    for line in iter(stream.readline, b""):
        text = line.decode(errors="replace")
        tail.append(text)
        sys.stderr.write(text)
    sys.stderr.flush()


def _returned(outcome: tuple[Any, ...]) -> Any:
    if outcome[0] == "returned":
        return outcome[1]
    _, error, text = outcome
    if isinstance(error, BaseException):
        if hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(f"raised inside the container:\n{text}")
        raise error
    raise ContainerError(f"the task raised {error!r} in its container:\n{text}")


# What podman says when it is installed but cannot start containers as configured, and the fix.
_MISCONFIGURED = (
    ("rlimit", "set `[containers] default_ulimits = []` in containers.conf (the file CONTAINERS_CONF names)"),
    ("hybrid mode", 'set `[engine] runtime = "runc"` in containers.conf (crun cannot use hybrid cgroups v1)'),
    ("systemd", 'set `[engine] cgroup_manager = "cgroupfs"` in containers.conf (there is no systemd here)'),
    ("keep-id", "drop --userns=keep-id: rootful podman refuses it (it is for rootless podman)"),
    ("/dev/mqueue", "mount it (`mkdir -p /dev/mqueue && mount -t mqueue mqueue /dev/mqueue`) or drop --ipc=host"),
    ("newuidmap", "configure subordinate ids for this user in /etc/subuid and /etc/subgid (rootless podman)"),
)


def _failure(launch: Launch, label: str, code: int, tail: str, argv: str) -> ContainerError:
    """The error of a container that ended without an outcome."""
    image = launch.image
    told = f"\nthe last lines of its stderr:\n{tail.rstrip()}" if tail.strip() else " (its stderr was empty)"
    if code == 125 and "image not known" in tail:
        return ImageMissingError(
            f"{label}: image {image!r} is not in this node's podman storage (`podman images` lists it); "
            "build it here (podman build / podman import) or load it (podman load / pull) on every node: "
            "laminar starts containers with --pull=never",
            code,
            tail,
            argv,
        )
    not_found = "executable file not found" in tail
    if code == 125 or (code in (126, 127) and "OCI" in tail and not not_found):
        fixes = [fix for needle, fix in _MISCONFIGURED if needle.lower() in tail.lower()]
        hint = "; ".join(fixes) if fixes else "check `podman info` and containers.conf"
        return RuntimeMissingError(f"{label}: podman could not start image {image!r}: {hint}{told}", code, tail, argv)
    if code in (126, 127):
        return MismatchError(
            f"{label}: image {image!r} cannot run {launch.python!r} (exit {code}): the image needs Python "
            f"{sys.version_info.major}.{sys.version_info.minor} on its PATH as {launch.python}{told}",
            code,
            tail,
            argv,
        )
    if code in (EXIT_MISMATCH, EXIT_UNPICKLE):
        said = tail.strip().splitlines()[-1] if tail.strip() else f"exit {code}"
        return MismatchError(f"{said.removeprefix('laminar: ')}", code, tail, argv)
    if "No module named 'laminar" in tail or "No module named laminar" in tail:
        return MismatchError(
            f"{label}: image {image!r} has no laminar (or an old one without laminar.containers); install "
            f"laminar=={versions()['laminar']} and its run-time packages in the image{told}",
            code,
            tail,
            argv,
        )
    if code == EXIT_ORPHANED:
        return ContainerError(f"{label}: its container stopped: the process waiting for it was gone", code, tail)
    if code in (137, -signal.SIGKILL) and launch.memory:
        return ContainerMemoryError(
            f"{label}: its container (image {image!r}) was killed (SIGKILL, exit {code}) with --memory="
            f"{launch.memory}m: most likely out of memory; raise Container.memory (a retry hook can){told}",
            code,
            tail,
            argv,
        )
    return ContainerError(f"{label}: its container (image {image!r}) exited with code {code}{told}", code, tail, argv)
