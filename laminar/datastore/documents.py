"""Finding finished splits' documents and layers' records: in a file of their own or in a batch, checked.

A split's document (its archive and record) is ``<split>.json``, or one entry
of a batch that the scheduler committed for many splits at once: a
``splits-*.json``, or the layer's finished record, which carries the documents
still uncommitted when the layer finished. A layer's record is its
``layer.json``, or, for a finished layer, one entry of a batch of the records of
layers that finished close together (``layers-*.json`` beside the execution's
own record: one file for a chain of small layers, not a directory and a file
each). Documents and finished records never change once written, so the last
few read are kept, and which batch holds which split or layer is learnt once per
batch.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from laminar.datastore import layout
from laminar.datastore.files import Files
from laminar.errors import ArtifactError

KEPT = 8  # documents (and batches, and executions' batched layer records) kept read per datastore object
#: Where a layer's documents are when its record is in a batch of layer records: ``<layer path>#batched``.
_BATCHED = "#batched"
_lock = threading.Lock()  # readers on several threads share one datastore object


class LayerRecords:
    """The records of finished layers committed in batches (``layers-*.json``), as readers find them."""

    def __init__(self, files: Files) -> None:
        self._files = files
        # execution -> (layer -> its record, the batches read); the executions read last kept
        self._known: collections.OrderedDict[str, tuple[dict[str, dict[str, Any]], set[str]]] = (
            collections.OrderedDict()
        )

    def get(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        """The layer's record if a batch holds it (then the layer finished), else None. The caller
        must not change it."""
        records, listed = self._records(flow, execution)
        if layer not in records and not listed:  # batches committed since the execution was last listed
            records, _ = self._records(flow, execution, refresh=True)
        return records.get(layer)

    def names(self, flow: str, execution: str, listing: list[str]) -> set[str]:
        """The layers whose records the batches in ``listing`` (the execution's, just listed) hold."""
        return set(self._records(flow, execution, refresh=True, listing=listing)[0])

    def _records(
        self, flow: str, execution: str, *, refresh: bool = False, listing: list[str] | None = None
    ) -> tuple[dict[str, dict[str, Any]], bool]:
        """The records of the execution's batches read so far, reading new ones first when ``refresh`` or
        when none was read yet; and whether the execution was listed for them."""
        relative = layout.execution(flow, execution)
        with _lock:
            records, seen = self._known.get(relative) or ({}, set())
            self._known[relative] = records, seen
            self._known.move_to_end(relative)
            while len(self._known) > KEPT:
                self._known.popitem(last=False)
        listed = refresh or not seen
        if listed:
            names = self._files.list_names(relative) if listing is None else listing
            for name in names:
                if layout.is_layer_batch(name) and name not in seen:
                    batch = f"{relative}/{name}"
                    content = self._files.read_json(batch)
                    layers = content.get("layers") if isinstance(content, dict) else None
                    if not isinstance(layers, dict) or not all(isinstance(r, dict) for r in layers.values()):
                        raise ArtifactError(
                            f"{batch} in {self._files.url} is damaged (or was removed); delete it to rerun its layers"
                        )
                    with _lock:
                        records.update(layers)
                        seen.add(name)
        return records, listed


class SplitDocuments:
    """The finished splits' documents of one datastore, as readers find them."""

    def __init__(self, files: Files, layers: LayerRecords) -> None:
        self._files = files
        self._layers = layers
        # Documents read lately (relative path -> document): every split of a foreach layer reads the
        # document of the shard it iterates over (100,000 digests for a 100,000-item shard).
        self._recent: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._batches: dict[str, tuple[dict[int, str], set[str]]] = {}  # layer -> (split -> batch, batches read)

    def get(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any] | None:
        """A split's document, checked; None when the split has not finished."""
        relative = layout.split(flow, execution, layer, index)
        label = f"{flow}.{layer}[{index}] of execution {execution!r}"
        cached = self._cached(relative)
        if cached is not None:
            return cached
        document = self._files.read_json(relative)
        if document is not None:
            checked = _checked(document, label, relative, self._files.url)
            self._keep(relative, checked)
            return checked
        where = self._where(flow, execution, layer, record_first=True)
        batch = where.get(index)
        if batch is None:  # batches committed since the layer was last listed
            batch = self._where(flow, execution, layer, refresh=True).get(index)
            if batch is None:
                return None
        documents = self._cached(batch)
        if documents is None:
            documents = self._batch(batch, self._read(batch))[0]
            self._keep(batch, documents)
        return _checked(documents["splits"][str(index)], label, batch, self._files.url)

    def _read(self, batch: str) -> Any:
        """What ``batch`` holds: a file, or the record of a layer in a batch of layer records (:data:`_BATCHED`)."""
        if batch.endswith(_BATCHED):
            _, flow, execution, layer = batch[: -len(_BATCHED)].split("/")
            return self._layers.get(flow, execution, layer)
        return self._files.read_json(batch)

    def finished(self, flow: str, execution: str, layer: str) -> set[int]:
        """Indices of the splits of a layer that finished: one listing, and a read of each new batch."""
        listing = self._files.list_names(layout.layer(flow, execution, layer))
        found = {index for index in map(layout.split_index, listing) if index is not None}
        return found | set(self._where(flow, execution, layer, refresh=True, listing=listing))

    def forget(self, relative: str) -> None:
        """``relative`` was (re)written."""
        with _lock:
            self._recent.pop(relative, None)

    def _cached(self, relative: str) -> dict[str, Any] | None:
        with _lock:
            cached = self._recent.get(relative)
            if cached is not None:
                self._recent.move_to_end(relative)
            return cached

    def _keep(self, relative: str, document: dict[str, Any]) -> None:
        with _lock:
            self._recent[relative] = document
            while len(self._recent) > KEPT:
                self._recent.popitem(last=False)

    def _where(
        self,
        flow: str,
        execution: str,
        layer: str,
        *,
        refresh: bool = False,
        listing: list[str] | None = None,
        record_first: bool = False,
    ) -> dict[int, str]:
        """Which batch holds each committed split of a layer (read once; ``refresh`` reads new batches,
        from ``listing`` when the caller has just listed the layer).

        ``record_first``: before listing a layer not read yet, read its ``layer.json`` alone: once a
        layer finished it holds the documents still uncommitted then, a plain layer's one document on
        Ray, which is then found without listing the layer (a request on object stores).
        """
        relative = layout.layer(flow, execution, layer)
        with _lock:
            where, seen = self._batches.setdefault(relative, ({}, set()))
        looked = False  # for the layer's record in the execution's batches of layer records
        if record_first and not seen and not refresh:
            self._learn(relative, layout.LAYER, where, seen, missing_ok=True)
            if not seen:
                self._learn_batched(relative, where, seen)
                looked = True
            if seen:
                return where
        if refresh or not seen:
            for name in self._files.list_names(relative) if listing is None else listing:
                if (layout.is_batch(name) or name == layout.LAYER) and name not in seen:
                    self._learn(relative, name, where, seen)
            if layout.LAYER not in seen and not looked:  # a finished layer's record: its layer.json or a batch
                self._learn_batched(relative, where, seen)
        return where

    def _learn_batched(self, relative: str, where: dict[int, str], seen: set[str]) -> None:
        """Learn the documents that the record of the layer at ``relative`` carries, if a batch of layer
        records holds it (then the layer finished)."""
        if _BATCHED in seen:
            return
        key = f"{relative}{_BATCHED}"
        record = self._read(key)
        if record is None:
            return
        documents = self._batch(key, record)[0]
        self._keep(key, documents)
        with _lock:
            where.update(dict.fromkeys((int(i) for i in documents["splits"]), key))
            seen.add(_BATCHED)

    def _learn(self, relative: str, name: str, where: dict[int, str], seen: set[str], missing_ok: bool = False) -> None:
        """Read the batch ``name`` of the layer at ``relative``: which splits it holds, and whether it is final."""
        batch = f"{relative}/{name}"
        content = self._files.read_json(batch)
        if content is None and missing_ok:
            return
        documents, final = self._batch(batch, content)
        self._keep(batch, documents)
        with _lock:
            where.update(dict.fromkeys((int(i) for i in documents["splits"]), batch))
            if final:
                seen.add(name)

    def _batch(self, relative: str, content: Any) -> tuple[dict[str, Any], bool]:
        """The batch read from ``relative`` as ``{"splits": {index: document}}``, and whether it is final
        (never written again).

        A ``splits-*.json`` is final; a ``layer.json`` is once its layer finished (a failed or skipped
        layer's record, which holds no documents, is written again when a resume runs the layer).
        """
        if relative.endswith((f"/{layout.LAYER}", _BATCHED)):
            finished = isinstance(content, dict) and content.get("state") == "finished"
            content = {"splits": content.get("documents", {}) if isinstance(content, dict) else None}
        else:
            finished = True
        splits = content.get("splits") if isinstance(content, dict) else None
        if not isinstance(content, dict) or not isinstance(splits, dict) or not all(i.isdigit() for i in splits):
            raise ArtifactError(
                f"{relative} in {self._files.url} is damaged (or was removed); delete it to rerun its splits"
            )
        return content, finished


def _checked(document: Any, label: str, relative: str, url: str) -> dict[str, Any]:
    """``document`` if it is a split's document (artifacts and record), else an ArtifactError."""
    entries = document.get("artifacts") if isinstance(document, dict) else None
    if (
        not isinstance(entries, dict)
        or not all(_valid_entry(e) for e in entries.values())
        or not isinstance(document.get("record"), dict)
    ):
        raise ArtifactError(f"{label}: {relative} in {url} is damaged; delete it to rerun the split")
    checked: dict[str, Any] = document
    return checked


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("protocols"), list)
        and isinstance(entry.get("digests"), list)
        and len(entry["protocols"]) == len(entry["digests"])
        and (entry.get("sharded") is True or len(entry["digests"]) == 1)
        and _valid_spans(entry.get("spans", entry["digests"]), len(entry["digests"]))
        and _valid_inline(entry.get("inline", {}))
    )


def _valid_inline(inline: Any) -> bool:
    """Artifacts kept in an entry: digest -> base64 bytes."""
    return isinstance(inline, dict) and all(isinstance(v, str) for v in inline.values())


def _valid_spans(spans: Any, count: int) -> bool:
    return isinstance(spans, list) and len(spans) == count
