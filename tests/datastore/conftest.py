"""The datastore conformance fixture: every test taking ``subject`` runs on Local, Memory and S3 (moto).

A new datastore opts into the whole suite by adding one entry to ``SUBJECTS``.
``Subject.raw`` is an independent fsspec file system on the same storage, so
tests look at (and damage) what was stored from the outside, as another
process would.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pytest

from laminar.configurations import datastores
from laminar.datastore import Datastore


@dataclass
class Subject:
    """A datastore under test and a way to build more datastores on the same storage."""

    name: str
    make: Callable[..., Datastore]  # make(allow_pickle=...) -> a datastore on the same root
    raw: Any  # an fsspec file system that is not the datastore's own
    base: str  # the root's path in ``raw``
    store: Datastore = field(init=False)

    def __post_init__(self) -> None:
        self.store = self.make()

    def files(self, under: str = "") -> list[str]:
        """Every file under ``under`` (relative to the root), relative to the root."""
        path = f"{self.base}/{under}".rstrip("/")
        try:
            found = self.raw.find(path)
        except FileNotFoundError:
            return []
        prefix = f"{self.base}/"
        return sorted(str(p).split(prefix, 1)[1] for p in found)

    def read(self, relative: str) -> bytes:
        return bytes(self.raw.cat_file(f"{self.base}/{relative}"))

    def write(self, relative: str, data: bytes) -> None:
        self.raw.pipe_file(f"{self.base}/{relative}", data)


def _local(request: pytest.FixtureRequest, tmp: Path) -> Subject:
    root = tmp / "store"
    raw = fsspec.filesystem("file", auto_mkdir=True)
    return Subject("local", lambda **kw: datastores.Local(root=str(root), **kw), raw, str(root))


class _MemoryView(datastores.Fsspec):
    """Another datastore object over a Memory datastore's root: in this process only, like it."""

    process_local = True
    shared = False


def _memory(request: pytest.FixtureRequest, tmp: Path) -> Subject:
    first = datastores.Memory()
    base = first.fs._strip_protocol(first.root)

    def make(**kw: Any) -> Datastore:
        # Memory roots are private to an instance; a second view (a datastore over the same root) shares
        # the first one's.
        return _MemoryView(root=first.root, **kw)

    return Subject("memory", make, fsspec.filesystem("memory"), base)


def _s3(request: pytest.FixtureRequest, tmp: Path) -> Subject:
    server = request.getfixturevalue("s3_server")
    root = f"s3://{server.bucket()}/laminar"
    options = server.options()
    raw = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False, **options)
    return Subject("s3", lambda **kw: datastores.S3(root=root, **options, **kw), raw, root[len("s3://") :])


SUBJECTS: dict[str, Callable[[pytest.FixtureRequest, Path], Subject]] = {
    "local": _local,
    "memory": _memory,
    "s3": _s3,
}


@pytest.fixture(params=list(SUBJECTS))
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    return SUBJECTS[request.param](request, tmp_path)


# -- a loopback HTTP proxy in front of moto that fails chosen requests ------------------------------


@dataclass
class Faults:
    """Which requests the proxy answers with an error instead of forwarding."""

    status: int = 503
    remaining: int = 0  # fail this many matching requests, then forward (-1: fail all)
    method: str = "PUT"
    seen: list[str] = field(default_factory=list)  # "METHOD path status" of every request
    sent: int = 0  # bytes of the response bodies forwarded to the client
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_fail(self, method: str) -> bool:
        with self.lock:
            if method != self.method or self.remaining == 0:
                return False
            if self.remaining > 0:
                self.remaining -= 1
            return True


def _handler(target: tuple[str, int], faults: Faults) -> type[http.server.BaseHTTPRequestHandler]:
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if faults.should_fail(self.command):
                payload = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                    + (b"ServiceUnavailable" if faults.status == 503 else b"InternalError")
                    + b"</Code><Message>injected</Message></Error>"
                )
                faults.seen.append(f"{self.command} {self.path} {faults.status}")
                self.send_response(faults.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            connection = http.client.HTTPConnection(*target, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect",)}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            faults.seen.append(f"{self.command} {self.path} {response.status}")
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                    self.send_header(key, value)
            # A HEAD response announces the length of the body a GET would have.
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
                with faults.lock:
                    faults.sent += len(data)
            connection.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay

    return Proxy


@dataclass
class FaultyS3:
    server: Any  # tests.conftest.S3Server
    endpoint: str
    faults: Faults

    def datastore(self, **changes: Any) -> Datastore:
        options = self.server.options(endpoint_url=self.endpoint, **changes)
        return datastores.S3(root=f"s3://{self.server.bucket()}/laminar-{uuid.uuid4().hex[:6]}", **options)


@pytest.fixture
def faulty_s3(s3_server: Any) -> Iterator[FaultyS3]:
    """moto behind a proxy on 127.0.0.1 that answers chosen requests with HTTP 5xx."""
    host, port = s3_server.endpoint.removeprefix("http://").split(":")
    faults = Faults()
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler((host, int(port)), faults))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield FaultyS3(s3_server, f"http://127.0.0.1:{proxy.server_address[1]}", faults)
    finally:
        proxy.shutdown()
        proxy.server_close()
