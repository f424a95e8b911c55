"""Damage at an artifact's address is mended by the next write of that content, and shard items are
read by their span: on Local, Memory and S3 (moto), through the conformance ``subject`` fixture."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from laminar.configurations import datastores
from laminar.datastore import layout
from laminar.errors import ArtifactError

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.datastore.conftest import FaultyS3, Subject

MEGABYTE = random.Random(0).randbytes(1 << 20)


def _only_artifact(subject: Subject) -> str:
    (path,) = subject.files(layout.ARTIFACTS)
    return path


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_a_write_of_equal_content_replaces_a_damaged_artifact_at_its_address(subject: Subject, damage: str) -> None:
    subject.store.write_split("F", "first", "L", 0, {"model": MEGABYTE}, set())
    path = _only_artifact(subject)
    data = bytearray(subject.read(path))
    if damage == "flipped":
        data[len(data) // 2] ^= 0x01  # same size, other bytes
    else:
        del data[len(data) // 2 :]
    subject.write(path, bytes(data))
    with pytest.raises(ArtifactError, match="corrupt"):
        subject.make().split("F", "first", "L", 0).get("model")

    subject.make().write_split("F", "second", "L", 0, {"model": MEGABYTE}, set())  # an equal value, later

    assert subject.make().split("F", "second", "L", 0).get("model") == MEGABYTE
    assert subject.make().split("F", "first", "L", 0).get("model") == MEGABYTE  # mended for both
    assert _only_artifact(subject) == path  # still stored once


def test_a_write_of_a_damaged_pack_replaces_it(subject: Subject) -> None:
    items = [word * 1000 for word in ("alpha", "beta", "gamma")]  # a pack too large to be inline
    subject.store.write_split("F", "first", "L", 0, {"items": items}, {"items"})
    pack = _only_artifact(subject)
    subject.write(pack, b"damaged")
    subject.make().write_split("F", "second", "L", 0, {"items": items}, {"items"})
    assert list(subject.make().split("F", "first", "L", 0).get("items")) == items


def test_an_intact_artifact_is_kept_as_it_is(subject: Subject) -> None:
    subject.store.write_split("F", "first", "L", 0, {"model": MEGABYTE}, set())
    path = _only_artifact(subject)
    subject.make().write_split("F", "second", "L", 0, {"model": MEGABYTE}, set())
    assert subject.read(path) == MEGABYTE or subject.make().get_value("cloudpickle", path.rsplit("/", 1)[1]) == MEGABYTE
    assert subject.files(layout.ARTIFACTS) == [path]
    assert [f for f in subject.files() if "tmp" in f] == []  # the copy not needed left nothing behind


ITEM = 60_000  # bytes: small enough to share its shard's pack
ITEMS = 60


@pytest.mark.parametrize("kind", ["local", "memory"])  # S3: bytes on the wire, below
def test_reading_one_shard_item_holds_that_item_not_its_pack(kind: str, tmp_path: Path) -> None:
    store = datastores.Local(str(tmp_path / "store")) if kind == "local" else datastores.Memory()
    items = [random.Random(index).randbytes(ITEM) for index in range(ITEMS)]
    store.write_split("F", "e", "L", 0, {"items": items}, {"items"})
    entry = store.read_json(layout.split("F", "e", "L", 0))["artifacts"]["items"]
    assert "pack" in entry and all(span is not None for span in entry["spans"])  # one pack of 3.6 MB
    split = store.split("F", "e", "L", 0)
    split.item("items", 0)  # the document, read once
    tracemalloc.start()
    try:
        assert split.item("items", 17) == items[17]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * ITEM, f"reading one {ITEM:,}-byte item allocated {peak:,} bytes at its peak"


def test_reading_shard_items_from_s3_fetches_their_spans_only(faulty_s3: FaultyS3) -> None:
    store = faulty_s3.datastore()
    items = [random.Random(index).randbytes(ITEM) for index in range(ITEMS)]
    store.write_split("F", "e", "L", 0, {"items": items}, {"items"})
    split = store.split("F", "e", "L", 0)
    split.item("items", 0)  # the document, read once
    faulty_s3.faults.sent = 0
    for index in range(1, 20):
        assert split.item("items", index) == items[index]
    assert faulty_s3.faults.sent < 19 * ITEM + 19 * 2000, faulty_s3.faults.sent  # the spans, and headers' worth
