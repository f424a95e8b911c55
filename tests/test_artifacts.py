"""``Accessor`` and the artifact views: lazy, sequence-like, in order."""

import pytest

from laminar import Accessor
from laminar.artifacts import Joined, Selected, Values


def counting(values: list[int]) -> tuple[Accessor, list[int]]:
    loaded: list[int] = []

    def load(index: int) -> int:
        loaded.append(index)
        return values[index]

    return Accessor(len(values), load, "foo"), loaded


def test_items_are_loaded_only_when_read() -> None:
    acc, loaded = counting([10, 20, 30])
    assert len(acc) == 3
    assert loaded == []
    assert acc[1] == 20
    assert loaded == [1]


def test_iteration_is_in_order() -> None:
    acc, _ = counting([10, 20, 30])
    assert list(acc) == [10, 20, 30]
    assert [x for x in acc] == [10, 20, 30]
    assert 20 in acc


def test_negative_indices() -> None:
    acc, _ = counting([10, 20, 30])
    assert acc[-1] == 30
    assert acc[-3] == 10
    with pytest.raises(IndexError, match=r"Accessor 'foo' index -4 out of range: it has 3 items \(valid: -3\.\.2\)"):
        acc[-4]
    with pytest.raises(IndexError, match="index 3 out of range"):
        acc[3]


def test_integer_like_indices() -> None:
    numpy = pytest.importorskip("numpy")
    acc, _ = counting([10, 20, 30])
    assert acc[numpy.int64(2)] == 30
    assert acc[True] == 20  # bool is an int, as for lists
    with pytest.raises(TypeError, match="not float"):
        acc[1.0]  # type: ignore[call-overload]


def test_slices_are_lists_of_only_the_items_they_select() -> None:
    acc, loaded = counting(list(range(10)))
    part = acc[2:8:2]
    assert type(part) is list  # the original's documented `print(shard.foo[1:])` -> [2, 3]
    assert part == [2, 4, 6] and str(part) == "[2, 4, 6]"
    assert sorted(loaded) == [2, 4, 6]  # nothing else was read
    assert acc[::-1] == list(range(9, -1, -1))
    assert acc[5:2] == []
    assert acc[-2:] == [8, 9]


def test_bad_index_type() -> None:
    acc, _ = counting([1])
    with pytest.raises(TypeError, match="integers or slices, not str"):
        acc["0"]  # type: ignore[call-overload]


def test_equality_with_sequences() -> None:
    acc, _ = counting([1, 2, 3])
    assert acc == [1, 2, 3]
    assert acc == (1, 2, 3)
    assert acc == Accessor(3, lambda i: i + 1)
    assert acc != [1, 2]
    assert acc != [1, 2, 4]
    assert acc != "123"
    assert acc != 3
    with pytest.raises(TypeError):
        hash(acc)


def test_repr_names_the_artifact_and_length() -> None:
    acc, _ = counting([1, 2])
    assert repr(acc) == "<Accessor 'foo' of 2 items>"
    assert repr(Accessor(0, lambda i: i)) == "<Accessor of 0 items>"


def test_empty_accessor() -> None:
    acc = Accessor(0, lambda i: 1 / 0)
    assert len(acc) == 0
    assert list(acc) == []
    assert acc == []


# -- the views a dependency is read through ---------------------------------------------------------


def test_values_shards_become_accessors() -> None:
    values = Values({"a": [1, 2], "b": [3, 4]}, frozenset({"a"}))
    assert isinstance(values.get("a"), Accessor)
    assert values.get("b") == [3, 4] and not isinstance(values.get("b"), Accessor)
    assert values.item("a", 1) == 2
    assert values.item("b", 1) == [3, 4]  # not sharded: the whole value
    assert values.length("a") == 2 and values.length("b") is None


def test_joined_reads_each_attribute_over_splits_in_order() -> None:
    splits = [Values({"v": i * 10, "s": [i, i]}, frozenset({"s"})) for i in range(3)]
    joined = Joined(splits)
    assert list(joined.get("v")) == [0, 10, 20]
    assert [list(s) for s in joined.get("s")] == [[0, 0], [1, 1], [2, 2]]
    with pytest.raises(KeyError):
        joined.get("missing")
    assert list(Joined([]).get("anything")) == []


def test_selected_picks_single_items_and_passes_the_rest() -> None:
    base = Values({"x": [1, 2, 3], "k": "const", "other": [7, 8]}, frozenset({"x", "other"}))
    selected = Selected(base, {"x": 2, "k": None})
    assert selected.get("x") == 3
    assert selected.get("k") == "const"
    assert list(selected.get("other")) == [7, 8]
