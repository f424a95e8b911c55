"""The datastore: one implementation over fsspec for every URL (local, memory, s3, gcs, ...).

Artifacts are stored once per distinct content (SHA-256 of their serialized
bytes); the small items of a shard share one pack, and an artifact (or pack) of
at most ``INLINE`` bytes is kept in its split's document instead of a file of
its own (:mod:`laminar.datastore.writes`). This module holds the rest: splits,
layers and executions, and listing them. A finished split is one JSON document: its archive (attributes to
digests) and its record (attempt, timings). Every write is atomic: on a local
disk a file is written to a temporary name, flushed to disk and renamed into
place (``disk``); on object stores (and in memory) a whole object is put at
once (multipart uploads appear only when complete), from a spool that is never
visible to readers. A split's document and a layer's ``layer.json`` are
written only after everything they vouch for. Reads verify the digest before
deserializing (:mod:`laminar.datastore.reads`).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from laminar.artifacts import Artifacts, Joined
from laminar.datastore import disk, layout
from laminar.datastore.documents import LayerRecords, SplitDocuments
from laminar.datastore.views import LazySplits, StoredSplit
from laminar.datastore.writes import ArtifactWrites, SplitWrites
from laminar.errors import ArtifactError, ConfigurationError
from laminar.serde import Protocol, Serde

P = TypeVar("P", bound=type[Protocol])

#: Finished splits' documents not committed yet, by split (``SplitMeta.document``).
Documents = Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True)
class SplitMeta:
    """What the scheduler needs to know of a finished split: names and shard lengths."""

    names: tuple[str, ...]
    shards: Mapping[str, int]
    #: The split's document when it is yet to be committed (``Datastore.commit_splits``), else None.
    document: Mapping[str, Any] | None = None


class Datastore(ArtifactWrites):
    """Artifacts and records under ``root``, any fsspec URL, with ``storage_options``.

    >>> from laminar.datastore import Memory
    >>> store = Memory()
    >>> protocol, digest = store.put_value([1, 2, 3])
    >>> store.get_value(protocol, digest)
    [1, 2, 3]
    """

    #: True when the data lives in this process only (``Memory``): other processes cannot read it.
    process_local: bool = False
    #: True when every node of a cluster can reach ``root``.
    shared: bool = True

    def __init__(self, root: str, *, allow_pickle: bool = True, **storage_options: Any) -> None:
        super().__init__(root, **storage_options)
        self.serde = Serde(allow_pickle=allow_pickle)
        self._readers()

    def _readers(self) -> None:
        self._layers = LayerRecords(self)
        self._documents = SplitDocuments(self, self._layers)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        del state["_documents"], state["_layers"]  # each process reads its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._readers()

    @property
    def allow_pickle(self) -> bool:
        return self.serde.allow_pickle

    def __repr__(self) -> str:
        pickle = "" if self.allow_pickle else ", allow_pickle=False"
        return f"{type(self).__name__}(root={self.url!r}{pickle})"

    # -- serde ----------------------------------------------------------------------------------

    def protocol(self, *types: type) -> Callable[[P], P]:
        """Register a ``serde.Protocol`` subclass for values of exactly these types.

        >>> from laminar.datastore import Memory
        >>> store = Memory()
        >>> from laminar.serde import Json
        >>> @store.protocol(dict)
        ... class AsJson(Json):
        ...     name = "as-json"
        >>> store.get_value(*store.put_value({"a": 1}))
        {'a': 1}
        """

        def register(cls: P) -> P:
            self.serde.register(cls(), *types)
            return cls

        return register

    # -- splits, layers, executions ----------------------------------------------------------------

    def write_split(
        self,
        flow: str,
        execution: str,
        layer: str,
        index: int,
        values: Mapping[str, Any],
        shards: set[str],
        record: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        *,
        commit: bool = True,
    ) -> SplitMeta:
        """Store a split's artifacts, then its document (archive and record); return what the scheduler needs.

        The document appears only after every artifact it names is stored, so a split with a document
        is a finished split. Artifacts (and shard packs) of at most ``INLINE`` bytes are kept in the
        document itself, in their archive entry (``"inline"``: digest -> base64 bytes). ``record`` (its
        attempt, timings, ...; called once the artifacts are written when it is a function) defaults to
        ``{"state": "finished"}``. On a local disk every new artifact is flushed to disk and renamed
        into place on a background thread while the next value is written, and the document is flushed
        meanwhile (one wait, not one per file); it is renamed into place only once all of that is done.
        Without ``commit`` the document is not written but returned (``SplitMeta.document``), once the
        artifacts are stored, for ``commit_splits``.
        """
        label = f"{flow}.{layer}[{index}] of execution {execution!r}"
        # checks the names before anything is written (the scheduler commits a document it is handed)
        relative = layout.split(flow, execution, layer, index) if commit else None
        self.fs  # noqa: B018 - decides local or not
        writes = SplitWrites(self._local)
        moves = writes.moves
        entries: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        try:
            for name, value in values.items():
                where = f"{label} artifact {name!r}"
                packed: dict[str, Any] = {}
                if name in shards:
                    items = list(value)
                    stored, packed = self._put_shard(items, [f"{where} item {i}" for i in range(len(items))], writes)
                    lengths[name] = len(items)
                else:
                    stored = [self._put_value(value, where, writes)]
                entries[name] = {
                    "sharded": name in shards,
                    "protocols": [p for p, _ in stored],
                    "digests": [d for _, d in stored],
                    **packed,
                }
                if inline := writes.kept():
                    entries[name]["inline"] = inline
            written = record() if callable(record) else record
            document = {"artifacts": entries, "record": dict(written) if written is not None else {"state": "finished"}}
        except BaseException:
            if moves is not None:  # what was written completely is still stored (each artifact stands alone)
                with contextlib.suppress(Exception):
                    moves.wait()
            raise
        if relative is None:
            if moves:
                self._settle(moves)
            return SplitMeta(names=tuple(entries), shards=lengths, document=document)
        self._write_document(relative, document, moves)
        return SplitMeta(names=tuple(entries), shards=lengths)

    def _write_document(self, relative: str, value: Any, moves: disk.Moves | None) -> None:
        """Write a JSON document so that it appears whole, and (local disk) only once it and every
        artifact in ``moves`` are on disk: it is flushed while they are, and renamed into place after."""
        data = json.dumps(value, sort_keys=True, default=str).encode()
        if moves is None:
            self._put_bytes(relative, data)
        else:
            try:
                self._put_bytes(relative, data, before_rename=functools.partial(self._settle, moves))
            finally:
                with contextlib.suppress(Exception):  # no move outlives the call, whatever happened
                    moves.wait()
        self._documents.forget(relative)

    def _settle(self, moves: disk.Moves) -> None:
        """Wait until every artifact in ``moves`` is in place."""
        with self._guard("write an artifact"):
            moves.wait()

    def read_meta(self, flow: str, execution: str, layer: str, index: int) -> SplitMeta:
        entries = self._archive(flow, execution, layer, index)
        return SplitMeta(
            names=tuple(entries),
            shards={n: len(e["digests"]) for n, e in entries.items() if e["sharded"]},
        )

    def commit_splits(self, flow: str, execution: str, layer: str, documents: Documents) -> None:
        """Write the documents of finished splits (``SplitMeta.document``, whose artifacts are stored)
        as one batch: one file for many splits (one split's document is a file of its own)."""
        if len(documents) == 1:
            ((index, document),) = documents.items()
            relative = layout.split(flow, execution, layer, index)
            self._write_document(relative, document, None)
            return
        self.write_json(layout.batch(flow, execution, layer), {"splits": {str(i): d for i, d in documents.items()}})

    def _archive(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any]:
        document = self._documents.get(flow, execution, layer, index)
        if document is None:
            raise ArtifactError(
                f"{flow}.{layer}[{index}] of execution {execution!r} has no archive in {self.url} (expected at "
                f"{layout.split(flow, execution, layer, index)}); did it finish?"
            )
        entries: dict[str, Any] = document["artifacts"]
        return entries

    def split(self, flow: str, execution: str, layer: str, index: int) -> Artifacts:
        """A finished split's artifacts, loaded lazily."""
        return StoredSplit(
            self, f"{flow}.{layer}[{index}] of execution {execution!r}", self._archive(flow, execution, layer, index)
        )

    def layer(self, flow: str, execution: str, layer: str, splits: int | None) -> Artifacts:
        """A whole layer: its one split, or for a foreach layer every split joined."""
        if splits is None:
            return self.split(flow, execution, layer, 0)
        return Joined(LazySplits(self, flow, execution, layer, splits))

    def write_split_failure(self, flow: str, execution: str, layer: str, index: int, record: Mapping[str, Any]) -> None:
        self.write_json(layout.failure(flow, execution, layer, index), dict(record))

    def read_split_record(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any] | None:
        """A finished split's record (attempt, timings, resources), or None when it has not finished."""
        document = self._documents.get(flow, execution, layer, index)
        return None if document is None else dict(document["record"])

    def finished_splits(self, flow: str, execution: str, layer: str) -> set[int]:
        """Indices of the splits of a layer that finished: one listing, and a read of each new batch."""
        return self._documents.finished(flow, execution, layer)

    def write_layer_record(
        self,
        flow: str,
        execution: str,
        layer: str,
        record: Mapping[str, Any],
        documents: Documents | None = None,
    ) -> None:
        """Write a layer's record; with ``documents`` (of finished splits not committed yet, whose
        artifacts are stored), the record of a finished layer carries them: one file, not two."""
        self.write_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}", _layer_content(record, documents))

    def commit_layers(
        self,
        flow: str,
        execution: str,
        records: Mapping[str, tuple[Mapping[str, Any], Documents | None]],
    ) -> None:
        """Write the records of finished layers (each with its ``documents``, as ``write_layer_record``
        takes them) as one batch: one file for many layers (one layer's record is its ``layer.json``)."""
        if len(records) == 1:
            ((layer, (record, documents)),) = records.items()
            self.write_layer_record(flow, execution, layer, record, documents)
            return
        content = {layer: _layer_content(record, documents) for layer, (record, documents) in records.items()}
        self.write_json(layout.layer_batch(flow, execution), {"layers": content})

    def read_layer_record(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        """A layer's record (state, splits, names, timings), or None when it has none."""
        record = self.read_json(f"{layout.layer(flow, execution, layer)}/{layout.LAYER}")
        if not (isinstance(record, dict) and record.get("state") == "finished"):
            # a finished layer's record may be in a batch (and a failed one's layer.json from an earlier run)
            record = self._layers.get(flow, execution, layer) or record
        if isinstance(record, dict):  # split documents are read through ``split``
            return {key: value for key, value in record.items() if key != "documents"}
        return record

    def write_execution(self, flow: str, execution: str, record: Mapping[str, Any]) -> None:
        self.write_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}", dict(record))

    def read_execution(self, flow: str, execution: str) -> dict[str, Any] | None:
        return self.read_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}")

    # -- listing (one listing call each, no per-item reads) ------------------------------------------

    def list_executions(self, flow: Any) -> list[str]:
        """Execution ids of ``flow`` (a Flow, a Flow class or a name), sorted: generated ids sort by time."""
        return [name for name in self.list_names(layout.flow(_name(flow))) if _is_segment(name)]

    def list_layers(self, execution: Any) -> list[str]:
        """Names of the layers of an ``Execution`` that started writing (finished, skipped, failed, running)."""
        flow, id_ = execution.flow.name, execution.id
        names = self.list_names(layout.execution(flow, id_))
        layers = {name for name in names if _is_segment(name) and name != layout.EXECUTION}
        batches = {name for name in layers if layout.is_layer_batch(name)}
        if batches:  # finished layers whose records were committed together (no directory of their own)
            layers = (layers - batches) | self._layers.names(flow, id_, names)
        return sorted(layers)

    def list_artifacts(self, layer: Any) -> list[str]:
        """Artifact names of a layer read from results (``execution.layer(A)``)."""
        context = layer._laminar
        if context.artifacts is None:
            return []
        return sorted(context.artifacts.names())


def _layer_content(record: Mapping[str, Any], documents: Documents | None) -> dict[str, Any]:
    content = dict(record)
    if documents:
        content["documents"] = {str(i): d for i, d in documents.items()}
    return content


def _is_segment(name: str) -> bool:
    try:
        layout.segment("name", name)
    except ConfigurationError:
        return False
    return True


def _name(flow: Any) -> str:
    if isinstance(flow, str):
        return flow
    return str(flow.name) if hasattr(flow, "name") and isinstance(flow.name, str) else str(flow.__name__)
