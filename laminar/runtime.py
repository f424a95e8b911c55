"""Which kind of process this is: the one that schedules, or one that must not start flows.

Executors mark the processes they run layers in with :func:`mark_worker`
before any user module loads there (``laminar_ray`` does so when its worker
module is imported in a Ray worker), never by mutating state of the scheduling
process; a process started with the environment variable below counts too. Tools that import a user's
flow module only to find its classes (the CLI) use :func:`importing`, so the
module's ``if flow := MyFlow(): flow()`` guard is False while it loads.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

WORKER_ENV = "LAMINAR_WORKER"

_importing = threading.local()
_worker = False


def mark_worker() -> None:
    """Mark this process as one that runs layers only: flows are never started from it."""
    global _worker
    _worker = True


def in_worker() -> bool:
    """True inside a process started only to run layers, or while a flow module is only being imported."""
    return _worker or bool(getattr(_importing, "depth", 0)) or os.environ.get(WORKER_ENV) == "1"


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """Import user modules without running their guarded flows (this thread only)."""
    _importing.depth = getattr(_importing, "depth", 0) + 1
    try:
        yield
    finally:
        _importing.depth -= 1
