"""A driver killed with SIGKILL within moments of starting an execution loses none of it: the execution's
record and its parameters are durable before any layer starts, so they read back and resume finishes
it (Thread and Ray). The kill comes the moment the execution's record appears, or once the first layer
started."""

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
from earlyflow import Early, First, Second

HERE = Path(__file__).parent


def _kill_when(driver: subprocess.Popen[str], appeared: Path) -> None:
    """Tell the driver to start, SIGKILL it the moment ``appeared`` exists."""
    assert driver.stdin is not None and driver.stdout is not None
    assert driver.stdout.readline().strip() == "ready"
    driver.stdin.write("go\n")
    driver.stdin.flush()
    deadline = time.monotonic() + 90
    while not appeared.exists():
        assert driver.poll() is None, "the driver ended before it could be killed"
        assert time.monotonic() < deadline, f"{appeared} never appeared"
        time.sleep(0.0005)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)


@pytest.mark.parametrize("moment", ["record-appears", "first-layer-started"])
@pytest.mark.parametrize("kind", ["thread", "ray"])
def test_a_driver_killed_right_after_starting_leaves_its_parameters_and_a_resumable_execution(
    kind: str, moment: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "store"
    arguments = [sys.executable, str(HERE / "earlyflow.py"), str(root), kind]
    executor: Any = executors.Thread()
    if kind == "ray":
        ray = request.getfixturevalue("ray_cluster")
        arguments.append(ray.get_runtime_context().gcs_address)
        from laminar_ray import Ray

        executor = Ray()
    appeared = root / "flows/Early/early/execution.json" if moment == "record-appears" else tmp_path / "first-started"
    driver = subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        _kill_when(driver, appeared)
    finally:
        if driver.poll() is None:
            driver.kill()

    flow = Early(datastore=datastores.Local(str(root)), executor=executor)
    execution = flow.execution("early")
    assert execution.parameters.x == 21 and execution.parameters.label == "laminar"
    assert not execution.layer(Second).state.finished
    (tmp_path / "resuming").touch()
    resumed = execution.resume(progress=False)
    assert resumed.layer(First).x == 42
    assert resumed.layer(Second).total == 42 + len("laminar")
    assert flow.execution("early").parameters.x == 21
