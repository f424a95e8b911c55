"""One execution as one self-contained HTML page: graph, timeline, parameters, layers, splits, failures.

Everything is inline (CSS, SVG; no script, font or image from anywhere), so the file opens offline,
attaches to a ticket and survives being mailed. Sizes stay bounded on big runs: the timeline bins
splits (:mod:`laminar.display.timeline`), and a layer's split table lists every failed and retried
split but only the slowest and the first :data:`SHOWN` of the rest, saying how many it leaves out.

>>> from laminar.display.model import ExecutionView, GraphView, LayerView, NodeView
>>> view = ExecutionView("F", "e-1", "finished", GraphView("F", (NodeView("A"),)), layers=(LayerView("A", "finished"),))
>>> page = document(view)
>>> page.startswith("<!DOCTYPE html>") and "<svg" in page and "http" not in page
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from laminar.display import svg, timeline
from laminar.display.model import COLOURS, ExecutionView, LayerView, SplitView

SHOWN = 20  # splits of each kind a split table lists beyond the failed and retried ones
TRACEBACKS = 50  # failed splits whose traceback is shown in full

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#212121;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:18px 0 6px}
.meta{color:#555;margin:0 0 12px} .badge{padding:2px 8px;border-radius:10px;font-weight:bold}
table{border-collapse:collapse;font-size:13px;margin:4px 0} th,td{padding:3px 8px;text-align:left;
vertical-align:top;border-bottom:1px solid #eee} th{background:#fafafa} td.n{text-align:right}
.scroll{overflow-x:auto;max-width:100%} pre{background:#f7f7f7;border:1px solid #e0e0e0;padding:8px;
overflow-x:auto;font-size:12px;max-height:420px} .note{color:#555;font-size:12px} code{font-size:12px}
"""


def _when(stamp: float | None) -> str:
    return "" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _seconds(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.3f}s"


def _badge(state: str) -> str:
    fill, _, ink = COLOURS.get("running" if state == "incomplete" else state, COLOURS["pending"])
    return f'<span class="badge state-{escape(state)}" style="background:{fill};color:{ink}">{escape(state)}</span>'


def table(head: Sequence[str], rows: Iterable[str], cls: str = "") -> str:
    """An HTML table: a header row of ``head`` and the ``rows`` (``<tr>`` elements) given."""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f'<table class="{cls}"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _resources(splits: Sequence[SplitView]) -> str:
    """The resources requested by a layer's splits: one value, or the range its splits asked for."""
    seen: dict[str, list[float]] = {}
    for split in splits:
        last = split.last
        for key, value in (last.resources if last is not None else {}).items():
            if isinstance(value, (int, float)):
                seen.setdefault(key, []).append(float(value))
    parts = []
    for key, values in seen.items():
        low, high = min(values), max(values)
        unit = " MB" if key == "memory" else ""
        parts.append(f"{key} {low:g}{unit}" if low == high else f"{key} {low:g}-{high:g}{unit}")
    return ", ".join(parts)


def _layer_row(layer: LayerView) -> str:
    fill, _, ink = COLOURS.get(layer.state, COLOURS["pending"])
    total = "" if not layer.foreach else ("?" if layer.splits is None else str(layer.splits))
    artifacts = "<br>".join(
        f"<code>{escape(a.name)}</code>" + (f": {escape(a.preview)}" if a.preview else "") for a in layer.artifacts
    )
    cells = [
        f'<td class="name">{escape(layer.name)}</td>',
        f'<td class="state" style="background:{fill};color:{ink}">{escape(layer.state)}</td>',
        f'<td class="count">{escape(layer.label if layer.foreach else "")}</td>',
        f'<td class="n">{total}</td>',
        f'<td class="n finished">{layer.finished}</td>',
        f'<td class="n failed">{layer.failed or ""}</td>',
        f'<td class="n remaining">{"" if layer.remaining is None else layer.remaining}</td>',
        f"<td>{_when(layer.started)}</td>",
        f'<td class="n">{_seconds(layer.seconds)}</td>',
        f"<td>{escape(_resources(layer.split_views))}</td>",
        f"<td>{artifacts}</td>",
        f'<td>{escape(layer.error or "")}<span class="cached">{escape(layer.cache_note)}</span></td>',
    ]
    return f'<tr class="layer-row state-{escape(layer.state)}" data-layer="{escape(layer.name)}">{"".join(cells)}</tr>'


def _chosen(splits: Sequence[SplitView]) -> tuple[list[SplitView], str]:
    """The splits a table lists, and a note on those it leaves out."""
    if len(splits) <= 3 * SHOWN:
        return list(splits), ""
    keep = {s.index for s in splits if s.state != "finished" or s.retries}
    timed = [s for s in splits if s.seconds is not None]
    keep.update(s.index for s in sorted(timed, key=lambda s: -(s.seconds or 0.0))[:SHOWN])
    keep.update(s.index for s in splits[:SHOWN])
    chosen = [s for s in splits if s.index in keep]
    note = (
        f"{len(chosen)} of {len(splits)} recorded splits: every failed or retried one, the {SHOWN} slowest and "
        f"the first {SHOWN}. The timeline above shows them all."
    )
    return chosen, note


def _split_rows(splits: Sequence[SplitView], origin: float | None) -> Iterable[str]:
    for split in splits:
        last = split.last
        start = split.started
        offset = f"+{start - origin:.3f}s" if start is not None and origin is not None else ""
        resources = _resources([split])
        error = (last.error or last.caught or "") if last else ""
        if last is not None and last.cached_from:
            error = f"cached from {last.cached_from}"
        fill, _, ink = COLOURS.get(split.state, COLOURS["pending"])
        yield (
            f'<tr class="split-row state-{escape(split.state)}" data-split="{split.index}">'
            f'<td class="n">{split.index}</td><td style="background:{fill};color:{ink}">{escape(split.state)}</td>'
            f'<td class="n">{last.number if last else ""}</td><td class="n">{offset}</td>'
            f'<td class="n">{_seconds(split.seconds)}</td><td>{escape(resources)}</td><td>{escape(error)}</td></tr>'
        )


def _failures(view: ExecutionView) -> str:
    blocks = []
    failed = [(layer, split) for layer in view.layers for split in layer.split_views if split.state == "failed"]
    for layer, split in failed[:TRACEBACKS]:
        last = split.last
        assert last is not None  # a failed split has its failure record
        label = f"{layer.name}[{split.index}]" if layer.foreach else layer.name
        lost = " (its worker was lost)" if last.worker_lost else ""
        held = {"attempt": last.number, "error": last.error, "worker_lost": last.worker_lost, "ended": last.ended}
        logs = (
            f'<pre class="log">{escape(last.log_tail)}</pre>'
            if last.log_tail
            else '<p class="note">It wrote nothing to stdout or stderr; its failure record holds: '
            f"<code>{escape(json.dumps(held, default=str))}</code></p>"
        )
        trace = last.traceback or f"(no traceback recorded; the error was {last.error})"
        blocks.append(
            f'<div class="failure" data-layer="{escape(layer.name)}" data-split="{split.index}">'
            f"<h3>{escape(label)}: attempt {last.number} failed{lost}</h3>"
            f'<p><code class="error">{escape(last.error or "")}</code></p>'
            f'<pre class="traceback">{escape(trace)}</pre>{logs}</div>'
        )
    for layer in view.layers:  # a layer that failed before any split did (its grid, its entry hooks)
        if layer.state == "failed" and not any(s.state == "failed" for s in layer.split_views):
            blocks.append(
                f'<div class="failure" data-layer="{escape(layer.name)}"><h3>{escape(layer.name)} failed</h3>'
                f'<p><code class="error">{escape(layer.error or "")}</code></p></div>'
            )
    if len(failed) > TRACEBACKS:
        blocks.append(f'<p class="note">{len(failed) - TRACEBACKS} more failed splits are in the tables above.</p>')
    return "".join(blocks)


def body(view: ExecutionView, *, source: str | None = None) -> str:
    """The report's content (everything inside ``<body>``)."""
    duration = f"; ran {_seconds(view.seconds)}" if view.seconds is not None else ""
    where = f"; datastore {escape(source)}" if source else ""
    parts = [
        f'<h1>{escape(view.flow)} <span class="execution-id">{escape(view.id)}</span> {_badge(view.state)}</h1>',
        f'<p class="meta">created {_when(view.created)}{duration}{where}</p>',
        '<h2>Graph</h2><div class="scroll graph" data-live="graph">',
        svg.render(view.graph, view),
        '</div><h2>Timeline</h2><div class="scroll timeline">',
        timeline.render(view),
        "</div><h2>Parameters</h2>",
    ]
    if view.parameters:
        rows = (f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td></tr>" for k, v in view.parameters.items())
        parts.append(table(("name", "value"), rows, "parameters"))
    else:
        parts.append('<p class="note">none</p>')
    head = ("layer", "state", "count", "splits", "finished", "failed", "remaining", "started", "duration",
            "resources requested", "artifacts", "error")  # fmt: skip
    parts += ["<h2>Layers</h2>", '<div class="scroll">', table(head, map(_layer_row, view.layers), "layers"), "</div>"]
    failures = _failures(view)
    if failures:
        parts += ['<h2>Failures</h2><div class="failures">', failures, "</div>"]
    parts.append("<h2>Splits</h2>")
    for layer in view.layers:
        if not layer.split_views:
            continue
        chosen, note = _chosen(layer.split_views)
        columns = ("split", "state", "attempt", "started", "duration", "resources requested", "error")
        parts.append(f'<h3>{escape(layer.name)}</h3><div class="scroll" data-layer="{escape(layer.name)}">')
        parts.append(table(columns, _split_rows(chosen, view.created), "splits"))
        parts.append(f'<p class="note">{escape(note)}</p></div>' if note else "</div>")
    return "".join(parts)


def page(title: str, content: str, *, head: str = "") -> str:
    """A whole HTML page around ``content``, with the report's stylesheet inline."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style>{head}</head>'
        f"<body>{content}</body></html>"
    )


def document(view: ExecutionView, *, source: str | None = None, top: str = "", script: str = "") -> str:
    """The report as a whole page. ``top`` (before it) and ``script`` (after it) are for the web UI: its
    links and live updates; a report file has neither."""
    return page(f"{view.flow} {view.id}: {view.state}", f"{top}{body(view, source=source)}{script}")


def notebook(picture: str, table: str) -> str:
    """Jupyter's HTML for an execution: its picture beside its table (inline styles only: Jupyter drops
    stylesheets from untrusted output)."""
    return (
        '<div class="laminar-display" style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
        f'<div style="overflow-x:auto;max-width:100%">{picture}</div><div>{table}</div></div>'
    )


def counts(view: ExecutionView) -> Mapping[str, object]:
    """What the web UI's live page updates: the state, each layer's state and counts, the graph."""
    return {
        "state": view.state,
        "live": view.live,
        "layers": [
            {
                "name": layer.name,
                "state": layer.state,
                "label": layer.label if layer.foreach else "",
                "finished": layer.finished,
                "failed": layer.failed,
                "remaining": layer.remaining,
                "splits": layer.splits,
            }
            for layer in view.layers
        ],
        "graph": svg.render(view.graph, view),
    }
