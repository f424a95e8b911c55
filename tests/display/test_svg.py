"""The graph drawn as SVG: one node per layer, fork and join bars, entry-hook diamonds, states, layout."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree

from runflows import Demo

from laminar import Flow, Layer
from laminar.configurations import hooks, layers
from laminar.display import svg
from laminar.display.model import ExecutionView, GraphView, LayerView, NodeView, graph_view


def parsed(picture: str) -> ElementTree.Element:
    """The picture parsed as XML (it must be well formed), with its namespace declared as in a file."""
    return ElementTree.fromstring(svg.namespaced(picture))


def elements(root: ElementTree.Element, cls: str) -> list[ElementTree.Element]:
    """Elements whose class list holds ``cls``."""
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def by_layer(root: ElementTree.Element, cls: str) -> dict[str, ElementTree.Element]:
    return {str(e.get("data-layer")): e for e in elements(root, cls)}


def test_demo_shape_has_its_fan_out_stream_join_and_condition() -> None:
    shape = graph_view(Demo().graph())
    assert [(n.name, n.foreach, n.fans_out, n.streams_from, n.conditions) for n in shape.nodes] == [
        ("Load", False, False, (), ()),
        ("Fit", True, True, (), ()),
        ("Check", True, False, ("Fit",), ()),
        ("Summary", False, False, (), ("worth_it",)),
    ]
    assert [shape.joins(n.name) for n in shape.nodes] == [False, False, True, False]


def test_a_flow_is_one_node_per_layer_with_fork_join_and_condition_marks() -> None:
    root = parsed(svg.render(graph_view(Demo().graph())))
    nodes = by_layer(root, "layer")
    assert sorted(nodes) == ["Check", "Fit", "Load", "Summary"]
    assert sorted(by_layer(root, "fork")) == ["Fit"]  # Check streams 1:1 from Fit: no fork of its own
    assert sorted(by_layer(root, "join")) == ["Check"]  # Summary reads Check whole
    assert "conditional" in str(nodes["Summary"].get("class")).split()
    assert [e.tag.rpartition("}")[2] for e in elements(nodes["Summary"], "condition")] == ["g"]
    assert not elements(nodes["Fit"], "condition")
    assert "foreach" in str(nodes["Fit"].get("class")).split()
    edges = {(e.get("data-from"), e.get("data-to")): e for e in elements(root, "edge")}
    assert set(edges) == {("Load", "Fit"), ("Fit", "Check"), ("Check", "Summary"), ("Load", "Summary")}
    assert "stream" in str(edges[("Fit", "Check")].get("class")).split()
    assert "stream" not in str(edges[("Check", "Summary")].get("class")).split()
    assert all(node.get("data-state") is None for node in nodes.values())  # a flow has no states


def view(layers: tuple[LayerView, ...]) -> ExecutionView:
    return ExecutionView("Demo", "e-1", "failed", graph_view(Demo().graph()), layers=layers)


def test_an_execution_colours_each_node_by_state_with_counts() -> None:
    execution = view(
        (
            LayerView("Load", "finished", started=0.0, ended=1.5),
            LayerView("Fit", "failed", foreach=True, splits=200, finished=196, failed=4),
            LayerView("Check", "running", foreach=True, splits=200, finished=12, remaining=188),
            LayerView("Summary", "pending"),
        )
    )
    root = parsed(svg.render(execution.graph, execution))
    nodes = by_layer(root, "layer")
    assert {name: node.get("data-state") for name, node in nodes.items()} == {
        "Load": "finished",
        "Fit": "failed",
        "Check": "running",
        "Summary": "pending",
    }
    for name, node in nodes.items():
        assert f"state-{node.get('data-state')}" in str(node.get("class")).split(), name
    counts = {name: "".join(elements(node, "count")[0].itertext()) for name, node in nodes.items()}
    assert counts == {
        "Load": "finished · 1.50s",
        "Fit": "196/200, 4 failed",
        "Check": "12/200",
        "Summary": "pending",
    }
    fills = {name: node.find("{http://www.w3.org/2000/svg}rect").get("fill") for name, node in nodes.items()}  # type: ignore[union-attr]
    assert fills["Fit"] == "#f8d0d0" and fills["Load"] == "#d3f0d6"  # colours inline: they survive sanitizers
    legend = "".join(elements(root, "legend")[0].itertext())
    assert "failed" in legend and "fan-out" in legend and "entry hooks" in legend


class Wide(Flow): ...


@Wide.register
class Source(Layer): ...


@Wide.register
class Left(Layer):
    def __call__(self, source: Source) -> None: ...


@Wide.register
class Right(Layer):
    def __call__(self, source: Source) -> None: ...


@Wide.register
class Deep(Layer):
    def __call__(self, left: Left) -> None: ...


@Wide.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Source, attribute="x")]))
class Sink(Layer):
    def __call__(self, deep: Deep, right: Right, source: Source) -> None: ...

    @hooks.entry
    def ready(self, right: Right) -> bool:
        return True


def test_layout_columns_follow_longest_paths_and_boxes_never_overlap() -> None:
    shape = graph_view(Wide().graph())
    placed = svg.layout(shape, {n.name: svg.texts(n, None) for n in shape.nodes})
    x = {name: box.x for name, box in placed.boxes.items()}
    assert x["Source"] < x["Left"] == x["Right"] < x["Deep"] < x["Sink"]
    for a, b in itertools.combinations(placed.boxes.values(), 2):
        apart = a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + svg.HEIGHT <= b.y or b.y + svg.HEIGHT <= a.y
        assert apart, (a, b)
    # The long edges (Source -> Sink past two columns, Right -> Sink past one) pass through a point in
    # each column between, away from the boxes there.
    routes = {(r.source, r.target): r.points for r in placed.routes}
    assert len(routes[("Source", "Sink")]) == 4 and len(routes[("Right", "Sink")]) == 3
    for x_, y in [*routes[("Source", "Sink")][1:-1], *routes[("Right", "Sink")][1:-1]]:
        crossed = [b.name for b in placed.boxes.values() if b.x <= x_ <= b.x + b.width and b.y <= y <= b.y + svg.HEIGHT]
        assert crossed == [], (x_, y)
    assert all(0 < box.x and box.x + box.width < placed.width for box in placed.boxes.values())


def test_without_the_flows_code_layers_are_listed_without_edges() -> None:
    shape = GraphView("Lost", tuple(NodeView(f"L{i}") for i in range(10)), edges_known=False)
    root = parsed(svg.render(shape))
    assert len(elements(root, "layer")) == 10 and not elements(root, "edge")
    assert "edges unknown" in "".join(elements(root, "legend")[0].itertext())


def test_names_are_escaped_and_the_drawing_stays_well_formed() -> None:
    layer = LayerView("Load", "failed", error="ValueError('<b>&\"')")
    shape = GraphView("F<&>", (NodeView("Load"),))
    picture = svg.render(shape, ExecutionView("F<&>", "e&1", "failed", shape, layers=(layer,)))
    root = parsed(picture)
    assert root.get("data-flow") == "F<&>"
    assert "ValueError('<b>&\"')" in "".join(by_layer(root, "layer")["Load"].itertext())
