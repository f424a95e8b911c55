"""Writing an execution's records off the scheduler's critical path: split documents and layer records.

Workers that leave their split's document to the scheduler (on Ray, every
split) hand it back with the split's meta; :class:`Records` commits those
documents in batches, one file for many splits, and a finished layer's record
carries the documents still pending (a plain layer's one document). The records
of layers that finish within :data:`COMMIT_SECONDS` of each other are committed
together too, one file for all (a chain of 100 small layers: one file, where a
directory and a file per layer cost ~0.45 ms of CPU a layer on this project's
development disk, more than a small layer's task). Records go to the datastore
on one thread, in order, so a layer's record always comes after its splits'
documents (or carries the last of them); dependents start without waiting for
either to reach the disk. Until committed, a split or a layer has no record: if
the driver dies first, resume runs it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from laminar.datastore import Datastore
from laminar.datastore.store import Documents

#: Split documents are committed in batches of at most this many, at least this often (checked as
#: splits finish), and whenever their layer finishes or the run ends.
COMMIT_SPLITS = 256
COMMIT_SECONDS = 1.0
#: Finished layers' records are committed in batches of at most this many, at most COMMIT_SECONDS after
#: the first of them came (a timer: a layer that finishes alone is not kept waiting for another).
COMMIT_LAYERS = 256


class Records:
    """One execution's records on their way to the datastore."""

    def __init__(self, datastore: Datastore, flow: str, execution: str) -> None:
        self._datastore = datastore
        self._flow = flow
        self._execution = execution
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="laminar-records")
        self._written: list[Future[None]] = []
        self._pending: dict[str, dict[int, Mapping[str, Any]]] = {}  # layer -> split -> its document
        self._since: dict[str, float] = {}  # layer -> when its oldest pending document came
        # What the timer shares with the scheduler's thread: finished layers' records (with the documents
        # they carry) not committed yet, and the timer that commits them.
        self._lock = threading.Lock()
        self._layers: dict[str, tuple[Mapping[str, Any], Documents | None]] = {}
        self._timer: threading.Timer | None = None

    def split(self, layer: str, index: int, document: Mapping[str, Any]) -> None:
        """A finished split's document, to commit with others of its layer."""
        pending = self._pending.setdefault(layer, {})
        if not pending:
            self._since[layer] = time.monotonic()
        pending[index] = document
        if len(pending) >= COMMIT_SPLITS or time.monotonic() - self._since[layer] >= COMMIT_SECONDS:
            self.commit(layer)

    def commit(self, layer: str) -> None:
        """Write the layer's pending split documents as one batch."""
        documents = self._pending.pop(layer, None)
        if documents:
            self._submit(self._datastore.commit_splits, layer, documents)

    def execution(self, record: Mapping[str, Any]) -> None:
        """The execution's own record, written before any layer's."""
        self._submit(self._datastore.write_execution, record)

    def layer(self, layer: str, record: Mapping[str, Any]) -> None:
        """A finished layer's record: written after its splits' documents, carrying those still pending
        (a layer that is not a foreach layer: its one split's document), one file for both, and for the
        records of the layers that finish within COMMIT_SECONDS of the first of them."""
        documents = self._pending.pop(layer, None)
        with self._lock:
            self._layers[layer] = (record, documents)
            if len(self._layers) < COMMIT_LAYERS:
                if self._timer is None:
                    self._timer = threading.Timer(COMMIT_SECONDS, self._commit_layers)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._commit_layers()

    def _commit_layers(self) -> None:
        """Write the finished layers' records pending as one batch (on the timer's thread, or the caller's)."""
        with self._lock:
            layers, self._layers = self._layers, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if layers:
                self._submit(self._datastore.commit_layers, layers)

    def close(self) -> None:
        """Commit what is pending (what finished is kept, whatever ends the run); wait for every write."""
        for layer in list(self._pending):
            self.commit(layer)
        self._commit_layers()
        self._writer.shutdown(wait=True)

    def check(self) -> None:
        """Raise the first write that failed: a record that could not be written fails the run."""
        for written in self._written:
            written.result()

    def _submit(self, write: Any, *values: Any) -> None:
        self._written.append(self._writer.submit(write, self._flow, self._execution, *values))
