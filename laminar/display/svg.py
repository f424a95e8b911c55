"""A flow's graph drawn as SVG in Python: no JavaScript, no CDN, no system binary.

The layout is a plain layered one, left to right, enough for the DAGs flows make: each layer's column is
its longest path from a source; an edge spanning several columns passes through a placeholder in each
column between, so it is routed around the layers there; and a few sweeps order each column by the mean
position of its neighbours (the barycentre heuristic), which removes most crossings.

What is drawn, beside one box per layer (``<g class="layer state-…" data-layer="…">``):

- a foreach layer is a stack of boxes, with a fork bar before it when its splits fan out (``fork``) and
  a join bar after it when a dependent reads it whole (``join``); a foreach layer that maps 1:1 onto
  the one before it is reached by a dashed edge, with neither (its splits stream on);
- a layer with entry hooks has a diamond (``condition``): it runs only when they all say so;
- for an execution, each box is coloured by its layer's state and shows its count, e.g.
  ``196/200, 4 failed``; a legend names what is drawn.

Colours are presentation attributes, not a stylesheet: Jupyter strips ``<style>`` from the output of
untrusted notebooks, and the picture must survive that.

>>> from laminar.display.model import GraphView, NodeView
>>> shape = GraphView("Pair", (NodeView("A"), NodeView("B", ("A",))))
>>> picture = render(shape)
>>> picture.startswith("<svg") and picture.count('class="layer') == 2
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from laminar.display.model import COLOURS, STATES, ExecutionView, GraphView, LayerView, NodeView

FONT = 12
CHAR = 7.0  # average width of a character of the 12 px sans-serif font, to size boxes without measuring text
HEIGHT = 44  # a layer's box
PITCH = HEIGHT + 24  # vertical distance between the slots of a column
GAP = 84  # horizontal space between columns: fork and join bars and the edges' bends
MARGIN = 16
SWEEPS = 4
WRAP = 8  # layers per column when edges are unknown (the flow's code was not at hand)
NEUTRAL = ("#ffffff", "#616161", "#212121")
SVG_NS = "http://www.w3.org/2000/svg"  # a name, never fetched


@dataclass(frozen=True)
class Box:
    """Where one layer is drawn: top-left corner, width (height is ``HEIGHT``)."""

    name: str
    x: float
    y: float
    width: float

    @property
    def middle(self) -> float:
        return self.y + HEIGHT / 2


@dataclass(frozen=True)
class Route:
    """One edge: from a layer to a dependent, through the placeholders' points between them."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]  # from the source's right side to the target's left side


@dataclass(frozen=True)
class Layout:
    boxes: Mapping[str, Box]
    routes: tuple[Route, ...]
    width: float
    height: float


def _columns(graph: GraphView) -> dict[str, int]:
    """Each layer's column: its longest path from a source (or a wrapped list when edges are unknown)."""
    if not graph.edges_known:
        return {node.name: i // WRAP for i, node in enumerate(graph.nodes)}
    column: dict[str, int] = {}
    for node in graph.nodes:  # topological order
        column[node.name] = max((column[d] + 1 for d in node.dependencies if d in column), default=0)
    return column


def _order(columns: list[list[str]], up: Mapping[str, list[str]], down: Mapping[str, list[str]]) -> None:
    """Reorder each column by the mean slot of its neighbours, sweeping right then left, in place."""
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        indices = range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1)
        for c in indices:
            neighbours = up if forward else down
            slot = {name: i for i, name in enumerate(columns[c - 1 if forward else c + 1])}
            current = {name: i for i, name in enumerate(columns[c])}

            def centre(
                name: str,
                slot: dict[str, int] = slot,
                current: dict[str, int] = current,
                neighbours: Mapping[str, list[str]] = neighbours,
            ) -> float:
                near = [slot[n] for n in neighbours.get(name, ()) if n in slot]
                return sum(near) / len(near) if near else float(current[name])

            columns[c].sort(key=lambda name: (centre(name), current[name]))


def width_of(lines: Sequence[str]) -> float:
    return max(80.0, max(len(line) for line in lines) * CHAR + 28)


def layout(graph: GraphView, texts: Mapping[str, Sequence[str]]) -> Layout:
    """Place each layer (sized for its ``texts``, the lines of its box) and route each edge."""
    column = _columns(graph)
    count = max(column.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for node in graph.nodes:
        columns[column[node.name]].append(node.name)
    up: dict[str, list[str]] = {}  # name -> its left neighbours (dependencies or placeholders)
    down: dict[str, list[str]] = {}
    chains: list[tuple[str, str, list[str]]] = []  # (source, target, placeholders between)
    for node in graph.nodes if graph.edges_known else ():
        for dependency in node.dependencies:
            previous, between = dependency, []
            for c in range(column[dependency] + 1, column[node.name]):
                placeholder = f"\0{dependency}\0{node.name}\0{c}"
                columns[c].append(placeholder)
                between.append(placeholder)
                up.setdefault(placeholder, []).append(previous)
                down.setdefault(previous, []).append(placeholder)
                previous = placeholder
            up.setdefault(node.name, []).append(previous)
            down.setdefault(previous, []).append(node.name)
            chains.append((dependency, node.name, between))
    _order(columns, up, down)

    widths = {node.name: width_of(texts.get(node.name, (node.name,))) for node in graph.nodes}
    column_widths = [max((widths.get(name, 0.0) for name in names), default=0.0) for names in columns]
    tallest = max((len(names) for names in columns), default=0)
    boxes: dict[str, Box] = {}
    points: dict[str, tuple[float, float]] = {}  # placeholder -> where its edge passes
    left = MARGIN + GAP / 2
    for c, names in enumerate(columns):
        top = MARGIN + (tallest - len(names)) * PITCH / 2
        for i, name in enumerate(names):
            y = top + i * PITCH
            if name in widths:
                boxes[name] = Box(name, left + (column_widths[c] - widths[name]) / 2, y, widths[name])
            else:
                points[name] = (left + column_widths[c] / 2, y + HEIGHT / 2)
        left += column_widths[c] + GAP
    routes = []
    for source, target, between in chains:
        start, end = boxes[source], boxes[target]
        path = [(start.x + start.width, start.middle), *(points[p] for p in between), (end.x, end.middle)]
        routes.append(Route(source, target, tuple(path)))
    width = left - GAP / 2 + MARGIN
    return Layout(boxes, tuple(routes), max(width, 2 * MARGIN), 2 * MARGIN + max(tallest - 1, 0) * PITCH + HEIGHT)


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:02.0f}s" if minutes < 60 else f"{int(minutes // 60)}h{int(minutes % 60):02d}m"


def texts(node: NodeView, layer: LayerView | None) -> tuple[str, str]:
    """The two lines of a layer's box: its name, and its count or state (and duration)."""
    if layer is None:
        return node.name, "for each" if node.foreach else ""
    duration = _seconds(layer.seconds)
    return node.name, f"{layer.label} · {duration}" if duration else layer.label


def _tooltip(node: NodeView, layer: LayerView | None) -> str:
    parts = [node.name]
    if node.foreach:
        streams = ", ".join(node.streams_from)
        parts.append("foreach: one split per item" if node.fans_out else f"foreach: 1:1 after {streams}")
    if node.conditions:
        parts.append("runs only if its entry hooks say so: " + ", ".join(node.conditions))
    if layer is not None:
        counts = f"{layer.finished} finished, {layer.failed} failed" if layer.foreach else ""
        parts.append(", ".join(p for p in (layer.state, counts, _seconds(layer.seconds)) if p))
        if layer.error:
            parts.append(layer.error)
    return "\n".join(parts)


def _curve(points: Sequence[tuple[float, float]]) -> str:
    (x, y), rest = points[0], points[1:]
    parts = [f"M{x:.1f},{y:.1f}"]
    for nx, ny in rest:
        bend = (nx - x) / 2
        parts.append(f"C{x + bend:.1f},{y:.1f} {nx - bend:.1f},{ny:.1f} {nx:.1f},{ny:.1f}")
        x, y = nx, ny
    return " ".join(parts)


def _edge(route: Route, graph: GraphView) -> str:
    target = graph.node(route.target)
    stream = route.source in target.streams_from
    path = list(route.points)
    if graph.joins(route.source) and not stream:  # leaves from the source's join bar
        path[0] = (path[0][0] + 18, path[0][1])
    if target.fans_out:  # enters the target's fork bar
        path[-1] = (path[-1][0] - 18, path[-1][1])
    x, y = path[-1]
    dash = ' stroke-dasharray="6 3"' if stream else ""
    kind = "edge stream" if stream else "edge"
    return (
        f'<g class="{kind}" data-from={quoteattr(route.source)} data-to={quoteattr(route.target)}>'
        f'<path d="{_curve(path)}" fill="none" stroke="#616161" stroke-width="1.4"{dash}/>'
        f'<polygon points="{x:.1f},{y:.1f} {x - 8:.1f},{y - 4:.1f} {x - 8:.1f},{y + 4:.1f}" fill="#616161"/></g>'
    )


def _bar(kind: str, name: str, x: float, box: Box, towards: float) -> str:
    """A fork (``towards`` > x: lines fan out to the box) or join bar (lines come in from the box)."""
    top, bottom = box.y + 4, box.y + HEIGHT - 4
    fan = "".join(
        f'<line x1="{x + 2:.1f}" y1="{box.middle:.1f}" x2="{towards:.1f}" y2="{y:.1f}" stroke="#212121"/>'
        for y in (top + 6, box.middle, bottom - 6)
    )
    label = "fan-out: one split per item" if kind == "fork" else "join: read by a dependent as a whole"
    return (
        f'<g class="{kind}" data-layer={quoteattr(name)}><title>{escape(label)}</title>'
        f'<rect x="{x - 2:.1f}" y="{top:.1f}" width="5" height="{bottom - top:.1f}" fill="#212121"/>{fan}</g>'
    )


def _box(node: NodeView, layer: LayerView | None, box: Box, graph: GraphView) -> str:
    state = layer.state if layer is not None else None
    fill, stroke, ink = COLOURS.get(state, NEUTRAL) if state is not None else NEUTRAL
    classes = ["layer"]
    if state is not None:
        classes.append(f"state-{state}")
    classes += [c for c, on in (("foreach", node.foreach), ("conditional", bool(node.conditions))) if on]
    name, line = texts(node, layer)
    parts = [
        f'<g class="{" ".join(classes)}" data-layer={quoteattr(node.name)}'
        + (f' data-state="{state}"' if state else "")
        + f"><title>{escape(_tooltip(node, layer))}</title>"
    ]
    if node.foreach:  # a stack of boxes: many splits
        for shift in (6, 3):
            parts.append(
                f'<rect x="{box.x + shift:.1f}" y="{box.y - shift:.1f}" width="{box.width:.1f}" height="{HEIGHT}" '
                f'rx="6" fill="{fill}" stroke="{stroke}"/>'
            )
    width = 2.5 if state == "failed" else 1.5
    parts.append(
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{HEIGHT}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
    )
    centre = box.x + box.width / 2
    baseline = box.y + (HEIGHT / 2 + 4 if not line else 18)
    parts.append(
        f'<text class="name" x="{centre:.1f}" y="{baseline:.1f}" text-anchor="middle" font-weight="bold" '
        f'fill="{ink}">{escape(name)}</text>'
    )
    if line:
        parts.append(
            f'<text class="count" x="{centre:.1f}" y="{box.y + 35:.1f}" text-anchor="middle" font-size="11" '
            f'fill="{ink}">{escape(line)}</text>'
        )
    if node.conditions:
        x, y = box.x, box.y
        parts.append(
            f'<g class="condition"><title>{escape("entry hooks: " + ", ".join(node.conditions))}</title>'
            f'<polygon points="{x:.1f},{y - 8:.1f} {x + 8:.1f},{y:.1f} {x:.1f},{y + 8:.1f} {x - 8:.1f},{y:.1f}" '
            f'fill="#fff3c4" stroke="#8d6e00"/>'
            f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" font-size="9" fill="#8d6e00">?</text></g>'
        )
    parts.append("</g>")
    if node.fans_out:
        parts.append(_bar("fork", node.name, box.x - 18, box, box.x))
    if graph.edges_known and graph.joins(node.name):
        parts.append(_bar("join", node.name, box.x + box.width + 16, box, box.x + box.width))
    return "".join(parts)


def _legend(graph: GraphView, states: Sequence[str], top: float) -> tuple[str, float, float]:
    """The legend's SVG, its height and its width: the states shown, then the glyphs used."""
    items: list[str] = []
    x = float(MARGIN)
    for state in states:
        fill, stroke, _ = COLOURS[state]
        items.append(
            f'<rect x="{x}" y="{top}" width="12" height="12" rx="2" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 16}" y="{top + 10}" font-size="11" fill="#333">{state}</text>'
        )
        x += 26 + len(state) * 6.5
    glyphs = [
        ("fan-out (foreach)", any(n.fans_out for n in graph.nodes), "fork"),
        ("join", graph.edges_known and any(graph.joins(n.name) for n in graph.nodes), "join"),
        ("1:1 (splits stream on)", any(n.streams_from for n in graph.nodes), "stream"),
        ("runs if its entry hooks say so", any(n.conditions for n in graph.nodes), "condition"),
    ]
    for text, used, kind in glyphs:
        if not used:
            continue
        if kind in ("fork", "join"):
            glyph = f'<rect x="{x + 4}" y="{top}" width="5" height="12" fill="#212121"/>'
        elif kind == "stream":
            glyph = (
                f'<line x1="{x}" y1="{top + 6}" x2="{x + 14}" y2="{top + 6}" stroke="#616161" stroke-dasharray="4"/>'
            )
        else:
            glyph = (
                f'<polygon points="{x + 6},{top} {x + 12},{top + 6} {x + 6},{top + 12} {x},{top + 6}" '
                'fill="#fff3c4" stroke="#8d6e00"/>'
            )
        items.append(f'{glyph}<text x="{x + 18}" y="{top + 10}" font-size="11" fill="#333">{escape(text)}</text>')
        x += 30 + len(text) * 6.5
    if not graph.edges_known:
        note = "edges unknown: the flow's code was not given (laminar ui TARGET draws them)"
        items.append(f'<text x="{x}" y="{top + 10}" font-size="11" fill="#8d6e00">{escape(note)}</text>')
        x += len(note) * 6.5
    if not items:
        return "", 0.0, 0.0
    return f'<g class="legend">{"".join(items)}</g>', 22.0, x + MARGIN


def namespaced(picture: str) -> str:
    """An ``<svg>`` element made for HTML (where the parser puts it in SVG's namespace by itself, and the
    page holds no URL at all) as a standalone SVG document needs it: with its namespace declared."""
    return picture.replace("<svg ", f'<svg xmlns="{SVG_NS}" ', 1)


def render(graph: GraphView, execution: ExecutionView | None = None) -> str:
    """The graph as one ``<svg>`` element for an HTML page (:func:`namespaced` for a file of its own);
    with ``execution``, coloured by state with counts."""
    layers = {layer.name: layer for layer in execution.layers} if execution is not None else {}
    lines = {node.name: texts(node, layers.get(node.name)) for node in graph.nodes}
    placed = layout(graph, lines)
    shown = [s for s in STATES if any(layer.state == s for layer in layers.values())]
    legend, extra, wide = _legend(graph, shown, placed.height)
    width = max(placed.width, wide)
    height = placed.height + extra
    title = graph.flow if execution is None else f"{graph.flow} execution {execution.id}: {execution.state}"
    parts = [
        f'<svg class="laminar-graph" data-flow={quoteattr(graph.flow)} '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="{FONT}" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        '<g class="edges">',
        *(_edge(route, graph) for route in placed.routes),
        "</g>",
        *(_box(node, layers.get(node.name), placed.boxes[node.name], graph) for node in graph.nodes),
        legend,
        "</svg>",
    ]
    return "".join(parts)
