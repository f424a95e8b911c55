"""The datastore: one implementation over fsspec for every URL (local, memory, s3, gcs, ...).

Artifacts are stored once per distinct content (SHA-256 of their serialized
bytes). Archives (JSON) map a split's attributes to digests; records (JSON)
mark what finished. Every write is atomic: a reader sees a whole file or none,
and a split's ``record.json`` and a layer's ``layer.json`` are written only
after everything they vouch for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from laminar.artifacts import Accessor, Artifacts, Joined
from laminar.datastore import layout
from laminar.errors import ArtifactError, DatastoreError
from laminar.serde import Protocol, Serde

P = TypeVar("P", bound=type[Protocol])

_SECRET_KEYS = ("key", "secret", "token", "password", "credential", "session")


@dataclass(frozen=True)
class SplitMeta:
    """What the scheduler needs to know of a finished split: names and shard lengths."""

    names: tuple[str, ...]
    shards: Mapping[str, int]


class _Hashing:
    """A write-through file wrapper that hashes what passes through it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.sha = hashlib.sha256()

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha.update(view)
        self.file.write(view)
        return view.nbytes

    def flush(self) -> None:
        self.file.flush()


class Datastore:
    """Artifacts and records under ``root``, any fsspec URL, with ``storage_options``.

    >>> store = Memory()
    >>> protocol, digest = store.put_value([1, 2, 3])
    >>> store.get_value(protocol, digest)
    [1, 2, 3]
    """

    #: True when the data lives in this process only (``Memory``): other processes cannot read it.
    process_local: bool = False
    #: True when every node of a cluster can reach ``root``.
    shared: bool = True

    def __init__(self, root: str, *, allow_pickle: bool = True, **storage_options: Any) -> None:
        self.root = root.rstrip("/") or root
        self.serde = Serde(allow_pickle=allow_pickle)
        self._options = storage_options
        self._fs: Any = None

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The root URL with any credentials removed; safe to print."""
        scheme, sep, rest = self.root.partition("://")
        if sep and "@" in rest.split("/", 1)[0]:
            rest = rest.split("@", 1)[1]
        return f"{scheme}{sep}{rest}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fs"] = None  # file system clients are rebuilt in each process
        return state

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            with self._guard("connect"):
                self._fs, path = fsspec.core.url_to_fs(self.root, **self._options)
            self._base = path.rstrip("/")
        return self._fs

    def _path(self, relative: str) -> str:
        self.fs  # noqa: B018 - resolves _base
        return f"{self._base}/{relative}"

    def _redact(self, text: str) -> str:
        secrets: list[str] = []

        def walk(value: Any, key: str = "") -> None:
            if isinstance(value, Mapping):
                for k, v in value.items():
                    walk(v, str(k))
            elif isinstance(value, str) and any(s in key.lower() for s in _SECRET_KEYS) and value:
                secrets.append(value)

        walk(self._options)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text.replace(self.root, self.url)

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, LookupError, ArtifactError, DatastoreError):
            raise
        except ImportError as error:
            raise DatastoreError(
                f"datastore {self.url}: {error}; install the fsspec backend for this URL "
                "(for s3:// run `pip install 'laminar[s3]'`)"
            ) from None
        except Exception as error:
            message = self._redact(f"{type(error).__name__}: {error}")
            raise DatastoreError(f"datastore {self.url}: cannot {action}: {message}") from None

    def _atomic_rename(self) -> bool:
        """Local disks get write-then-rename; object stores and memory put whole objects atomically."""
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        return "file" in protocols or "local" in protocols

    def _put(self, relative: str, data: bytes) -> None:
        path = self._path(relative)
        with self._guard(f"write {relative}"):
            if self._atomic_rename():
                self.fs.makedirs(os.path.dirname(path), exist_ok=True)
                temporary = f"{path}.tmp-{uuid.uuid4().hex}"
                self.fs.pipe_file(temporary, data)
                os.replace(temporary, path)
            else:
                self.fs.pipe_file(path, data)

    def _get(self, relative: str) -> bytes:
        with self._guard(f"read {relative}"):
            return bytes(self.fs.cat_file(self._path(relative)))

    def _exists(self, relative: str) -> bool:
        with self._guard(f"check {relative}"):
            return bool(self.fs.exists(self._path(relative)))

    def _list(self, relative: str) -> list[str]:
        path = self._path(relative)
        with self._guard(f"list {relative}"):
            try:
                entries = self.fs.ls(path, detail=False)
            except FileNotFoundError:
                return []
        return sorted(os.path.basename(str(entry).rstrip("/")) for entry in entries)

    def write_json(self, relative: str, value: Any) -> None:
        self._put(relative, json.dumps(value, sort_keys=True, default=str).encode())

    def read_json(self, relative: str) -> Any | None:
        try:
            return json.loads(self._get(relative))
        except FileNotFoundError:
            return None

    # -- serde ----------------------------------------------------------------------------------

    def protocol(self, *types: type) -> Callable[[P], P]:
        """Register a ``serde.Protocol`` subclass for values of exactly these types.

        >>> store = Memory()
        >>> from laminar.serde import Json
        >>> @store.protocol(dict)
        ... class AsJson(Json):
        ...     name = "as-json"
        >>> store.get_value(*store.put_value({"a": 1}))
        {'a': 1}
        """

        def register(cls: P) -> P:
            self.serde.register(cls(), *types)
            return cls

        return register

    def put_value(self, value: Any, *, where: str = "value") -> tuple[str, str]:
        """Serialize and store ``value`` once; return (protocol name, digest)."""
        protocol = self.serde.choose(value)
        try:
            if self._atomic_rename():
                return protocol.name, self._stream(protocol, value)
            data = protocol.dumps(value)
        except (DatastoreError, ArtifactError):
            raise
        except Exception as error:
            raise ArtifactError(
                f"{where} cannot be serialized with {protocol.name}: {type(error).__name__}: {error}; "
                "store a picklable value or register a protocol for its type"
            ) from error
        digest = hashlib.sha256(data).hexdigest()
        relative = layout.artifact(digest)
        if not self._exists(relative):
            self._put(relative, data)
        return protocol.name, digest

    def _stream(self, protocol: Protocol, value: Any) -> str:
        # Large values go straight to a temporary file while being hashed: no in-memory copy.
        temporary = self._path(f"{layout.ARTIFACTS}/tmp-{uuid.uuid4().hex}")
        with self._guard("write an artifact"):
            self.fs.makedirs(os.path.dirname(temporary), exist_ok=True)
        try:
            with open(temporary, "wb") as file:
                hashing = _Hashing(file)
                protocol.dump(value, hashing)  # type: ignore[arg-type]
            digest = hashing.sha.hexdigest()
            target = self._path(layout.artifact(digest))
            with self._guard("write an artifact"):
                if os.path.exists(target):
                    os.unlink(temporary)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.replace(temporary, target)
            return digest
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def get_value(self, protocol_name: str, digest: str, *, where: str = "value") -> Any:
        protocol = self.serde.get(protocol_name)
        try:
            data = self._get(layout.artifact(digest))
        except FileNotFoundError:
            raise ArtifactError(f"{where}: artifact {digest[:12]} is missing from {self.url}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ArtifactError(f"{where}: artifact {digest[:12]} in {self.url} is corrupt (checksum mismatch)")
        try:
            return protocol.loads(data)
        except Exception as error:
            raise ArtifactError(f"{where}: cannot load with {protocol_name}: {error}") from error

    # -- splits, layers, executions ----------------------------------------------------------------

    def write_split(
        self, flow: str, execution: str, layer: str, index: int, values: Mapping[str, Any], shards: set[str]
    ) -> SplitMeta:
        """Store a split's artifacts and its archive; return what the scheduler needs."""
        entries: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        for name, value in values.items():
            where = f"{flow}.{layer}[{index}].{name}"
            items = list(value) if name in shards else [value]
            stored = [self.put_value(item, where=where) for item in items]
            entries[name] = {
                "sharded": name in shards,
                "protocols": [p for p, _ in stored],
                "digests": [d for _, d in stored],
            }
            if name in shards:
                lengths[name] = len(items)
        self.write_json(f"{layout.split(flow, execution, layer, index)}/{layout.ARCHIVE}", {"artifacts": entries})
        return SplitMeta(names=tuple(entries), shards=lengths)

    def read_meta(self, flow: str, execution: str, layer: str, index: int) -> SplitMeta:
        entries = self._archive(flow, execution, layer, index)
        return SplitMeta(
            names=tuple(entries),
            shards={n: len(e["digests"]) for n, e in entries.items() if e["sharded"]},
        )

    def _archive(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any]:
        archive = self.read_json(f"{layout.split(flow, execution, layer, index)}/{layout.ARCHIVE}")
        if archive is None:
            raise ArtifactError(f"{flow}.{layer}[{index}] of execution {execution!r} has no archive in {self.url}")
        entries: dict[str, Any] = archive["artifacts"]
        return entries

    def split(self, flow: str, execution: str, layer: str, index: int) -> Artifacts:
        """A finished split's artifacts, loaded lazily."""
        return StoredSplit(
            self, f"{flow}.{layer}[{index}] of execution {execution!r}", self._archive(flow, execution, layer, index)
        )

    def layer(self, flow: str, execution: str, layer: str, splits: int | None) -> Artifacts:
        """A whole layer: its one split, or for a foreach layer every split joined."""
        if splits is None:
            return self.split(flow, execution, layer, 0)
        return Joined(_LazySplits(self, flow, execution, layer, splits))

    def write_split_record(self, flow: str, execution: str, layer: str, index: int, record: Mapping[str, Any]) -> None:
        self.write_json(f"{layout.split(flow, execution, layer, index)}/{layout.RECORD}", dict(record))

    def write_split_failure(self, flow: str, execution: str, layer: str, index: int, record: Mapping[str, Any]) -> None:
        self.write_json(f"{layout.split(flow, execution, layer, index)}/{layout.FAILURE}", dict(record))

    def read_split_record(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any] | None:
        return self.read_json(f"{layout.split(flow, execution, layer, index)}/{layout.RECORD}")

    def finished_splits(self, flow: str, execution: str, layer: str) -> set[int]:
        """Indices of the splits of a layer that finished, from one listing."""
        base = self._path(layout.layer(flow, execution, layer))
        with self._guard("list splits"):
            try:
                found = self.fs.glob(f"{base}/*/{layout.RECORD}")
            except FileNotFoundError:
                return set()
        return {int(str(path).rstrip("/").split("/")[-2]) for path in found}

    def write_layer_record(self, flow: str, execution: str, layer: str, record: Mapping[str, Any]) -> None:
        self.write_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}", dict(record))

    def read_layer_record(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        return self.read_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}")

    def write_execution(self, flow: str, execution: str, record: Mapping[str, Any]) -> None:
        self.write_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}", dict(record))

    def read_execution(self, flow: str, execution: str) -> dict[str, Any] | None:
        return self.read_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}")

    # -- listing (one listing call each, no per-item reads) ------------------------------------------

    def list_executions(self, flow: Any) -> list[str]:
        """Execution ids of ``flow`` (a Flow, a Flow class or a name), oldest first."""
        return self._list(layout.flow(_name(flow)))

    def list_layers(self, execution: Any) -> list[str]:
        """Names of the layers of an ``Execution`` that have a record (finished, skipped or failed)."""
        names = self._list(layout.execution(execution.flow.name, execution.id))
        return [name for name in names if name != layout.EXECUTION]

    def list_artifacts(self, layer: Any) -> list[str]:
        """Artifact names of a layer read from results (``execution.layer(A)``)."""
        context = layer._laminar
        if context.artifacts is None:
            return []
        return sorted(context.artifacts.names())


def _name(flow: Any) -> str:
    if isinstance(flow, str):
        return flow
    return str(flow.name) if hasattr(flow, "name") and isinstance(flow.name, str) else str(flow.__name__)


class StoredSplit:
    """One split's archive; values load (and verify) on first read."""

    def __init__(self, store: Datastore, label: str, entries: Mapping[str, Any]) -> None:
        self._store = store
        self._label = label
        self._entries = entries

    def names(self) -> Sequence[str]:
        return list(self._entries)

    def _load(self, name: str, index: int) -> Any:
        entry = self._entries[name]
        where = f"{self._label} artifact {name!r}"
        return self._store.get_value(entry["protocols"][index], entry["digests"][index], where=where)

    def get(self, name: str) -> Any:
        entry = self._entries[name]
        if entry["sharded"]:
            return Accessor(len(entry["digests"]), lambda i: self._load(name, i), name)
        return self._load(name, 0)

    def item(self, name: str, index: int) -> Any:
        return self._load(name, index) if self._entries[name]["sharded"] else self._load(name, 0)

    def length(self, name: str) -> int | None:
        entry = self._entries[name]
        return len(entry["digests"]) if entry["sharded"] else None


class _LazySplits(Sequence[Artifacts]):
    """The splits of a foreach layer, each archive read only when first needed."""

    def __init__(self, store: Datastore, flow: str, execution: str, layer: str, count: int) -> None:
        self._args = (flow, execution, layer)
        self._store = store
        self._count = count
        self._cache: dict[int, Artifacts] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(self._count)[index]]
        if index not in self._cache:
            self._cache[index] = self._store.split(*self._args, index)
        return self._cache[index]


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
    """Amazon S3 or any S3-compatible store through s3fs (``endpoint_url=...``, ``key=...``)."""

    def __init__(self, root: str, *, allow_pickle: bool = True, **storage_options: Any) -> None:
        if not root.startswith(("s3://", "s3a://")):
            raise DatastoreError(f"datastores.S3 needs an s3:// root, got {root!r}")
        super().__init__(root, allow_pickle=allow_pickle, **storage_options)
