"""What every datastore must do: run on Local, Memory and S3 (moto) through the ``subject`` fixture."""

from __future__ import annotations

import base64
import json
import random
from typing import IO, TYPE_CHECKING, Any

import pytest

from laminar.datastore import layout
from laminar.datastore.writes import INLINE
from laminar.errors import ArtifactError, ConfigurationError
from laminar.serde import Protocol

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.datastore.conftest import Subject

MEGABYTE = random.Random(0).randbytes(1 << 20)
BLOCK = random.Random(1).randbytes(INLINE)  # serialized, just too large to be kept in a split's document


def artifacts(subject: Subject) -> list[str]:
    return subject.files(layout.ARTIFACTS)


def test_values_round_trip_through_serde(subject: Subject) -> None:
    store = subject.store
    value = {"a": [1, 2.5, "three"], "b": (None, True)}
    protocol, digest = store.put_value(value)
    assert protocol == "cloudpickle"
    assert len(digest) == 64
    assert store.get_value(protocol, digest) == value
    # A second datastore object on the same storage (another process, say) reads it too.
    assert subject.make().get_value(protocol, digest) == value


def test_equal_values_from_two_layers_and_two_executions_are_stored_once(subject: Subject) -> None:
    store = subject.store
    for execution in ("e1", "e2"):
        for layer in ("A", "B"):
            store.write_split("Flow", execution, layer, 0, {"blob": MEGABYTE, "tag": BLOCK + layer.encode()}, set())
    stored = artifacts(subject)
    assert len(stored) == 3  # the megabyte once, the "A" block once, the "B" block once
    assert max(len(subject.read(path)) for path in stored) > len(MEGABYTE)
    for execution in ("e1", "e2"):
        assert store.split("Flow", execution, "B", 0).get("blob") == MEGABYTE


def test_archives_map_attributes_to_digests_and_records_hold_metadata(subject: Subject) -> None:
    store = subject.store
    assert store.finished_splits("F", "e", "L") == set()
    record = {"state": "finished", "attempt": 2}
    meta = store.write_split("F", "e", "L", 3, {"x": 1, "items": ["a", "b", "a"]}, {"items"}, record=lambda: record)
    assert meta.names == ("x", "items") and dict(meta.shards) == {"items": 3}
    document = subject.make().read_json("flows/F/e/L/3.json")
    assert document["record"] == record
    entry = document["artifacts"]["items"]
    assert entry["sharded"] is True and entry["digests"][0] == entry["digests"][2] != entry["digests"][1]
    assert store.read_split_record("F", "e", "L", 3) == {"state": "finished", "attempt": 2}
    assert store.finished_splits("F", "e", "L") == {3}
    assert store.split("F", "e", "L", 3).get("items") == ["a", "b", "a"]


def test_the_small_items_of_a_shard_are_stored_in_one_pack_and_read_back_one_by_one(subject: Subject) -> None:
    store = subject.store
    items = [{"n": n, "tag": "x" * (n % 7)} for n in range(500)] + [{"n": 0, "tag": ""}]  # the last repeats the first
    store.write_split("F", "e", "L", 0, {"items": items}, {"items"})
    assert len(artifacts(subject)) == 1  # one pack, not 501 files
    entry = subject.make().read_json(layout.split("F", "e", "L", 0))["artifacts"]["items"]
    assert len(entry["digests"]) == len(entry["spans"]) == 501
    assert entry["digests"][0] == entry["digests"][500]  # equal items, equal digests
    split = subject.make().split("F", "e", "L", 0)
    assert split.item("items", 321) == items[321] and split.item("items", 500) == items[0]
    assert list(split.get("items")) == items
    # Each item's digest is the digest the value has when stored on its own.
    assert entry["digests"][7] == store.put_value(items[7])[1]


def test_small_artifacts_and_packs_are_kept_in_the_split_document(subject: Subject) -> None:
    store = subject.store
    values = {"x": 1, "name": "small", "items": ["a", "b", "a"], "blob": BLOCK}
    store.write_split("F", "e", "L", 0, values, {"items"})
    (only,) = artifacts(subject)  # the block has a file of its own; nothing else does
    entries = subject.make().read_json(layout.split("F", "e", "L", 0))["artifacts"]
    assert only.endswith(entries["blob"]["digests"][0]) and "inline" not in entries["blob"]
    assert list(entries["x"]["inline"]) == entries["x"]["digests"]
    assert list(entries["items"]["inline"]) == [entries["items"]["pack"]]  # the shard's pack, kept whole
    # The digest is the one the value has when stored on its own.
    assert entries["x"]["digests"][0] == store.put_value(1)[1]
    split = subject.make().split("F", "e", "L", 0)
    assert (split.get("x"), split.get("name"), list(split.get("items")), split.get("blob")) == (
        1,
        "small",
        ["a", "b", "a"],
        BLOCK,
    )


def test_a_damaged_artifact_kept_in_a_document_is_named(subject: Subject) -> None:
    store = subject.store
    store.write_split("F", "e", "L", 0, {"x": "small", "y": 2}, set())
    relative = layout.split("F", "e", "L", 0)
    document = subject.make().read_json(relative)
    entry = document["artifacts"]["x"]
    (digest,) = entry["digests"]
    # Other bytes (another value's, valid base64) under the digest: their SHA-256 is not the digest.
    entry["inline"][digest] = base64.b64encode(store.serde.get("cloudpickle").dumps("smalL")).decode()
    subject.write(relative, json.dumps(document).encode())
    split = subject.make().split("F", "e", "L", 0)
    assert split.get("y") == 2
    with pytest.raises(
        ArtifactError, match=rf"F\.L\[0\] of execution 'e' artifact 'x': artifact {digest[:12]} .*corrupt"
    ):
        split.get("x")
    entry["inline"][digest] = "not base64!"
    subject.write(relative, json.dumps(document).encode())
    with pytest.raises(ArtifactError, match=r"artifact 'x': the archive is damaged .*not base64"):
        subject.make().split("F", "e", "L", 0).get("x")


def test_a_shard_item_larger_than_a_pack_entry_is_stored_on_its_own(subject: Subject) -> None:
    store = subject.store
    items = [1, MEGABYTE, 2]
    store.write_split("F", "e", "L", 0, {"items": items}, {"items"})
    assert len(artifacts(subject)) == 1  # the megabyte; the pack (1 and 2) is small: kept in the document
    entry = subject.make().read_json(layout.split("F", "e", "L", 0))["artifacts"]["items"]
    assert list(entry["inline"]) == [entry["pack"]]
    assert entry["spans"][1] is None and entry["spans"][0] is not None and entry["spans"][2] is not None
    assert list(subject.make().split("F", "e", "L", 0).get("items")) == items


def test_a_corrupt_pack_fails_the_read_of_the_item_it_damaged(subject: Subject) -> None:
    store = subject.store
    items = [word * (INLINE // 10) for word in ("alpha", "beta", "gamma")]  # a pack too large to be inline
    store.write_split("F", "e", "L", 0, {"items": items}, {"items"})
    entry = subject.make().read_json(layout.split("F", "e", "L", 0))["artifacts"]["items"]
    (pack,) = artifacts(subject)
    data = bytearray(subject.read(pack))
    offset, length = entry["spans"][1]
    data[offset + length - 1] ^= 0x01
    subject.write(pack, bytes(data))
    split = subject.make().split("F", "e", "L", 0)
    assert split.item("items", 0) == items[0] and split.item("items", 2) == items[2]
    with pytest.raises(
        ArtifactError, match=r"F\.L\[0\] of execution 'e' artifact 'items' item 1: .* is corrupt.*rerun=\[that layer\]"
    ):
        split.item("items", 1)
    subject.raw.rm_file(f"{subject.base}/{pack}")
    with pytest.raises(ArtifactError, match=r"item 0: artifact .* is missing"):
        subject.make().split("F", "e", "L", 0).item("items", 0)


def test_split_documents_committed_in_a_batch_read_like_documents_of_their_own(subject: Subject) -> None:
    store = subject.store
    documents = {}
    for index in (0, 2, 5):
        record = {"attempt": index}
        values = {"x": index * 10, "blob": BLOCK + bytes([index])}
        meta = store.write_split("F", "e", "L", index, values, set(), record=record, commit=False)
        assert meta.document is not None and meta.names == ("x", "blob")
        documents[index] = meta.document
    # Artifacts are stored, but without a document no split has finished.
    assert len(artifacts(subject)) == 3
    assert store.finished_splits("F", "e", "L") == set()
    store.commit_splits("F", "e", "L", {0: documents[0], 5: documents[5]})
    store.commit_splits("F", "e", "L", {2: documents[2]})  # one document: a file of its own
    store.write_split("F", "e", "L", 7, {"x": 70}, set())  # a document of its own beside the batch
    batches = [f for f in subject.files("flows/F/e/L") if f.rpartition("/")[2].startswith(layout.BATCH)]
    assert len(batches) == 1
    assert {layout.split("F", "e", "L", i) for i in (2, 7)} <= set(subject.files("flows/F/e/L"))
    reader = subject.make()
    assert reader.finished_splits("F", "e", "L") == {0, 2, 5, 7}
    assert [reader.split("F", "e", "L", i).get("x") for i in (0, 2, 5, 7)] == [0, 20, 50, 70]
    assert reader.read_split_record("F", "e", "L", 5) == {"attempt": 5}
    assert reader.read_split_record("F", "e", "L", 1) is None
    with pytest.raises(ArtifactError, match="has no archive"):
        reader.split("F", "e", "L", 1)
    # A reader that listed the layer before a batch was committed finds the new batch's splits.
    late = {i: store.write_split("F", "e", "L", i, {"x": i * 10}, set(), commit=False).document for i in (1, 3)}
    store.commit_splits("F", "e", "L", {i: document for i, document in late.items() if document is not None})
    assert reader.split("F", "e", "L", 1).get("x") == 10 and reader.split("F", "e", "L", 3).get("x") == 30
    (holding_five,) = [b for b in batches if b'"5"' in subject.read(b)]
    subject.write(holding_five, b'{"splits": {"5": {"artifacts": 3}}}')
    with pytest.raises(ArtifactError, match=r"F\.L\[5\] .* is damaged"):
        subject.make().split("F", "e", "L", 5)


def test_a_finished_layer_record_carries_the_documents_of_its_last_splits(subject: Subject) -> None:
    store = subject.store
    documents = {}
    for i in range(3):
        document = store.write_split("F", "e", "L", i, {"x": i}, set(), commit=False).document
        assert document is not None
        documents[i] = document
    store.commit_splits("F", "e", "L", {0: documents[0], 1: documents[1]})
    reader = subject.make()
    assert reader.finished_splits("F", "e", "L") == {0, 1}  # the third is not committed yet
    assert reader.read_split_record("F", "e", "L", 2) is None
    record = {"state": "finished", "splits": 3, "names": ["x"]}
    store.write_layer_record("F", "e", "L", record, documents={2: documents[2]})
    assert [f for f in subject.files("flows/F/e/L") if not layout.is_batch(f.rpartition("/")[2])] == [
        "flows/F/e/L/layer.json"
    ]
    assert reader.finished_splits("F", "e", "L") == {0, 1, 2}
    assert [reader.split("F", "e", "L", i).get("x") for i in range(3)] == [0, 1, 2]
    assert subject.make().split("F", "e", "L", 2).get("x") == 2
    assert subject.make().read_layer_record("F", "e", "L") == record  # without the documents


def test_a_failed_layer_record_read_before_a_resume_finished_the_layer_is_read_again(subject: Subject) -> None:
    store = subject.store
    store.write_layer_record("F", "e", "L", {"state": "failed"})
    reader = subject.make()
    assert reader.finished_splits("F", "e", "L") == set()
    document = store.write_split("F", "e", "L", 0, {"x": 5}, set(), commit=False).document
    assert document is not None
    store.write_layer_record("F", "e", "L", {"state": "finished", "splits": None}, documents={0: document})
    assert reader.finished_splits("F", "e", "L") == {0}
    assert reader.split("F", "e", "L", 0).get("x") == 5


class _Execution:
    id = "e"

    class flow:
        name = "F"


def _finished(store: Any, layer: str, value: int) -> tuple[dict[str, Any], dict[int, Any]]:
    """A plain layer's finished record and its one split's document, uncommitted (as on Ray)."""
    document = store.write_split("F", "e", layer, 0, {"x": value}, set(), commit=False).document
    assert document is not None
    return {"state": "finished", "splits": None, "names": ["x"]}, {0: document}


def test_finished_layers_committed_together_are_one_file_and_read_as_if_each_had_its_own(subject: Subject) -> None:
    store = subject.store
    store.write_execution("F", "e", {"id": "e"})
    records = {name: _finished(store, name, value) for name, value in (("A", 1), ("B", 2))}
    store.commit_layers("F", "e", records)
    flows = [f for f in subject.files("flows") if not f.endswith("/execution.json")]
    assert len(flows) == 1 and layout.is_layer_batch(flows[0].rpartition("/")[2]), flows  # no directory per layer
    reader = subject.make()
    assert reader.layer_names(_Execution()) == ["A", "B"]
    assert reader.read_layer_record("F", "e", "B") == records["B"][0]  # without the documents
    assert reader.split("F", "e", "A", 0).get("x") == 1
    assert subject.make().finished_splits("F", "e", "B") == {0}
    assert subject.make().read_split_record("F", "e", "B", 0) is not None
    assert reader.read_layer_record("F", "e", "C") is None
    # Batches committed after a reader first looked are found too.
    store.commit_layers("F", "e", {name: _finished(store, name, value) for name, value in (("C", 3), ("D", 4))})
    assert reader.read_layer_record("F", "e", "C") == {"state": "finished", "splits": None, "names": ["x"]}
    assert reader.split("F", "e", "D", 0).get("x") == 4
    assert reader.layer_names(_Execution()) == ["A", "B", "C", "D"]


def test_one_finished_layer_committed_alone_is_its_layer_json(subject: Subject) -> None:
    store = subject.store
    store.commit_layers("F", "e", {"A": _finished(store, "A", 1)})
    assert subject.files("flows") == ["flows/F/e/A/layer.json"]
    assert subject.make().split("F", "e", "A", 0).get("x") == 1


def test_a_layer_that_failed_then_finished_in_a_batch_reads_as_finished(subject: Subject) -> None:
    store = subject.store
    store.write_layer_record("F", "e", "A", {"state": "failed"})  # an earlier run
    reader = subject.make()
    assert reader.read_layer_record("F", "e", "A") == {"state": "failed"}
    assert reader.finished_splits("F", "e", "A") == set()
    records = {name: _finished(store, name, value) for name, value in (("A", 1), ("B", 2))}
    store.commit_layers("F", "e", records)  # the resume
    assert reader.read_layer_record("F", "e", "A") == records["A"][0]
    assert reader.finished_splits("F", "e", "A") == {0}
    assert reader.split("F", "e", "A", 0).get("x") == 1
    assert reader.layer_names(_Execution()) == ["A", "B"]


def test_a_damaged_batch_of_layer_records_is_an_error_naming_it(subject: Subject) -> None:
    batch = layout.layer_batch("F", "e")
    subject.write(batch, b'{"layers": {"A": 3}}')
    with pytest.raises(ArtifactError, match=r"layers-.*\.json .* is damaged"):
        subject.make().read_layer_record("F", "e", "A")


def test_no_temporary_files_remain_after_writes(subject: Subject) -> None:
    store = subject.store
    store.write_split("F", "e", "L", 0, {"x": MEGABYTE, "y": [1]}, set())
    store.write_layer_record("F", "e", "L", {"state": "finished", "splits": None})
    files = subject.files()
    assert not [f for f in files if not f.startswith(("artifacts/", "flows/"))], files
    assert not [f for f in files if f.rpartition("/")[2].startswith(".")], files  # temporary names start with "."
    assert sorted(f for f in files if f.startswith("flows/")) == [
        "flows/F/e/L/0.json",
        "flows/F/e/L/layer.json",
    ]


class _HalfThenFail(Protocol):
    """Writes part of a value, then fails: an interrupted serialization."""

    name = "half-then-fail"

    def dump(self, value: Any, file: IO[bytes]) -> None:
        file.write(value[: len(value) // 2])
        raise RuntimeError("disk on fire")

    def load(self, file: IO[bytes]) -> Any:
        return file.read()


def test_an_interrupted_write_leaves_no_readable_artifact_archive_or_temporary_file(subject: Subject) -> None:
    store = subject.store
    store.protocol(bytes)(_HalfThenFail)
    with pytest.raises(ArtifactError) as caught:
        store.write_split("F", "e", "L", 0, {"ok": BLOCK.hex(), "blob": MEGABYTE}, set())
    message = str(caught.value)
    assert "F.L[0] of execution 'e' artifact 'blob'" in message and "disk on fire" in message
    files = subject.files()
    # The artifact written before the failure is complete; the interrupted one left nothing behind.
    assert len(artifacts(subject)) == 1
    assert [f for f in files if not f.startswith(layout.ARTIFACTS)] == []
    with pytest.raises(ArtifactError, match="has no archive"):
        subject.make().split("F", "e", "L", 0)
    assert subject.make().finished_splits("F", "e", "L") == set()


def test_a_corrupt_artifact_is_detected_and_named(subject: Subject) -> None:
    store = subject.store
    store.write_split("Flow", "run-1", "Train", 0, {"model": MEGABYTE}, set())
    (path,) = artifacts(subject)
    data = bytearray(subject.read(path))
    data[len(data) // 2] ^= 0x01  # one flipped bit
    subject.write(path, bytes(data))
    with pytest.raises(ArtifactError) as caught:
        subject.make().split("Flow", "run-1", "Train", 0).get("model")
    message = str(caught.value)
    for part in ("Flow.Train[0]", "'run-1'", "'model'", "corrupt", path.rsplit("/", 1)[1][:12]):
        assert part in message, message


def test_a_missing_artifact_is_named(subject: Subject) -> None:
    store = subject.store
    store.write_split("Flow", "run-1", "Train", 0, {"model": BLOCK}, set())
    (path,) = artifacts(subject)
    subject.raw.rm_file(f"{subject.base}/{path}")
    with pytest.raises(ArtifactError, match=r"Flow\.Train\[0\] of execution 'run-1' artifact 'model'.*missing"):
        subject.make().split("Flow", "run-1", "Train", 0).get("model")


def test_a_damaged_archive_is_an_error_not_an_empty_split(subject: Subject) -> None:
    subject.store.write_split("F", "e", "L", 0, {"x": 1}, set())
    subject.write("flows/F/e/L/0.json", b'{"artifacts": {"x": {"dig')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        subject.make().split("F", "e", "L", 0)
    subject.write("flows/F/e/L/0.json", b'{"artifacts": {"x": {"digests": 3}}, "record": {}}')
    with pytest.raises(ArtifactError, match=r"F\.L\[0\] of execution 'e': flows/F/e/L/0\.json .* is damaged"):
        subject.make().split("F", "e", "L", 0)
    subject.write(
        "flows/F/e/L/0.json",
        b'{"artifacts": {"x": {"digests": ["../../etc/passwd"], "protocols": ["cloudpickle"], "sharded": false}},'
        b' "record": {}}',
    )
    with pytest.raises(ArtifactError, match="not a SHA-256 digest"):
        subject.make().split("F", "e", "L", 0).get("x")


@pytest.mark.parametrize("bad", ["../up", "..", "/abs", "a/b", "nul\x00byte", "", ".hidden", "x" * 201, "a\\b"])
def test_names_that_could_escape_the_root_are_rejected(subject: Subject, bad: str) -> None:
    store = subject.store
    with pytest.raises(ConfigurationError, match="cannot be used as a datastore path"):
        store.write_execution("F", bad, {})
    with pytest.raises(ConfigurationError, match="cannot be used as a datastore path"):
        store.write_split("F", "e", bad, 0, {"x": 1}, set())
    with pytest.raises(ConfigurationError, match="cannot be used as a datastore path"):
        store.read_layer_record(bad, "e", "L")
    assert subject.files() == []


def test_negative_split_indices_are_rejected(subject: Subject) -> None:
    with pytest.raises(ConfigurationError, match="split index"):
        subject.store.write_split("F", "e", "L", -1, {"x": 1}, set())


def test_listing_many_executions_in_one_call(subject: Subject) -> None:
    count = 300 if subject.name == "s3" else 3000  # moto takes ~8 ms per object to set up
    ids = [f"2026{i:06d}Z-run" for i in range(count)]
    subject.raw.pipe({f"{subject.base}/flows/Big/{i}/execution.json": b"{}" for i in ids})
    subject.raw.pipe({f"{subject.base}/flows/Other/x/execution.json": b"{}"})
    listed = subject.make().execution_ids("Big")
    assert listed == ids
    assert subject.make().execution_ids("Nothing") == []


def test_listing_splits_and_layers(subject: Subject) -> None:
    store = subject.store
    for index in range(0, 40, 3):
        store.write_split("F", "e", "L", index, {"x": index}, set())
    store.write_split_failure("F", "e", "L", 1, {"state": "failed"})
    store.write_layer_record("F", "e", "L", {"state": "failed"})
    store.write_execution("F", "e", {"id": "e"})
    store.write_layer_record("F", "e", "M", {"state": "skipped"})
    assert store.finished_splits("F", "e", "L") == set(range(0, 40, 3))
    assert store.finished_splits("F", "e", "nothing") == set()

    class Execution:
        id = "e"

        class flow:
            name = "F"

    assert store.layer_names(Execution()) == ["L", "M"]


def test_records_read_back_as_none_when_absent(subject: Subject) -> None:
    store = subject.store
    assert store.read_execution("F", "never") is None
    assert store.read_layer_record("F", "never", "L") is None
    assert store.read_split_record("F", "never", "L", 0) is None


def test_allow_pickle_false_refuses_pickle_both_ways(subject: Subject) -> None:
    trusting = subject.make()
    protocol, digest = trusting.put_value({"a": 1})
    careful = subject.make(allow_pickle=False)
    with pytest.raises(ArtifactError, match="allow_pickle=False") as refused:
        careful.get_value(protocol, digest, where="F.L[0] artifact 'a'")
    assert "F.L[0] artifact 'a'" in str(refused.value)
    before = subject.files()
    with pytest.raises(ArtifactError, match="allow_pickle=False"):
        careful.put_value({"a": (2,)}, where="F.L[0] artifact 'a'")  # a tuple: JSON would read back a list
    assert subject.files() == before
    assert careful.put_value({"a": 2})[0] == "json-plain"  # plain JSON needs no pickle
    assert "allow_pickle=False" in repr(careful)


def test_registered_protocols_round_trip(subject: Subject) -> None:
    store = subject.store

    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    @store.protocol(Point)
    class PointText(Protocol):
        name = "point-text"

        def dumps(self, value: Point) -> bytes:
            return f"{value.x},{value.y}".encode()

        def loads(self, data: bytes) -> Point:
            x, y = data.decode().split(",")
            return Point(int(x), int(y))

    protocol, digest = store.put_value(Point(3, 4))
    assert protocol == "point-text"
    assert subject.read(layout.artifact(digest)) == b"3,4"
    loaded = store.get_value(protocol, digest)
    assert (type(loaded), loaded.x, loaded.y) == (Point, 3, 4)
    # A reader without the registration is told how to fix it.
    with pytest.raises(ArtifactError, match="no serialization protocol named 'point-text'"):
        subject.make().get_value(protocol, digest)
