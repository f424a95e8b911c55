"""``laminar.foreach``: grids computed from configuration and upstream metas, against literal grids."""

import itertools

import pytest

from laminar import Layer
from laminar.foreach import Axis, Grid, GridError, build
from laminar.options import ForEach, Parameter
from laminar.records import SplitMeta


class A(Layer): ...


class B(Layer): ...


class Many(Layer): ...  # a foreach layer with 3 splits


METAS = {
    ("A", 0): SplitMeta(names=("x", "y", "k"), shards={"x": 2, "y": 3}),
    ("B", 0): SplitMeta(names=("z",), shards={"z": 2}),
    **{("Many", i): SplitMeta(names=("v", "s"), shards={"s": i + 1}) for i in range(3)},
}


def grid(*parameters: Parameter) -> Grid:
    return build(
        ForEach(list(parameters)),
        is_foreach=lambda layer: layer == "Many",
        splits=lambda layer: 3 if layer == "Many" else 1,
        meta=lambda layer, split: METAS[(layer, split)],
    )


def selections(g: Grid) -> list[dict[str, tuple[int, dict[str, int | None]]]]:
    return [g.selection(i) for i in range(g.size)]


def test_one_sharded_parameter() -> None:
    g = grid(Parameter(A, "x"))
    assert g == Grid(axes=(Axis("A", 0, ("x",), 2),), broadcast={})
    assert selections(g) == [{"A": (0, {"x": 0})}, {"A": (0, {"x": 1})}]


def test_unsharded_parameter_is_broadcast() -> None:
    g = grid(Parameter(A, "x"), Parameter(A, "k"))
    assert g.size == 2
    assert g.broadcast == {"A": (0, ("k",))}
    assert selections(g) == [{"A": (0, {"k": None, "x": 0})}, {"A": (0, {"k": None, "x": 1})}]


def test_only_broadcast_parameters_give_one_split() -> None:
    g = grid(Parameter(A, "k"))
    assert g.size == 1
    assert selections(g) == [{"A": (0, {"k": None})}]


def test_grid_is_itertools_product_with_the_first_parameter_slowest() -> None:
    g = grid(Parameter(A, "x"), Parameter(B, "z"), Parameter(A, "y"))
    assert g.size == 2 * 2 * 3
    expected = list(itertools.product(range(2), range(2), range(3)))
    assert [g.coordinates(i) for i in range(g.size)] == expected
    assert g.selection(7) == {"A": (0, {"x": 1, "y": 1}), "B": (0, {"z": 0})}  # (1, 0, 1)
    assert g.selection(10) == {"A": (0, {"x": 1, "y": 1}), "B": (0, {"z": 1})}  # (1, 1, 1)


def test_index_none_maps_a_foreach_layer_one_to_one_and_zips_its_attributes() -> None:
    g = grid(Parameter(Many, "v", index=None), Parameter(Many, "s", index=None))
    assert g.axes == (Axis("Many", None, ("v", "s"), 3),)
    assert g.streams_from == "Many"
    assert selections(g) == [
        {"Many": (0, {"v": None, "s": None})},
        {"Many": (1, {"v": None, "s": None})},
        {"Many": (2, {"v": None, "s": None})},
    ]


def test_index_none_crossed_with_another_axis_does_not_stream() -> None:
    g = grid(Parameter(Many, "v", index=None), Parameter(A, "x"))
    assert g.size == 6
    assert g.streams_from is None
    assert g.selection(3) == {"Many": (1, {"v": None}), "A": (0, {"x": 1})}


def test_index_reads_one_split_of_a_foreach_layer() -> None:
    g = grid(Parameter(Many, "s", index=2))
    assert g.axes == (Axis("Many", 2, ("s",), 3),)
    assert selections(g)[-1] == {"Many": (2, {"s": 2})}


def test_index_none_on_a_plain_layer_reads_its_only_split() -> None:
    g = grid(Parameter(A, "x", index=None))
    assert g.axes == (Axis("A", 0, ("x",), 2),)


def test_zero_items_give_zero_splits() -> None:
    g = build(
        ForEach([Parameter(A, "x"), Parameter(B, "z")]),
        is_foreach=lambda layer: False,
        splits=lambda layer: 1,
        meta=lambda layer, split: SplitMeta(names=("x", "z"), shards={"x": 0, "z": 4}),
    )
    assert g.size == 0
    assert selections(g) == []


def test_missing_attribute_names_the_layer_and_what_it_has() -> None:
    with pytest.raises(GridError, match=r"A has no artifact 'nope' \(its artifacts: x, y, k\)"):
        grid(Parameter(A, "nope"))


def test_index_past_the_last_split() -> None:
    with pytest.raises(GridError, match="reads split 5, but Many has 3"):
        grid(Parameter(Many, "v", index=5))


def test_reading_one_layer_both_one_to_one_and_by_index_is_refused() -> None:
    with pytest.raises(GridError, match="both 1:1"):
        grid(Parameter(Many, "v", index=None), Parameter(Many, "s", index=1))
