"""The journal: the one writer of an execution's records, off the engine's critical path.

Every record of a run goes through here, in order, on one writer thread: the
execution's own record and its parameters (at :meth:`Journal.begin`, before any
layer starts), finished splits' documents, layers' records (finished, skipped,
failed) and splits' failures. Every executor hands back a finished split's
document uncommitted; the journal commits documents in batches, one file for
many splits (``splits-*.json``), and a finished layer's record carries the
documents still pending (a plain layer's one document), one file for both. The
records of layers that finish close together are committed together too (one
``layers-*.json``). When a batch is committed is the :class:`Policy`'s: at the
latest once it holds ``splits`` documents or ``layers`` records, and at most
``seconds`` after the first thing it holds came (a timer: something finishing
alone is not kept waiting for the run to end).

Until committed, a split or a layer has no record: if the driver dies first,
resume runs it again. Records go to the datastore in the order they were handed
in, so a layer's record always comes after its splits' documents (or carries
the last of them); dependents start without waiting for either to be written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from laminar.datastore import Datastore
from laminar.graph import PARAMETERS
from laminar.records import Documents, ExecutionRecord, FailureRecord, LayerRecord, SplitDocument


@dataclass(frozen=True)
class Policy:
    """When the journal commits what it holds: at the latest at ``splits`` documents of one layer or
    ``layers`` finished layers' records, and at most ``seconds`` after the first of them came."""

    splits: int = 256
    layers: int = 256
    seconds: float = 1.0


class Journal:
    """One execution's records on their way to the datastore."""

    def __init__(self, datastore: Datastore, flow: str, execution: str, policy: Policy | None = None) -> None:
        self._datastore = datastore
        self._flow = flow
        self._execution = execution
        self.policy = policy or Policy()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="laminar-records")
        self._written: list[Future[None]] = []
        # What the timer's thread shares with the engine's: documents and finished layers' records not
        # committed yet, and the timer that commits them.
        self._lock = threading.Lock()
        self._documents: dict[str, dict[int, SplitDocument]] = {}  # layer -> split -> its document
        self._layers: dict[str, tuple[dict[str, Any], Documents | None]] = {}
        self._timer: threading.Timer | None = None

    def begin(self, record: ExecutionRecord, parameters: SplitDocument) -> None:
        """Write the execution's parameters (the Parameters layer, finished) and its record, now: both
        are in the datastore before this returns, so before any layer starts (tasks read them there)."""
        finished = LayerRecord("finished", splits=None, names=tuple(sorted(parameters["artifacts"])))
        store, flow, execution = self._datastore, self._flow, self._execution
        store.write_layer_record(flow, execution, PARAMETERS, finished.to_json(), {0: parameters})
        store.write_execution(flow, execution, record.to_json())

    def split(self, layer: str, index: int, document: SplitDocument) -> None:
        """A finished split's document, to commit with others of its layer."""
        with self._lock:
            pending = self._documents.setdefault(layer, {})
            pending[index] = document
            full = len(pending) >= self.policy.splits
            if full:
                del self._documents[layer]
            else:
                self._arm()
        if full:
            self._submit(self._datastore.commit_splits, layer, pending)

    def layer(self, layer: str, record: LayerRecord) -> None:
        """A layer's record: a finished layer's carries its documents still pending and is committed with
        others finishing close to it; a skipped or failed one is written next (after the documents of its
        layer's finished splits)."""
        content = record.to_json()
        with self._lock:
            documents = self._documents.pop(layer, None)
            if record.finished:
                self._layers[layer] = (content, documents)
                full = len(self._layers) >= self.policy.layers
                if not full:
                    self._arm()
                    return
        if not record.finished:
            if documents:
                self._submit(self._datastore.commit_splits, layer, documents)
            self._submit(self._datastore.write_layer_record, layer, content)
            return
        self._commit()

    def failure(self, layer: str, index: int, record: FailureRecord) -> None:
        """A split's failed attempt, the last it will have."""
        self._submit(self._datastore.write_split_failure, layer, index, record.to_json())

    def flush(self) -> None:
        """Commit what is pending now and wait until it is written: a task about to read a split whose
        document was not committed yet, from a process that cannot be handed it (a cache hit's)."""
        self._commit()
        for written in list(self._written):
            written.result()

    def close(self) -> None:
        """Commit what is pending (what finished is kept, whatever ends the run); wait for every write."""
        self._commit()
        self._writer.shutdown(wait=True)

    def check(self) -> None:
        """Raise the first write that failed: a record that could not be written fails the run."""
        for written in self._written:
            written.result()

    def _arm(self) -> None:
        """Start the timer that commits what is pending, unless it runs already (under the lock)."""
        if self._timer is None:
            self._timer = threading.Timer(self.policy.seconds, self._commit)
            self._timer.daemon = True
            self._timer.start()

    def _commit(self) -> None:
        """Commit everything pending: each layer's documents, then the finished layers' records (on the
        timer's thread, or the caller's)."""
        with self._lock:
            documents, self._documents = self._documents, {}
            layers, self._layers = self._layers, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for layer, pending in documents.items():
                self._submit(self._datastore.commit_splits, layer, pending)
            if layers:
                self._submit(self._datastore.commit_layers, layers)

    def _submit(self, write: Callable[..., None], *values: Any) -> None:
        self._written.append(self._writer.submit(write, self._flow, self._execution, *values))
