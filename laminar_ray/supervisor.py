"""The entrypoint of a job that ``laminar submit`` started: run the flow, and resume it if its driver dies.

::

    python -m laminar_ray.supervisor --package laminar_submission_ab12 --flow Grid --execution ID --resume-on-failure 2

The supervisor itself never joins Ray. It starts the driver (``--child``: this module again, which
loads the flow from the submission package and runs it, or resumes it when the execution already
exists) as a child process and waits. When the child ends:

- exit 0: the execution finished; the job succeeds;
- exit non-zero: the flow failed (a layer's own error, bad input), reported by the child; the job fails,
  nothing is resumed (``laminar resume`` or ``laminar submit --resume`` continue it after a fix);
- killed by a signal other than SIGTERM, SIGINT or SIGHUP (SIGKILL, the OOM killer, a crash): the
  driver died. With resumes left, a new child resumes the execution from the datastore, which runs
  only layers and splits with no finished record; otherwise the job fails, naming how to continue.

SIGTERM, SIGINT and SIGHUP are requests to stop (``ray job stop`` sends SIGTERM to the supervisor and
its child): the supervisor passes them on and never resumes after one.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m laminar_ray.supervisor", description=__doc__.split("::")[0])
    parser.add_argument("--package", required=True, help="the submission's package (in the job's py_modules)")
    parser.add_argument("--flow", required=True, help="the flow's name (shown in `ray job list`)")
    parser.add_argument("--execution", required=True, help="the execution's id")
    parser.add_argument("--resume-on-failure", type=int, default=0, metavar="N", help="resumes after driver deaths")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.child:
        return child(arguments.package, arguments.execution)
    return supervise(list(argv if argv is not None else sys.argv[1:]), arguments.flow, arguments.execution,
                     arguments.resume_on_failure)  # fmt: skip


def _say(text: str) -> None:
    print(f"laminar: {text}", file=sys.stderr, flush=True)


def supervise(argv: list[str], flow: str, execution: str, resumes: int) -> int:
    """Run the driver as a child, again after each death by signal while resumes are left."""
    stopping: list[int] = []
    running: list[subprocess.Popen[bytes]] = []

    def stop(number: int, frame: FrameType | None) -> None:
        stopping.append(number)
        for process in running:  # usually signalled too (ray job stop signals the whole tree): harmless
            if process.poll() is None:
                process.send_signal(number)

    for number in STOPS:
        signal.signal(number, stop)
    attempt = 0
    while True:
        process = subprocess.Popen([sys.executable, "-m", "laminar_ray.supervisor", *argv, "--child"])
        running[:] = [process]
        _say(f"{flow} {execution}: driver pid {process.pid}" + (f" (resume {attempt} of {resumes})" if attempt else ""))
        code = process.wait()
        if code >= 0 or stopping or -code in STOPS:
            return code if code >= 0 else 128 - code
        name = signal.Signals(-code).name
        if attempt >= resumes:
            _say(
                f"{flow} {execution}: the driver died ({name}) and no resumes are left (--resume-on-failure "
                f"{resumes}); continue it with `laminar resume TARGET {execution}` or `laminar submit TARGET "
                f"--resume {execution}`"
            )
            return 128 - code
        attempt += 1
        _say(f"{flow} {execution}: the driver died ({name}); resuming from the datastore")


def _load(package: str) -> dict[str, Any]:
    import cloudpickle

    from laminar.runtime import importing
    from laminar_ray.jobs import PAYLOAD

    module = importlib.import_module(package)
    data = (Path(module.__file__ or "").parent / PAYLOAD).read_bytes()
    with importing():  # a flow module imported to unpickle its class must not start its own guarded run
        job: dict[str, Any] = cloudpickle.loads(data)
    return job


def child(package: str, execution: str) -> int:
    """Load the submitted flow and run it under ``execution``, or resume that execution if it exists."""
    from laminar.cli import _logging, load
    from laminar.cli.runs import _reason
    from laminar.settings import refuse_ephemeral

    _logging(verbose=False)  # retries and warnings appear in the job's logs
    name = execution
    try:
        job = _load(package)
        flow = job["instance"] if job["target"] is None else load(job["target"])
        name = f"{flow.name} {execution}"
        if job["datastore"] is not None:
            flow.configuration.datastore = job["datastore"]
        store = flow.configuration.datastore
        refuse_ephemeral(flow.name, store)
        if store.read_execution(flow.name, execution) is not None:
            flow.execution(execution).resume(progress=False)
        else:
            flow(execution=execution, progress=False, **job["parameters"])
    except Exception as error:
        _say(f"error: {name} failed: {' '.join(_reason(error).split())}")
        return 1
    print(f"{name} finished; its results are in {store.url}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
