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
import io
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from laminar import parameters as parameters_
from laminar.cli.reading import _executions, _graph, _logs, _report, _show, _ui
from laminar.cli.runs import _cache, _reason, _resume, _run, _stop, _submit
from laminar.cli.targets import CommandError, _pair, load, parameter
from laminar.display.progress import StderrHandler
from laminar.executors import registry

__all__ = ["CommandError", "load", "main", "parameter", "parser"]


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
