"""Protocols that write and read whole URIs themselves (a library's own Parquet writer, say)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laminar.errors import ArtifactError
from laminar.serde import Protocol

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.datastore.conftest import Subject


class Parquet(Protocol):
    """pyarrow's own Parquet writer and reader, given the URL and the datastore's storage options."""

    name = "test-parquet-uri"

    def write(self, value: Any, uri: str, storage_options: Mapping[str, Any]) -> None:
        with fsspec.open(uri, "wb", **storage_options) as file:
            pq.write_table(value, file)

    def read(self, uri: str, storage_options: Mapping[str, Any]) -> Any:
        with fsspec.open(uri, "rb", **storage_options) as file:
            return pq.read_table(file)


def _table(n: int) -> pa.Table:
    return pa.table({"x": list(range(n)), "y": [str(i) for i in range(n)]})


def test_a_uri_protocol_round_trips_content_addressed_without_pickle(subject: Subject) -> None:
    store = subject.make(allow_pickle=False)
    store.protocol(pa.Table)(Parquet)
    first = store.put_value(_table(1000), where="t")
    again = store.put_value(_table(1000), where="t")
    assert first == again and first[0] == "test-parquet-uri"  # stored once, under its digest
    assert store.get_value(*first).equals(_table(1000))
    artifacts = [f for f in subject.files("artifacts")]
    assert len(artifacts) == 1 and artifacts[0].endswith(first[1])
    assert not [f for f in subject.files() if f.startswith("tmp/")]  # the temporary URI is gone


def test_a_uri_protocol_read_is_verified_against_the_digest(subject: Subject) -> None:
    store = subject.make()
    store.protocol(pa.Table)(Parquet)
    protocol, digest = store.put_value(_table(10), where="t")
    path = next(f for f in subject.files("artifacts") if f.endswith(digest))
    subject.write(path, subject.read(path)[:-3] + b"xyz")
    with pytest.raises(ArtifactError, match="corrupt"):
        store.get_value(protocol, digest, where="t")


# -- the original's signatures: write(self, value, uri) and read(self, uri); without self, as its
# serde page writes them; storage_options only when declared --------------------------------------


class Documented(Protocol):
    """``write(self, value, uri)``/``read(self, uri)``: fsspec finds the file system from the URL alone."""

    name = "test-documented-uri"

    def write(self, value: Any, uri: str) -> None:
        with fsspec.open(uri, "wb") as file:
            file.write(repr(value).encode())

    def read(self, uri: str) -> Any:
        with fsspec.open(uri, "rb") as file:
            return eval(file.read().decode())


class WithoutSelf(Protocol):
    """The original's serde page as written: ``def read(uri)`` and ``def write(value, uri)`` in the class."""

    name = "test-no-self-uri"

    def write(value: Any, uri: str) -> None:  # type: ignore[misc]
        with fsspec.open(uri, "wb") as file:
            file.write(repr(value).encode())

    def read(uri: str) -> Any:  # type: ignore[misc]
        with fsspec.open(uri, "rb") as file:
            return eval(file.read().decode())


class Static(Protocol):
    name = "test-static-uri"

    @staticmethod
    def write(value: Any, uri: str, storage_options: Mapping[str, Any]) -> None:
        with fsspec.open(uri, "wb", **storage_options) as file:
            file.write(repr(value).encode())

    @staticmethod
    def read(uri: str, storage_options: Mapping[str, Any]) -> Any:
        with fsspec.open(uri, "rb", **storage_options) as file:
            return eval(file.read().decode())


@pytest.mark.parametrize("protocol", [Documented, WithoutSelf, Static])
def test_read_and_write_with_the_documented_signatures(tmp_path: Any, protocol: type[Protocol]) -> None:
    from laminar.configurations import datastores

    store = datastores.Local(root=str(tmp_path / "store"))
    store.protocol(list)(protocol)
    stored = store.put_value([1, 2, "three"], where="t")
    assert stored[0] == protocol.name
    assert store.get_value(*stored) == [1, 2, "three"]
