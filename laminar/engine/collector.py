"""Python's cyclic garbage collector during a run: young collections spaced out.

A run allocates a few dozen container objects per split (its task, inputs, completion, document) and keeps
many of them until its layer finishes, so with Python's default thresholds (a young collection every 700
allocations, a full one as the survivors grow by a quarter) the collector takes about a fifth of the
driver's CPU in a fan-out of 100,000 trivial splits (measured: 101 -> 81 us a split with this). While any
run is going on in this process the first threshold is raised to :data:`YOUNG` (as Instagram's and
others' servers do); garbage in cycles then waits a little longer to be freed, nothing else changes.
The thresholds are put back when the last run in the process ends, unless something else changed them
meanwhile (then they are left as that code set them).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

#: Allocations between young collections while a run goes on (Python's default: 700).
YOUNG = 50_000

_lock = threading.Lock()
_runs = 0
_saved: tuple[int, int, int] | None = None  # the thresholds before the first run
_set: tuple[int, int, int] | None = None  # the thresholds the first run set


@contextlib.contextmanager
def spaced() -> Iterator[None]:
    """Young collections at most every :data:`YOUNG` allocations inside the block (any number of runs, in
    any threads: the first to enter raises the threshold, the last to leave puts it back)."""
    global _runs, _saved, _set
    with _lock:
        if _runs == 0:
            _saved = gc.get_threshold()
            young, *older = _saved
            if 0 < young < YOUNG:  # 0: collection is off; a higher one was chosen by someone
                gc.set_threshold(YOUNG, *older)
            _set = gc.get_threshold()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                if _saved is not None and gc.get_threshold() == _set:
                    gc.set_threshold(*_saved)
                _saved = _set = None
