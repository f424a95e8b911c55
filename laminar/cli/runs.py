"""The commands that run a flow: ``run``, ``resume``, ``submit``, ``stop``; and ``cache`` (what runs may reuse)."""

from __future__ import annotations

import argparse
import json
import sys

from laminar import settings
from laminar.cache import index as cache_index
from laminar.cli.targets import CommandError, _configure, _datastore, _values, load
from laminar.display import text
from laminar.errors import ConfigurationError, FlowDefinitionError
from laminar.executors import registry
from laminar.flow import Flow, new_execution_id
from laminar.graph import PARAMETERS


def _progress(arguments: argparse.Namespace) -> bool | None:
    return False if arguments.no_progress else None


def _run(arguments: argparse.Namespace) -> int:
    flow = _configure(load(arguments.target), arguments)
    settings.refuse_ephemeral(flow.name, flow.configuration.datastore)
    identifier = arguments.execution or new_execution_id()
    try:
        execution = flow(
            execution=identifier,
            progress=_progress(arguments),
            cache=False if arguments.no_cache else None,
            refresh=arguments.refresh or None,
            **_values(flow, arguments.param),
        )
    except KeyboardInterrupt:
        return _interrupted(flow, identifier, arguments.target)
    except Exception as error:
        hint = _resume_hint(flow, identifier, arguments.target, error)
        raise CommandError(f"{flow.name} execution {identifier} failed: {_reason(error)}{hint}") from error
    print(f"{flow.name} {execution.id} finished")
    return 0


def _resume_hint(flow: Flow, identifier: str, target: str, error: BaseException) -> str:
    """How to go on after a failed run, where resuming can help: not when the run never started (a bad
    parameter, id or definition), nor when a parameter is missing (a resume runs with the same ones)."""
    if isinstance(error, (ConfigurationError, FlowDefinitionError)) or _missing_parameter(error):
        return ""
    if flow.configuration.datastore.read_execution(flow.name, identifier) is None:
        return ""
    return f" (resume it with: laminar resume {target} {identifier})"


def _missing_parameter(error: BaseException) -> bool:
    return isinstance(error, AttributeError) and f".{PARAMETERS} has no artifact" in str(error)


def _resume(arguments: argparse.Namespace) -> int:
    flow = _configure(load(arguments.target), arguments)
    settings.refuse_ephemeral(flow.name, flow.configuration.datastore)
    execution = flow.execution(arguments.execution_id)
    try:
        execution.resume(progress=_progress(arguments), rerun=arguments.rerun)
    except KeyboardInterrupt:
        return _interrupted(flow, execution.id, arguments.target)
    except Exception as error:
        raise CommandError(f"{flow.name} execution {execution.id} failed again: {_reason(error)}") from error
    print(f"{flow.name} {execution.id} finished")
    return 0


def _interrupted(flow: Flow, identifier: str, target: str) -> int:
    """Ctrl-C stopped a run: say what is kept and how to go on."""
    print(
        f"laminar: interrupted: {flow.name} execution {identifier} stopped; what finished is kept "
        f"(resume it with: laminar resume {target} {identifier})",
        file=sys.stderr,
    )
    return 130


def _submit(arguments: argparse.Namespace) -> int:
    jobs = registry.extension("ray-jobs")

    flow = _configure(load(arguments.target), arguments)
    try:
        runtime_env = json.loads(arguments.runtime_env_json) if arguments.runtime_env_json else None
    except json.JSONDecodeError as error:
        raise CommandError(f"--runtime-env-json is not JSON: {error}") from None
    submission = jobs.submit(
        flow,
        _values(flow, arguments.param),
        target=arguments.target,
        execution=arguments.resume or arguments.execution,
        resume=arguments.resume is not None,
        address=arguments.address,
        working_dir=arguments.working_dir,
        resume_on_failure=arguments.resume_on_failure,
        pip=arguments.pip,
        runtime_env=runtime_env,
        override_datastore=bool(arguments.datastore),
    )
    print(f"{flow.name} execution {submission.id} submitted as Ray job {submission.job_id} to {submission.address}")
    print(f"  see it:  laminar show {arguments.target} {submission.id}")
    print(f"  stop it: laminar stop {submission.id}   (or: ray job stop {submission.job_id})", flush=True)
    if arguments.no_wait:
        return 0
    try:
        state = jobs.follow(submission)
    except KeyboardInterrupt:
        print(
            f"laminar: stopped following; Ray job {submission.job_id} keeps running (stop it with: laminar stop "
            f"{submission.id}, or ray job stop {submission.job_id})",
            file=sys.stderr,
        )
        return 130
    if state != "SUCCEEDED":
        raise CommandError(
            f"{flow.name} execution {submission.id}: Ray job {submission.job_id} {state.lower()} "
            f"(continue it with: {jobs.resume_hint(arguments.target, submission.id)})"
        )
    print(f"{flow.name} {submission.id} finished (Ray job {submission.job_id} succeeded)")
    return 0


def _cache(arguments: argparse.Namespace) -> int:
    """``laminar cache ls`` / ``clear``: the cache's entries in a datastore (see docs/caching.md)."""
    store = _datastore(arguments.datastore) if arguments.datastore else settings.default_datastore("laminar cache")
    if arguments.layer and not arguments.flow:
        raise CommandError("laminar cache clear --layer needs --flow: the flow whose layer's entries to remove")
    if arguments.action == "clear":
        removed = cache_index.clear(store, arguments.flow, arguments.layer)
        where = ".".join(part for part in (arguments.flow, arguments.layer) if part) or "every flow"
        print(f"removed {removed} cache keys of {where} from {store.url} (artifacts are kept)")
        return 0
    found = cache_index.listed(store, arguments.flow)
    if not found:
        print(f"no cache entries in {store.url}" + (f" for {arguments.flow}" if arguments.flow else ""))
        return 0
    rows = [["FLOW", "LAYER", "KEYS", "ENTRIES", "NEWEST", "FROM EXECUTION"]]
    for each in found:
        rows.append([each.flow, each.layer, str(each.keys), str(each.entries), text.when(each.newest)])
        rows[-1].append(each.execution or "-")
    print(text.table(rows))
    return 0


def _stop(arguments: argparse.Namespace) -> int:
    jobs = registry.extension("ray-jobs")
    print(f"stopping Ray job {jobs.stop(arguments.job, address=arguments.address)}")
    return 0


def _reason(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
