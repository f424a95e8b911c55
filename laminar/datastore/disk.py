"""Writing files to a local disk durably: staged in a temporary file, flushed, renamed into place.

A value is serialized into a :class:`Staging` (memory while small, then its
temporary file); :func:`flush_and_move` flushes it to disk and renames it into
place. :class:`Moves` runs those on a shared pool of flush threads, so that the
waits for the disk of one split's files overlap instead of adding up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

from laminar.datastore.files import in_directory

WRITERS = 16  # threads flushing files to a local disk and renaming them into place
SMALL = 1 << 16  # artifacts up to this size are serialized in memory before a local disk is touched
BUFFER = 1 << 16  # bytes buffered while a larger artifact is written to a local disk


class Moves:
    """New artifacts of one split, each flushed to disk and renamed into place on a background thread
    while the split's next values are written; ``wait`` returns once all of them are in place."""

    def __init__(self) -> None:
        self._pending: list[Future[None]] = []

    def add(self, move: Callable[[], None]) -> None:
        """Run ``move`` (a ``flush_and_move``) on a flush thread."""
        self._pending.append(flusher().submit(move))

    def __bool__(self) -> bool:
        """True while some move may still be running (``wait`` has not seen it end)."""
        return bool(self._pending)

    def wait(self) -> None:
        """Wait for every move; raise the first failure once all have ended."""
        pending, self._pending = self._pending, []
        _wait_all(pending)


_flush_pool: ThreadPoolExecutor | None = None
_flush_pool_lock = threading.Lock()


def flusher() -> ThreadPoolExecutor:
    """Threads that flush files to disk while the caller writes or flushes others (their waits overlap).

    Shared by every split written in this process; threads start only when none is idle."""
    global _flush_pool
    if _flush_pool is None:
        with _flush_pool_lock:
            if _flush_pool is None:
                _flush_pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="laminar-fsync")
    return _flush_pool


def _forget_flusher() -> None:
    global _flush_pool, _flush_pool_lock
    _flush_pool, _flush_pool_lock = None, threading.Lock()  # a forked child has none of its parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_flusher)


def _wait_all(futures: list[Future[None]]) -> None:
    failure: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except BaseException as error:
            failure = failure or error
    if failure is not None:
        raise failure


class Staging:
    """Where an artifact for a local disk is serialized: in memory while small, then in its temporary
    file ``path`` (under ``tmp/``), created only when needed (``release`` may place a small one elsewhere)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._descriptor: int | None = None  # of the temporary file, once created
        self._memory: bytearray | None = bytearray()
        self._file: IO[bytes] | None = None  # buffers writes to the descriptor, once larger than SMALL

    def write(self, data: memoryview) -> int:
        if self._memory is not None:
            if len(self._memory) + len(data) <= SMALL:
                self._memory += data
                return len(data)
            self._file = open(self._create(), "wb", buffering=BUFFER, closefd=False)
            self._file.write(self._memory)
            self._memory = None
        assert self._file is not None
        return self._file.write(data)

    def held(self, limit: int) -> bytes | None:
        """Everything written, if it is still in memory and at most ``limit`` bytes; else None."""
        if self._memory is None or len(self._memory) > limit:
            return None
        return bytes(self._memory)

    def _create(self) -> int:
        self._descriptor = in_directory(self.path, functools.partial(create_descriptor, self.path))
        return self._descriptor

    def finish(self) -> int:
        """The descriptor of the temporary file, holding everything written (not flushed to disk yet)."""
        if self._memory is not None:
            write_all(self._create(), self._memory)
            self._memory = None
        elif self._file is not None:
            self._file.close()  # flushes into the descriptor, which stays open
            self._file = None
        assert self._descriptor is not None
        return self._descriptor

    def release(self, path: str | None = None) -> int:
        """``finish``, and hand the file over: the caller closes (or renames) it; ``discard`` leaves it.

        ``path``: where to create the file if it is still in memory (beside its target, say).
        """
        if path is not None and self._memory is not None:
            self.path = path
        descriptor = self.finish()
        self._descriptor = None
        return descriptor

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def discard(self) -> None:
        """Close and remove the temporary file, if there is one (and it was not released)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._descriptor is not None:
            os.close(self._descriptor)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def flush_and_move(descriptor: int, temporary: str, target: str) -> None:
    """Flush the file open as ``descriptor`` to disk, close it and rename it into place; on failure, remove it."""
    try:
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        in_directory(target, functools.partial(os.replace, temporary, target))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def settle(descriptor: int, temporary: str, target: str, digest: str) -> None:
    """Put the file open as ``descriptor`` at ``target`` (content addressed by ``digest``): if an intact
    copy is there already, drop this one (no flush needed); otherwise, also when what is there is damaged,
    flush it and rename it into place over whatever was there."""
    if holds(target, digest, size=os.fstat(descriptor).st_size):
        os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return
    flush_and_move(descriptor, temporary, target)


def holds(path: str, digest: str, *, size: int | None = None) -> bool:
    """Whether the file at ``path`` exists and its bytes hash to ``digest`` (of ``size`` bytes, when known:
    a file of another size is told damaged without reading it)."""
    try:
        if size is not None and os.stat(path).st_size != size:
            return False
        with open(path, "rb") as file:
            sha = hashlib.sha256()
            while chunk := file.read(1 << 20):
                sha.update(chunk)
    except OSError:  # missing (or unreadable): written anew
        return False
    return sha.hexdigest() == digest.lower()


def create_descriptor(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def write_all(descriptor: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def fsync_path(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
