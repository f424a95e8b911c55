"""The commands that read what runs left: ``executions``, ``show``, ``logs``, ``graph``, ``report``, ``ui``."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from laminar import settings
from laminar.cli.targets import CommandError, _configure, _datastore, load
from laminar.display import report, text
from laminar.display.summary import status
from laminar.errors import LaminarError
from laminar.flow import Flow
from laminar.results import summary, views


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
