"""Ctrl-C (SIGINT) on the driver stops a run within seconds on Thread and Ray, says so, and leaves an
execution that resume finishes: through the CLI (Thread: its running layer sleeps in C code, which an
interrupt cannot stop), and a Ray driver that stays alive after it (as a notebook does), whose running
task must stop too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from laminar.configurations import datastores

sys.path.insert(0, str(Path(__file__).parent))
from interruptflow import After, Stoppable

HERE = Path(__file__).parent
STOPS_WITHIN = 15.0  # seconds; the layer would run for 60

FLOW = """
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors

HERE = Path(__file__).parent


class Sleepy(Flow): ...


@Sleepy.register
class Nap(Layer):
    def __call__(self, p: Parameters) -> None:
        (HERE / "nap-started").touch()
        if not (HERE / "resuming").exists():
            time.sleep(60)  # in C: an interrupt raised in this thread waits for it to return
        self.slept = True


flow = Sleepy(datastore=datastores.Local(str(HERE / "store")), executor=executors.Thread())
"""


def _wait_for(path: Path, process: subprocess.Popen[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        assert process.poll() is None, f"it ended before {path.name}: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_ctrl_c_on_the_cli_stops_a_thread_run_within_seconds_and_says_how_to_resume(tmp_path: Path) -> None:
    (tmp_path / "sleepy.py").write_text(textwrap.dedent(FLOW))
    command = [sys.executable, "-m", "laminar.cli", "run", "sleepy.py:flow", "--execution", "e", "--no-progress"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(tmp_path / "nap-started", process)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=STOPS_WITHIN)
        assert time.monotonic() - interrupted < STOPS_WITHIN
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "laminar resume sleepy.py:flow e" in stderr, stderr
    (tmp_path / "resuming").touch()
    resumed = subprocess.run(
        [sys.executable, "-m", "laminar.cli", "resume", "sleepy.py:flow", "e", "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_ctrl_c_stops_a_ray_run_and_its_running_task_and_leaves_it_resumable(
    ray_cluster: object, tmp_path: Path
) -> None:
    import ray

    root, marks = tmp_path / "store", tmp_path / "marks"
    marks.mkdir()
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [sys.executable, str(HERE / "interruptflow.py"), str(root), str(marks), address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(marks / "heartbeat", driver)
        driver.send_signal(signal.SIGINT)
        _wait_for(marks / "interrupted", driver, within=STOPS_WITHIN)
        time.sleep(2)  # the task's cancellation reaches its worker
        beat = (marks / "heartbeat").stat().st_mtime
        time.sleep(1.5)
        assert (marks / "heartbeat").stat().st_mtime == beat, "the layer's task still runs after the interrupt"
    finally:
        driver.kill()
        out, _ = driver.communicate(timeout=30)
    assert "was interrupted; what finished is kept: resume it with Stoppable().execution('stopped').resume()" in out

    (marks / "resuming").touch()
    from laminar_ray import Ray

    execution = Stoppable(datastore=datastores.Local(str(root)), executor=Ray()).execution("stopped")
    assert execution.resume(progress=False).layer(After).value == 3
    assert os.path.exists(marks / "long-started")
