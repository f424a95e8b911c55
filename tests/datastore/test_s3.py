"""S3 against a real S3-speaking server on loopback (moto, credentials checked): failures and retries.

Every failure must be a DatastoreError naming the datastore URL, with no
credential in its message, its traceback, or the datastore's repr.
"""

from __future__ import annotations

import json
import traceback
from typing import TYPE_CHECKING

import pytest

from laminar.configurations import datastores
from laminar.errors import ConfigurationError, DatastoreError

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.conftest import S3Server
    from tests.datastore.conftest import FaultyS3

FAST = {"config_kwargs": {"retries": {"total_max_attempts": 1}, "connect_timeout": 2, "read_timeout": 5}}


def assert_clean(error: BaseException, *secrets: str) -> str:
    """The error's message and full traceback contain none of ``secrets``; return the message."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    for secret in secrets:
        assert secret not in text, text
        assert secret not in repr(error)
    return str(error)


def test_wrong_access_key_is_a_clear_error_without_credentials(s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    key, secret = "AKIAWRONGWRONG123456", "wrong-secret-value-abcdef"
    store = datastores.S3(root=f"s3://{bucket}/runs", **s3_server.options(key=key, secret=secret))
    assert key not in repr(store) and secret not in repr(store)
    for attempt in (lambda: store.write_execution("F", "e", {}), lambda: store.read_execution("F", "e")):
        with pytest.raises(DatastoreError) as caught:
            attempt()
        message = assert_clean(caught.value, key, secret)
        assert f"s3://{bucket}/runs" in message


def test_wrong_secret_is_a_clear_error_without_credentials(s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    secret = "not-the-secret-" + s3_server.secret[:4]
    store = datastores.AWS.S3(root=f"s3://{bucket}/runs", **s3_server.options(secret=secret))
    with pytest.raises(DatastoreError) as caught:
        store.put_value(list(range(10)))
    message = assert_clean(caught.value, s3_server.key, secret)
    assert f"datastore s3://{bucket}/runs" in message and "check the credentials" in message


def test_a_missing_bucket_is_named_on_read_write_and_list(s3_server: S3Server) -> None:
    store = datastores.S3(root="s3://no-such-bucket-here/runs", **s3_server.options())
    for attempt in (
        lambda: store.read_execution("F", "e"),  # would otherwise look like "no such execution"
        lambda: store.execution_ids("F"),  # would otherwise look like "no executions"
        lambda: store.write_execution("F", "e", {}),
        lambda: store.put_value(b"x" * 100),
    ):
        with pytest.raises(DatastoreError) as caught:
            attempt()
        message = assert_clean(caught.value, s3_server.key, s3_server.secret)
        assert "s3://no-such-bucket-here/runs" in message and "'no-such-bucket-here' does not exist" in message


def test_an_unreachable_endpoint_is_a_clear_error_without_credentials(s3_server: S3Server) -> None:
    options = s3_server.options(endpoint_url="http://127.0.0.1:1", **FAST)
    store = datastores.S3(root="s3://bucket/runs", **options)
    with pytest.raises(DatastoreError) as caught:
        store.read_execution("F", "e")
    message = assert_clean(caught.value, s3_server.key, s3_server.secret)
    assert "datastore s3://bucket/runs: cannot" in message and "127.0.0.1:1" in message


def test_credentials_in_urls_and_nested_options_are_masked(s3_server: S3Server) -> None:
    store = datastores.S3(
        root="s3://AKIAINURL0000:urlsecret0000@no-such-bucket-here/runs",
        endpoint_url=s3_server.endpoint,
        key="AKIAINOPTIONS000",
        client_kwargs={"region_name": "us-east-1", "aws_secret_access_key": "nested-secret-0000"},
        **FAST,
    )
    texts = [repr(store), store.url]
    with pytest.raises(DatastoreError) as caught:
        store.write_execution("F", "e", {})
    texts.append("".join(traceback.format_exception(caught.value)))
    for text in texts:
        for secret in ("AKIAINURL0000", "urlsecret0000", "AKIAINOPTIONS000", "nested-secret-0000"):
            assert secret not in text, text
    assert store.url == "s3://no-such-bucket-here/runs"


def test_records_written_by_a_flow_hold_no_credentials(s3_server: S3Server) -> None:
    from laminar import Flow, Layer
    from laminar.configurations import executors

    class Secretive(Flow): ...

    @Secretive.register
    class Step(Layer):
        def __call__(self) -> None:
            self.value = 1

    store = s3_server.datastore()
    execution = Secretive(datastore=store, executor=executors.Thread())()
    assert execution.layer(Step).value == 1
    raw = store.fs
    records = [path for path in raw.find(store.root) if path.endswith(".json")]
    # the execution's record, and each layer's (Parameters, Step), which carries its split's document
    assert len(records) >= 3
    for path in records:
        text = raw.cat_file(path).decode()
        assert s3_server.key not in text and s3_server.secret not in text
        json.loads(text)


def test_transient_503s_are_retried_with_backoff(faulty_s3: FaultyS3) -> None:
    store = faulty_s3.datastore()
    faulty_s3.faults.remaining = 2
    store.write_execution("F", "e", {"id": "e"})
    puts = [line for line in faulty_s3.faults.seen if line.startswith("PUT ")]
    assert [line.rsplit(" ", 1)[1] for line in puts] == ["503", "503", "200"]
    assert store.read_execution("F", "e") == {"id": "e"}


def test_transient_errors_on_reads_are_retried(faulty_s3: FaultyS3) -> None:
    store = faulty_s3.datastore()
    protocol, digest = store.put_value(list(range(100)))
    faulty_s3.faults.method, faulty_s3.faults.status, faulty_s3.faults.remaining = "GET", 500, 1
    assert store.get_value(protocol, digest) == list(range(100))
    assert any(line.startswith("GET ") and line.endswith(" 500") for line in faulty_s3.faults.seen)


def test_a_permanent_server_error_fails_cleanly_after_bounded_retries(faulty_s3: FaultyS3) -> None:
    store = faulty_s3.datastore(config_kwargs={"retries": {"total_max_attempts": 2}})
    faulty_s3.faults.status, faulty_s3.faults.remaining = 500, -1
    with pytest.raises(DatastoreError) as caught:
        store.write_execution("F", "e", {})
    message = assert_clean(caught.value, faulty_s3.server.key, faulty_s3.server.secret)
    assert store.url in message and "injected" in message
    assert [line for line in faulty_s3.faults.seen if line.startswith("PUT ")] == [
        line for line in faulty_s3.faults.seen if line.endswith(" 500")
    ]
    assert len([line for line in faulty_s3.faults.seen if line.startswith("PUT ")]) == 2


def test_listing_executions_is_one_request(faulty_s3: FaultyS3) -> None:
    store = faulty_s3.datastore()
    for index in range(30):
        store.write_execution("F", f"e{index:03d}", {})
    faulty_s3.faults.seen.clear()
    assert store.execution_ids("F") == [f"e{index:03d}" for index in range(30)]
    assert len(faulty_s3.faults.seen) == 1 and faulty_s3.faults.seen[0].startswith("GET ")


def test_large_artifacts_spool_through_local_disk_and_round_trip(s3_server: S3Server) -> None:
    np = pytest.importorskip("numpy")
    store = s3_server.datastore(allow_pickle=False)
    array = np.arange(5 << 20, dtype=np.float64)  # 40 MB: more than a spool keeps in memory
    protocol, digest = store.put_value(array)
    assert protocol == "numpy"
    loaded = store.get_value(protocol, digest)
    assert loaded.dtype == array.dtype and np.array_equal(loaded, array)


def test_s3_requires_an_s3_url() -> None:
    with pytest.raises(ConfigurationError, match="s3://bucket/prefix"):
        datastores.S3(root="/tmp/not-s3")


def test_a_plain_layers_split_committed_with_its_layer_record_is_read_without_listing_the_layer(
    faulty_s3: FaultyS3,
) -> None:
    """On Ray the scheduler commits a plain layer's one document inside its ``layer.json``: a reader
    that does not find ``0.json`` reads that record next, without listing the layer first (s3fs: 4
    requests, was 5)."""
    writer = faulty_s3.datastore()
    meta = writer.write_split("F", "e", "Plain", 0, {"x": 1}, set(), commit=False)
    assert meta.document is not None
    writer.write_layer_record("F", "e", "Plain", {"state": "finished", "splits": None}, {0: meta.document})
    reader = datastores.S3(root=writer.root, **faulty_s3.server.options(endpoint_url=faulty_s3.endpoint))
    reader.read_execution("F", "e")  # the reader's first request checks the bucket: not counted
    faulty_s3.faults.seen.clear()
    assert reader.split("F", "e", "Plain", 0).get("x") == 1
    seen = faulty_s3.faults.seen
    listings = [line for line in seen if "list-type=2" in line and "max-keys=1" not in line]
    assert listings == [], seen  # (s3fs checks a missing file with a one-key listing of its own name)
    assert any(line.startswith("GET ") and "/Plain/layer.json " in line for line in seen), seen
