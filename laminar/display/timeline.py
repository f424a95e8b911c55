"""Where the time went: one row per layer, its splits as bars over the execution's clock, as SVG.

A layer with a few hundred splits or fewer gets one bar per split, packed into lanes so that splits
running at once sit one above the other (``<rect class="split state-…" data-split="…">``); a retried
split's bar has an orange tick at its start and a failed one ends in a red cross. A layer with more
splits, or more running at once than lanes fit, is drawn binned: the time axis is cut into
:data:`BINS` slices and each slice's bar is as tall as the number of splits running at once in it, on
average (``class="bin"``; its tooltip says how many ended there), with failures and retries marked per
slice. So the picture's size depends on the
number of layers, not of splits: 100,000 splits draw as fast and as small as 1,000.

The split that ended last in a foreach layer that a join reads is the one the join waited for: it is
marked (``class="held-join"``) and named.

>>> from laminar.display.model import AttemptView, ExecutionView, GraphView, LayerView, NodeView, SplitView
>>> def split(i, start, end):
...     return SplitView(i, "finished", (AttemptView(1, "finished", start, end),))
>>> layer = LayerView("Work", "finished", foreach=True, splits=2, finished=2, started=0.0, ended=3.0,
...                   split_views=(split(0, 0.0, 1.0), split(1, 0.5, 3.0)))
>>> view = ExecutionView("F", "e", "finished", GraphView("F", (NodeView("Work", foreach=True),)), created=0.0,
...                      ended=3.0, layers=(layer,))
>>> render(view).count('class="split state-finished"')
2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from laminar.display.model import COLOURS, ExecutionView, LayerView, SplitView

LABELS = 150  # the left column, for layer names
PLOT = 900  # the time axis' width
BINS = 300  # slices of the time axis for a binned row (3 px each)
MAX_BARS = 400  # splits a row draws one by one at most
MAX_LANES = 12
LANE = 9  # height of a lane
BINNED = 40  # height of a binned row's bars
MARGIN = 12
RETRY = "#ef6c00"


@dataclass(frozen=True)
class Span:
    """A split's time on the clock, relative to the execution's start, with what the row marks."""

    index: int
    start: float | None  # None: only its end is known (a failure the engine saw)
    end: float
    state: str
    retries: int
    split: SplitView


def _spans(layer: LayerView, origin: float) -> list[Span]:
    spans = []
    for split in layer.split_views:
        end = split.ended
        if end is None:
            continue
        start = split.last.started if split.last is not None else None
        spans.append(
            Span(
                index=split.index,
                start=start - origin if start is not None else None,
                end=end - origin,
                state=split.state,
                retries=split.retries,
                split=split,
            )
        )
    return spans


def _title(layer: LayerView, split: SplitView) -> str:
    seconds = split.seconds
    text = f"{layer.name}[{split.index}] {split.state}" + (f" in {seconds:.3f}s" if seconds is not None else "")
    if split.last is not None and split.last.number > 1:
        text += f", attempt {split.last.number}"
    if split.last is not None and split.last.error:
        text += f": {split.last.error}"
    return text


def _lanes(spans: Sequence[Span]) -> list[int] | None:
    """A lane for each span (in order), so that no two in one lane overlap; None when more are needed."""
    ends: list[float] = []
    lanes = [0] * len(spans)
    starts = [span.start if span.start is not None else span.end for span in spans]
    for position in sorted(range(len(spans)), key=starts.__getitem__):
        span, start = spans[position], starts[position]
        lane = next((i for i, end in enumerate(ends) if end <= start), None)
        if lane is None:
            if len(ends) == MAX_LANES:
                return None
            ends.append(span.end)
            lane = len(ends) - 1
        ends[lane] = span.end
        lanes[position] = lane
    return lanes


def _nice(span: float) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving 5-10 ticks over ``span`` seconds."""
    raw = max(span, 1e-3) / 8
    power = 10 ** math.floor(math.log10(raw))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= raw))


class _Canvas:
    def __init__(self, origin: float, extent: float) -> None:
        self.origin = origin
        self.scale = PLOT / max(extent, 1e-6)
        self.parts: list[str] = []

    def x(self, seconds: float) -> float:
        return LABELS + max(0.0, seconds) * self.scale


def _cross(x: float, y: float, title: str) -> str:
    return (
        f'<g class="failure"><title>{escape(title)}</title><path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} '
        f'M{x - 4:.1f},{y + 4:.1f} L{x + 4:.1f},{y - 4:.1f}" stroke="#c62828" stroke-width="2"/></g>'
    )


def _bars(canvas: _Canvas, layer: LayerView, spans: Sequence[Span], lanes: Sequence[int], top: float) -> None:
    for span, lane in zip(spans, lanes, strict=True):
        title = _title(layer, span.split)
        y = top + lane * LANE
        end = canvas.x(span.end)
        if span.start is not None:
            start = canvas.x(span.start)
            fill, stroke, _ = COLOURS.get(span.state, COLOURS["pending"])
            canvas.parts.append(
                f'<rect class="split state-{span.state}" data-split="{span.index}" x="{start:.1f}" y="{y:.1f}" '
                f'width="{max(end - start, 1.0):.1f}" height="{LANE - 2}" fill="{fill}" stroke="{stroke}" '
                f'stroke-width="0.6"><title>{escape(title)}</title></rect>'
            )
            if span.retries:
                canvas.parts.append(
                    f'<rect class="retry" data-split="{span.index}" x="{start:.1f}" y="{y:.1f}" width="2" '
                    f'height="{LANE - 2}" fill="{RETRY}"><title>{escape(title)}</title></rect>'
                )
        if span.state == "failed":
            canvas.parts.append(_cross(end, y + (LANE - 2) / 2, title))


def _binned(canvas: _Canvas, spans: Sequence[Span], top: float, state: str, extent: float) -> None:
    """Bars of how many splits ran at once, on average, in each slice of time, and of how many ended
    there (O(splits + BINS): a split's time goes to the slices it starts and ends in, and a difference
    array counts it in the slices it covers whole)."""
    width = max(extent, 1e-6) / BINS
    busy = [0.0] * BINS  # split-seconds in each slice, from slices a split covers in part
    whole = [0] * (BINS + 1)  # difference array: splits covering a slice whole
    ended, failures, retries = [0] * BINS, [0] * BINS, [0] * BINS
    for span in spans:
        last = min(BINS - 1, max(0, int(span.end / width)))
        ended[last] += 1
        if span.state == "failed":
            failures[last] += 1
        if span.start is None:
            continue
        first = min(last, max(0, int(span.start / width)))
        if span.retries:
            retries[first] += 1
        if first == last:
            busy[first] += span.end - span.start
            continue
        busy[first] += (first + 1) * width - span.start
        busy[last] += span.end - last * width
        whole[first + 1] += 1
        whole[last] -= 1
    covering, means = 0, []
    for i in range(BINS):
        covering += whole[i]
        means.append(covering + busy[i] / width)
    peak = max(means, default=0.0) or 1.0
    stroke = COLOURS.get(state, COLOURS["pending"])[1]
    step = PLOT / BINS
    for i, mean in enumerate(means):
        if not (ended[i] or mean > 0.0 or retries[i]):
            continue
        x = LABELS + i * step
        height = BINNED * mean / peak
        when = f"{i * width:.2f}-{(i + 1) * width:.2f}s: {mean:.1f} running on average, {ended[i]} ended"
        marks = "".join(f", {n} {word}" for n, word in ((failures[i], "failed"), (retries[i], "retried")) if n)
        canvas.parts.append(
            f'<rect class="bin" data-mean="{mean:.2f}" data-ended="{ended[i]}" x="{x:.1f}" '
            f'y="{top + BINNED - height:.1f}" width="{step:.2f}" height="{height:.1f}" fill="{stroke}" '
            f'fill-opacity="0.55"><title>{when}{marks}</title></rect>'
        )
        if retries[i]:
            canvas.parts.append(
                f'<rect class="retry" x="{x:.1f}" y="{top + BINNED + 1:.1f}" width="{step:.2f}" height="3" '
                f'fill="{RETRY}"><title>{when}{marks}</title></rect>'
            )
        if failures[i]:
            canvas.parts.append(_cross(x + step / 2, top + BINNED + 6, f"{when}{marks}"))
    canvas.parts.append(
        f'<text x="{LABELS + PLOT + 4}" y="{top + 10}" font-size="10" fill="#555">{peak:.1f} at once at most '
        "(mean per slice)</text>"
    )


def _held(canvas: _Canvas, spans: Sequence[Span], top: float, bottom: float, layer: str) -> None:
    finished = [s for s in spans if s.state == "finished"]
    if len(finished) < 2:
        return
    last = max(finished, key=lambda s: s.end)
    x = canvas.x(last.end)
    left = x < LABELS + PLOT * 0.8  # room for the label after the mark
    text = f"split {last.index} held the join"
    canvas.parts.append(
        f'<g class="held-join" data-layer={quoteattr(layer)} data-split="{last.index}"><title>{escape(text)}: it '
        f"ended last, at {last.end:.3f}s</title>"
        f'<line x1="{x:.1f}" y1="{top - 2:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#6a1b9a" stroke-width="1.5"/>'
        f'<polygon points="{x - 5:.1f},{top - 8:.1f} {x + 5:.1f},{top - 8:.1f} {x:.1f},{top - 2:.1f}" fill="#6a1b9a"/>'
        f'<text x="{x + 7 if left else x - 7:.1f}" y="{top - 1:.1f}" font-size="10" fill="#6a1b9a" '
        f'text-anchor="{"start" if left else "end"}">{escape(text)}</text></g>'
    )


def _extent(execution: ExecutionView) -> tuple[float, float]:
    """The clock's origin (the execution's creation) and how long it ran (to the last known time)."""
    stamps = [t for layer in execution.layers for t in (layer.started, layer.ended) if t is not None]
    for layer in execution.layers:
        stamps.extend(t for split in layer.split_views for t in (split.started, split.ended) if t is not None)
    origin = execution.created if execution.created is not None else min(stamps, default=0.0)
    end = max([*stamps, execution.ended or origin])
    return origin, max(end - origin, 1e-3)


def render(execution: ExecutionView) -> str:
    """The execution's timeline as one ``<svg>`` element for an HTML page (``svg.namespaced`` makes it a
    file of its own)."""
    origin, extent = _extent(execution)
    canvas = _Canvas(origin, extent)
    y = MARGIN + 14.0
    for layer in execution.layers:
        spans = _spans(layer, origin)
        lanes = _lanes(spans) if len(spans) <= MAX_BARS else None
        binned = lanes is None
        height = BINNED + 10 if binned else max(LANE * (max(lanes or [0]) + 1), 24)
        top = y + 6
        row = top + height + 8
        fill, stroke, ink = COLOURS.get(layer.state, COLOURS["pending"])
        canvas.parts.append(
            f'<g class="row state-{layer.state}" data-layer={quoteattr(layer.name)} data-splits="{len(spans)}" '
            f'data-binned="{str(binned).lower()}">'
            f'<text x="{MARGIN}" y="{top + 10:.1f}" font-weight="bold" fill="{ink}">{escape(layer.name)}</text>'
            f'<text x="{MARGIN}" y="{top + 23:.1f}" font-size="10" fill="#555">{escape(layer.label)}</text>'
        )
        if layer.started is not None:
            end = layer.ended if layer.ended is not None else origin + extent
            start_x, end_x = canvas.x(layer.started - origin), canvas.x(end - origin)
            canvas.parts.append(
                f'<rect class="span" x="{start_x:.1f}" y="{top - 3:.1f}" width="{max(end_x - start_x, 1.0):.1f}" '
                f'height="{height + 6:.1f}" fill="{fill}" fill-opacity="0.45" stroke="{stroke}" stroke-opacity="0.4">'
                f"<title>{escape(layer.name)}: {escape(layer.state)}</title></rect>"
            )
        if binned:
            _binned(canvas, spans, top, layer.state, extent)
        else:
            _bars(canvas, layer, spans, lanes or [], top)
        if layer.foreach and execution.graph.edges_known and _joined(execution, layer.name):
            _held(canvas, spans, top, top + height, layer.name)
        canvas.parts.append("</g>")
        y = row
    canvas.parts.append(_axis(canvas, extent, y))
    bottom = y + 30
    width = LABELS + PLOT + 90
    title = f"{execution.flow} execution {execution.id}: timeline"
    return (
        f'<svg class="laminar-timeline" width="{width}" height="{bottom:.0f}" '
        f'viewBox="0 0 {width} {bottom:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" '
        f"aria-label={quoteattr(title)}><title>{escape(title)}</title>{''.join(canvas.parts)}</svg>"
    )


def _joined(execution: ExecutionView, name: str) -> bool:
    try:
        return execution.graph.joins(name)
    except KeyError:
        return False


def _axis(canvas: _Canvas, extent: float, y: float) -> str:
    step = _nice(extent)
    ticks = []
    for i in range(int(extent / step) + 1):
        x = canvas.x(i * step)
        label = f"{i * step:g}s"
        ticks.append(
            f'<line x1="{x:.1f}" y1="{MARGIN:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#000" stroke-opacity="0.08"/>'
            f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle" font-size="10" fill="#555">{label}</text>'
        )
    return (
        f'<g class="axis"><line x1="{LABELS}" y1="{y:.1f}" x2="{LABELS + PLOT}" y2="{y:.1f}" stroke="#777"/>'
        f"{''.join(ticks)}</g>"
    )
