"""Which kind of process this is: the one that schedules, or one that must not start flows.

Executors that start processes (Ray) mark their workers with the environment
variable below, set at the process edge (the task's runtime_env), never by
mutating ``os.environ`` of the scheduling process. Tools that import a user's
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


def in_worker() -> bool:
    """True inside a process started only to run layers, or while a flow module is only being imported."""
    return bool(getattr(_importing, "depth", 0)) or os.environ.get(WORKER_ENV) == "1"


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """Import user modules without running their guarded flows (this thread only)."""
    _importing.depth = getattr(_importing, "depth", 0) + 1
    try:
        yield
    finally:
        _importing.depth -= 1
