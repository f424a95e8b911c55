"""Runs on a real ``ray start --head`` on 127.0.0.1, submitted as Ray jobs and read back from the submitting side.

The README's commands run as written, in bash, in a scratch copy of the repository's examples (with a
``.venv`` link to this interpreter's environment), with two changes a shared test machine needs: the
``ray start`` line gets its own temp dir and free ports (``rayhead.start_flags``), and
``RAY_API_SERVER_ADDRESS`` points the job commands at that head instead of the default port 8265.
Every head is stopped by the PIDs of its processes (``rayhead.stop``), never ``ray stop``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import rayhead
from rayhead import BIN, Head, environment

from laminar.configurations import datastores

REPOSITORY = Path(__file__).resolve().parents[2]
CRASHFLOW = REPOSITORY / "tests" / "reliability" / "crashflow.py"
pytestmark = pytest.mark.slow


def cluster_blocks(language: str) -> list[str]:
    """The ``language`` code blocks of the README's "On a cluster" section, in order."""
    text = (REPOSITORY / "README.md").read_text()
    section = text.split("\n## On a cluster\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def commands(block: str) -> list[str]:
    """The block's command lines, comments removed."""
    return [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines() if line.strip()]


def project(tmp_path: Path) -> Path:
    """A fresh checkout's view: the examples, and ``.venv`` (the environment laminar is installed in)."""
    if not (Path(sys.prefix) / "bin" / "activate").is_file():
        pytest.skip("the README's recipe sources .venv/bin/activate: run the tests from a virtualenv")
    repo = tmp_path / "repo"
    shutil.copytree(REPOSITORY / "examples", repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv").symlink_to(sys.prefix)
    return repo


def bash(script: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -eo pipefail\n{script}"], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def job_info(head: Head, job: str) -> dict[str, Any]:
    """The job as Ray's Jobs SDK reports it (in a process of its own: its token auth reads the environment)."""
    code = (
        "import json, sys\nfrom ray.job_submission import JobSubmissionClient\n"
        "info = JobSubmissionClient(sys.argv[1]).get_job_info(sys.argv[2])\n"
        "driver = info.driver_info\n"
        "print(json.dumps({'status': str(info.status.value), 'message': info.message, 'metadata': info.metadata,\n"
        "                  'pid': int(driver.pid) if driver and driver.pid else None}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, head.dashboard, job],
        capture_output=True, text=True, env=environment(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    info: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return info


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def test_the_readme_ray_job_submit_recipe_works_as_written(tmp_path: Path) -> None:
    block = cluster_blocks("bash")[0]
    assert "ray job submit --working-dir . -- python examples/hello.py" in block
    repo = project(tmp_path)
    temp_dir = rayhead.temp_dir()
    flags, head = rayhead.start_flags(temp_dir)
    script, changed = re.subn(
        r"^(ray start --head --node-ip-address=127\.0\.0\.1)", rf"\1 {' '.join(flags)}", block, flags=re.M
    )
    assert changed == 1
    env = environment(RAY_API_SERVER_ADDRESS=head.dashboard)
    del env["RAY_AUTH_MODE"]  # the recipe sets what it needs: the token mode, and the venv on the PATH
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN)
    try:
        result = bash(script, repo, env, timeout=240)
    finally:
        rayhead.stop(temp_dir, head.gcs)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "World.value = 'hello world'" in output
    found = re.search(r"execution (\S+)\n", output)
    assert found is not None, output[-4000:]
    execution = found.group(1)
    assert f"results are kept in {repo / '.laminar'}" in output  # not in Ray's unpacked copy
    assert re.search(rf"^{re.escape(execution)}\s+finished\s", result.stdout, flags=re.M), result.stdout
    shown = bash(f"laminar show examples/hello.py:HelloFlow {execution}", repo, environment())
    assert shown.returncode == 0 and f"HelloFlow {execution}: finished" in shown.stdout, shown.stderr


def test_laminar_submit_no_wait_then_show_from_the_submitting_side(ray_head: Head, tmp_path: Path) -> None:
    lines = commands(cluster_blocks("bash")[1])
    submit_line = next(line for line in lines if line.endswith("--no-wait"))
    show_line = next(line for line in lines if line.startswith("laminar show"))
    repo = project(tmp_path)
    env = environment(RAY_API_SERVER_ADDRESS=ray_head.dashboard)

    submitted = bash(submit_line, repo, env)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    found = re.search(r"^Grid execution (\S+) submitted as Ray job (raysubmit_\w+) to ", submitted.stdout, flags=re.M)
    assert found is not None, submitted.stdout
    execution, job = found.groups()
    assert f"laminar stop {execution}" in submitted.stdout and f"ray job stop {job}" in submitted.stdout

    def finished() -> subprocess.CompletedProcess[str] | None:
        shown = bash(show_line.replace("EXECUTION", execution), repo, env)
        return shown if shown.returncode == 0 and f"Grid {execution}: finished" in shown.stdout else None

    shown = wait_for(finished, 120, "the submitted execution to finish")
    assert re.search(r"^Cost\s+finished\s+6\s", shown.stdout, flags=re.M), shown.stdout
    info = wait_for(lambda: (i := job_info(ray_head, job))["status"] == "SUCCEEDED" and i, 60, "the job to end")
    assert info["metadata"] == {"laminar_flow": "Grid", "laminar_execution": execution}
    assert (repo / ".laminar" / "flows" / "Grid").is_dir()  # the submitting side's default, passed to the job


def test_a_job_without_a_lasting_datastore_is_refused_naming_the_fix(ray_head: Head, tmp_path: Path) -> None:
    repo = project(tmp_path)  # no laminar.toml, no LAMINAR_DATASTORE: the default would be Ray's copy
    result = bash(
        "ray job submit --working-dir . -- python examples/hello.py",
        repo, environment(RAY_API_SERVER_ADDRESS=ray_head.dashboard),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "HelloFlow: the datastore would be" in output and "runtime_resources/working_dir_files" in output
    assert "LAMINAR_DATASTORE" in output and "laminar.toml" in output and "ran HelloFlow" not in output


def _read_lines(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def test_a_driver_killed_mid_fan_out_is_resumed_without_rerunning_finished_splits(
    ray_head: Head, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(CRASHFLOW, repo)
    log = tmp_path / "runs"
    submitting = subprocess.Popen(
        [str(BIN / "laminar"), "submit", "crashflow.py:Crash", "-p", "count=16", "-p", "pause=0.4",
         "-p", f"log={log}", "--resume-on-failure", "2"],
        cwd=repo, env=environment(RAY_API_SERVER_ADDRESS=ray_head.dashboard),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert submitting.stdout is not None
        first = submitting.stdout.readline()
        threading.Thread(target=_read_lines, args=(submitting.stdout, lines), daemon=True).start()
        found = re.search(r"^Crash execution (\S+) submitted as Ray job (raysubmit_\w+)", first)
        assert found is not None, first
        execution, job = found.groups()
        store = datastores.Local(str(repo / ".laminar"))
        wait_for(lambda: len(store.finished_splits("Crash", execution, "Square")) >= 4, 120, "4 finished splits")
        done_before = store.finished_splits("Crash", execution, "Square")
        driver = job_info(ray_head, job)["pid"]  # the job's driver: the supervisor's child
        assert driver is not None
        os.kill(driver, signal.SIGKILL)
        assert submitting.wait(timeout=180) == 0, "".join(lines)[-4000:]
    finally:
        if submitting.poll() is None:
            submitting.kill()
    output = "".join(lines)
    assert f"Crash {execution}: the driver died (SIGKILL); resuming from the datastore" in output
    assert f"Crash {execution} finished (Ray job {job} succeeded)" in output
    assert len(done_before) < 16
    runs = Counter(int(line) for line in log.read_text().split())
    assert set(runs) == set(range(16))
    assert all(runs[n] == 1 for n in done_before), (sorted(done_before), runs)  # finished: never run again

    sys.path.insert(0, str(CRASHFLOW.parent))
    from crashflow import Crash, Square, Total

    execution_read = Crash(datastore=store).execution(execution)
    assert execution_read.layer(Total).total == sum(n * n for n in range(16))
    assert list(execution_read.layer(Square).value) == [n * n for n in range(16)]


def test_ctrl_c_stops_following_not_the_job_and_laminar_stop_stops_it_for_good(ray_head: Head, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(CRASHFLOW, repo)
    env = environment(RAY_API_SERVER_ADDRESS=ray_head.dashboard)
    following = subprocess.Popen(
        [str(BIN / "laminar"), "submit", "crashflow.py:Crash", "-p", "count=8", "-p", "pause=2",
         "-p", f"log={tmp_path / 'runs'}", "--resume-on-failure", "2"],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert following.stdout is not None
        found = re.search(r"execution (\S+) submitted as Ray job (raysubmit_\w+)", following.stdout.readline())
        assert found is not None
        execution, job = found.groups()
        wait_for(lambda: (tmp_path / "runs").exists(), 120, "a split to start")
        following.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = following.communicate(timeout=30)
    finally:
        if following.poll() is None:
            following.kill()
    assert following.returncode == 130
    assert f"stopped following; Ray job {job} keeps running (stop it with: laminar stop {execution}" in stderr
    assert job_info(ray_head, job)["status"] == "RUNNING"

    stopped = bash(f"laminar stop {execution}", repo, env)
    assert stopped.returncode == 0 and f"stopping Ray job {job}" in stopped.stdout, stopped.stderr
    wait_for(lambda: job_info(ray_head, job)["status"] == "STOPPED", 60, "the job to stop")
    logs = bash(f"ray job logs --address {ray_head.dashboard} {job}", repo, env).stdout
    assert "driver pid" in logs and "resuming" not in logs, logs  # a stop is no driver death
    shown = bash(f"laminar show crashflow.py:Crash {execution}", repo, env)
    assert f"Crash {execution}: incomplete" in shown.stdout, shown.stdout + shown.stderr


def test_the_readme_jupyter_cells_run_the_tour_with_the_driver_in_the_notebook_and_in_a_job(
    ray_head: Head, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    text = (REPOSITORY / "README.md").read_text()
    tour = (
        text.split("## A tour", 1)[1]
        .split("```python\n", 1)[1]
        .split('\nif __name__ == "__main__" and (flow := Tour()):', 1)[0]
    )
    in_notebook, in_a_job = cluster_blocks("python")
    client, dashboard = ray_head.client, ray_head.dashboard
    cells = [
        tour,  # the flow, defined in the notebook
        in_notebook.replace("ray://127.0.0.1:10001", client),
        "print('notebook', execution.layer(Report).total, list(execution.layer(Process).rows))",
        in_a_job.replace("http://127.0.0.1:8265", dashboard),
        "print('job', submission.job_id, execution.layer(Report).total, execution.id == submission.id)",
    ]
    assert all(cell != original for cell, original in zip(cells[1::2], [in_notebook, in_a_job], strict=False))
    spec = tmp_path / "jupyter" / "kernels" / "laminar-cluster"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "laminar", "language": "python"}))
    for name, value in environment(JUPYTER_PATH=str(tmp_path / "jupyter"), LAMINAR_PROGRESS="0").items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    try:
        NotebookClient(
            notebook, kernel_name="laminar-cluster", timeout=180, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    except Exception as error:  # the Ray Client server's own logs say why a connection failed
        logs = ray_head.logs("ray_client_server*")
        raise AssertionError(f"{error}\n\nthe head's Ray Client logs:\n{logs}") from error
    printed = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "notebook 10 [5, 5]" in printed, printed[-3000:]
    assert re.search(r"job raysubmit_\w+ 10 True", printed), printed[-3000:]
    assert len(list((tmp_path / ".laminar" / "flows" / "Tour").iterdir())) == 2  # both runs, kept here
