"""The ``laminar`` command: run, resume, list, inspect and draw flows.

::

    laminar run examples/hello.py:HelloFlow --param name=world
    laminar executions examples/hello.py:HelloFlow
    laminar show examples/hello.py:HelloFlow 20260101T000000000000Z-abc123
    laminar resume examples/hello.py:HelloFlow 20260101T000000000000Z-abc123 [--rerun LAYER]
    laminar graph examples/hello.py:HelloFlow
    laminar submit examples/hello.py:HelloFlow --no-wait --address http://127.0.0.1:8265
    laminar stop 20260101T000000000000Z-abc123
    laminar report examples/hello.py:HelloFlow 20260101T000000000000Z-abc123 -o run.html
    laminar ui [examples/hello.py:HelloFlow ...] [--datastore URL] [--port N]
    laminar cache ls [--flow NAME] [--datastore URL]
    laminar cache clear [--flow NAME] [--layer NAME] [--datastore URL]

``TARGET`` is ``module:Name`` or ``path/to/file.py:Name``; ``Name`` is a Flow
subclass or a Flow instance (``flow`` in ``if flow := HelloFlow(): ...``) and
may be left out when the module defines exactly one flow. ``laminar run TARGET --help`` lists the flow's
declared parameters (:mod:`laminar.parameters`) and ``-p KEY=VALUE`` is read by the declared type; an
undeclared flow's values are JSON when they are JSON, else text. ``--datastore`` and
``--executor`` override what the flow was built with (default: the flow's own,
else ``LAMINAR_DATASTORE``, a ``laminar.toml``, ``.laminar``, and Ray: see
``laminar.settings``); a ``--datastore`` keeps the flow's datastore settings (its
serde protocols, ``allow_pickle=False``, storage options for the same scheme).
Exit status 0 on success; otherwise 1 (2 for bad arguments) with a one-line
reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from laminar import parameters as parameters_
from laminar import settings
from laminar.cache import index as cache_index
from laminar.datastore import Datastore
from laminar.display import report, text
from laminar.display.progress import StderrHandler
from laminar.display.summary import status
from laminar.errors import ConfigurationError, FlowDefinitionError, LaminarError
from laminar.executors import registry
from laminar.flow import Flow, new_execution_id
from laminar.graph import PARAMETERS
from laminar.results import summary, views
from laminar.runtime import importing


class CommandError(LaminarError):
    """A command that cannot be carried out as given."""


def _import(module: str) -> ModuleType:
    path = Path(module)
    if module.endswith(".py") or os.sep in module or "/" in module:
        if not path.is_file():
            raise CommandError(f"no such file: {module}")
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot import {module} as a Python module")
        loaded = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # its sibling modules import as when run as a script
        sys.modules[name] = loaded
        with importing():  # the script's `if flow := F(): flow()` guard stays False
            spec.loader.exec_module(loaded)
        return loaded
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    with importing():  # the script's `if flow := F(): flow()` guard stays False
        return importlib.import_module(module)


def load(target: str) -> Flow:
    """The flow that ``TARGET`` names (see the module docstring)."""
    module_name, _, attribute = target.rpartition(":") if ":" in target else (target, "", "")
    module = _import(module_name)
    if attribute:
        found = getattr(module, attribute, None)
        if found is None:
            raise CommandError(f"{module_name} has no attribute {attribute!r}")
    else:
        flows = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Flow) and value.__module__ == module.__name__
        ]
        if len(flows) != 1:
            names = ", ".join(sorted(f.__name__ for f in flows)) or "none"
            raise CommandError(f"{module_name} defines {len(flows)} flows ({names}); name one: {module_name}:NAME")
        found = flows[0]
    if isinstance(found, Flow):
        return found
    if isinstance(found, type) and issubclass(found, Flow):
        return found()
    raise CommandError(f"{target} is {found!r}, not a Flow subclass or instance")


def _datastore(value: str, like: Datastore | None = None) -> Datastore:
    """The datastore at ``value`` with the settings of ``like`` (the flow's own): its serialization (its
    protocols; ``allow_pickle=False`` is never loosened) and, for a URL of the same scheme, its storage
    options (endpoint, credentials)."""
    if like is None:
        return settings.from_url(value)
    scheme = value.partition("://")[0] if "://" in value else "file"
    same = (like.root.partition("://")[0] if "://" in like.root else "file") == scheme
    store = settings.from_url(value, **(like.files.options if same else {}))
    store.follow(like)
    return store


def _configure(flow: Flow, arguments: argparse.Namespace) -> Flow:
    if getattr(arguments, "datastore", None):
        flow.configuration.datastore = _datastore(arguments.datastore, flow.configuration.datastore)
    executor = getattr(arguments, "executor", None)
    if executor is not None:
        flow.configuration.executor = registry.create(executor)
    return flow


def parameter(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it is JSON (``n=3``, ``xs=[1,2]``), else as text.

    >>> parameter("n=3"), parameter("name=world"), parameter('xs=[1, "a"]')
    (('n', 3), ('name', 'world'), ('xs', [1, 'a']))
    """
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python identifier, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _pair(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as given; the value is read once the flow is known (:func:`_values`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python identifier, got {text!r}")
    return key, value


def _values(flow: Flow, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``-p`` values read by the flow's declared types (:func:`laminar.parameters.parse`), else as
    :func:`parameter` reads them: JSON when they are JSON, else text."""
    declared = flow.graph().parameters
    return {key: parameters_.parse(flow.name, declared, key, value) for key, value in pairs}


def _flow_help(argv: Sequence[str]) -> str | None:
    """``laminar run TARGET --help`` (and ``submit``): the command's help and the flow's parameters."""
    words = list(argv)
    command = next((word for word in words if not word.startswith("-")), None)
    if command not in ("run", "submit") or not {"-h", "--help"} & set(words):
        return None
    rest = words[words.index(command) + 1 :]
    target = next((word for word in rest if not word.startswith("-")), None)
    if target is None:
        return None
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        parser().parse_args([command, "--help"])
    flow = load(target)
    lines = parameters_.describe(flow.graph().parameters)
    if lines:
        listed = "\n".join(f"  -p {line}" for line in lines)
        said = f"{flow.name}'s parameters (-p NAME=VALUE, read as the declared type):\n{listed}"
    else:
        said = (
            f"{flow.name} declares no parameters: any -p NAME=VALUE is one, its value read as JSON when it is JSON "
            "(n=3, xs=[1,2], flag=true), else as text"
        )
    return f"{buffer.getvalue().rstrip()}\n\n{said}\n"


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


def _executions(arguments: argparse.Namespace) -> int:
    flow = _configure(load(arguments.target), arguments)
    rows = [["EXECUTION", "STATE", "CREATED"]]
    for execution in reversed(flow.executions()):  # oldest first, the newest last (where the eye ends)
        rows.append([execution.id, status(summary(execution)), text.when(execution.record.get("created"))])
    if len(rows) == 1:
        print(f"{flow.name} has no executions in {flow.configuration.datastore.url}")
    else:
        print(text.table(rows))
    return 0


def _show(arguments: argparse.Namespace) -> int:
    flow = _configure(load(arguments.target), arguments)
    execution = flow.execution(arguments.execution_id)
    detail = arguments.splits or arguments.traceback
    view = views.flow_view(flow, execution.id, splits=detail, previews=False, parameter_values=True)
    print(text.show(view, splits=arguments.splits, tracebacks=arguments.traceback))
    return 0


_SPLIT = re.compile(r"^(?P<layer>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?$")


def _logs(arguments: argparse.Namespace) -> int:
    flow = _configure(load(arguments.target), arguments)
    execution = flow.execution(arguments.execution_id)
    stream = "stderr" if arguments.stderr else None
    if arguments.split is None:  # every split that wrote something, its last attempt
        if arguments.follow:
            raise CommandError("--follow follows one split: name it, LAYER or LAYER[index]")
        shown = 0
        for layer in flow.graph().nodes:
            for split in execution.splits(layer):
                chosen = _attempt(split, arguments.attempt, f"{layer}[{split.index}]")
                if chosen is not None and (chosen.stdout or chosen.stderr):
                    print(text.attempt_log(f"{flow.name}.{_label(flow, layer, split.index)}", chosen, stream=stream))
                    shown += 1
        if not shown:
            print(f"{flow.name} {execution.id}: no split wrote anything to stdout or stderr")
        return 0
    found = _SPLIT.match(arguments.split)
    if found is None:
        raise CommandError(f"{arguments.split!r} is not LAYER or LAYER[index] (e.g. Train or Train[3])")
    layer, index = found["layer"], int(found["index"]) if found["index"] is not None else None
    if arguments.follow:
        return _follow(execution, layer, index, stream)
    attempt = execution.logs(layer, index, attempt=arguments.attempt)
    print(text.attempt_log(f"{flow.name}.{_label(flow, layer, index)}", attempt, stream=stream))
    return 0


def _label(flow: Flow, layer: str, index: int | None) -> str:
    return f"{layer}[{index or 0}]" if flow.graph()[layer].foreach else layer


def _attempt(split: Any, number: int, where: str) -> Any:
    if number == -1:
        return split.last
    return next((a for a in split.attempts if a.number == number), None)


def _follow(execution: Any, layer: str, index: int | None, stream: str | None) -> int:
    """Print what a split writes as it comes, until its attempt ends (polling its log every second)."""
    printed = {"stdout": 0, "stderr": 0}
    number = None
    while True:
        try:
            attempt = execution.logs(layer, index)
        except LaminarError:  # not started yet
            time.sleep(1.0)
            continue
        if number != attempt.number:
            number, printed = attempt.number, {"stdout": 0, "stderr": 0}
            print(f"== {execution.flow.name}.{layer}{'' if index is None else f'[{index}]'} attempt {number} ==")
        for name in (stream,) if stream else ("stdout", "stderr"):
            content = attempt.stdout if name == "stdout" else attempt.stderr
            if len(content) > printed[name]:
                print(content[printed[name] :], end="", file=sys.stderr if name == "stderr" else sys.stdout)
                printed[name] = len(content)
        sys.stdout.flush()
        if attempt.state != "running":
            print(f"== attempt {number} {attempt.state} ==")
            return 0 if attempt.state == "finished" else 1
        time.sleep(1.0)


def _graph(arguments: argparse.Namespace) -> int:
    print(load(arguments.target).mermaid())
    return 0


def _report(arguments: argparse.Namespace) -> int:
    flow = _configure(load(arguments.target), arguments)
    view = views.flow_view(flow, arguments.execution_id)
    output = Path(arguments.output or f"{flow.name}-{view.id}.html")
    output.write_text(report.document(view, source=flow.configuration.datastore.url), encoding="utf-8")
    print(f"{flow.name} {view.id} ({view.state}): wrote {output} ({output.stat().st_size:,} bytes)")
    return 0


def _ui(arguments: argparse.Namespace) -> int:
    from laminar.display.server import serve

    flows = [load(target) for target in arguments.targets]
    if arguments.datastore:
        store = _datastore(arguments.datastore, flows[0].configuration.datastore if flows else None)
    else:  # the first flow's own datastore, else the default one in the working directory
        store = flows[0].configuration.datastore if flows else settings.default_datastore("laminar ui", check=False)
    serve(views.Catalog(store, {flow.name: flow.graph() for flow in flows}), host=arguments.host, port=arguments.port)
    return 0


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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="laminar", description="Run, resume, inspect and draw laminar flows.", epilog=__doc__.split("::")[0]
    )
    top.add_argument("--verbose", "-v", action="store_true", help="log each layer's progress and failures")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    flow = argparse.ArgumentParser(add_help=False)
    flow.add_argument("target", metavar="TARGET", help="module:Flow or path/to/file.py:Flow")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--datastore", metavar="URL", help="datastore root: a local path or any fsspec URL")
    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument("--executor", choices=registry.known(), help="where layers run (default: the flow's, else Ray)")
    runs.add_argument("--no-progress", action="store_true", help="do not draw live progress")
    identifier = argparse.ArgumentParser(add_help=False)
    identifier.add_argument(
        "execution_id", metavar="EXECUTION", help="an execution id (see `laminar executions`), or latest"
    )

    run = commands.add_parser("run", parents=[flow, store, runs], help="run a flow", description="Run a flow.")
    run.add_argument(
        "--param", "-p", type=_pair, action="append", default=[], metavar="KEY=VALUE",
        help="a flow parameter (laminar run TARGET --help lists the flow's)",
    )  # fmt: skip
    run.add_argument("--execution", metavar="ID", help="the new execution's id (default: generated)")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the cache (docs/caching.md)")
    run.add_argument(
        "--refresh", action="append", default=[], metavar="LAYER", help="run this cached layer anyway (repeatable)"
    )
    run.set_defaults(handler=_run)
    commands.add_parser(
        "executions", parents=[flow, store], help="list a flow's executions", description="List a flow's executions."
    ).set_defaults(handler=_executions)
    show = commands.add_parser(
        "show",
        parents=[flow, identifier, store],
        help="show an execution's layers",
        description="Show an execution: what it ran on and for how long, its parameters' values, its layers "
        "(states, split counts, attempts, timings, artifacts) and which splits failed, with the last line "
        "of each error.",
    )
    show.add_argument("--splits", action="store_true", help="a row per split: state, attempts, duration, worker")
    show.add_argument("--traceback", action="store_true", help="the traceback of each failed split")
    show.set_defaults(handler=_show)
    logs = commands.add_parser(
        "logs",
        parents=[flow, identifier, store],
        help="print what splits wrote to stdout and stderr",
        description="Print what a split's attempt wrote (its stdout and stderr, the head and tail kept: see "
        "laminar.logs); without SPLIT, every split that wrote something.",
    )
    logs.add_argument("split", nargs="?", metavar="SPLIT", help="LAYER or LAYER[index], e.g. Train[3]")
    logs.add_argument("--attempt", type=int, default=-1, metavar="N", help="attempt N (default: the last)")
    logs.add_argument("--stderr", action="store_true", help="stderr only")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing while the split runs")
    logs.set_defaults(handler=_logs)
    resume = commands.add_parser(
        "resume",
        parents=[flow, identifier, store, runs],
        help="resume a failed execution",
        description="Run an execution again, skipping every layer and split that already finished (damaged "
        "records are set aside and what they recorded runs again).",
    )
    resume.add_argument(
        "--rerun", action="append", default=[], metavar="LAYER",
        help="run this finished layer again, with every layer downstream of it (e.g. after one of its artifacts "
        "was found corrupt); repeatable",
    )  # fmt: skip
    resume.set_defaults(handler=_resume)
    commands.add_parser(
        "graph", parents=[flow], help="print a flow's Mermaid diagram", description="Print a flow's Mermaid diagram."
    ).set_defaults(handler=_graph)
    report_ = commands.add_parser(
        "report",
        parents=[flow, identifier, store],
        help="write an execution's report as one HTML file",
        description="Write an execution's report (graph, timeline, parameters, layers, splits, failures) as one "
        "self-contained HTML file.",
    )
    report_.add_argument("--output", "-o", metavar="FILE", help="where to write it (default: FLOW-EXECUTION.html)")
    report_.set_defaults(handler=_report)
    ui = commands.add_parser(
        "ui",
        parents=[store],
        help="serve a datastore's executions as local web pages",
        description="Serve the executions in a datastore as read-only web pages on 127.0.0.1, live while they "
        "run. Needs the ui extra: pip install 'laminar[ui]'.",
    )
    ui.add_argument("targets", nargs="*", metavar="TARGET", help="flows whose graphs to draw (module:Flow ...)")
    ui.add_argument("--port", type=int, default=8700, metavar="N", help="port (default 8700; 0: any free one)")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    ui.set_defaults(handler=_ui)
    _submit_parsers(commands, flow, store)
    return top


def _submit_parsers(commands: Any, flow: argparse.ArgumentParser, store: argparse.ArgumentParser) -> None:
    cluster = argparse.ArgumentParser(add_help=False)
    cluster.add_argument(
        "--address", metavar="URL", help="the cluster's job server (default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS, "
        "else http://127.0.0.1:8265)",
    )  # fmt: skip
    submit = commands.add_parser(
        "submit",
        parents=[flow, store, cluster],
        help="run a flow as a Ray job on a cluster",
        description="Run a flow as a Ray job: its driver runs on the cluster, so this side may go away. Prints the "
        "execution id and the job id, then follows the job (Ctrl-C stops following, not the job). The job gets "
        "this directory (working_dir), laminar (py_modules) and LAMINAR_DATASTORE; see laminar_ray.jobs.",
    )
    submit.add_argument(
        "--param", "-p", type=_pair, action="append", default=[], metavar="KEY=VALUE",
        help="a flow parameter (laminar submit TARGET --help lists the flow's)",
    )  # fmt: skip
    ids = submit.add_mutually_exclusive_group()
    ids.add_argument("--execution", metavar="ID", help="the new execution's id (default: generated)")
    ids.add_argument("--resume", metavar="ID", help="continue this existing execution in a new job")
    submit.add_argument("--no-wait", action="store_true", help="return once submitted")
    submit.add_argument(
        "--resume-on-failure", type=int, default=0, metavar="N",
        help="resume from the datastore, up to N times, when the job's driver process dies",
    )  # fmt: skip
    submit.add_argument("--working-dir", metavar="DIR", help="the directory sent to the job (see laminar_ray.jobs)")
    submit.add_argument("--pip", action="store_true", help="install laminar's dependencies in the job (runtime_env)")
    submit.add_argument("--runtime-env-json", metavar="JSON", help="more runtime_env fields for the job")
    submit.set_defaults(handler=_submit)
    stop = commands.add_parser(
        "stop",
        parents=[cluster],
        help="stop a submitted run",
        description="Stop the Ray job of a submitted run; it can be resumed later (laminar resume, laminar submit "
        "--resume).",
    )
    stop.add_argument("job", metavar="ID", help="the execution id that laminar submit printed, or the Ray job id")
    stop.set_defaults(handler=_stop)
    cache = commands.add_parser(
        "cache",
        parents=[store],
        help="list or clear cached layers",
        description="List the cache's entries in a datastore (ls), or remove them (clear) so that the layers run "
        "again; artifacts are kept. See docs/caching.md.",
    )
    cache.add_argument("action", choices=["ls", "clear"], help="ls: list cached layers; clear: remove their entries")
    cache.add_argument("--flow", metavar="NAME", help="only this flow's (its class name)")
    cache.add_argument("--layer", metavar="NAME", help="only this layer's (with --flow)")
    cache.set_defaults(handler=_cache)


def _logging(verbose: bool) -> None:
    # Warnings (retries) are worth seeing as they happen; a failure is reported once, by main.
    handler = StderrHandler()  # sys.stderr as it is when a record comes: above a live progress display
    handler.setFormatter(logging.Formatter("laminar: %(message)s"))
    if not verbose:
        handler.addFilter(lambda record: record.levelno < logging.ERROR)
    logger = logging.getLogger("laminar")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script ``laminar``."""
    try:
        helped = _flow_help(sys.argv[1:] if argv is None else argv)
    except Exception as error:
        print(f"laminar: error: {' '.join(_reason(error).split())}", file=sys.stderr)
        return 1
    if helped is not None:
        print(helped, end="")
        return 0
    arguments = parser().parse_args(argv)
    _logging(arguments.verbose)
    try:
        code: int = arguments.handler(arguments)
    except KeyboardInterrupt:
        print("laminar: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        reason = str(error) if isinstance(error, CommandError) else _reason(error)
        if arguments.verbose:  # the whole story: the layer's own frames (where it ran) included
            cause = error.__cause__ if isinstance(error, CommandError) and error.__cause__ else error
            traceback.print_exception(cause, file=sys.stderr)
        print(f"laminar: error: {' '.join(reason.split())}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
