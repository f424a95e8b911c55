"""What a split writes to stdout and stderr while it runs, kept for after the run: per attempt, bounded.

A :class:`Capture` keeps, per stream, the first and the last :attr:`LogPolicy.keep` bytes of what an
attempt wrote, and how many it cut between them. Output still reaches the console as before (on Ray,
the worker's log, which Ray shows on the driver prefixed with the task's name).

Two ways to capture, by where the split runs:

- a process that runs one split at a time (a Ray worker, a container): file descriptors 1 and 2 point,
  for the process's life, at a file of their own, so everything written to them is seen: ``print``,
  ``logging``, subprocesses, C extensions. What the split wrote is copied to the process's original
  stdout and stderr when it ends, and every :attr:`LogPolicy.every` seconds while it runs (a thread
  that wakes only while a split runs), so the console still shows it as it comes;
- threads of one process (``executors.Thread``): ``sys.stdout`` and ``sys.stderr`` are routed by
  thread, so what a split's thread writes through them is its own; output written straight to the
  file descriptors (a subprocess) goes to the console only.

While a split runs longer than :attr:`LogPolicy.live_after` and writes, what it wrote so far is handed
to ``live`` (the runner writes it to the datastore), at most every :attr:`LogPolicy.every` seconds, so
a long split's log can be read before it ends and survives its process being killed.

>>> capture = Capture(LogPolicy(keep=4))
>>> capture.stdout.write(b"0123456789")
>>> capture.stdout.text()
'0123\\n[... laminar: 2 bytes cut ...]\\n6789'
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

CUT = "\n[... laminar: {} bytes cut ...]\n"
IDLE = 1.0  # seconds between copies of what a worker process wrote while no split runs


@dataclass(frozen=True)
class LogPolicy:
    """How a split's output is kept: the first and last ``keep`` bytes of each stream per attempt; what it
    wrote so far handed on for the datastore once it ran ``live_after`` seconds, then every ``every``."""

    keep: int = 64 * 1024
    live_after: float = 0.5
    every: float = 1.0
    capture: bool = True


class Stream:
    """One stream's bytes as kept: the head, the tail and the count of those cut between them."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        room = self._keep - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self._keep:
                del self.tail[: len(self.tail) - self._keep]

    @property
    def cut(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        head, tail = self.head.decode(errors="replace"), self.tail.decode(errors="replace")
        return f"{head}{CUT.format(self.cut)}{tail}" if self.cut else head + tail

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text(), "bytes": self.total, "cut": self.cut}


class Capture:
    """What one attempt of one split wrote, stream by stream."""

    def __init__(self, policy: LogPolicy) -> None:
        self.policy = policy
        self.stdout = Stream(policy.keep)
        self.stderr = Stream(policy.keep)
        self.started = time.monotonic()
        self.changed = False  # written since ``live`` last got it
        self.lock = threading.Lock()
        #: Brings in what was written but not seen yet (the process's descriptors), before reading.
        self.settle: Callable[[], None] = _nothing
        self.settled = False  # nothing is written into it after its last settle

    def write(self, fd: int, data: bytes) -> None:
        with self.lock:
            (self.stdout if fd == 1 else self.stderr).write(data)
            self.changed = True

    @property
    def empty(self) -> bool:
        return not (self.stdout.total or self.stderr.total)

    def to_json(self, *, running: bool = False) -> dict[str, Any]:
        with self.lock:
            return {"stdout": self.stdout.to_json(), "stderr": self.stderr.to_json(), "running": running}


# -- a process that runs one split at a time: its file descriptors ---------------------------------------


class _Descriptors:
    """File descriptors 1 and 2 of this process pointed at files of their own (once, for its life); what
    lands there is copied to the original descriptors and into the current capture."""

    def __init__(self) -> None:
        self._files: dict[int, int] = {}  # 1, 2 -> the descriptor of its file (O_APPEND)
        self._originals: dict[int, int] = {}  # 1, 2 -> a duplicate of the original descriptor
        self._read: dict[int, int] = {1: 0, 2: 0}  # bytes of each file consumed
        self._lock = threading.Lock()
        self.current: Capture | None = None
        self.live: Callable[[Capture], None] | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def install(self) -> None:
        if self._files:
            return
        for fd in (1, 2):
            self._originals[fd] = os.dup(fd)
            handle, path = tempfile.mkstemp(prefix=f"laminar-fd{fd}-")
            os.close(handle)
            self._files[fd] = os.open(path, os.O_RDWR | os.O_APPEND)
            os.unlink(path)
            os.dup2(self._files[fd], fd)

    def drain(self) -> None:
        """Copy what was written since the last drain to the original descriptors and the capture."""
        _flush_python()
        with self._lock:
            for fd, file in self._files.items():
                size = os.fstat(file).st_size
                if size <= self._read[fd]:
                    continue
                data = os.pread(file, size - self._read[fd], self._read[fd])
                self._read[fd] += len(data)
                _write_all(self._originals[fd], data)
                if self.current is not None:
                    self.current.write(fd, data)
                if size > 1 << 24:  # keep the files small: start them again (writes append at the end)
                    os.ftruncate(file, 0)
                    self._read[fd] = 0

    def start(self, capture: Capture, live: Callable[[Capture], None] | None) -> None:
        self.drain()  # what earlier code wrote belongs to no split
        self.current, self.live = capture, live
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="laminar-logs", daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """End the capture: what was written since it was last settled is drained into it, unless it was
        settled last (its record was made: only laminar's own code ran since, and the next drain forwards
        whatever that wrote to the console)."""
        self._wake.clear()
        if self.current is None or not self.current.settled:
            self.drain()
        self.current = self.live = None

    def settle(self) -> None:
        """Bring what was written so far into the current capture, which is then settled."""
        self.drain()
        if self.current is not None:
            self.current.settled = True

    def _tick(self) -> None:
        while True:
            self._wake.wait(timeout=IDLE)  # between splits too: what other code wrote reaches the console
            capture = self.current
            if capture is not None:
                time.sleep(capture.policy.every)
            self.drain()
            if capture is not None and capture is self.current:
                _offer_live(capture, self.live)


_descriptors = _Descriptors()


# -- threads of one process: sys.stdout and sys.stderr by thread -----------------------------------------


class _Router(io.TextIOBase):
    """``sys.stdout`` (or ``sys.stderr``) for every thread: writes reach the stream it replaced, and the
    capture of the thread that writes, if it has one."""

    def __init__(self, original: IO[str], fd: int, captures: threading.local) -> None:
        self.original = original
        self._fd = fd
        self._captures = captures

    def write(self, text: str) -> int:
        written = self.original.write(text)
        capture: Capture | None = getattr(self._captures, "capture", None)
        if capture is not None:
            capture.write(self._fd, text.encode(errors="replace"))
        return written

    def flush(self) -> None:
        self.original.flush()

    def isatty(self) -> bool:
        return self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.original, "encoding", "utf-8"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_threads = threading.local()
_routing = threading.Lock()
_routed: list[tuple[Any, Any]] = []  # what sys.stdout and sys.stderr were before routing (while routed)
_users = 0  # Thread sessions open: routing lasts while one is


@contextlib.contextmanager
def routed() -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` by thread while the block runs (a Thread session's life;
    nested and concurrent sessions share one routing, undone when the last ends, unless something else
    replaced the streams meanwhile)."""
    global _users
    with _routing:
        _users += 1
        if _users == 1:
            _routed.append((sys.stdout, sys.stderr))
            sys.stdout = _Router(sys.stdout, 1, _threads)
            sys.stderr = _Router(sys.stderr, 2, _threads)
    try:
        yield
    finally:
        with _routing:
            _users -= 1
            if _users == 0:
                stdout, stderr = _routed.pop()
                if isinstance(sys.stdout, _Router):
                    sys.stdout = stdout
                if isinstance(sys.stderr, _Router):
                    sys.stderr = stderr


class _Live:
    """One thread that hands the captures of running splits to their ``live`` while any runs."""

    def __init__(self) -> None:
        self._running: dict[int, tuple[Capture, Callable[[Capture], None]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, capture: Capture, live: Callable[[Capture], None]) -> None:
        with self._lock:
            self._running[id(capture)] = (capture, live)
            if self._thread is None:
                self._thread = threading.Thread(target=self._tick, name="laminar-live-logs", daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, capture: Capture) -> None:
        with self._lock:
            self._running.pop(id(capture), None)
            if not self._running:
                self._wake.clear()

    def _tick(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                running = list(self._running.values())
            every = min((capture.policy.every for capture, _ in running), default=1.0)
            time.sleep(every)
            for capture, live in running:
                _offer_live(capture, live)


_live = _Live()


# -- capturing one attempt ---------------------------------------------------------------------------


@contextlib.contextmanager
def captured(
    policy: LogPolicy, *, whole_process: bool, live: Callable[[Capture], None] | None = None
) -> Iterator[Capture]:
    """Capture what the code in the block writes: the whole process's descriptors (``whole_process``: a
    process that runs one split at a time), else this thread's ``sys.stdout`` and ``sys.stderr`` (inside
    :func:`routed`; outside it nothing is captured)."""
    capture = Capture(policy)
    if not policy.capture:
        yield capture
        return
    if whole_process:
        _descriptors.install()
        capture.settle = _descriptors.settle
        _descriptors.start(capture, live)
        try:
            yield capture
        finally:
            _descriptors.stop()
        return
    _threads.capture = capture
    if live is not None:
        _live.add(capture, live)
    try:
        yield capture
    finally:
        _threads.capture = None
        _live.remove(capture)


def _offer_live(capture: Capture, live: Callable[[Capture], None] | None) -> None:
    """Hand what was written so far to ``live`` once the split ran ``live_after``, if anything changed."""
    if live is None or not capture.changed or time.monotonic() - capture.started < capture.policy.live_after:
        return
    capture.changed = False
    with contextlib.suppress(Exception):  # a log that cannot be written must not fail the split
        live(capture)


def _nothing() -> None:
    pass


def _flush_python() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:  # (not contextlib.suppress: this runs twice a split)
            stream.flush()
        except Exception:  # a stream that cannot flush has nothing to hand on
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:  # the console went away: the capture still holds it
            return
