"""Credentials never leave a datastore in text: URLs, reprs, error messages."""

from __future__ import annotations

import pickle

import pytest

from laminar.configurations import datastores
from laminar.datastore.secrets import Redactor, collect, strip_url
from laminar.errors import DatastoreError


@pytest.mark.parametrize(
    ("options", "secret"),
    [
        ({"key": "AKIAEXAMPLE0001"}, "AKIAEXAMPLE0001"),
        ({"secret": "abc/def+ghi=="}, "abc/def+ghi=="),
        ({"token": "session-token-1"}, "session-token-1"),
        ({"password": "pa55word!"}, "pa55word!"),
        ({"client_kwargs": {"aws_secret_access_key": "nested-0001"}}, "nested-0001"),
        ({"client_kwargs": {"aws_session_token": "nested-token-1"}}, "nested-token-1"),
        ({"credentials": {"client_id": "cid-000001", "client_secret": "csec-000001"}}, "cid-000001"),
        ({"account_key": "azure-key-0001"}, "azure-key-0001"),
        ({"sas_token": "sv=2020&sig=abcd1234"}, "sv=2020&sig=abcd1234"),
        ({"endpoint_url": "https://user1:urlpass1@minio.local:9000"}, "urlpass1"),
        ({"endpoint_url": "https://store.local/?X-Amz-Signature=deadbeef99"}, "deadbeef99"),
        ({"client_kwargs": {"headers": {"Authorization": "Bearer xyz-token-00"}}}, "xyz-token-00"),
        ({"secret": b"bytes-secret-1"}, "bytes-secret-1"),
    ],
)
def test_every_kind_of_credential_is_masked(options: dict[str, object], secret: str) -> None:
    redact = Redactor("s3://bucket/prefix", options)
    for text in (
        f"failed: {secret}",
        f"failed:{secret}.",
        "url-quoted " + secret.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D"),
    ):
        masked = redact(text)
        assert secret not in masked
        assert "***" in masked


def test_url_credentials_are_masked_and_stripped() -> None:
    root = "s3://AKIAROOT00001:rootsecret0001@bucket/prefix?token=querytoken01"
    redact = Redactor(root, {})
    text = f"cannot open {root}: denied for AKIAROOT00001 (querytoken01)"
    assert redact(text) == "cannot open s3://***@bucket/prefix?token=***: denied for *** (***)"
    assert strip_url(root) == "s3://bucket/prefix?token=***"
    assert strip_url("/plain/path") == "/plain/path"


def test_short_dummy_credentials_are_masked_as_whole_words_only() -> None:
    redact = Redactor("s3://bucket", {"key": "x", "secret": "abc"})
    assert redact("key x and secret abc, but exact and box stay") == "key *** and secret ***, but exact and box stay"


def test_non_secret_options_are_left_alone() -> None:
    assert collect("s3://bucket", {"endpoint_url": "http://127.0.0.1:9000", "anon": False, "region_name": "eu"}) == []


def test_longer_secrets_are_masked_before_their_prefixes() -> None:
    redact = Redactor("s3://b", {"key": "secret-value", "secret": "secret-value-and-more"})
    assert redact("leaked secret-value-and-more") == "leaked ***"


def test_datastore_reprs_urls_and_pickles_for_printing_hold_no_credentials() -> None:
    store = datastores.Fsspec(
        root="s3://AKIAROOT00001:rootsecret0001@bucket/prefix", key="AKIAKEY000001", secret="secret000001"
    )
    for text in (repr(store), store.url, str(store)):
        for secret in ("AKIAROOT00001", "rootsecret0001", "AKIAKEY000001", "secret000001"):
            assert secret not in text
    assert store.url == "s3://bucket/prefix"
    # Workers need the options: they travel in pickles (never printed), and redaction still works there.
    copy = pickle.loads(pickle.dumps(store))
    assert repr(copy) == repr(store)


def test_errors_from_a_backend_are_masked(tmp_path: object) -> None:
    store = datastores.Fsspec(root="memory://laminar-secrets-test", token="tok-000000001")
    with pytest.raises(DatastoreError) as caught, store.files.guard("write something"):
        raise RuntimeError("upstream said: invalid token tok-000000001")
    assert "tok-000000001" not in str(caught.value)
    assert str(caught.value) == (
        "datastore memory://laminar-secrets-test: cannot write something: "
        "RuntimeError: upstream said: invalid token ***"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
