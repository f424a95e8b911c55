"""Files under a datastore's root, over fsspec: paths, atomic writes, reads, listings and errors.

Everything the datastore writes goes through here. On a local disk a file is
written to a temporary file, flushed to disk and renamed into place; on object
stores (and in memory) a whole object is put at once. Backend errors become
:class:`~laminar.errors.DatastoreError` naming the URL, with credentials masked.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson

from laminar.datastore import layout, transfer
from laminar.datastore.secrets import Redactor, strip_url
from laminar.dependencies import explain
from laminar.errors import ArtifactError, ConfigurationError, DatastoreError

T = TypeVar("T")

# s3fs caches listings; other processes write here, so its caches would go stale.
S3_SCHEMES = ("s3", "s3a")


class Unserializable(Exception):
    """A protocol's ``dump`` raised (as opposed to the datastore failing)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Files:
    """Files under ``root``, any fsspec URL, with ``storage_options``."""

    def __init__(self, root: str, **storage_options: Any) -> None:
        if not isinstance(root, str) or not root.strip():
            raise ConfigurationError(f"a datastore root must be a non-empty path or URL, got {root!r}")
        self.root = root.rstrip("/") or root
        self.options = dict(storage_options)
        self._redact = Redactor(self.root, self.options)
        self._fs: Any = None
        self._base = ""
        self._local = False
        self._container_ok = False

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The root URL with any credentials removed; safe to print."""
        return self._redact(strip_url(self.root))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fs"] = None  # file system clients are rebuilt in each process
        return state

    @property
    def fs(self) -> Any:
        """The fsspec file system (created on first use)."""
        if self._fs is None:
            import fsspec

            options = dict(self.options)
            if self.root.partition("://")[0] in S3_SCHEMES:
                options.setdefault("use_listings_cache", False)
            with self.guard("connect"):
                fs, path = fsspec.core.url_to_fs(self.root, **options)
            protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
            self._local = "file" in protocols or "local" in protocols
            # Roots on local disks and in memory are created on demand; on object stores the
            # bucket (container) must exist and is checked once, when something is missing.
            self._container_ok = self._local or "memory" in protocols
            self._base = path.rstrip("/")
            self._fs = fs
        return self._fs

    @property
    def local(self) -> bool:
        """True when the root is on a local (or mounted) disk: files are written beside their name and
        renamed into place."""
        self.fs  # noqa: B018 - resolves _local
        return self._local

    def path(self, relative: str) -> str:
        self.fs  # noqa: B018 - resolves _base
        return f"{self._base}/{relative}"

    def error(self, action: str, error: BaseException) -> DatastoreError:
        message = self._redact(f"{type(error).__name__}: {error}")
        if isinstance(error, PermissionError):
            message += "; check the credentials (storage options) and their permissions on this bucket"
        return DatastoreError(f"datastore {self.url}: cannot {action}: {message}")

    @contextlib.contextmanager
    def guard(self, action: str, *, missing_ok: bool = False) -> Iterator[None]:
        """Turn backend errors into DatastoreErrors naming the URL, with credentials masked."""
        try:
            yield
        except (ArtifactError, DatastoreError, Unserializable):
            raise
        except FileNotFoundError as error:
            self._check_container()
            if missing_ok:
                raise
            raise self.error(action, error) from None
        except ImportError as error:
            core = explain(error)  # fsspec itself missing: the wrong Python, not a missing backend
            raise DatastoreError(
                f"datastore {self.url}: {core}"
                if core
                else f"datastore {self.url}: {self._redact(str(error))}; install the fsspec backend for this URL "
                "(for s3:// run `pip install 'laminar[s3]'`)"
            ) from None
        except Exception as error:
            raise self.error(action, error) from None

    def _check_container(self) -> None:
        """Raise a DatastoreError when the bucket (or container) under the root does not exist."""
        if self._container_ok:
            return
        container = self._base.split("/", 1)[0]
        try:
            found = bool(self.fs.exists(container))
        except Exception as error:
            raise self.error(f"check bucket {container!r}", error) from None
        if not found:
            raise DatastoreError(
                f"datastore {self.url}: bucket {container!r} does not exist or these credentials cannot see it; "
                "create it, or fix the root URL and credentials (storage options)"
            )
        self._container_ok = True

    def put_bytes(self, relative: str, data: bytes, *, before_rename: Callable[[], None] | None = None) -> None:
        """Write ``data`` whole. On a local disk: to a temporary file beside it, flushed to disk; then
        ``before_rename`` is called (what must be on disk before this file appears); then the rename."""
        path = self.path(relative)
        with self.guard(f"write {relative}"):
            if self._local:
                temporary = self.path(layout.temporary_beside(relative))
                try:
                    in_directory(temporary, lambda: transfer.fsync_write(temporary, lambda file: file.write(data)))
                    if before_rename is not None:
                        before_rename()
                    in_directory(path, lambda: os.replace(temporary, path))
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temporary)
            else:
                self.fs.pipe_file(path, data)

    def create_bytes(self, relative: str, data: bytes) -> bool:
        """Write ``data`` whole at ``relative`` only if nothing is there; False (nothing written) if
        something is, even when another process creates it at the same moment: of racing creates,
        exactly one returns True. A local disk links a flushed temporary file to the name (a hard link
        fails if the name exists; where links are not supported, an exclusive create); S3 puts with
        ``If-None-Match: *`` (a conditional write: the store refuses a second); memory holds a lock;
        other fsspec stores use their ``pipe_file(mode="create")`` (atomic where the store offers
        conditional writes, as GCS does)."""
        path = self.path(relative)
        with self.guard(f"create {relative}"):
            if self._local:
                return _create_local(path, self.path(layout.temporary_beside(relative)), data)
            try:
                if "memory" in self.fs.protocol:
                    with _memory_creates:
                        self.fs.pipe_file(path, data, mode="create")
                else:
                    self.fs.pipe_file(path, data, mode="create")
            except FileExistsError:
                return False
            return True

    def url_of(self, relative: str) -> str:
        return str(self.fs.unstrip_protocol(self.path(relative)))

    def get_bytes(self, relative: str) -> bytes:
        """The file's bytes; FileNotFoundError when it does not exist. A local file is read directly (fsspec's
        open costs ~50 us more: a task started ahead reads its withdrawal mark, absent, before it runs)."""
        with self.guard(f"read {relative}", missing_ok=True):
            path = self.path(relative)  # (inside: it connects first, which may fail)
            if self.local:
                with open(path, "rb") as file:
                    return file.read()
            return bytes(self.fs.cat_file(path))

    def size(self, relative: str, *, action: str) -> int:
        """The file's size in bytes; FileNotFoundError when it does not exist."""
        with self.guard(action, missing_ok=True):
            path = self.path(relative)  # (inside: it connects first, which may fail)
            return os.path.getsize(path) if self.local else int(self.fs.size(path))

    def get_range(self, relative: str, offset: int, length: int, *, action: str) -> bytes:
        """``length`` bytes of the file from ``offset`` (fewer if it is shorter): a seek on a local disk, a
        ranged GET on object stores, a slice in memory; FileNotFoundError when it does not exist."""
        path = self.path(relative)
        with self.guard(action, missing_ok=True):
            if self.local:  # a descriptor and one pread: a file object costs ~2.5x (a shard item a split)
                descriptor = os.open(path, os.O_RDONLY)
                try:
                    return os.pread(descriptor, max(0, length), offset)
                finally:
                    os.close(descriptor)
            if length <= 0:  # an empty range is no range to ask for; the file must still exist
                if not self.fs.exists(path):
                    raise FileNotFoundError(path)
                return b""
            try:
                return bytes(self.fs.cat_file(path, start=offset, end=offset + length))
            except FileNotFoundError:
                raise
            except OSError as error:
                if "InvalidRange" in str(error) or "416" in str(error):
                    return b""  # past the end of a file cut short: its digest check names the damage
                raise

    def exists(self, relative: str) -> bool:
        with self.guard(f"check {relative}"):
            path = self.path(relative)
            return os.path.exists(path) if self.local else bool(self.fs.exists(path))

    def list_names(self, relative: str) -> list[str]:
        """Names directly under ``relative`` (a path under the root), sorted, from one listing call
        (paginated on object stores); [] when there is nothing there."""
        path = self.path(relative)
        try:
            with self.guard(f"list {relative}", missing_ok=True):
                entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(os.path.basename(str(entry).rstrip("/")) for entry in entries)

    def write_json(self, relative: str, value: Any) -> None:
        self.put_bytes(relative, encoded(value))

    def read_json(self, relative: str) -> Any | None:
        """The JSON document at ``relative``, or None when there is none."""
        try:
            data = self.get_bytes(relative)
        except FileNotFoundError:
            return None
        try:
            return decoded(data)
        except ValueError as error:
            raise ArtifactError(
                f"{relative} in {self.url} is not valid JSON ({error}); laminar writes it atomically, so it was "
                "damaged by something else: resume its execution to run again what it records (a resume sets damaged "
                "records aside)"
            ) from None


#: orjson's options that write what ``json.dumps(value, sort_keys=True, default=str)`` writes, compactly:
#: keys sorted, int keys as strings, and dataclasses and dates handed to ``default`` as json does.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
_ORJSON |= orjson.OPT_PASSTHROUGH_DATETIME


def encoded(value: Any) -> bytes:
    """A record (JSON-native values, as :mod:`laminar.records` makes them) as the bytes of its JSON document,
    keys sorted. orjson writes it (a split's document ~1 us against ~12 us for the standard library's
    encoder: the driver writes every split's); what orjson refuses (an int beyond 64 bits, nesting
    deeper than 254) the standard library writes."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON)
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, default=str).encode()


def decoded(data: bytes) -> Any:
    """A JSON document's value; a ValueError when it is not JSON. What orjson refuses but the standard
    library reads (a NaN, an int beyond 64 bits: written by an earlier laminar) is read by the latter."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


_memory_creates = threading.Lock()  # fsspec's memory store checks, then creates: one at a time


def _create_local(path: str, temporary: str, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists: the data is written and flushed to a temporary
    file, then hard-linked to ``path`` (atomic and exclusive: a reader sees all of it or no file)."""
    try:
        in_directory(temporary, lambda: transfer.fsync_write(temporary, lambda file: file.write(data)))
        try:
            in_directory(path, lambda: os.link(temporary, path))
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some network and FUSE file systems): an exclusive create
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def in_directory(path: str, action: Callable[[], T]) -> T:
    """``action()``, creating the directory of ``path`` first only when it is missing.

    Most writes go to directories that exist already: trying first saves a ``mkdir`` per level
    and file (several per split) and stays correct when a directory is removed meanwhile.
    """
    try:
        return action()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return action()
