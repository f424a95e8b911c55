"""After the run: every split's logs, traceback and attempts kept, read back from another process.

On Thread and Ray, Local and S3 (the moto server): what a split wrote to stdout and stderr (print, and a
subprocess writing to file descriptor 1 on Ray), its traceback with the layer's own frames, each
attempt of a retried split, what a killed split wrote before it died, a log cut to its bound, a running
split followed; ``flow()`` raising the layer's own exception with its frames, and a Ray console free of
Ray's "Unhandled error" dumps for a failure laminar handled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from laminar.configurations import datastores

REPOSITORY = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).with_name("logflows.py")

pytestmark = pytest.mark.slow


@pytest.fixture(params=["thread-local", "thread-s3", "ray-local", "ray-s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """(executor, datastore settings) for a driver in another process: a local root or the moto server."""
    executor, store = request.param.split("-")
    if store == "local":
        return executor, {"root": str(tmp_path / "store")}
    server = request.getfixturevalue("s3_server")
    return executor, {"s3": f"s3://{server.bucket()}/laminar", **server.options()}


def python(code: str, tmp_path: Path, *, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``code`` in a new Python process (the flows of logflows.py importable), on loopback."""
    env = {
        **os.environ,
        "PYTHONPATH": str(FLOWS.parent),
        "LAMINAR_PROGRESS": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def laminar(
    tmp_path: Path, *arguments: str, settings: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, on the datastore of ``settings`` (S3: the server's credentials and
    endpoint from the environment, as botocore reads them)."""
    env = {**os.environ, "LAMINAR_PROGRESS": "0"}
    flags: list[str] = []
    if settings is not None and "s3" in settings:
        env.update(AWS_ACCESS_KEY_ID=settings["key"], AWS_SECRET_ACCESS_KEY=settings["secret"],
                   AWS_ENDPOINT_URL=settings["endpoint_url"], AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
        flags = ["--datastore", settings["s3"]]
    elif settings is not None:
        flags = ["--datastore", settings["root"]]
    return subprocess.run([sys.executable, "-m", "laminar.cli", *arguments, *flags], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def store_code(settings: dict[str, Any]) -> str:
    """The datastore of ``settings`` built in a process of its own."""
    if "s3" in settings:
        options = {k: v for k, v in settings.items() if k != "s3"}
        return f"datastores.S3(root={settings['s3']!r}, **{options!r})"
    return f"datastores.Local(root={settings['root']!r})"


def test_a_failed_split_keeps_both_streams_and_its_traceback_for_a_new_process(
    where: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    executor, settings = where
    store = store_code(settings)
    run = python(f"""
        from laminar.configurations import datastores, executors
        from logflows import Noisy
        flow = Noisy(datastore={store}, executor={'executors.Thread()' if executor == 'thread' else 'None'})
        try:
            flow(execution="noisy", fail=1)
        except ValueError as error:
            import traceback
            printed = "".join(traceback.format_exception(error))
            frames = "raise ValueError" in printed and "logflows.py" in printed
            print("RAISED", type(error).__name__, "in_frames:", frames)
    """, tmp_path)  # fmt: skip
    assert "RAISED ValueError in_frames: True" in run.stdout, run.stdout + run.stderr  # the layer's own frames
    read = python(f"""
        from laminar.configurations import datastores
        from logflows import Noisy
        execution = Noisy(datastore={store}).execution("noisy")
        failed = execution.logs("Shout", 1)
        print("STATE", failed.state, failed.number)
        print("OUT", repr(failed.stdout)); print("ERR", repr(failed.stderr))
        trace = failed.traceback or ""
        print("TB", "raise ValueError" in trace, "ValueError: split 1 fails" in trace, "runner.py" in trace)
        finished = execution.logs("Shout", 0)
        print("FINE", finished.state, repr(finished.stdout), finished.worker.get("pid") is not None)
    """, tmp_path)  # fmt: skip
    assert "STATE failed 1" in read.stdout
    assert "OUT 'loud 1 out\\n" in read.stdout and "ERR 'loud 1 err\\n'" in read.stdout
    assert "TB True True False" in read.stdout  # the layer's frames, from its first: not laminar's calling it
    assert "FINE finished 'loud 0 out\\n" in read.stdout and read.stdout.rstrip().endswith("True")
    if executor == "ray":  # a subprocess's output to file descriptor 1 is the split's too
        assert "from a subprocess 1" in read.stdout
    cli = laminar(tmp_path, "logs", f"{FLOWS}:Noisy", "noisy", "Shout[1]", settings=settings)
    assert cli.returncode == 0, cli.stderr
    assert "== Noisy.Shout[1] attempt 1 (failed) stdout ==\nloud 1 out" in cli.stdout
    assert "== Noisy.Shout[1] attempt 1 (failed) stderr ==\nloud 1 err" in cli.stdout
    only = laminar(tmp_path, "logs", f"{FLOWS}:Noisy", "latest", "Shout[1]", "--stderr", settings=settings)
    assert "stderr ==\nloud 1 err" in only.stdout and "stdout ==" not in only.stdout
    shown = laminar(tmp_path, "show", f"{FLOWS}:Noisy", "noisy", "--traceback", settings=settings)
    assert shown.returncode == 0, shown.stderr
    assert "Shout[1] failed (attempt 1): ValueError('split 1 fails')" in shown.stdout
    assert "== Noisy.Shout[1] attempt 1: traceback ==" in shown.stdout and "raise ValueError" in shown.stdout
    assert "parameters: fail=1" in shown.stdout


def test_a_retried_split_keeps_each_attempts_log(where: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    executor, settings = where
    store = store_code(settings)
    python(f"""
        from laminar.configurations import datastores, executors
        from logflows import Flaky
        Flaky(datastore={store}, executor={'executors.Thread()' if executor == 'thread' else 'None'})(execution="flaky")
    """, tmp_path)  # fmt: skip
    read = python(f"""
        from laminar.configurations import datastores
        from logflows import Flaky
        execution = Flaky(datastore={store}).execution("flaky")
        for attempt in execution.splits("Again")[0].attempts:
            print(attempt.number, attempt.state, repr(attempt.stdout))
        print("LAYER ATTEMPT", execution.layer("Again").state.attempt)
    """, tmp_path)  # fmt: skip
    assert "1 failed 'try 1\\n'" in read.stdout and "2 finished 'try 2\\n'" in read.stdout
    assert "LAYER ATTEMPT 2" in read.stdout  # the layer's state tells the truth


def test_a_split_killed_keeps_what_it_wrote_before_it_died(tmp_path: Path) -> None:
    """On Ray the worker is SIGKILLed mid-split: its attempt is a lost worker's, with its log as written."""
    store = store_code({"root": str(tmp_path / "store")})
    python(f"""
        from laminar.configurations import datastores
        from logflows import Doomed
        try:
            Doomed(datastore={store})(execution="doomed")
        except Exception as error:
            print("FAILED", type(error).__name__)
    """, tmp_path)  # fmt: skip
    read = python(f"""
        from laminar.configurations import datastores
        from logflows import Doomed
        attempt = Doomed(datastore={store}).execution("doomed").logs("Dies")
        print(attempt.state, attempt.worker_lost, repr(attempt.stdout))
    """, tmp_path)  # fmt: skip
    assert "failed True 'before dying\\n'" in read.stdout, read.stdout


def test_a_thread_run_killed_keeps_what_a_running_split_wrote(tmp_path: Path) -> None:
    """The driver itself (Thread) SIGKILLed while a split runs: its log so far is in the datastore."""
    store = store_code({"root": str(tmp_path / "store")})
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            from laminar.configurations import datastores, executors
            from logflows import Slow
            Slow(datastore={store}, executor=executors.Thread())(execution="slow", lines=60, pause=0.2)
        """)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(FLOWS.parent), "LAMINAR_PROGRESS": "0"},
    )  # fmt: skip
    try:
        log = tmp_path / "store" / "flows" / "Slow" / "slow" / "Talk" / "0.log-1.json"
        deadline = time.monotonic() + 60
        while not log.exists():  # written once the split ran a little and wrote
            assert driver.poll() is None and time.monotonic() < deadline, "no log was written while it ran"
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    read = python(f"""
        from laminar.configurations import datastores
        from logflows import Slow
        attempt = Slow(datastore={store}).execution("slow").logs("Talk")
        print(attempt.state, attempt.stdout.count("line"))
    """, tmp_path)  # fmt: skip
    state, lines = read.stdout.split()
    assert state == "running" and int(lines) >= 3  # as far as it got (a killed driver cannot say more)


def test_a_log_longer_than_its_bound_keeps_its_head_and_tail_and_says_what_was_cut(tmp_path: Path) -> None:
    from laminar.configurations import executors
    from laminar.logs import LogPolicy

    sys.path.insert(0, str(FLOWS.parent))
    from logflows import Long

    flow = Long(datastore=datastores.Local(str(tmp_path)), executor=executors.Thread(), logs=LogPolicy(keep=100))
    execution = flow(progress=False, size=5000)
    attempt = execution.logs("Much")
    assert attempt.stdout.startswith("a" * 100) and attempt.stdout.endswith("z" * 99 + "\n")
    assert "[... laminar: 4801 bytes cut ...]" in attempt.stdout and attempt.log_bytes == 5001
    record = flow.configuration.datastore.read_split_record("Long", execution.id, "Much", 0)
    assert record is not None and "log_file" not in record  # what was kept is short: it stays in the record
    assert (
        record["log"]["stdout"]["cut"] == 4801
        and "[... laminar: 4801 bytes cut ...]" in record["log"]["stdout"]["text"]
    )


def test_a_log_too_long_for_its_record_goes_to_a_file_of_its_own(tmp_path: Path) -> None:
    from laminar.configurations import executors

    sys.path.insert(0, str(FLOWS.parent))
    from logflows import Long

    flow = Long(datastore=datastores.Local(str(tmp_path)), executor=executors.Thread())
    execution = flow(progress=False, size=5000)
    record = flow.configuration.datastore.read_split_record("Long", execution.id, "Much", 0)
    assert record is not None and "log" not in record and record["log_file"] == "0.log-1.json"
    attempt = execution.logs("Much")
    assert attempt.stdout == "a" * 100 + "m" * 4800 + "z" * 100 + "\n" and attempt.log_bytes == 5001


def test_a_running_split_can_be_followed(tmp_path: Path) -> None:
    store = store_code({"root": str(tmp_path / "store")})
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            from laminar.configurations import datastores, executors
            from logflows import Slow
            Slow(datastore={store}, executor=executors.Thread())(execution="followed", lines=15, pause=0.2)
        """)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(FLOWS.parent), "LAMINAR_PROGRESS": "0"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "store" / "flows" / "Slow" / "followed").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        followed = laminar(tmp_path, "logs", f"{FLOWS}:Slow", "followed", "Talk", "--follow",
                           settings={"root": str(tmp_path / "store")})  # fmt: skip
    finally:
        driver.wait(timeout=120)
    assert followed.returncode == 0, followed.stderr
    assert all(f"line {n}\n" in followed.stdout for n in range(15)), followed.stdout
    assert followed.stdout.rstrip().endswith("== attempt 1 finished ==")


def test_a_ray_console_shows_laminars_retry_line_and_no_unhandled_error(tmp_path: Path) -> None:
    store = store_code({"root": str(tmp_path / "store")})
    run = python(f"""
        from laminar.configurations import datastores
        from logflows import Flaky
        Flaky(datastore={store})(execution="console")
    """, tmp_path)  # fmt: skip
    assert "Flaky.Again attempt 1/2 failed: RuntimeError('the first try fails'); retrying" in run.stderr
    assert "Unhandled error" not in run.stderr + run.stdout


@pytest.mark.parametrize("events", ["default", "asked for"])
def test_splits_merely_queued_on_ray_bring_no_autoscaler_reports_unless_asked_for(events: str, tmp_path: Path) -> None:
    store = store_code({"root": str(tmp_path / "store")})
    code = f"""
        import os
        if {events == "asked for"}:
            os.environ["RAY_SCHEDULER_EVENTS"] = "1"  # Ray's own switch, set by the user: laminar leaves it
        from laminar.configurations import datastores
        from laminar_ray import Ray
        from logflows import Queue
        Queue(datastore={store}, executor=Ray(init={{"num_cpus": 2}}))(execution="queued")
    """
    run = python(code, tmp_path, timeout=240)
    reported = "No available node types can fulfill" in run.stdout + run.stderr
    assert reported is (events == "asked for"), run.stderr[-3000:]
