"""Serialization protocols: defaults without pickle for data, custom protocols, pickle refusal."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from laminar.configurations import datastores, serde
from laminar.datastore import Datastore, layout
from laminar.errors import ArtifactError

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")


@pytest.fixture(params=["local", "memory"])
def careful(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Datastore]:
    """A datastore that refuses pickle both ways."""
    if request.param == "local":
        yield datastores.Local(root=str(tmp_path / "store"), allow_pickle=False)
    else:
        yield datastores.Memory(allow_pickle=False)


def round_trip(store: Datastore, value: Any) -> tuple[str, Any]:
    protocol, digest = store.put_value(value)
    return protocol, store.get_value(protocol, digest)


def test_numpy_arrays_round_trip_as_npy_without_pickle(careful: Datastore) -> None:
    for array in (
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.asfortranarray(np.linspace(0, 1, 20).reshape(4, 5)),
        np.array(3.5),
        np.zeros((0, 3), dtype=np.complex64),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array(["x", "yz"]),
    ):
        protocol, loaded = round_trip(careful, array)
        assert protocol == "numpy"
        assert loaded.dtype == array.dtype and loaded.shape == array.shape
        assert np.array_equal(loaded, array)


def test_numpy_bytes_on_disk_are_a_plain_npy_file(tmp_path: Path) -> None:
    store = datastores.Local(root=str(tmp_path), allow_pickle=False)
    _, digest = store.put_value(np.arange(5))
    loaded = np.load(tmp_path / layout.artifact(digest), allow_pickle=False)
    assert loaded.tolist() == [0, 1, 2, 3, 4]


def test_arrow_tables_round_trip_as_ipc_without_pickle(careful: Datastore) -> None:
    table = pa.table({"n": [1, 2, None], "s": ["a", None, "c"], "l": [[1], [], [2, 3]]})
    protocol, loaded = round_trip(careful, table)
    assert protocol == "arrow"
    assert loaded.equals(table) and loaded.schema.equals(table.schema)


def test_pandas_frames_round_trip_through_arrow_without_pickle(careful: Datastore) -> None:
    frame = pd.DataFrame(
        {"x": [1.5, 2.5, None], "name": ["a", "b", "c"], "when": pd.to_datetime(["2024-01-01", None, "2024-03-01"])},
        index=pd.Index([10, 20, 30], name="id"),
    )
    frame["kind"] = pd.Categorical(["u", "v", "u"])
    protocol, loaded = round_trip(careful, frame)
    assert protocol == "arrow-pandas"
    pd.testing.assert_frame_equal(loaded, frame)


def test_frames_arrow_cannot_hold_fall_back_to_pickle_only_when_allowed(tmp_path: Path) -> None:
    frame = pd.DataFrame({"mixed": [1, "two", 3.0]})
    protocol, loaded = round_trip(datastores.Local(root=str(tmp_path)), frame)
    assert protocol == "cloudpickle"
    pd.testing.assert_frame_equal(loaded, frame)
    with pytest.raises(ArtifactError, match="cannot be serialized with 'arrow-pandas'"):
        datastores.Memory(allow_pickle=False).put_value(frame)


def test_object_arrays_need_pickle(careful: Datastore) -> None:
    with pytest.raises(ArtifactError, match="allow_pickle=False"):
        careful.put_value(np.array([{"a": 1}], dtype=object))
    protocol, loaded = round_trip(datastores.Memory(), np.array([{"a": 1}], dtype=object))
    assert protocol == "cloudpickle" and loaded[0] == {"a": 1}


def test_equal_tables_have_equal_digests() -> None:
    store = datastores.Memory()
    make = lambda: pa.table({"a": list(range(1000))})  # noqa: E731
    assert store.put_value(make()) == store.put_value(make())
    assert store.put_value(np.arange(10)) == store.put_value(np.arange(10))


class _Upper(serde.Protocol):
    name = "upper-text"

    def dumps(self, value: str) -> bytes:
        return value.upper().encode()

    def loads(self, data: bytes) -> str:
        return data.decode()


def test_a_registered_protocol_matches_exact_types_only(careful: Datastore) -> None:
    careful.protocol(str)(_Upper)

    class Text(str):
        pass

    protocol, loaded = round_trip(careful, "hello")
    assert (protocol, loaded) == ("upper-text", "HELLO")
    with pytest.raises(ArtifactError, match="Text needs protocol 'cloudpickle'"):
        careful.put_value(Text("subclass"))


class _Chunks(serde.Protocol):
    """Streams: only dump/load, in small pieces; dumps/loads come from the base class."""

    name = "chunks"

    def dump(self, value: list[bytes], file: IO[bytes]) -> None:
        for chunk in value:
            file.write(len(chunk).to_bytes(4, "big"))
            file.write(chunk)

    def load(self, file: IO[bytes]) -> list[bytes]:
        chunks = []
        while header := file.read(4):
            chunks.append(file.read(int.from_bytes(header, "big")))
        return chunks


def test_streaming_protocols_get_bytes_versions_for_free(careful: Datastore) -> None:
    careful.protocol(list)(_Chunks)
    value = [b"a" * 10, b"", b"b" * 70_000]
    assert round_trip(careful, value) == ("chunks", value)
    assert _Chunks().loads(_Chunks().dumps(value)) == value
    buffer = io.BytesIO()
    _Upper().dump("x", buffer)
    assert _Upper().load(io.BytesIO(buffer.getvalue())) == "X"


def test_a_protocol_must_define_a_way_to_serialize() -> None:
    with pytest.raises(TypeError, match=r"must define dumps\(\), dump\(\) or write\(\)"):

        class Nothing(serde.Protocol):
            def loads(self, data: bytes) -> Any:
                return data

    with pytest.raises(TypeError, match=r"must define loads\(\), load\(\) or read\(\)"):

        class WriteOnly(serde.Protocol):
            def dumps(self, value: Any) -> bytes:
                return b""

    with pytest.raises(TypeError, match=r"must define write\(\) and read\(\) together"):

        class HalfUri(serde.Protocol):
            def write(self, value: Any, uri: str, storage_options: Any) -> None:
                pass

            def loads(self, data: bytes) -> Any:
                return data


def test_protocol_names_default_to_the_qualified_class_name_and_cannot_collide() -> None:
    class Unnamed(serde.Protocol):
        def dumps(self, value: Any) -> bytes:
            return b""

        def loads(self, data: bytes) -> Any:
            return None

    assert Unnamed.name.endswith("Unnamed") and "." in Unnamed.name
    store = datastores.Memory()

    class Impostor(serde.Json):
        name = "cloudpickle"

    with pytest.raises(ValueError, match="already registered as 'cloudpickle'"):
        store.protocol(dict)(Impostor)
    with pytest.raises(TypeError, match="takes types"):
        store.protocol("dict")(_Upper)  # type: ignore[arg-type]


def test_pickle_refusal_on_read_names_the_artifact() -> None:
    writer = datastores.Memory()
    protocol, digest = writer.put_value(object.__new__(type("Thing", (), {})))
    reader = datastores.Memory(allow_pickle=False)
    with pytest.raises(ArtifactError, match=re.escape("Flow.A[0] artifact 'x' was stored with protocol 'cloudpickle'")):
        reader.serde.get(protocol, where="Flow.A[0] artifact 'x'")
    assert len(digest) == 64


def test_unserializable_values_are_named() -> None:
    import threading

    expected = re.escape("F.L[0] artifact 'lock': a value of type lock cannot be serialized")
    with pytest.raises(ArtifactError, match=expected):
        datastores.Memory().put_value(threading.Lock(), where="F.L[0] artifact 'lock'")


class _Local:
    """A class of a test module: cloudpickle may pickle it by value, the standard pickle never does."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Local)


def test_plain_data_is_pickled_in_memory_as_cloudpickle_would_and_the_rest_is_not() -> None:
    import cloudpickle

    from laminar.serde import Pickle

    plain = [7, -(2**70), 1.5, True, None, "ü" * 10, b"xy", 3j, (1, "a"), [1, [2, 3], {"a": (1.0, None)}], {1: 2}, []]
    for value in plain:
        assert Pickle().quick(value) == cloudpickle.dumps(value), value
    text = type("Text", (str,), {})
    for value in [_Local(), np.float64(1.0), [_Local()], {"a": np.int64(3)}, list(range(300)), "x" * 5000, text("a")]:
        assert Pickle().quick(value) is None, value


def test_a_splits_small_values_are_kept_in_its_document_whichever_way_they_were_pickled(tmp_path: Path) -> None:
    import hashlib

    import cloudpickle

    store = datastores.Local(str(tmp_path))
    meta = store.write_split("F", "e", "L", 0, {"n": 7, "local": _Local()}, set(), commit=False)
    assert meta.document is not None
    entries = meta.document["artifacts"]
    assert entries["n"]["digests"] == [hashlib.sha256(cloudpickle.dumps(7)).hexdigest()]
    assert all(entry["inline"] for entry in entries.values())
    store.commit_splits("F", "e", "L", {0: meta.document})
    split = store.split("F", "e", "L", 0)
    assert split.get("n") == 7 and split.get("local") == _Local()


def test_a_splits_plain_value_too_large_for_its_document_is_stored_as_pickled_in_memory(tmp_path: Path) -> None:
    import hashlib

    import cloudpickle

    value = ["a" * 3000, "b" * 3000]  # plain (pickled in memory) but over INLINE: a file of its own
    store = datastores.Local(str(tmp_path))
    meta = store.write_split("F", "e", "L", 0, {"big": value}, set(), commit=False)
    assert meta.document is not None
    entry = meta.document["artifacts"]["big"]
    assert "inline" not in entry
    assert entry["digests"] == [hashlib.sha256(cloudpickle.dumps(value)).hexdigest()]
    store.commit_splits("F", "e", "L", {0: meta.document})
    assert store.split("F", "e", "L", 0).get("big") == value
