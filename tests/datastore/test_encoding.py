"""Records are written by orjson and read back as the standard library's ``json`` would have them."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math

import pytest

from laminar.datastore.files import decoded, encoded


@dataclasses.dataclass
class Point:
    x: int


def standard(value: object) -> object:
    """What laminar wrote before orjson, read back."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def test_a_record_reads_back_as_the_standard_library_wrote_it() -> None:
    document = {
        "splits": {
            3: {"record": {"attempt": 1, "started": 1796685970.8992434, "caught": None, "ok": True}},
            10: {"artifacts": {"n": {"digests": ["ab" * 32], "inline": {"ab" * 32: "gAVLvi4="}, "sharded": False}}},
        },
        "names": ("b", "a"),
        "text": 'é \u2603 \n "quoted"',
        "odd": {1, 2},
        "point": Point(1),
        "when": datetime.datetime(2026, 12, 7, 23, 0, 0),
        "small": 1e-300,
        "negative": -0.5,
    }
    assert decoded(encoded(document)) == standard(document)
    # int keys as strings, dataclasses and dates through ``default=str`` as json did
    assert decoded(encoded(document))["point"] == "Point(x=1)"
    assert decoded(encoded(document))["when"] == "2026-12-07 23:00:00"


def test_keys_are_written_sorted() -> None:
    text = encoded({"b": 1, "a": {"d": 2, "c": 3}}).decode()
    assert text.index('"a"') < text.index('"b"') and text.index('"c"') < text.index('"d"')


def test_what_orjson_refuses_the_standard_library_writes_and_reads() -> None:
    big = {"count": 2**70}
    assert decoded(encoded(big)) == big
    nested: list[object] = []
    deep = nested
    for _ in range(300):
        deep.append([])
        deep = deep[0]  # type: ignore[assignment]
    assert decoded(encoded(nested)) == nested


def test_a_nan_written_by_an_earlier_laminar_reads_back() -> None:
    assert math.isnan(decoded(b'{"x": NaN}')["x"])


def test_what_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decoded(b'{"splits": {"1": ')
