"""The datastore: one implementation over fsspec for every URL (local, memory, s3, gcs, ...).

Artifacts are stored once per distinct content (SHA-256 of their serialized
bytes); the small items of a shard share one pack, and an artifact (or pack) of
at most ``INLINE`` bytes is kept in its split's document instead of a file of
its own. A finished split is one JSON document: its archive (attributes to
digests) and its record (attempt, timings). Every write is atomic: on a local
disk a file is written to a temporary name, flushed to disk and renamed into
place (``disk``); on object stores (and in memory) a whole object is put at
once (multipart uploads appear only when complete), from a spool that is never
visible to readers. A split's document and a layer's ``layer.json`` are
written only after everything they vouch for. Reads verify the digest before
deserializing (:mod:`laminar.datastore.reads`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from laminar.artifacts import Artifacts, Joined
from laminar.datastore import disk, layout, transfer
from laminar.datastore.documents import LayerRecords, SplitDocuments
from laminar.datastore.files import S3_SCHEMES, Unserializable, in_directory
from laminar.datastore.reads import ArtifactReads
from laminar.datastore.views import LazySplits, StoredSplit
from laminar.errors import ArtifactError, ConfigurationError
from laminar.serde import Protocol, Serde

P = TypeVar("P", bound=type[Protocol])

#: An artifact of a split (or a shard's pack) that serializes to at most this many bytes is kept in
#: the split's document (base64, beside its digest) instead of a file of its own: a file would cost a
#: create, a flush and a rename (on object stores a request), more than a small task's whole run, and
#: would take a block of its own anyway. Equal small values of different splits are kept once per split.
INLINE = 4096


#: Finished splits' documents not committed yet, by split (``SplitMeta.document``).
Documents = Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True)
class SplitMeta:
    """What the scheduler needs to know of a finished split: names and shard lengths."""

    names: tuple[str, ...]
    shards: Mapping[str, int]
    #: The split's document when it is yet to be committed (``Datastore.commit_splits``), else None.
    document: Mapping[str, Any] | None = None


class _SplitWrites:
    """What the writes of one split share: new files on a local disk moving into place in the
    background (``moves``), and the bytes of artifacts small enough to be kept in its document."""

    def __init__(self, local: bool) -> None:
        self.moves = disk.Moves() if local else None
        self._inline: dict[str, str] = {}

    def keep(self, digest: str, data: bytes) -> None:
        self._inline[digest] = base64.b64encode(data).decode("ascii")

    def kept(self) -> dict[str, str]:
        """The artifacts kept since the last call (digest -> base64 bytes), for one archive entry."""
        kept, self._inline = self._inline, {}
        return kept


class Datastore(ArtifactReads):
    """Artifacts and records under ``root``, any fsspec URL, with ``storage_options``.

    >>> from laminar.datastore import Memory
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
        super().__init__(root, **storage_options)
        self.serde = Serde(allow_pickle=allow_pickle)
        self._readers()

    def _readers(self) -> None:
        self._layers = LayerRecords(self)
        self._documents = SplitDocuments(self, self._layers)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        del state["_documents"], state["_layers"]  # each process reads its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._readers()

    @property
    def allow_pickle(self) -> bool:
        return self.serde.allow_pickle

    def __repr__(self) -> str:
        pickle = "" if self.allow_pickle else ", allow_pickle=False"
        return f"{type(self).__name__}(root={self.url!r}{pickle})"

    # -- serde ----------------------------------------------------------------------------------

    def protocol(self, *types: type) -> Callable[[P], P]:
        """Register a ``serde.Protocol`` subclass for values of exactly these types.

        >>> from laminar.datastore import Memory
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
        return self._put_value(value, where, None)

    def _put_value(self, value: Any, where: str, writes: _SplitWrites | None) -> tuple[str, str]:
        """``put_value``; for a split (``writes``), a small value is kept for its document, and a new
        file on a local disk is flushed and renamed into place in the background (``writes.moves``)."""
        protocol = self.serde.choose(value, where=where)
        try:
            return protocol.name, self._put_artifact(protocol, value, writes)
        except Unserializable as failure:
            fallback = self.serde.fallback(protocol)
            if fallback is not None:
                with contextlib.suppress(Unserializable):
                    return fallback.name, self._put_artifact(fallback, value, writes)
            error = failure.error
            raise ArtifactError(
                f"{where}: a value of type {type(value).__qualname__} cannot be serialized with {protocol.name!r}: "
                f"{type(error).__name__}: {error}; store a value that protocol supports or register a protocol "
                "for its type (@datastore.protocol(SomeType))"
            ) from error

    @staticmethod
    def _dump(protocol: Protocol, value: Any, file: transfer.Hashing) -> None:
        try:
            protocol.dump(value, file)  # type: ignore[arg-type]  # Hashing is a write-only binary file
        except transfer.StorageWriteFailed:
            raise
        except Exception as error:
            raise Unserializable(error) from error

    def _put_artifact(self, protocol: Protocol, value: Any, writes: _SplitWrites | None = None) -> str:
        """Serialize ``value`` while hashing it, straight into where it is kept until stored: on a local
        disk memory while small, then its temporary file; elsewhere a spool. No other copy is made."""
        self.fs  # noqa: B018 - decides local or not
        if protocol.writes_uris:
            return self._put_uri(protocol, value)
        data = self._quick(protocol, value) if writes is not None else None
        if writes is not None and data is not None and len(data) <= INLINE:
            digest = hashlib.sha256(data).hexdigest()  # a split's small value: kept for its document
            writes.keep(digest, data)
            return digest
        with self._sink() as sink:
            hashing = transfer.Hashing(sink)
            try:
                if data is None:
                    self._dump(protocol, value, hashing)
                else:  # serialized in memory already: written as it is, not serialized again
                    hashing.write(data)
            except transfer.StorageWriteFailed as error:
                raise self._error("write an artifact", error) from None
            return self._keep(sink, hashing.hexdigest(), writes)

    @staticmethod
    def _quick(protocol: Protocol, value: Any) -> bytes | None:
        try:
            return protocol.quick(value)
        except Exception as error:
            raise Unserializable(error) from error

    def _sink(self) -> disk.Staging | transfer.Spool:
        return disk.Staging(self._path(layout.temporary())) if self._local else transfer.Spool()

    def _keep(self, sink: disk.Staging | transfer.Spool, digest: str, writes: _SplitWrites | None) -> str:
        """Store the bytes in ``sink`` as the artifact ``digest``, unless it is stored already.

        A split's artifact of at most ``INLINE`` bytes is kept for its document (``writes``) instead.
        On a local disk the file is flushed and renamed into place (in the background with
        ``writes.moves``); on object stores it is one whole-object put, or a multipart upload visible
        only once complete.
        """
        if writes is not None and (small := sink.held(INLINE)) is not None:
            writes.keep(digest, small)
            return digest
        moves = writes.moves if writes is not None else None
        path = self._path(layout.artifact(digest))
        with self._guard(f"write artifact {digest[:12]}"):
            if isinstance(sink, disk.Staging):
                if os.path.exists(path):  # content addressed: stored already
                    return digest
                # Small values are still in memory: their file is created beside its target, where
                # creating and renaming it touches one directory instead of two.
                descriptor = sink.release(self._path(layout.temporary_beside(layout.artifact(digest))))
                move = functools.partial(disk.flush_and_move, descriptor, sink.path, path)
                if moves is not None:
                    moves.add(move)
                else:
                    move()
            elif not self.fs.exists(path):
                data = sink.in_memory
                if data is not None:
                    self.fs.pipe_file(path, data)
                else:
                    self.fs.put_file(sink.path, path, **self._upload_options())
        return digest

    def _upload_options(self) -> dict[str, Any]:
        # s3fs holds max_concurrency (10) parts in memory at once; 50 MB parts would make that 500 MB.
        return {"chunksize": transfer.UPLOAD_PART} if self.root.partition("://")[0] in S3_SCHEMES else {}

    def _put_shard(
        self, items: list[Any], wheres: list[str], writes: _SplitWrites
    ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """Store the items of a shard; return each one's (protocol, digest) and the entry's pack fields.

        A shard's small items (serialized, at most ``disk.SMALL`` bytes) are stored together, one after
        the other, in one artifact: its *pack*. Each item keeps its own protocol and digest, and its
        span (offset, length) in the pack says where its bytes are; a read checks them against the
        item's digest. Written one file per item, a 100,000-item shard would be 100,000 files created,
        flushed and renamed; as a pack it is one. Larger items are stored as artifacts of their own.
        """
        stored: list[tuple[str, str]] = []
        spans: list[list[int] | None] = []
        with self._sink() as pack:
            packing = transfer.Hashing(pack)
            for value, where in zip(items, wheres, strict=True):
                small = self._serialize_small(value, where)
                if small is None:
                    stored.append(self._put_value(value, where, writes))
                    spans.append(None)
                    continue
                protocol, data, digest = small
                spans.append([packing.size, len(data)])
                try:
                    packing.write(data)
                except transfer.StorageWriteFailed as error:
                    raise self._error("write an artifact", error) from None
                stored.append((protocol, digest))
            if all(span is None for span in spans):
                return stored, {}
            return stored, {"pack": self._keep(pack, packing.hexdigest(), writes), "spans": spans}

    def _serialize_small(self, value: Any, where: str) -> tuple[str, bytes | bytearray, str] | None:
        """(protocol, bytes, digest) of ``value`` if it serializes to at most ``disk.SMALL`` bytes, else
        None: larger, written by its protocol to a URI, or failing (``_put_value`` says why)."""
        protocol = self.serde.choose(value, where=where)
        if protocol.writes_uris:
            return None
        try:
            data = protocol.quick(value)
        except Exception:  # left to _put_value to say why
            return None
        if data is not None:
            return (protocol.name, data, hashlib.sha256(data).hexdigest()) if len(data) <= disk.SMALL else None
        buffer = transfer.Bounded(disk.SMALL)
        hashing = transfer.Hashing(buffer)
        try:
            protocol.dump(value, hashing)  # type: ignore[arg-type]  # Hashing is a write-only binary file
        except Exception:  # transfer.Overflow, or the protocol's own error
            return None
        return protocol.name, buffer.data, hashing.hexdigest()

    def _put_uri(self, protocol: Protocol, value: Any) -> str:
        """A protocol that writes URIs itself writes a temporary one; it is hashed, then moved into place."""
        relative = layout.temporary()
        temporary = self._path(relative)
        try:
            if self._local:
                os.makedirs(os.path.dirname(temporary), exist_ok=True)
            try:
                protocol.write(value, self._url(relative), dict(self._options))
            except Exception as error:
                raise Unserializable(error) from error
            with self._guard("write an artifact"):
                with self.fs.open(temporary, "rb") as file:
                    digest = transfer.hash_file(file)
                target = self._path(layout.artifact(digest))
                if not self.fs.exists(target):
                    if self._local:
                        disk.fsync_path(temporary)
                        in_directory(target, lambda: os.replace(temporary, target))
                    else:  # a server-side copy: the target appears only once complete
                        self.fs.mv(temporary, target)
            return digest
        finally:
            with contextlib.suppress(Exception):
                if self.fs.exists(temporary):
                    self.fs.rm(temporary)

    # -- splits, layers, executions ----------------------------------------------------------------

    def write_split(
        self,
        flow: str,
        execution: str,
        layer: str,
        index: int,
        values: Mapping[str, Any],
        shards: set[str],
        record: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        *,
        commit: bool = True,
    ) -> SplitMeta:
        """Store a split's artifacts, then its document (archive and record); return what the scheduler needs.

        The document appears only after every artifact it names is stored, so a split with a document
        is a finished split. Artifacts (and shard packs) of at most ``INLINE`` bytes are kept in the
        document itself, in their archive entry (``"inline"``: digest -> base64 bytes). ``record`` (its
        attempt, timings, ...; called once the artifacts are written when it is a function) defaults to
        ``{"state": "finished"}``. On a local disk every new artifact is flushed to disk and renamed
        into place on a background thread while the next value is written, and the document is flushed
        meanwhile (one wait, not one per file); it is renamed into place only once all of that is done.
        Without ``commit`` the document is not written but returned (``SplitMeta.document``), once the
        artifacts are stored, for ``commit_splits``.
        """
        label = f"{flow}.{layer}[{index}] of execution {execution!r}"
        # checks the names before anything is written (the scheduler commits a document it is handed)
        relative = layout.split(flow, execution, layer, index) if commit else None
        self.fs  # noqa: B018 - decides local or not
        writes = _SplitWrites(self._local)
        moves = writes.moves
        entries: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        try:
            for name, value in values.items():
                where = f"{label} artifact {name!r}"
                packed: dict[str, Any] = {}
                if name in shards:
                    items = list(value)
                    stored, packed = self._put_shard(items, [f"{where} item {i}" for i in range(len(items))], writes)
                    lengths[name] = len(items)
                else:
                    stored = [self._put_value(value, where, writes)]
                entries[name] = {
                    "sharded": name in shards,
                    "protocols": [p for p, _ in stored],
                    "digests": [d for _, d in stored],
                    **packed,
                }
                if inline := writes.kept():
                    entries[name]["inline"] = inline
            written = record() if callable(record) else record
            document = {"artifacts": entries, "record": dict(written) if written is not None else {"state": "finished"}}
        except BaseException:
            if moves is not None:  # what was written completely is still stored (each artifact stands alone)
                with contextlib.suppress(Exception):
                    moves.wait()
            raise
        if relative is None:
            if moves:
                self._settle(moves)
            return SplitMeta(names=tuple(entries), shards=lengths, document=document)
        self._write_document(relative, document, moves)
        return SplitMeta(names=tuple(entries), shards=lengths)

    def _write_document(self, relative: str, value: Any, moves: disk.Moves | None) -> None:
        """Write a JSON document so that it appears whole, and (local disk) only once it and every
        artifact in ``moves`` are on disk: it is flushed while they are, and renamed into place after."""
        data = json.dumps(value, sort_keys=True, default=str).encode()
        if moves is None:
            self._put_bytes(relative, data)
        else:
            try:
                self._put_bytes(relative, data, before_rename=functools.partial(self._settle, moves))
            finally:
                with contextlib.suppress(Exception):  # no move outlives the call, whatever happened
                    moves.wait()
        self._documents.forget(relative)

    def _settle(self, moves: disk.Moves) -> None:
        """Wait until every artifact in ``moves`` is in place."""
        with self._guard("write an artifact"):
            moves.wait()

    def read_meta(self, flow: str, execution: str, layer: str, index: int) -> SplitMeta:
        entries = self._archive(flow, execution, layer, index)
        return SplitMeta(
            names=tuple(entries),
            shards={n: len(e["digests"]) for n, e in entries.items() if e["sharded"]},
        )

    def commit_splits(self, flow: str, execution: str, layer: str, documents: Documents) -> None:
        """Write the documents of finished splits (``SplitMeta.document``, whose artifacts are stored)
        as one batch: one file for many splits (one split's document is a file of its own)."""
        if len(documents) == 1:
            ((index, document),) = documents.items()
            relative = layout.split(flow, execution, layer, index)
            self._write_document(relative, document, None)
            return
        self.write_json(layout.batch(flow, execution, layer), {"splits": {str(i): d for i, d in documents.items()}})

    def _archive(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any]:
        document = self._documents.get(flow, execution, layer, index)
        if document is None:
            raise ArtifactError(
                f"{flow}.{layer}[{index}] of execution {execution!r} has no archive in {self.url} (expected at "
                f"{layout.split(flow, execution, layer, index)}); did it finish?"
            )
        entries: dict[str, Any] = document["artifacts"]
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
        return Joined(LazySplits(self, flow, execution, layer, splits))

    def write_split_failure(self, flow: str, execution: str, layer: str, index: int, record: Mapping[str, Any]) -> None:
        self.write_json(layout.failure(flow, execution, layer, index), dict(record))

    def read_split_record(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any] | None:
        """A finished split's record (attempt, timings, resources), or None when it has not finished."""
        document = self._documents.get(flow, execution, layer, index)
        return None if document is None else dict(document["record"])

    def finished_splits(self, flow: str, execution: str, layer: str) -> set[int]:
        """Indices of the splits of a layer that finished: one listing, and a read of each new batch."""
        return self._documents.finished(flow, execution, layer)

    def write_layer_record(
        self,
        flow: str,
        execution: str,
        layer: str,
        record: Mapping[str, Any],
        documents: Documents | None = None,
    ) -> None:
        """Write a layer's record; with ``documents`` (of finished splits not committed yet, whose
        artifacts are stored), the record of a finished layer carries them: one file, not two."""
        self.write_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}", _layer_content(record, documents))

    def commit_layers(
        self,
        flow: str,
        execution: str,
        records: Mapping[str, tuple[Mapping[str, Any], Documents | None]],
    ) -> None:
        """Write the records of finished layers (each with its ``documents``, as ``write_layer_record``
        takes them) as one batch: one file for many layers (one layer's record is its ``layer.json``)."""
        if len(records) == 1:
            ((layer, (record, documents)),) = records.items()
            self.write_layer_record(flow, execution, layer, record, documents)
            return
        content = {layer: _layer_content(record, documents) for layer, (record, documents) in records.items()}
        self.write_json(layout.layer_batch(flow, execution), {"layers": content})

    def read_layer_record(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        """A layer's record (state, splits, names, timings), or None when it has none."""
        record = self.read_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}")
        if not (isinstance(record, dict) and record.get("state") == "finished"):
            # a finished layer's record may be in a batch (and a failed one's layer.json from an earlier run)
            record = self._layers.get(flow, execution, layer) or record
        if isinstance(record, dict):  # split documents are read through ``split``
            return {key: value for key, value in record.items() if key != "documents"}
        return record

    def write_execution(self, flow: str, execution: str, record: Mapping[str, Any]) -> None:
        self.write_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}", dict(record))

    def read_execution(self, flow: str, execution: str) -> dict[str, Any] | None:
        return self.read_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}")

    # -- listing (one listing call each, no per-item reads) ------------------------------------------

    def list_executions(self, flow: Any) -> list[str]:
        """Execution ids of ``flow`` (a Flow, a Flow class or a name), sorted: generated ids sort by time."""
        return [name for name in self.list_names(layout.flow(_name(flow))) if _is_segment(name)]

    def list_layers(self, execution: Any) -> list[str]:
        """Names of the layers of an ``Execution`` that started writing (finished, skipped, failed, running)."""
        flow, id_ = execution.flow.name, execution.id
        names = self.list_names(layout.execution(flow, id_))
        layers = {name for name in names if _is_segment(name) and name != layout.EXECUTION}
        batches = {name for name in layers if layout.is_layer_batch(name)}
        if batches:  # finished layers whose records were committed together (no directory of their own)
            layers = (layers - batches) | self._layers.names(flow, id_, names)
        return sorted(layers)

    def list_artifacts(self, layer: Any) -> list[str]:
        """Artifact names of a layer read from results (``execution.layer(A)``)."""
        context = layer._laminar
        if context.artifacts is None:
            return []
        return sorted(context.artifacts.names())


def _layer_content(record: Mapping[str, Any], documents: Documents | None) -> dict[str, Any]:
    content = dict(record)
    if documents:
        content["documents"] = {str(i): d for i, d in documents.items()}
    return content


def _is_segment(name: str) -> bool:
    try:
        layout.segment("name", name)
    except ConfigurationError:
        return False
    return True


def _name(flow: Any) -> str:
    if isinstance(flow, str):
        return flow
    return str(flow.name) if hasattr(flow, "name") and isinstance(flow.name, str) else str(flow.__name__)
