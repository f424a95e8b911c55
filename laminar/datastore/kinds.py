"""The datastores users pick: ``Local`` (default), ``Memory``, ``Fsspec`` (any URL), ``S3``."""

from __future__ import annotations

import os
import uuid
from typing import Any

from laminar.datastore.secrets import strip_url
from laminar.datastore.store import Datastore
from laminar.errors import ConfigurationError


class Local(Datastore):
    """Artifacts on a local (or network-mounted) disk. The default, under ``./.laminar``."""

    shared = False

    def __init__(self, root: str = ".laminar", *, allow_pickle: bool = True) -> None:
        super().__init__(os.path.abspath(os.path.expanduser(root)), allow_pickle=allow_pickle)


class Memory(Datastore):
    """Artifacts in this process's memory, still serialized; for tests. Each instance is separate."""

    process_local = True
    shared = False

    def __init__(self, *, allow_pickle: bool = True) -> None:
        super().__init__(f"memory://laminar-{uuid.uuid4().hex}", allow_pickle=allow_pickle)


class Fsspec(Datastore):
    """Any fsspec URL (gcs://, abfs://, file://, ...) with its ``storage_options``."""


class S3(Datastore):
    """Amazon S3 or any S3-compatible store through s3fs (``endpoint_url=...``, ``key=...``).

    Transient errors (HTTP 500/502/503/504, throttling, dropped connections) are
    retried with exponential backoff and jitter by botocore (5 attempts in all;
    tune with ``config_kwargs={"retries": {"total_max_attempts": n}}``); s3fs
    adds its own retries for timeouts and "SlowDown". laminar adds none on top.
    """

    def __init__(self, root: str, *, allow_pickle: bool = True, **storage_options: Any) -> None:
        if not isinstance(root, str) or not root.startswith(("s3://", "s3a://")):
            raise ConfigurationError(f"datastores.S3 needs an s3://bucket/prefix root, got {strip_url(str(root))!r}")
        super().__init__(root, allow_pickle=allow_pickle, **storage_options)
