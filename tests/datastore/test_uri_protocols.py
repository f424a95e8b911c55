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
