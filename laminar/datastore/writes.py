"""Storing artifacts: each value serialized while hashed, straight to where it is kept, stored once.

The artifact write side of :class:`laminar.datastore.Datastore` (``reads`` is the
read side; ``store`` holds splits, layers and executions). An artifact is
named by the SHA-256 of its serialized bytes and stored once per content: on a
local disk written to a temporary file, flushed and renamed into place (in the
background while a split's next values are written) unless an intact copy is
there already; on object stores one whole-object put from a spool. What sits at
an artifact's address is never trusted unchecked: a damaged file is replaced.
A split's artifact of at most :data:`INLINE` bytes is kept in its document
instead, and the small items of a shard share one pack.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from laminar import records
from laminar.datastore import disk, layout, transfer
from laminar.datastore.files import S3_SCHEMES, Files, Unserializable, in_directory
from laminar.errors import ArtifactError
from laminar.records import ArtifactEntry
from laminar.serde import Protocol, Serde

#: An artifact of a split (or a shard's pack) that serializes to at most this many bytes is kept in
#: the split's document (base64, beside its digest) instead of a file of its own: a file would cost a
#: create, a flush and a rename (on object stores a request), more than a small task's whole run, and
#: would take a block of its own anyway. Equal small values of different splits are kept once per split.
INLINE = 4096


class SplitWrites:
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


class ArtifactWriter:
    """Serializing and storing artifacts in ``files``: ``put_value``, and a split's values and shards."""

    def __init__(self, files: Files, serde: Serde) -> None:
        self._files = files
        self.serde = serde

    def store_split(
        self, label: str, values: Mapping[str, Any], shards: set[str]
    ) -> tuple[dict[str, ArtifactEntry], disk.Moves | None]:
        """Store a split's values (``shards`` name those stored item by item); return its archive's entries
        and, on a local disk, the new files still moving into place (``Moves.wait`` before the document
        that names them is written). On failure, what was written completely stays (each artifact stands
        alone) and nothing is left moving."""
        writes = SplitWrites(self._files.local)
        moves = writes.moves
        entries: dict[str, ArtifactEntry] = {}
        try:
            for name, value in values.items():
                where = f"{label} artifact {name!r}"
                packed: dict[str, Any] = {}
                if name in shards:
                    items = list(value)
                    stored, packed = self._put_shard(items, [f"{where} item {i}" for i in range(len(items))], writes)
                else:
                    stored = [self._put_value(value, where, writes)]
                entries[name] = records.entry(name in shards, stored, packed)
                if inline := writes.kept():
                    entries[name]["inline"] = inline
        except BaseException:
            if moves is not None:
                with contextlib.suppress(Exception):
                    moves.wait()
            raise
        return entries, moves

    def put_value(self, value: Any, *, where: str = "value") -> tuple[str, str]:
        """Serialize and store ``value`` once; return (protocol name, digest)."""
        return self._put_value(value, where, None)

    def _put_value(self, value: Any, where: str, writes: SplitWrites | None) -> tuple[str, str]:
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
                "for its type (@datastore.protocol(SomeType)); a value not meant to be an artifact (a connection, "
                "a client) is kept off self, or deleted from it before the layer ends (del self.name)"
            ) from error

    @staticmethod
    def _dump(protocol: Protocol, value: Any, file: transfer.Hashing) -> None:
        try:
            protocol.dump(value, file)  # type: ignore[arg-type]  # Hashing is a write-only binary file
        except transfer.StorageWriteFailed:
            raise
        except Exception as error:
            raise Unserializable(error) from error

    def _put_artifact(self, protocol: Protocol, value: Any, writes: SplitWrites | None = None) -> str:
        """Serialize ``value`` while hashing it, straight into where it is kept until stored: on a local
        disk memory while small, then its temporary file; elsewhere a spool. No other copy is made."""
        self._files.fs  # noqa: B018 - decides local or not
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
                raise self._files.error("write an artifact", error) from None
            return self._keep(sink, hashing.hexdigest(), writes)

    @staticmethod
    def _quick(protocol: Protocol, value: Any) -> bytes | None:
        try:
            return protocol.quick(value)
        except Exception as error:
            raise Unserializable(error) from error

    def _sink(self) -> disk.Staging | transfer.Spool:
        return disk.Staging(self._files.path(layout.temporary())) if self._files.local else transfer.Spool()

    def _keep(self, sink: disk.Staging | transfer.Spool, digest: str, writes: SplitWrites | None) -> str:
        """Store the bytes in ``sink`` as the artifact ``digest``, verifying or replacing what sits there.

        A split's artifact of at most ``INLINE`` bytes is kept for its document (``writes``) instead.
        On a local disk the file is flushed and renamed into place (in the background with
        ``writes.moves``), unless a file that hashes to ``digest`` is there already: content addressed,
        it is stored once, but a damaged file at the address (bytes changed or cut by something else)
        is replaced, never trusted, so a later run storing an equal value mends it. On object stores
        it is one whole-object put, or a multipart upload visible only once complete, whatever is there
        (checking an object's content would mean reading it back).
        """
        if writes is not None and (small := sink.held(INLINE)) is not None:
            writes.keep(digest, small)
            return digest
        moves = writes.moves if writes is not None else None
        path = self._files.path(layout.artifact(digest))
        with self._files.guard(f"write artifact {digest[:12]}"):
            if isinstance(sink, disk.Staging):
                # Small values are still in memory: their file is created beside its target, where
                # creating and renaming it touches one directory instead of two.
                descriptor = sink.release(self._files.path(layout.temporary_beside(layout.artifact(digest))))
                move = functools.partial(disk.settle, descriptor, sink.path, path, digest)
                if moves is not None:
                    moves.add(move)
                else:
                    move()
            else:
                data = sink.in_memory
                if data is not None:
                    self._files.fs.pipe_file(path, data)
                else:
                    self._files.fs.put_file(sink.path, path, **self._upload_options())
        return digest

    def _upload_options(self) -> dict[str, Any]:
        # s3fs holds max_concurrency (10) parts in memory at once; 50 MB parts would make that 500 MB.
        return {"chunksize": transfer.UPLOAD_PART} if self._files.root.partition("://")[0] in S3_SCHEMES else {}

    def _put_shard(
        self, items: list[Any], wheres: list[str], writes: SplitWrites
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
                    raise self._files.error("write an artifact", error) from None
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
        temporary = self._files.path(relative)
        try:
            if self._files.local:
                os.makedirs(os.path.dirname(temporary), exist_ok=True)
            try:
                protocol.write_uri(value, self._files.url_of(relative), self._files.options)
            except Exception as error:
                raise Unserializable(error) from error
            if not self._files.fs.exists(temporary):  # e.g. kept in a cache of its own: nothing to address
                raise Unserializable(
                    ValueError(
                        f"{type(protocol).__qualname__}.write wrote nothing at the URI it was given; the datastore "
                        "keeps (content addressed) and reads back what a protocol's write puts there: write the "
                        "value's bytes to it, e.g. with fsspec.open(uri, 'wb')"
                    )
                )
            with self._files.guard("write an artifact"):
                with self._files.fs.open(temporary, "rb") as file:
                    digest = transfer.hash_file(file)
                target = self._files.path(layout.artifact(digest))
                if self._files.local:
                    if not disk.holds(target, digest):  # stored once, but never a damaged file trusted
                        disk.fsync_path(temporary)
                        in_directory(target, lambda: os.replace(temporary, target))
                else:  # a server-side copy: the target appears only once complete, replacing what was there
                    self._files.fs.mv(temporary, target)
            return digest
        finally:
            with contextlib.suppress(Exception):
                if self._files.fs.exists(temporary):
                    self._files.fs.rm(temporary)
