"""A split's record is durable moments after its task ends: a driver SIGKILLed a few tenths of a second
after a long split finished, while its sibling still runs, loses none of that split's work; resume runs
only the sibling (Thread and Ray). The journal commits what finished within ``Policy.seconds`` (10 ms);
with the 1 s window it had, the finished split's document was still waiting when the driver died, and
resume ran the split again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from laminar.configurations import datastores, executors

sys.path.insert(0, str(Path(__file__).parent))
from durableflow import Durable, Total, Work

HERE = Path(__file__).parent
# From the long split's last line to the SIGKILL: the 10 ms window, Ray's sweep of finished tasks (up to
# 50 ms while many are in flight), the write, and room for a busy machine; well under the old 1 s window.
MOMENTS = 0.3


@pytest.mark.parametrize("kind", ["thread", "ray"])
def test_a_split_finished_moments_before_the_driver_died_is_not_run_again(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "store"
    arguments = [sys.executable, str(HERE / "durableflow.py"), str(root), kind]
    executor: Any = executors.Thread()
    if kind == "ray":
        ray = request.getfixturevalue("ray_cluster")
        arguments.append(ray.get_runtime_context().gcs_address)
        from laminar_ray import Ray

        executor = Ray()
    driver = subprocess.Popen(arguments)
    try:
        deadline = time.monotonic() + 90
        while not (tmp_path / "long-finished").exists():
            assert driver.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, "the long split never finished"
            time.sleep(0.001)
        finished = time.monotonic()
        # The sibling must be running when the driver dies. On Ray it needs a second worker process, which
        # on a busy machine can start after the long split's second of work: wait for its first line.
        while _attempts(tmp_path) != ["0", "1"]:
            assert driver.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, f"the sibling never started: {_attempts(tmp_path)}"
            time.sleep(0.001)
        time.sleep(max(0.0, finished + MOMENTS - time.monotonic()))
        assert driver.poll() is None, "the driver ended before it could be killed"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(timeout=30)

    assert _attempts(tmp_path) == ["0", "1"]
    store = datastores.Local(str(root))
    assert store.finished_splits("Durable", "durable", "Work") == {0}  # committed before the kill
    (tmp_path / "resuming").touch()
    resumed = Durable(datastore=store, executor=executor).execution("durable").resume(progress=False)
    assert resumed.layer(Total).total == 1 + 2
    assert sorted(resumed.layer(Work).value) == [1, 2]
    assert _attempts(tmp_path) == ["0", "1", "1"]  # split 0 ran once


def _attempts(marks: Path) -> list[str]:
    """The splits' attempts so far, one line each (sorted: the two splits start in either order)."""
    runs = marks / "runs"
    return sorted(runs.read_text().split()) if runs.exists() else []
