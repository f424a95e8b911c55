"""One task in one container, with real podman: from this process and from a Ray task."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from image import MARKER, MARKER_TEXT

from laminar.configurations import datastores
from laminar.containers import (
    ContainerError,
    ContainerMemoryError,
    ImageMissingError,
    Launch,
    MismatchError,
    RuntimeMissingError,
    launch_for,
    run,
)
from laminar.options import Container

pytestmark = pytest.mark.slow


def where(x: int) -> dict[str, Any]:
    """What the task sees: only the image has the marker file and the module."""
    import laminar_test_only_in_image  # type: ignore[import-not-found]

    return {
        "marker": Path(MARKER).read_text(),
        "module": laminar_test_only_in_image.WHERE,
        "twice": x * 2,
        "cwd": os.getcwd(),
        "env": os.environ.get("LAYER_MODE"),
        "python": sys.version_info[:2],
    }


def dies() -> None:
    print("about to fail: exit 3", file=sys.stderr)
    sys.exit(3)


class Refused(ValueError):
    pass


def refuses() -> None:
    raise Refused("no, 42")


def test_the_marker_is_only_in_the_image(image: str) -> None:
    assert not Path(MARKER).exists()
    seen = run(Launch(image=image, env={"LAYER_MODE": "fast"}, workdir="/tmp"), where, 21)
    assert seen == {
        "marker": MARKER_TEXT,
        "module": "image",
        "twice": 42,
        "cwd": "/tmp",
        "env": "fast",
        "python": sys.version_info[:2],
    }


def test_the_image_is_reused_when_its_inputs_did_not_change(image: str) -> None:
    import image as test_image

    started = time.monotonic()
    assert test_image.ensure_image() == image
    assert time.monotonic() - started < 10  # hashing the inputs only (~1 s here)


def test_a_function_runs_in_the_image_from_a_ray_task(image: str, ray_cluster: Any) -> None:
    ray = ray_cluster

    @ray.remote(num_cpus=1)
    def in_container(x: int) -> dict[str, Any]:
        return run(Launch(image=image), where, x)  # type: ignore[no-any-return]

    assert ray.get(in_container.remote(5))["marker"] == MARKER_TEXT
    assert ray.get(in_container.remote(5))["twice"] == 10


def test_what_the_function_raises_is_raised_as_itself(image: str, ray_cluster: Any) -> None:
    with pytest.raises(Refused, match="no, 42") as info:
        run(Launch(image=image), refuses)
    assert "raised inside the container" in info.value.__notes__[0]

    @ray_cluster.remote
    def in_container() -> None:
        run(Launch(image=image), refuses)

    with pytest.raises(Refused, match="no, 42"):
        ray_cluster.get(in_container.remote())


def test_a_container_exiting_non_zero_gives_its_code_and_stderr_tail(image: str, ray_cluster: Any) -> None:
    with pytest.raises(ContainerError, match=r"F\.L\[2\]: its container .* exited with code 3") as info:
        run(Launch(image=image), dies, label="F.L[2]")
    assert info.value.exit_code == 3
    assert "about to fail: exit 3" in info.value.stderr
    assert "about to fail: exit 3" in str(info.value)

    @ray_cluster.remote
    def in_container() -> None:
        run(Launch(image=image), dies, label="F.L[2]")

    with pytest.raises(ContainerError, match=r"(?s)exited with code 3.*about to fail: exit 3") as through_ray:
        ray_cluster.get(in_container.remote())
    assert through_ray.value.exit_code == 3


def test_a_missing_image_is_a_clear_error_in_seconds(image: str, ray_cluster: Any) -> None:
    missing = f"localhost/laminar-no-such-image:{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(ImageMissingError, match=r"F\.L: image 'localhost/laminar-no-such-image:.*' is not in"):
        run(Launch(image=missing), where, 1, label="F.L")
    assert time.monotonic() - started < 5

    @ray_cluster.remote
    def in_container() -> None:
        run(Launch(image=missing), where, 1, label="F.L")

    started = time.monotonic()
    with pytest.raises(ImageMissingError, match="--pull=never"):
        ray_cluster.get(in_container.remote())
    assert time.monotonic() - started < 10


def test_a_missing_podman_is_a_clear_error() -> None:
    with pytest.raises(RuntimeMissingError, match=r"F\.L: Container\(image='x:1'\) needs podman.*apt-get install"):
        run(Launch(image="x:1", podman="laminar-no-such-podman"), where, 1, label="F.L")


def test_a_host_with_another_laminar_is_told_apart_before_unpickling(
    image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from laminar.containers import entry, launch

    mine = entry.versions()
    monkeypatch.setattr(launch, "versions", lambda: {**mine, "laminar": "0.0.0-other"})
    with pytest.raises(MismatchError, match=r"F\.L: the image does not match the host: laminar 0\.0\.0-other on the"):
        run(Launch(image=image), where, 1, label="F.L")


def test_cpu_and_memory_become_the_containers_limits(image: str) -> None:
    def limits() -> tuple[str, str]:
        return (
            Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text().strip(),
            Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").read_text().strip(),
        )

    quota, memory = run(Launch(image=image, cpus=0.5, memory=300), limits)
    assert (int(quota), int(memory)) == (50_000, 300 * 1024 * 1024)  # of a 100 ms period


def test_a_container_killed_at_its_memory_limit_is_a_memory_error(image: str) -> None:
    def hog() -> None:
        block = bytearray(400 * 1024 * 1024)
        for at in range(0, len(block), 4096):
            block[at] = 1

    with pytest.raises(ContainerMemoryError, match=r"--memory=100m: most likely out of memory") as info:
        run(Launch(image=image, memory=100), hog)
    assert isinstance(info.value, MemoryError) and info.value.exit_code == 137


def test_a_local_datastore_is_mounted_at_its_own_path(image: str, tmp_path: Path) -> None:
    store = datastores.Local(str(tmp_path / "store"))
    launch = launch_for(Container(image=image, cpu=1, memory=500, env={"A": "1"}), store)
    assert (launch.cpus, launch.memory, launch.env, launch.workdir) == (1, 500, {"A": "1"}, "/laminar")

    def write(root: str) -> None:
        Path(root, "from-the-container.txt").write_text("hello")

    run(launch, write, store.root)
    assert (tmp_path / "store" / "from-the-container.txt").read_text() == "hello"


def test_a_container_stops_when_the_process_waiting_for_it_dies(image: str, tmp_path: Path) -> None:
    """The Ray worker waiting for a container is killed: the container must not run on."""
    tag = uuid.uuid4().hex[:12]
    script = tmp_path / "waits.py"
    script.write_text(
        "import sys, time\n"
        "from laminar.containers import Launch, run\n"
        f"run(Launch(image={image!r}, options=['--label=laminar.test={tag}']), time.sleep, 120)\n"
    )
    before = set(Path(tempfile.gettempdir()).glob("laminar-task-*"))
    waiting = subprocess.Popen([sys.executable, str(script)])

    def running() -> list[str]:
        listed = subprocess.run(
            ["podman", "ps", "-q", "--filter", f"label=laminar.test={tag}"], capture_output=True, text=True, check=True
        )
        return listed.stdout.split()

    try:
        deadline = time.monotonic() + 30
        while not running():
            assert time.monotonic() < deadline, "the container never started"
            time.sleep(0.2)
        waiting.kill()
        waiting.wait()
        deadline = time.monotonic() + 15
        while running():
            assert time.monotonic() < deadline, "the container outlived the process waiting for it"
            time.sleep(0.5)
        left = set(Path(tempfile.gettempdir()).glob("laminar-task-*")) - before
        assert len(left) == 1  # the waiting process could not remove it; the container emptied it
        assert not any(left.pop().iterdir())
    finally:
        waiting.kill()
        for directory in set(Path(tempfile.gettempdir()).glob("laminar-task-*")) - before:
            shutil.rmtree(directory, ignore_errors=True)
        for container in running():
            subprocess.run(["podman", "rm", "-f", container], capture_output=True, check=False)


def test_a_misconfigured_podman_is_a_clear_error(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """podman cannot start containers as configured: the error says so, with podman's own words.

    (On this machine, leaving out ``default_ulimits = []`` gives runc's "error setting rlimit type 7",
    and the error names that setting: see docs/containers-findings.md.)
    """
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "nope"\n')
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    with pytest.raises(RuntimeMissingError, match=r"(?s)F\.L: podman could not start .*containers\.conf.*nope") as info:
        run(Launch(image=image), where, 1, label="F.L")
    assert info.value.exit_code == 125


def test_an_image_without_the_python_is_told_apart(image: str) -> None:
    with pytest.raises(MismatchError, match=r"cannot run 'python3\.99'.*needs Python 3\.\d+ on its PATH"):
        run(Launch(image=image, python="python3.99"), where, 1, label="F.L")
