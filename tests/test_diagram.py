"""Mermaid diagrams of flows and the Jupyter displays of flows and executions."""

from __future__ import annotations

import pytest
from IPython.core.formatters import format_display_data

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, hooks, layers
from laminar.display.summary import status
from laminar.results import summary


class Branch(Flow): ...


@Branch.register
class A(Layer):
    def __call__(self) -> None:
        self.foo = 0.25


@Branch.register
class B(Layer):
    def __call__(self, a: A) -> None:
        self.foo = a.foo

    @hooks.entry
    def small(self, a: A) -> bool:
        return a.foo > 0.5


@Branch.register
class C(Layer):
    def __call__(self, a: A) -> None:
        self.foo = a.foo


@Branch.register
class D(Layer):
    def __call__(self, b: B, c: C) -> None: ...


def test_branching_flow_is_drawn_like_the_seed() -> None:
    assert Branch().mermaid() == "\n".join(
        [
            "stateDiagram-v2",
            "    state Branch {",
            "        direction LR",
            "        A --> B",
            "        A --> C",
            "        B --> D",
            "        C --> D",
            "    }",
        ]
    )


class Fan(Flow): ...


@Fan.register
class Items(Layer):
    def __call__(self) -> None:
        self.shard(x=range(4))


@Fan.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Items, attribute="x")]))
class Square(Layer):
    def __call__(self, items: Items) -> None:
        self.y = items.x**2


@Fan.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Square, attribute="y", index=None)]))
class Plus(Layer):
    def __call__(self, square: Square) -> None:
        self.z = square.y + 1


@Fan.register
class Total(Layer):
    def __call__(self, plus: Plus) -> None:
        self.total = sum(plus.z)


@Fan.register
class Alone(Layer): ...


def test_foreach_is_a_fork_a_one_to_one_chain_is_an_edge_and_a_reader_joins() -> None:
    assert Fan().mermaid().splitlines()[2:] == [
        "        direction LR",
        "        state Square_fork <<fork>>",
        "        state Plus_join <<join>>",
        "        Items --> Square_fork",
        "        Square_fork --> Square",
        "        Square --> Plus",
        "        Plus --> Plus_join",
        "        Plus_join --> Total",
        "        Alone",
        "    }",
    ]


def test_flow_displays_as_its_diagram_in_jupyter() -> None:
    flow = Fan(datastore=datastores.Memory(), executor=executors.Thread())
    data, _ = format_display_data(flow)
    assert data["text/markdown"] == f"```mermaid\n{flow.mermaid()}\n```"
    assert data["text/vnd.mermaid"] == flow.mermaid()
    assert data["text/plain"] == repr(flow)


def test_execution_shows_finished_and_skipped_layers_coloured() -> None:
    flow = Branch(datastore=datastores.Memory(), executor=executors.Thread())
    execution = flow(progress=False)
    rows = {row.name: row for row in summary(execution)}
    assert {name: row.phase for name, row in rows.items()} == {
        "A": "finished",
        "B": "skipped",
        "C": "finished",
        "D": "skipped",
    }
    assert rows["A"].artifacts == ("foo",)
    assert rows["A"].seconds is not None and rows["A"].seconds >= 0
    assert status(rows.values()) == "finished"
    text = execution.mermaid()
    assert "    class A,C finished" in text.splitlines()
    assert "    class B,D skipped" in text.splitlines()
    data, _ = format_display_data(execution)
    assert '<tr class="laminar-skipped" style="background:#e6e6e6' in data["text/html"]
    assert data["text/html"].count('class="laminar-finished"') == 2
    assert data["text/markdown"].startswith("```mermaid\nstateDiagram-v2")


class Broken(Flow): ...


@Broken.register
class Fine(Layer): ...


@Broken.register
class Fails(Layer):
    def __call__(self, fine: Fine) -> None:
        raise ValueError("no <good>")


def test_failed_execution_shows_the_failure() -> None:
    flow = Broken(datastore=datastores.Memory(), executor=executors.Thread())
    with pytest.raises(ValueError):
        flow(execution="broken", progress=False)
    execution = flow.execution("broken")
    rows = summary(execution)
    assert [(row.name, row.phase) for row in rows] == [("Fine", "finished"), ("Fails", "failed")]
    assert status(rows) == "failed"
    data, _ = format_display_data(execution)
    assert "failed: ValueError(&#x27;no &lt;good&gt;&#x27;)" in data["text/html"]
    assert "    class Fails failed" in data["text/markdown"].splitlines()
