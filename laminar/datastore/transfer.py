"""Moving bytes without holding extra copies: hashing writers, spools and verified reads.

A value is serialized once, through :class:`Hashing`, into its destination
(on a local disk memory while small, then a temporary file; a :class:`Spool`
for object stores) while its SHA-256 is computed. Reads copy the stored bytes through the hash into a
spool (object stores) or hash the file in place (local disks), check the
digest, and only then hand a file to the protocol's ``load``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol

CHUNK = 1 << 20
#: Spools keep up to this many bytes in memory, then move to a temporary file on local disk.
SPOOL_MEMORY = 16 << 20
#: Part size of multipart uploads to S3 (s3fs sends up to 10 parts at once).
UPLOAD_PART = 8 << 20


class Writable(Protocol):
    """Where :class:`Hashing` passes bytes on: a binary file, a :class:`Spool`, ..."""

    def write(self, data: memoryview, /) -> int: ...


class StorageWriteFailed(Exception):
    """The destination (not the serializer) failed while a value was being written."""


class Hashing:
    """A write-only binary file that hashes everything written and passes it on to ``file``."""

    def __init__(self, file: IO[bytes] | Writable) -> None:
        self._file = file
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        try:
            self._file.write(view)
        except OSError as error:  # a full disk is the datastore's problem, not the serializer's
            raise StorageWriteFailed(f"{type(error).__name__}: {error}") from error
        self.size += view.nbytes
        return view.nbytes

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


class Overflow(Exception):
    """More was written to a :class:`Bounded` buffer than it takes."""


class Bounded:
    """Bytes kept in memory up to ``limit``; writing past it raises :class:`Overflow` (nothing is copied)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.data = bytearray()

    def write(self, data: memoryview, /) -> int:
        if len(self.data) + data.nbytes > self._limit:
            raise Overflow(f"more than {self._limit} bytes")
        self.data += data
        return data.nbytes


class Spool:
    """Bytes kept in memory while small, in an anonymous local temporary file once large."""

    def __init__(self, limit: int = SPOOL_MEMORY) -> None:
        self._limit = limit
        self._memory: bytearray | None = bytearray()
        self._file: IO[bytes] | None = None
        self.path: str | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._memory is not None and len(self._memory) + view.nbytes > self._limit:
            descriptor, self.path = tempfile.mkstemp(prefix="laminar-spool-")
            self._file = os.fdopen(descriptor, "w+b")
            self._file.write(self._memory)
            self._memory = None
        if self._memory is not None:
            self._memory += view
        else:
            assert self._file is not None
            self._file.write(view)
        return view.nbytes

    def held(self, limit: int) -> bytes | None:
        """The bytes when they are in memory and at most ``limit`` of them, else None."""
        if self._memory is None or len(self._memory) > limit:
            return None
        return bytes(self._memory)

    @property
    def in_memory(self) -> bytes | None:
        """The bytes when they were few enough to stay in memory, else None (see ``path``)."""
        return bytes(self._memory) if self._memory is not None else None

    def reader(self) -> IO[bytes]:
        """A binary file positioned at the start of the spooled bytes."""
        import io

        if self._memory is not None:
            return io.BytesIO(self._memory)
        assert self._file is not None
        self._file.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None
        self._memory = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hash_file(file: IO[bytes]) -> str:
    """SHA-256 of the rest of ``file``, read in chunks."""
    sha = hashlib.sha256()
    while chunk := file.read(CHUNK):
        sha.update(chunk)
    return sha.hexdigest()


@contextmanager
def spooled(source: IO[bytes]) -> Iterator[tuple[Spool, str]]:
    """Copy ``source`` into a spool, hashing on the way; yield the spool and the digest."""
    with Spool() as spool:
        hashing = Hashing(spool)
        while chunk := source.read(CHUNK):
            hashing.write(chunk)
        yield spool, hashing.hexdigest()


def fsync_write(path: str, write: Any) -> None:
    """Create ``path``, let ``write(file)`` fill it and flush it to disk before returning."""
    with open(path, "xb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
