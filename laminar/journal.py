"""The journal: the one writer of an execution's records, off the engine's critical path.

Every record of a run goes through here, in order, on one writer thread: the
execution's own record, which claims its id, and its parameters (at
:meth:`Journal.begin`, before any layer starts), finished splits' documents,
layers' records (finished, skipped, failed) and splits' failures. Every executor
hands back a finished split's document uncommitted; the journal commits
documents in batches, one file for many splits (``splits-*.json``), and a
finished layer's record carries the documents still pending (a plain layer's one
document), one file for both. The records of layers that finish close together
are committed together too (one ``layers-*.json``). When a batch is committed is
the :class:`Policy`'s: at the latest once it holds ``splits`` documents or
``layers`` records, and at most ``seconds`` (10 ms) after the first thing it
holds came. Commits are grouped: the writer takes everything pending when it
gets to it, so while one batch is written the next gathers what finishes
meanwhile (on a store whose writes are slow, such as S3, batches grow instead of
queueing up).

Until committed, a split or a layer has no record: if the driver dies first,
resume runs it again. So a driver that dies loses the records of what finished
within the last ``seconds`` (and the write under way), and of what it had not
heard of yet (on Ray a completion may be seen up to
:data:`laminar_ray.inflight.SWEEP_MAX`, 50 ms, late while many tasks are in
flight). Records go to the datastore in the order they were handed in, so a
layer's record always comes after its splits' documents (or carries the last of
them); dependents start without waiting for either to be written.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from laminar.datastore import Datastore
from laminar.errors import ExecutionExists
from laminar.graph import PARAMETERS
from laminar.records import Documents, ExecutionRecord, FailureRecord, LayerRecord, SplitDocument


@dataclass(frozen=True)
class Policy:
    """When the journal commits what it holds: at the latest at ``splits`` documents of one layer or
    ``layers`` finished layers' records, and at most ``seconds`` after the first of them came. Those are
    also the most one batch file holds: what gathers while the writer is busy is committed in as many
    batches as it takes (``Policy(splits=1, layers=1)`` commits every document and record alone). The
    window bounds what a driver that dies loses (the records of what finished within it); a longer one
    writes fewer, larger batches."""

    splits: int = 256
    layers: int = 256
    seconds: float = 0.01


class Journal:
    """One execution's records on their way to the datastore."""

    def __init__(self, datastore: Datastore, flow: str, execution: str, policy: Policy | None = None) -> None:
        self._datastore = datastore
        self._flow = flow
        self._execution = execution
        self.policy = policy or Policy()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="laminar-records")
        self._written: list[Future[None]] = []
        # What the writer's thread shares with the engine's: documents and finished layers' records not
        # committed yet, whether a commit of them is queued on the writer, and what cuts its wait short.
        self._lock = threading.Lock()
        self._documents: dict[str, dict[int, SplitDocument]] = {}  # layer -> split -> its document
        self._full: list[tuple[str, dict[int, SplitDocument]]] = []  # full batches of documents, in order
        self._layers: dict[str, tuple[dict[str, Any], Documents | None]] = {}
        self._queued = False
        self._hurry = threading.Event()
        self._closed = False

    def begin(self, record: ExecutionRecord, parameters: SplitDocument) -> None:
        """Claim the execution's id and write its parameters (the Parameters layer, finished), now: both
        are in the datastore before this returns, so before any layer starts (tasks read them there).

        The claim is the execution's record, created only if there is none (atomically: of two starts
        of one id at once, exactly one wins; the other raises :class:`ExecutionExists` before it writes
        anything else). It carries the parameters' document, so an execution that exists has its
        parameters even if the driver dies before their layer's record is written (resume writes it)."""
        finished = LayerRecord("finished", splits=None, names=tuple(sorted(parameters["artifacts"])))
        store, flow, execution = self._datastore, self._flow, self._execution
        claim = dataclasses.replace(record, document=parameters)
        if not store.claim_execution(flow, execution, claim.to_json()):
            raise ExecutionExists(
                f"{flow} already has an execution {execution!r} in {store.url} (another start claimed the id "
                f"first, perhaps at the same moment); resume it with {flow}().execution({execution!r}).resume() "
                "or choose another id"
            )
        store.write_layer_record(flow, execution, PARAMETERS, finished.to_json(), {0: parameters})

    def split(self, layer: str, index: int, document: SplitDocument) -> None:
        """A finished split's document, to commit with others of its layer."""
        with self._lock:
            pending = self._documents.setdefault(layer, {})
            pending[index] = document
            if len(pending) < self.policy.splits:
                self._arm()
                return
            # Full: committed by the next flush, before anything handed in after it (its layer's record).
            self._full.append((layer, self._documents.pop(layer)))
        self._commit()

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
        with self._lock:
            self._closed = True
            self._hurry.set()  # a commit waiting for its window goes now
        self._commit()
        self._writer.shutdown(wait=True)

    def check(self) -> None:
        """Raise the first write that failed: a record that could not be written fails the run."""
        for written in self._written:
            written.result()

    def _arm(self) -> None:
        """Queue a commit of what is pending for ``seconds`` from now, unless one is queued (under the lock)."""
        if not self._queued:
            self._queued = True
            self._written.append(self._writer.submit(self._flush, time.monotonic() + self.policy.seconds))

    def _commit(self) -> None:
        """Commit everything pending now: the queued commit stops waiting, or one is queued."""
        with self._lock:
            if self._queued:
                self._hurry.set()
                return
            self._queued = True
            self._written.append(self._writer.submit(self._flush, None))

    def _flush(self, due: float | None) -> None:
        """On the writer's thread: wait until ``due`` (unless hurried), then write what is pending then:
        full batches of documents, then each layer's others, then the finished layers' records (so a
        layer's record comes after its splits' documents)."""
        if due is not None:
            self._hurry.wait(max(0.0, due - time.monotonic()))
        with self._lock:
            full, self._full = self._full, []
            documents, self._documents = self._documents, {}
            layers, self._layers = self._layers, {}
            self._queued = False
            if not self._closed:
                self._hurry.clear()
        for layer, pending in [*full, *documents.items()]:
            self._datastore.commit_splits(self._flow, self._execution, layer, pending)
        records, most = list(layers.items()), self.policy.layers  # a batch holds at most ``layers``, in order
        for start in range(0, len(records), most):
            self._datastore.commit_layers(self._flow, self._execution, dict(records[start : start + most]))

    def _submit(self, write: Callable[..., None], *values: Any) -> None:
        self._written.append(self._writer.submit(write, self._flow, self._execution, *values))
