"""An execution as text for a terminal: what ``laminar show`` and ``laminar logs`` print.

>>> from laminar.display.model import AttemptView
>>> print(attempt_log("F.A[0]", AttemptView(1, "finished", stdout="hi\\n")))
== F.A[0] attempt 1 (finished) stdout ==
hi
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from laminar.display.model import AttemptView, ExecutionView, LayerView, SplitView


def when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp is not None else "-"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def last_line(text: str | None) -> str:
    """The last non-empty line of an error or traceback: what a summary shows of it."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def label(layer: LayerView, split: SplitView) -> str:
    return f"{layer.name}[{split.index}]" if layer.foreach else layer.name


def _counts(layer: LayerView) -> list[str]:
    total = layer.splits if layer.foreach else None
    running = layer.remaining if layer.state == "running" and layer.remaining is not None else 0
    return [
        "-" if total is None else str(total),  # a plain layer has no splits to count
        str(layer.finished),
        str(layer.failed),
        str(running) if layer.state == "running" else "-",
    ]


def show(view: ExecutionView, *, splits: bool = False, tracebacks: bool = False) -> str:
    """An execution: its state, what it ran on and for how long, its parameters' values, a row per layer
    with counts, attempts and timings; for a failed layer which splits failed and why (the last line of
    each error); with ``splits`` a row per split, with ``tracebacks`` each failed split's traceback."""
    lines = [f"{view.flow} {view.id}: {view.state}"]
    ran = f"ran on {view.executor}; " if view.executor else ""
    lines.append(f"created {when(view.created)}; {ran}duration {seconds(view.seconds)}")
    parameters = ", ".join(f"{name}={value}" for name, value in view.parameters.items()) or "none"
    lines.append(f"parameters: {parameters}")
    head = ["LAYER", "STATE", "SPLITS", "DONE", "FAILED", "RUNNING", "ATTEMPTS", "STARTED", "DURATION", "ARTIFACTS"]
    rows = [head]
    for layer in view.layers:
        artifacts = ", ".join(artifact.name for artifact in layer.artifacts) or "-"
        attempts = str(layer.attempts) if layer.attempts else "-"
        row = [layer.name, layer.state, *_counts(layer), attempts, when(layer.started), seconds(layer.seconds)]
        rows.append([*row, artifacts])
    lines.append(table(rows))
    for layer in view.layers:
        for split in layer.failures:
            last = split.last
            if last is None:
                continue
            lost = ", its worker was lost" if last.worker_lost else ""
            lines.append(f"  {label(layer, split)} failed (attempt {last.number}{lost}): {last_line(last.error)}")
        if layer.state == "failed" and not layer.failures and layer.error:
            lines.append(f"  {layer.name} failed: {last_line(layer.error)}")
        if layer.cached:
            lines.append(f"  {layer.name}: {layer.cache_note}")
    if splits:
        lines.append("")
        rows = [["SPLIT", "STATE", "ATTEMPTS", "STARTED", "DURATION", "WORKER", "ERROR"]]
        for layer in view.layers:
            for split in layer.split_views:
                last = split.last
                worker = last.worker if last is not None else {}
                where = f"{worker.get('host', '?')}:{worker.get('pid', '?')}" if worker else "-"
                error = last_line(last.error) if last is not None and last.error else ""
                if last is not None and last.cached_from:
                    error = f"cached from {last.cached_from}"
                duration = seconds(last.seconds if last is not None else None)
                rows.append([label(layer, split), split.state, str(len(split.attempts)), when(split.started), duration])
                rows[-1] += [where, error]
        lines.append(table(rows))
    if tracebacks:
        for layer in view.layers:
            for split in layer.failures:
                last = split.last
                if last is not None:
                    lines += ["", f"== {view.flow}.{label(layer, split)} attempt {last.number}: traceback ==", ""]
                    lines.append((last.traceback or f"(no traceback recorded; the error was {last.error})").rstrip())
    return "\n".join(lines)


def attempt_log(where: str, attempt: AttemptView, *, stream: str | None = None) -> str:
    """What one attempt wrote, stream by stream (``stream``: only ``stdout`` or ``stderr``), each headed."""
    parts = []
    for name in (stream,) if stream else ("stdout", "stderr"):
        text = attempt.stdout if name == "stdout" else attempt.stderr
        if text or stream:
            shown = text.rstrip() or "(it wrote nothing here)"
            parts.append(f"== {where} attempt {attempt.number} ({attempt.state}) {name} ==\n{shown}")
    if not parts:
        parts.append(f"== {where} attempt {attempt.number} ({attempt.state}): it wrote nothing ==")
    return "\n".join(parts)
