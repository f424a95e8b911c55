"""A reader that reads many items of one shard's pack reads the pack whole, once, and keeps it; one that
reads a few reads only their spans (``laminar.datastore.reads.SPAN_PRICE``)."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest

from laminar.configurations import datastores
from laminar.datastore import layout, reads
from laminar.errors import ArtifactError

ITEMS = 200
ITEM = 1000  # bytes: 200 of them are one pack of ~200 KB, which 16 span reads (16 x 64 KiB) pay for


def shard(tmp_path: Path) -> tuple[datastores.Local, list[bytes], Path]:
    store = datastores.Local(str(tmp_path / "store"))
    items = [random.Random(index).randbytes(ITEM) for index in range(ITEMS)]
    store.write_split("F", "e", "L", 0, {"items": items}, {"items"})
    entry = store.read_json(layout.split("F", "e", "L", 0))["artifacts"]["items"]
    pack = tmp_path / "store" / layout.artifact(entry["pack"])
    assert pack.stat().st_size >= ITEMS * ITEM  # a file of its own, not kept in the document
    return store, items, pack


def test_a_reader_of_many_items_of_a_pack_reads_it_whole_once_and_keeps_it(tmp_path: Path) -> None:
    store, items, pack = shard(tmp_path)
    split = store.split("F", "e", "L", 0)
    assert [split.item("items", index) for index in range(reads.SPANS_FIRST)] == items[: reads.SPANS_FIRST]
    pack.unlink()  # read whole at the last of those reads: the rest come from memory
    assert [split.item("items", index) for index in range(ITEMS)] == items
    with pytest.raises(ArtifactError, match=r"item 3: artifact .* is missing"):  # another reader: spans
        datastores.Local(str(tmp_path / "store")).split("F", "e", "L", 0).item("items", 3)


def test_a_reader_of_a_few_items_reads_only_their_spans(tmp_path: Path) -> None:
    store, items, pack = shard(tmp_path)
    split = store.split("F", "e", "L", 0)
    assert [split.item("items", index) for index in (5, 6, 7)] == items[5:8]
    pack.unlink()
    with pytest.raises(ArtifactError, match=r"item 8: artifact .* is missing"):
        split.item("items", 8)


def test_an_item_damaged_in_a_kept_pack_still_fails_its_read(tmp_path: Path) -> None:
    store, items, pack = shard(tmp_path)
    entry = store.read_json(layout.split("F", "e", "L", 0))["artifacts"]["items"]
    offset, length = entry["spans"][100]
    data = bytearray(pack.read_bytes())
    data[offset + length // 2] ^= 0x01
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    split = store.split("F", "e", "L", 0)
    assert [split.item("items", index) for index in range(99)] == items[:99]  # the pack is kept by now
    with pytest.raises(ArtifactError, match=r"item 100: .* is corrupt"):
        split.item("items", 100)
    assert split.item("items", 101) == items[101]


def test_a_kept_pack_does_not_travel_with_its_datastore(tmp_path: Path) -> None:
    store, items, pack = shard(tmp_path)
    split = store.split("F", "e", "L", 0)
    assert [split.item("items", index) for index in range(ITEMS)] == items
    sent = pickle.dumps(store)
    assert len(sent) < ITEM * ITEMS / 10, f"the pickled datastore carries {len(sent):,} bytes"
    pack.unlink()
    with pytest.raises(ArtifactError, match=r"item 0: artifact .* is missing"):
        pickle.loads(sent).split("F", "e", "L", 0).item("items", 0)
