"""Submit a flow to a Ray cluster as a Ray job: its driver runs there, so the submitting side may go away.

::

    laminar submit examples/foreach.py:Grid --no-wait      # prints the execution id and the Ray job id
    laminar show examples/foreach.py:Grid EXECUTION        # from the submitting side, through the datastore
    laminar stop EXECUTION                                 # or: ray job stop JOB

    submission = flow.submit(address="http://127.0.0.1:8265", n=3)   # the same from Python or Jupyter
    submission.wait().layer(Report).total

What a submission sends, through Ray's Jobs SDK (``JobSubmissionClient``), as the job's ``runtime_env``:

- ``working_dir``: the directory the flow comes from (the current one, or the flow file's when the
  file lies outside it), less ``.git``, ``.venv``, ``__pycache__`` and local datastores;
- ``py_modules``: laminar's own packages, so the job runs the submitting side's laminar (whatever
  the cluster has installed), and a small package holding this submission (the flow, pickled by
  value when it was defined in ``__main__`` or a notebook, and its parameters);
- ``env_vars``: ``LAMINAR_DATASTORE``, the submitting side's datastore, for the job's driver and workers;
- ``pip`` (with ``pip=True``): laminar's dependencies, for a cluster whose Python lacks them. Otherwise
  they come from the cluster's Python: the entrypoint's ``python`` is the first one on the PATH of
  the process that ran ``ray start`` (Ray's ``py_executable`` does not change it).

The entrypoint, ``python -m laminar_ray.supervisor``, runs the flow in a child process (the Ray driver)
and, with ``resume_on_failure=N``, resumes it from the datastore when that process dies, up to N times.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import re
import secrets
import shlex
import shutil
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from laminar import settings
from laminar.datastore import layout
from laminar.datastore.secrets import strip_url
from laminar.errors import ConfigurationError, ExecutionNotFound, LaminarError

if TYPE_CHECKING:  # annotations only
    from laminar.flow import Flow
    from laminar.results import Execution

#: Ray's job states after which nothing more happens.
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
#: Metadata keys laminar adds to the jobs it submits (``laminar stop`` finds a job by execution id).
FLOW_KEY, EXECUTION_KEY = "laminar_flow", "laminar_execution"
PAYLOAD = "submission.pkl"
EXCLUDES = [".git", ".venv", "__pycache__", "*.pyc", ".laminar", ".mypy_cache", ".ruff_cache", ".pytest_cache"]
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


class SubmissionError(LaminarError):
    """A submission that could not be made, or a submitted run that did not finish."""


@dataclass
class Submission:
    """A flow's execution running as a Ray job: ``.id``, ``.job_id``, ``.wait()``, ``.stop()``."""

    flow: Flow
    id: str
    job_id: str
    address: str
    client: Any = field(repr=False)
    target: str | None = None  # as the command line named the flow, for the hints it prints

    @property
    def execution(self) -> Execution:
        """The execution, read from the datastore (also while it runs)."""
        return self.flow.execution(self.id)

    def status(self) -> str:
        """Ray's state of the job: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
        return str(self.client.get_job_status(self.job_id).value)

    def logs(self) -> str:
        """The job's output so far (the driver's, and the layers' prints)."""
        return str(self.client.get_job_logs(self.job_id))

    def stop(self) -> bool:
        """Stop the job (its driver and the layers it runs); resumable later with ``laminar resume``."""
        return bool(self.client.stop_job(self.job_id))

    def wait(self, *, echo: Callable[[str], None] | None = None, poll: float = 1.0) -> Execution:
        """Wait for the job to end, reporting progress to ``echo``; the execution, or SubmissionError."""
        state = follow(self, echo=echo, poll=poll)
        if state != "SUCCEEDED":
            info = self.client.get_job_info(self.job_id)
            last = (info.message or "").strip().splitlines()[-1:] or [""]
            raise SubmissionError(
                f"{self.flow.name} execution {self.id}: Ray job {self.job_id} {state.lower()}: {last[0]} "
                f"(continue it with: {resume_hint(self.target, self.id)})"
            )
        return self.execution


def submit(
    flow: Flow,
    parameters: Mapping[str, Any] | None = None,
    *,
    target: str | None = None,
    execution: str | None = None,
    resume: bool = False,
    address: str | None = None,
    working_dir: str | os.PathLike[str] | None = None,
    resume_on_failure: int = 0,
    pip: bool = False,
    runtime_env: Mapping[str, Any] | None = None,
    override_datastore: bool = False,
) -> Submission:
    """Submit ``flow`` as a Ray job and return at once (see the module docstring).

    ``target``: how the job finds the flow (``path/to/file.py:Flow``, as the CLI takes it); by default
    the flow's class is pickled (by reference when its module is importable, else by value).
    ``execution``: the id (default: a new one); with ``resume``, an existing execution to continue.
    ``address``: the cluster's dashboard (``http://head:8265``) or any address Ray's Jobs SDK takes;
    default ``RAY_API_SERVER_ADDRESS``, ``RAY_ADDRESS``, else ``http://127.0.0.1:8265``.
    ``override_datastore``: the job uses this flow's datastore even where the flow's code names another.
    """
    if resume_on_failure < 0:
        raise ConfigurationError(f"resume_on_failure must be 0 or more, got {resume_on_failure}")
    if resume and execution is None:
        raise ConfigurationError("resume needs the id of the execution to continue")
    identifier = layout.segment("execution id", execution) if execution is not None else _new_id()
    store = flow.configuration.datastore
    _check_datastore(flow, store.root, store.process_local)
    exists = store.read_execution(flow.name, identifier) is not None
    if resume and not exists:
        raise ExecutionNotFound(f"{flow.name} has no execution {identifier!r} in {store.url}")
    if exists and not resume:
        raise ConfigurationError(
            f"{flow.name} already has an execution {identifier!r} in {store.url}; continue it with "
            "resume=True (laminar submit --resume ID) or choose another id"
        )
    directory = Path(working_dir if working_dir is not None else _working_dir(target)).resolve()
    if not directory.is_dir():
        raise ConfigurationError(f"working_dir {directory} is not a directory")
    job = {
        "flow": flow.name,
        "target": _relative_target(target, directory) if target is not None else None,
        "instance": None if target is not None else _portable(flow),
        "datastore": store if override_datastore and target is not None else None,
        "parameters": dict(parameters or {}),
    }
    client = _client(address)
    where = str(client.get_address())
    if not store.shared:
        _warn_if_remote(flow, store.url, where)
    with _package(job) as package, _quiet():
        env = _runtime_env(directory, package, store.root, pip=pip, extra=runtime_env)
        entrypoint = shlex.join(
            ["python", "-m", "laminar_ray.supervisor", "--package", package.name, "--flow", flow.name,
             "--execution", identifier, "--resume-on-failure", str(resume_on_failure)]
        )  # fmt: skip
        metadata = {FLOW_KEY: flow.name, EXECUTION_KEY: identifier}
        job_id = str(client.submit_job(entrypoint=entrypoint, runtime_env=env, metadata=metadata))
    return Submission(flow, identifier, job_id, where, client, target)


def resume_hint(target: str | None, execution: str) -> str:
    """How to continue an execution whose job ended: in a new job, or with this process as the driver."""
    if target is None:
        return f"flow.submit(execution={execution!r}, resume=True), or flow.execution({execution!r}).resume()"
    return f"laminar submit {target} --resume {execution}, or laminar resume {target} {execution}"


def _new_id() -> str:
    from laminar.flow import new_execution_id

    return new_execution_id()


def _check_datastore(flow: Flow, root: str, process_local: bool) -> None:
    if process_local:
        raise ConfigurationError(
            f"{flow.name}: its datastore lives in this process only; a submitted run needs one the job "
            "reaches too: a path on a shared disk, or s3://... (LAMINAR_DATASTORE, --datastore)"
        )
    if strip_url(root) != root:
        raise ConfigurationError(
            f"{flow.name}: the datastore URL {strip_url(root)} carries credentials, which a job's runtime_env "
            "would show to anyone who can list the cluster's jobs; give the cluster its own credentials "
            "(its environment, an instance role) and name the datastore without them"
        )


def _working_dir(target: str | None) -> Path:
    """The current directory, or the flow file's when the file lies outside it."""
    cwd = Path.cwd().resolve()
    if target is None:
        return cwd
    module = target.rpartition(":")[0] if ":" in target else target
    if module.endswith(".py") or "/" in module or os.sep in module:
        parent = Path(module).resolve().parent
        if parent != cwd and cwd not in parent.parents:
            return parent
    return cwd


def _relative_target(target: str, directory: Path) -> str:
    """``target`` as the job finds it: a file target relative to the working dir, a module one as it is."""
    module, colon, name = target.rpartition(":") if ":" in target else (target, "", "")
    if not (module.endswith(".py") or "/" in module or os.sep in module):
        return target
    path = Path(module).resolve()
    if directory != path.parent and directory not in path.parents:
        raise ConfigurationError(f"{module} is not inside the working dir {directory}; the job would not find it")
    return f"{path.relative_to(directory).as_posix()}{colon}{name}"


def _portable(flow: Flow) -> Flow:
    """A copy of ``flow`` to send to the job: the same class and datastore; its executor is rebuilt there."""
    import copy

    from laminar.executors import Thread
    from laminar.flow import FlowConfiguration

    executor = flow.configuration.executor
    if executor is not None and not isinstance(executor, Thread):
        from laminar_ray import Ray

        if isinstance(executor, Ray):  # its connection and caches stay here; its settings travel
            executor = Ray(
                runtime_env=executor.runtime_env,
                max_in_flight=executor.max_in_flight,
                check_feasibility=executor.check_feasibility,
                init=executor.cluster.init,
            )
    clone = copy.copy(flow)
    clone.configuration = FlowConfiguration(
        datastore=flow.configuration.datastore,
        executor=Thread() if isinstance(executor, Thread) else executor,
        journal=flow.configuration.journal,
    )
    return clone


@contextlib.contextmanager
def _package(job: dict[str, Any]) -> Iterator[Path]:
    """A temporary package directory holding ``job`` pickled, for ``py_modules`` (uploaded by submit_job)."""
    import cloudpickle

    root = Path(tempfile.mkdtemp(prefix="laminar-submit-"))
    package = root / f"laminar_submission_{secrets.token_hex(6)}"
    try:
        package.mkdir()
        # Ray names an uploaded package by its files' contents, not its directory's name: its name goes in
        (package / "__init__.py").write_text(f'"""{package.name}: a laminar submission (laminar_ray.supervisor)."""\n')
        try:
            (package / PAYLOAD).write_bytes(cloudpickle.dumps(job))
        except Exception as error:
            raise SubmissionError(
                f"{job['flow']}: cannot pickle the flow and its parameters for the job: {type(error).__name__}: "
                f"{error}; parameters must be picklable, and a flow's classes importable or defined in "
                "__main__ (a script or notebook)"
            ) from None
        yield package
    finally:
        shutil.rmtree(root, ignore_errors=True)


def requirements() -> list[str]:
    """laminar's own dependencies (pyproject's), less Ray: the cluster's Ray must stay the one it runs."""
    found = []
    for text in importlib.metadata.requires("laminar") or []:
        requirement, _, marker = text.partition(";")
        if "extra ==" in marker:
            continue
        name = re.split(r"[\s<>=!~\[(]", requirement.strip(), maxsplit=1)[0].lower()
        if name != "ray":
            found.append(text.strip())
    return found


def _runtime_env(
    directory: Path, package: Path, datastore: str, *, pip: bool, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    import laminar
    import laminar_ray

    excludes = list(EXCLUDES)
    with contextlib.suppress(ValueError):  # a local datastore inside the working dir is not code to ship
        excludes.append(Path(datastore).resolve().relative_to(directory).as_posix())
    env: dict[str, Any] = {
        "working_dir": str(directory),
        "py_modules": [str(Path(m.__file__ or "").parent) for m in (laminar, laminar_ray)] + [str(package)],
        "env_vars": {settings.ENV: datastore},
        "excludes": excludes,
    }
    if pip:
        env["pip"] = requirements()
    for key, value in (extra or {}).items():  # the user's fields: lists extend, mappings merge, others replace
        if isinstance(value, Mapping) and isinstance(env.get(key), dict):
            env[key] = {**env[key], **value}
        elif isinstance(value, list) and isinstance(env.get(key), list):
            env[key] = [*env[key], *value]
        else:
            env[key] = value
    return env


#: Ray's SDK loggers, set to INFO when imported, that log each package uploaded and the log stream's end.
_CHATTY = ("ray._private.runtime_env.packaging", "ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Ray's SDK at WARNING for a moment: a submission says what it sent in its own words."""
    import ray.job_submission  # noqa: F401 - sets the levels that this overrides

    loggers = [logging.getLogger(name) for name in _CHATTY]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _client(address: str | None) -> Any:
    """A JobSubmissionClient. An explicit address wins over RAY_API_SERVER_ADDRESS and RAY_ADDRESS,
    which Ray's SDK would otherwise prefer to its own argument."""
    from ray.job_submission import JobSubmissionClient

    names = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
    saved = {name: os.environ.pop(name) for name in names if address is not None and name in os.environ}
    try:
        return JobSubmissionClient(address)
    except Exception as error:
        where = address or next((os.environ[n] for n in names if os.environ.get(n)), "http://127.0.0.1:8265")
        raise SubmissionError(
            f"cannot reach the Ray cluster's job server at {where}: {type(error).__name__}: {error} (start it with "
            "`ray start --head`; name it with --address, RAY_API_SERVER_ADDRESS or RAY_ADDRESS; a cluster with "
            "token authentication needs RAY_AUTH_MODE=token)"
        ) from None
    finally:
        os.environ.update(saved)


def _warn_if_remote(flow: Flow, datastore: str, address: str) -> None:
    host = urllib.parse.urlsplit(address if "://" in address else f"http://{address}").hostname or ""
    if host not in _LOOPBACK:
        warnings.warn(
            f"{flow.name}: the datastore {datastore} is a path on this machine and the cluster at {address} "
            "is another; unless every node mounts it there, the job writes where this side cannot read: "
            "use s3://... or another shared URL (LAMINAR_DATASTORE, laminar.toml, --datastore)",
            stacklevel=3,
        )


# -- following a submission -------------------------------------------------------------------------


def progress_line(submission: Submission) -> str:
    """One line of the execution's progress, read from the datastore (empty before it has records)."""
    from laminar.results import summary

    try:
        rows = summary(submission.execution)
    except LaminarError:
        return ""
    started = [f"{row.name} {row.phase}" for row in rows if row.phase != "pending"]
    if not started:
        return ""
    done = sum(row.phase in ("finished", "skipped") for row in rows)
    return f"{submission.flow.name} {submission.id}: {done}/{len(rows)} layers done ({', '.join(started)})"


def follow(submission: Submission, *, echo: Callable[[str], None] | None = None, poll: float = 1.0) -> str:
    """Report the job's output and the execution's progress until the job ends; Ray's final job state.

    The job's output is streamed (Ray's log websocket) in a thread; this thread polls the job's state
    and the execution's records. Interrupting (Ctrl-C) stops following, not the job.
    """
    say = echo or (lambda text: print(text, flush=True))
    tail = threading.Thread(target=_tail, args=(submission, say), daemon=True, name="laminar-job-logs")
    tail.start()
    last = ""
    while True:
        state = submission.status()
        line = progress_line(submission)
        if line and line != last:
            say(f"laminar: {line}")
            last = line
        if state in TERMINAL:
            break
        time.sleep(poll)
    tail.join(timeout=5)  # the websocket closes when the job ends
    line = progress_line(submission)
    if line and line != last:
        say(f"laminar: {line}")
    return state


def _tail(submission: Submission, say: Callable[[str], None]) -> None:
    async def stream() -> None:
        async for chunk in submission.client.tail_job_logs(submission.job_id):
            for text in chunk.rstrip("\n").split("\n"):
                say(text)

    with contextlib.suppress(Exception), _quiet():  # a courtesy: the job's state is polled apart
        asyncio.run(stream())


def find_job(client: Any, key: str) -> tuple[str, str]:
    """(job id, its state) of the job whose submission id or laminar execution id is ``key`` (newest first)."""
    jobs = sorted(client.list_jobs(), key=lambda job: job.start_time or 0, reverse=True)
    for job in jobs:
        if key in (job.submission_id, (job.metadata or {}).get(EXECUTION_KEY)):
            return str(job.submission_id), str(job.status.value)
    raise SubmissionError(f"no Ray job at {client.get_address()} has id or laminar execution {key!r}")


def stop(key: str, *, address: str | None = None) -> str:
    """Stop the job whose id, or laminar execution id, is ``key``; the job's id."""
    client = _client(address)
    job_id, state = find_job(client, key)
    if state not in TERMINAL:
        client.stop_job(job_id)
    return job_id
