"""Finding finished splits' documents and layers' records, wherever the journal committed them.

A split's document is ``<layer>/<split>.json``, or one entry of a batch the
journal committed for many splits at once: a ``splits-*.json``, or the layer's
finished record, which carries the documents still uncommitted when the layer
finished. A layer's record is its ``layer.json``, or, for a finished layer, one
entry of a batch of the records of layers that finished close together
(``layers-*.json`` beside ``execution.json``). :class:`Index` is the one way
readers find either: what it has learnt of a layer (which file holds which
split) it keeps, since documents and finished records never change once
written, and it looks again (lists) only when asked for something it has not
seen. The last few documents read are kept too: every split of a foreach layer
reads the document of the shard it iterates over.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Any

from laminar import records
from laminar.datastore import layout
from laminar.datastore.files import Files
from laminar.errors import ArtifactError
from laminar.records import SplitDocument

KEPT = 8  # documents (and batches, and executions' batched layer records) kept read per datastore object
_lock = threading.Lock()  # readers on several threads share one datastore object


@dataclass
class _Layer:
    """What is known of one layer's documents: which source holds each split, and the sources read for good
    (a batch never changes; a ``layer.json`` once it is finished)."""

    where: dict[int, str] = field(default_factory=dict)
    final: set[str] = field(default_factory=set)


@dataclass
class _Execution:
    """The records of one execution's finished layers found in its batches (``layers-*.json``) so far."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: set[str] = field(default_factory=set)


class Index:
    """Where one datastore's documents and layer records are, learnt as readers ask."""

    def __init__(self, files: Files) -> None:
        self._files = files
        self._layers: dict[str, _Layer] = {}  # layer path -> what is known of it
        self._executions: collections.OrderedDict[str, _Execution] = collections.OrderedDict()
        self._recent: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    # -- layer records -----------------------------------------------------------------------------

    def layer_record(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        """A layer's record (its JSON, without the documents it carries), or None when it has none.

        A finished record wins over another: a layer that failed, then finished in a resume, has a failed
        ``layer.json`` and its finished record in a batch."""
        record = self._files.read_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}")
        if not records.is_finished(record):
            record = self._batched(flow, execution, layer) or record
        return records.without_documents(record) if isinstance(record, dict) else record

    def layers(self, flow: str, execution: str, listing: list[str]) -> set[str]:
        """The layers whose records the batches in ``listing`` (the execution's, just listed) hold."""
        return set(self._learn_execution(flow, execution, listing).records)

    def _batched(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        """The layer's finished record from the execution's batches of layer records, if one holds it
        (listing the execution for new batches when none read so far does)."""
        known = self._execution(flow, execution)
        if layer not in known.records:
            known = self._learn_execution(flow, execution, None)
        return known.records.get(layer)

    def _execution(self, flow: str, execution: str) -> _Execution:
        relative = layout.execution(flow, execution)
        with _lock:
            known = self._executions.get(relative) or _Execution()
            self._executions[relative] = known
            self._executions.move_to_end(relative)
            while len(self._executions) > KEPT:
                self._executions.popitem(last=False)
        return known

    def _learn_execution(self, flow: str, execution: str, listing: list[str] | None) -> _Execution:
        """Read the execution's batches of layer records not read yet (from ``listing``, else a listing)."""
        known = self._execution(flow, execution)
        relative = layout.execution(flow, execution)
        for name in self._files.list_names(relative) if listing is None else listing:
            if layout.is_layer_batch(name) and name not in known.batches:
                batch = f"{relative}/{name}"
                found = records.layer_batch_records(self._files.read_json(batch))
                if found is None:
                    raise ArtifactError(
                        f"{batch} in {self._files.url} is damaged (or was removed); resume its execution to run "
                        "its layers again (a resume sets damaged records aside)"
                    )
                with _lock:
                    known.records.update(found)
                    known.batches.add(name)
        return known

    # -- split documents -----------------------------------------------------------------------------

    def document(self, flow: str, execution: str, layer: str, index: int) -> SplitDocument | None:
        """A split's document, checked; None when the split has not finished.

        Looked for where the layer's sources put it; if they do not, in its own file; then (the first
        time) in the layer's finished record, which holds a plain layer's one document, without listing
        the layer (a request on object stores); then in the layer's files, listed again."""
        label = f"{flow}.{layer}[{index}] of execution {execution!r}"
        relative = layout.layer(flow, execution, layer)
        known = self._layer(relative)
        source = known.where.get(index)
        if source is None:
            own = layout.split(flow, execution, layer, index)
            content = self._cached(own) or self._files.read_json(own)
            if content is not None:
                checked = records.checked_document(content, label, own, self._files.url)
                self._keep(own, dict(checked))
                return checked
            if not known.final:
                self._learn_record(flow, execution, layer, known)
            if index not in known.where:
                self._learn_files(flow, execution, layer, known, None)
            source = known.where.get(index)
            if source is None:
                return None
        return records.checked_document(self._source(source)[str(index)], label, source, self._files.url)

    def finished(self, flow: str, execution: str, layer: str) -> set[int]:
        """Indices of the splits of a layer that finished: one listing, and a read of each new source."""
        relative = layout.layer(flow, execution, layer)
        listing = self._files.list_names(relative)
        known = self._layer(relative)
        self._learn_files(flow, execution, layer, known, listing)
        own = {index for index in map(layout.split_index, listing) if index is not None}
        return own | set(known.where)

    def forget(self, relative: str) -> None:
        """``relative`` was (re)written."""
        with _lock:
            self._recent.pop(relative, None)

    def reset(self, flow: str, execution: str) -> None:
        """Forget all that was learnt of ``execution``: records of it were removed or set aside (a resume)."""
        prefix = f"{layout.execution(flow, execution)}/"
        with _lock:
            for kept in (self._layers, self._recent):
                for key in [key for key in kept if key.startswith(prefix)]:
                    del kept[key]
            self._executions.pop(prefix[:-1], None)

    def _layer(self, relative: str) -> _Layer:
        with _lock:
            return self._layers.setdefault(relative, _Layer())

    def _learn_record(self, flow: str, execution: str, layer: str, known: _Layer) -> None:
        """Learn the documents the layer's finished record carries: its ``layer.json``, else its entry in a
        batch of layer records."""
        relative = layout.layer(flow, execution, layer)
        self._learn(known, f"{relative}/{layout.LAYER}", missing_ok=True)
        if known.final:
            return
        record = self._batched(flow, execution, layer)
        if record is not None:
            self._learn(known, f"{relative}#batched", content=record)

    def _learn_files(self, flow: str, execution: str, layer: str, known: _Layer, listing: list[str] | None) -> None:
        """Learn the layer's sources not read for good yet: its batches and ``layer.json`` (from ``listing``,
        else a listing), and its record in a batch of layer records."""
        relative = layout.layer(flow, execution, layer)
        for name in self._files.list_names(relative) if listing is None else listing:
            if (layout.is_batch(name) or name == layout.LAYER) and f"{relative}/{name}" not in known.final:
                self._learn(known, f"{relative}/{name}")
        if f"{relative}/{layout.LAYER}" not in known.final:
            record = self._batched(flow, execution, layer)
            if record is not None:
                self._learn(known, f"{relative}#batched", content=record)

    def _learn(self, known: _Layer, source: str, *, content: Any = None, missing_ok: bool = False) -> None:
        """Read ``source`` (a batch, a ``layer.json``, or a layer's record from a batch of layer records,
        given as ``content``): which splits it holds, and whether it is final."""
        if source in known.final:
            return
        is_record = not layout.is_batch(source.rpartition("/")[2])
        if content is None:
            content = self._files.read_json(source)
            if content is None and missing_ok:
                return
        documents = records.carried(content) if is_record else records.split_batch_documents(content)
        if documents is None or (is_record and not all(i.isdigit() for i in documents)):
            remedy = "resume its execution to run its splits again (a resume sets damaged records aside)"
            raise ArtifactError(f"{source} in {self._files.url} is damaged (or was removed); {remedy}")
        self._keep(source, documents)
        with _lock:
            known.where.update(dict.fromkeys((int(i) for i in documents), source))
            # a failed or skipped layer's record holds no documents: it is written again when a resume runs it
            if not is_record or records.is_finished(content):
                known.final.add(source)

    def _source(self, source: str) -> dict[str, Any]:
        """The documents (split -> document) that ``source`` holds, read again when no longer kept."""
        cached = self._cached(source)
        if cached is not None:
            return cached
        if source.endswith("#batched"):
            _, flow, execution, layer = source[: -len("#batched")].split("/")
            content: Any = self._batched(flow, execution, layer)
            documents = records.carried(content)
        elif layout.is_batch(source.rpartition("/")[2]):
            documents = records.split_batch_documents(self._files.read_json(source))
        else:
            documents = records.carried(self._files.read_json(source))
        if documents is None:
            raise ArtifactError(
                f"{source} in {self._files.url} is damaged (or was removed); resume its execution to run again "
                "what it records (a resume sets damaged records aside)"
            )
        self._keep(source, documents)
        return documents

    def _cached(self, relative: str) -> dict[str, Any] | None:
        with _lock:
            cached = self._recent.get(relative)
            if cached is not None:
                self._recent.move_to_end(relative)
            return cached

    def _keep(self, relative: str, content: dict[str, Any]) -> None:
        with _lock:
            self._recent[relative] = content
            while len(self._recent) > KEPT:
                self._recent.popitem(last=False)
