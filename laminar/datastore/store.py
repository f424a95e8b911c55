"""The datastore: one implementation over fsspec for every URL (local, memory, s3, gcs, ...).

A :class:`Datastore` is composed of a few parts, each over the same
:class:`~laminar.datastore.files.Files` (paths, atomic writes, reads, listings
and errors under the root):

- the artifacts' write side (:class:`~laminar.datastore.writes.ArtifactWriter`):
  each value stored once per distinct content (SHA-256 of its serialized bytes),
  small ones kept in their split's document, a shard's small items in one pack;
- their read side (:class:`~laminar.datastore.reads.ArtifactReader`): bytes
  checked against their digest before they are deserialized;
- the :class:`~laminar.datastore.index.Index`, which finds finished splits'
  documents and layers' records wherever the journal committed them.

This class joins them: a split's values become its document, documents and
records are written (the journal, :mod:`laminar.journal`, decides when), and
read back as lazily loaded views. Every write is atomic: on a local disk a file
is written to a temporary name, flushed and renamed into place; on object
stores (and in memory) a whole object is put at once. A split's document and a
layer's ``layer.json`` are written only after everything they vouch for. The
schema of every document and record is :mod:`laminar.records`'.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from laminar import records
from laminar.artifacts import Artifacts, Joined
from laminar.datastore import disk, layout, recovery
from laminar.datastore.files import Files, encoded
from laminar.datastore.index import Index
from laminar.datastore.reads import ArtifactReader
from laminar.datastore.views import LazySplits, StoredSplit
from laminar.datastore.writes import ArtifactWriter
from laminar.errors import ArtifactError, ConfigurationError
from laminar.records import Documents, SplitDocument, SplitMeta
from laminar.serde import Protocol, Serde

P = TypeVar("P", bound=type[Protocol])


class Datastore:
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
        self.files = Files(root, **storage_options)
        self.serde = Serde(allow_pickle=allow_pickle)
        self.reader = ArtifactReader(self.files, self.serde)
        self.writer = ArtifactWriter(self.files, self.serde)
        self.index = Index(self.files)

    def follow(self, other: Datastore) -> None:
        """Serialize as ``other`` does: its registered protocols, and ``allow_pickle=False`` if either has it.
        A datastore named on a command line (``--datastore``) follows the flow's own this way, so it reads
        what the flow's protocols wrote and never loosens the flow's refusal of pickle."""
        serde = other.serde.copy(allow_pickle=self.allow_pickle and other.allow_pickle)
        self.serde = self.reader.serde = self.writer.serde = serde

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["index"]  # each process learns its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.index = Index(self.files)

    @property
    def root(self) -> str:
        return self.files.root

    @property
    def url(self) -> str:
        """The root URL with any credentials removed; safe to print."""
        return self.files.url

    @property
    def fs(self) -> Any:
        """The fsspec file system (created on first use)."""
        return self.files.fs

    @property
    def allow_pickle(self) -> bool:
        return self.serde.allow_pickle

    def __repr__(self) -> str:
        pickle = "" if self.allow_pickle else ", allow_pickle=False"
        return f"{type(self).__name__}(root={self.url!r}{pickle})"

    # -- values ------------------------------------------------------------------------------------

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

    def put_value(self, value: Any, *, where: str = "value") -> tuple[str, str]:
        """Serialize and store ``value`` once; return (protocol name, digest)."""
        return self.writer.put_value(value, where=where)

    def get_value(
        self, protocol_name: str, digest: str, *, where: str = "value", inline: Mapping[str, str] | None = None
    ) -> Any:
        """Load the artifact ``digest`` with its protocol, after checking its bytes hash to ``digest``."""
        return self.reader.get_value(protocol_name, digest, where=where, inline=inline)

    def read_json(self, relative: str) -> Any | None:
        """The JSON document at ``relative`` (a path under the root), or None when there is none."""
        return self.files.read_json(relative)

    def write_json(self, relative: str, value: Any) -> None:
        self.files.write_json(relative, value)

    def exists(self, relative: str) -> bool:
        """Whether there is a file at ``relative`` (a path under the root)."""
        return self.files.exists(relative)

    # -- splits ------------------------------------------------------------------------------------

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
        """Store a split's artifacts, then its document (archive and record); return what the engine needs.

        The document appears only after every artifact it names is stored, so a split with a document is
        a finished split. ``record`` (its JSON: attempt, timings, ...; called once the artifacts are
        written when it is a function) defaults to ``{"state": "finished"}``. On a local disk every new
        artifact is flushed and renamed into place in the background while the next value is written,
        and the document meanwhile (one wait, not one per file); it is renamed into place only once all
        of that is done. Without ``commit`` the document is not written but returned
        (``SplitMeta.document``) once the artifacts are stored: the journal commits it, with others.
        """
        label = f"{flow}.{layer}[{index}] of execution {execution!r}"
        relative = layout.split(flow, execution, layer, index)  # checks the names before anything is written
        entries, moves = self.writer.store_split(label, values, shards)
        written = record() if callable(record) else record
        document = records.document(entries, written if written is not None else {"state": records.FINISHED})
        if not commit:
            if moves:
                self._settle(moves)
            return SplitMeta.of(document, keep=True)
        self._write_document(relative, document, moves)
        return SplitMeta.of(document)

    def _write_document(self, relative: str, value: Any, moves: disk.Moves | None) -> None:
        """Write a JSON document so that it appears whole, and (local disk) only once it and every
        artifact in ``moves`` are on disk: it is flushed while they are, and renamed into place after."""
        data = encoded(value)
        if moves is None:
            self.files.put_bytes(relative, data)
        else:
            try:
                self.files.put_bytes(relative, data, before_rename=functools.partial(self._settle, moves))
            finally:
                with contextlib.suppress(Exception):  # no move outlives the call, whatever happened
                    moves.wait()
        self.index.forget(relative)

    def _settle(self, moves: disk.Moves) -> None:
        """Wait until every artifact in ``moves`` is in place."""
        with self.files.guard("write an artifact"):
            moves.wait()

    def commit_splits(self, flow: str, execution: str, layer: str, documents: Documents) -> None:
        """Write the documents of finished splits (whose artifacts are stored) as one batch: one file for
        many splits (one split's document is a file of its own)."""
        if len(documents) == 1:
            ((index, document),) = documents.items()
            self._write_document(layout.split(flow, execution, layer, index), document, None)
            return
        self.files.write_json(layout.batch(flow, execution, layer), records.split_batch(documents))

    def document(self, flow: str, execution: str, layer: str, index: int) -> SplitDocument:
        """A finished split's document (its archive and record); an ArtifactError when it has none."""
        document = self.index.document(flow, execution, layer, index)
        if document is None:
            raise ArtifactError(
                f"{flow}.{layer}[{index}] of execution {execution!r} has no archive in {self.url} (expected at "
                f"{layout.split(flow, execution, layer, index)}); did it finish? If it did, its record was removed: "
                "resume the execution to run it again"
            )
        return document

    def read_meta(self, flow: str, execution: str, layer: str, index: int) -> SplitMeta:
        return SplitMeta.of(self.document(flow, execution, layer, index))

    def split(self, flow: str, execution: str, layer: str, index: int) -> Artifacts:
        """A finished split's artifacts, loaded lazily."""
        entries = self.document(flow, execution, layer, index)["artifacts"]
        return StoredSplit(self.reader, f"{flow}.{layer}[{index}] of execution {execution!r}", entries)

    def split_of(self, flow: str, execution: str, layer: str, index: int, document: Any) -> Artifacts:
        """The artifacts of a split's ``document`` found elsewhere (checked first), loaded lazily."""
        label = f"{flow}.{layer}[{index}] of execution {execution!r}"
        entries = records.checked_document(document, label, "its document", self.url)["artifacts"]
        return StoredSplit(self.reader, label, entries)

    def layer(self, flow: str, execution: str, layer: str, splits: int | None) -> Artifacts:
        """A whole layer: its one split, or for a foreach layer every split joined."""
        if splits is None:
            return self.split(flow, execution, layer, 0)
        return Joined(LazySplits(self, flow, execution, layer, splits))

    def read_split_record(self, flow: str, execution: str, layer: str, index: int) -> dict[str, Any] | None:
        """A finished split's record (attempt, timings, resources), or None when it has not finished."""
        document = self.index.document(flow, execution, layer, index)
        return None if document is None else dict(document["record"])

    def finished_splits(self, flow: str, execution: str, layer: str) -> set[int]:
        """Indices of the splits of a layer that finished: one listing, and a read of each new batch."""
        return self.index.finished(flow, execution, layer)

    def write_split_failure(self, flow: str, execution: str, layer: str, index: int, record: Mapping[str, Any]) -> None:
        """Write the record of a split's failed attempt (``record["attempt"]``, 1 if absent)."""
        attempt = record.get("attempt") or 1
        self.files.write_json(layout.failure(flow, execution, layer, index, attempt), dict(record))

    def write_log(self, flow: str, execution: str, layer: str, index: int, attempt: int, log: Mapping[str, Any]) -> str:
        """Write what a split's attempt wrote so far (or in all); return the file's name beside its record."""
        relative = layout.log(flow, execution, layer, index, attempt)
        self.files.write_json(relative, dict(log))
        return relative.rpartition("/")[2]

    def read_log(self, flow: str, execution: str, layer: str, name: str) -> dict[str, Any] | None:
        """A log written by :meth:`write_log` (``name`` as it returned), or None."""
        found = self.files.read_json(f"{layout.layer(flow, execution, layer)}/{layout.segment('log', name)}")
        return found if isinstance(found, dict) else None

    def attempts(self, flow: str, execution: str, layer: str) -> dict[int, dict[str, list[int]]]:
        """Per split of a layer, the attempts with a failure record (``"failures"``) and those with a log
        file (``"logs"``): one listing."""
        found: dict[int, dict[str, list[int]]] = {}
        for name in self.files.list_names(layout.layer(flow, execution, layer)):
            parsed = layout.attempt_file(name)
            if parsed is not None:
                kind, split, attempt = parsed
                found.setdefault(split, {"failures": [], "logs": []})[f"{kind}s"].append(attempt)
        for entry in found.values():
            entry["failures"].sort()
            entry["logs"].sort()
        return found

    def read_failure(self, flow: str, execution: str, layer: str, index: int, attempt: int) -> dict[str, Any] | None:
        found = self.files.read_json(layout.failure(flow, execution, layer, index, attempt))
        return found if isinstance(found, dict) else None

    # -- layers and executions -----------------------------------------------------------------------

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
        relative = f"{layout.layer(flow, execution, layer)}/{layout.LAYER}"
        self.files.write_json(relative, records.layer_content(record, documents))
        self.index.forget(relative)

    def commit_layers(
        self,
        flow: str,
        execution: str,
        layers: Mapping[str, tuple[Mapping[str, Any], Documents | None]],
    ) -> None:
        """Write the records of finished layers (each with its ``documents``, as ``write_layer_record``
        takes them) as one batch: one file for many layers (one layer's record is its ``layer.json``)."""
        if len(layers) == 1:
            ((layer, (record, documents)),) = layers.items()
            self.write_layer_record(flow, execution, layer, record, documents)
            return
        contents = {layer: records.layer_content(record, documents) for layer, (record, documents) in layers.items()}
        self.files.write_json(layout.layer_batch(flow, execution), records.layer_batch(contents))

    def read_layer_record(self, flow: str, execution: str, layer: str) -> dict[str, Any] | None:
        """A layer's record (state, splits, names, timings), or None when it has none."""
        return self.index.layer_record(flow, execution, layer)

    def write_execution(self, flow: str, execution: str, record: Mapping[str, Any]) -> None:
        self.files.write_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}", dict(record))

    def has_execution(self, flow: str, execution: str) -> bool:
        """Whether ``execution`` was started: it has a record (damaged or not), or records of its layers
        (its own may have been removed since: a resume writes it again from its parameters')."""
        relative = layout.execution(flow, execution)
        return self.files.exists(f"{relative}/{layout.EXECUTION}") or bool(self.files.list_names(relative))

    def claim_execution(self, flow: str, execution: str, record: Mapping[str, Any]) -> bool:
        """Write the execution's record only if it has none: False if it has one, also when another
        process writes it at the same moment (exactly one of racing claims wins; see
        :meth:`Files.create_bytes <laminar.datastore.files.Files.create_bytes>`)."""
        data = encoded(dict(record))
        return self.files.create_bytes(f"{layout.execution(flow, execution)}/{layout.EXECUTION}", data)

    def read_execution(self, flow: str, execution: str) -> dict[str, Any] | None:
        return self.files.read_json(f"{layout.execution(flow, execution)}/{layout.EXECUTION}")

    # -- recovery (resume) -----------------------------------------------------------------------------

    def survey(self, flow: str, execution: str, layers: Iterable[str]) -> recovery.Survey:
        """Every record and document of ``layers`` that can be read and checked, and the damaged files
        (see :mod:`laminar.datastore.recovery`)."""
        return recovery.survey(self.files, flow, execution, layers)

    def set_aside(self, flow: str, execution: str, relative: str) -> str:
        """Rename a damaged file of ``execution`` to a name no reader reads; return that name."""
        try:
            return recovery.set_aside(self.files, relative)
        finally:
            self.index.reset(flow, execution)

    def void_layer(self, flow: str, execution: str, layer: str) -> None:
        """Remove a layer's records and documents from ``execution`` (to rerun it); its artifacts stay."""
        try:
            recovery.void(self.files, flow, execution, layer)
        finally:
            self.index.reset(flow, execution)

    # -- listing (one listing call each, no per-item reads) ------------------------------------------

    def list_executions(self, flow: Any) -> list[Any]:
        """The executions of ``flow`` (a Flow, or a Flow class) in this datastore as ``Execution`` objects,
        oldest first (generated ids sort by time), as the original laminar documents it; ids alone:
        :meth:`execution_ids`."""
        if isinstance(flow, str):
            raise TypeError(
                f"list_executions(flow={flow!r}) needs the flow (a Flow or Flow class) to return its Executions; "
                "execution_ids(name) lists the ids of a flow known only by name"
            )
        owner = _reading(flow, self)
        return [owner.execution(identifier) for identifier in self.execution_ids(owner)]

    def list_layers(self, execution: Any) -> list[Any]:
        """The layers of an ``Execution`` that started writing, as the layer objects ``execution.layer``
        returns (artifacts as attributes, ``state``), sorted by name; names alone: :meth:`layer_names`.
        A layer recorded by an earlier version of the flow, no longer in its graph, is left out."""
        known = set(execution.flow.graph().nodes)
        return [execution.layer(name) for name in self.layer_names(execution) if name in known or name == "Parameters"]

    def execution_ids(self, flow: Any) -> list[str]:
        """Execution ids of ``flow`` (a Flow, a Flow class or a name), sorted: generated ids sort by time."""
        return [name for name in self.files.list_names(layout.flow(_name(flow))) if _is_segment(name)]

    def layer_names(self, execution: Any) -> list[str]:
        """Names of the layers of an execution (anything with ``flow.name`` and ``id``) that started writing
        (finished, skipped, failed, running)."""
        flow, id_ = execution.flow.name, execution.id
        names = self.files.list_names(layout.execution(flow, id_))
        layers = {
            name for name in names if _is_segment(name) and name != layout.EXECUTION and not layout.is_withdrawn(name)
        }
        batches = {name for name in layers if layout.is_layer_batch(name)}
        if batches:  # finished layers whose records were committed together (no directory of their own)
            layers = (layers - batches) | self.index.layers(flow, id_, names)
        return sorted(layers)

    def list_artifacts(self, layer: Any) -> list[str]:
        """Artifact names of a layer read from results (``execution.layer(A)``)."""
        context = layer._laminar
        if context.artifacts is None:
            return []
        return sorted(context.artifacts.names())


def _reading(flow: Any, store: Datastore) -> Any:
    """``flow`` reading from ``store``: a Flow class built on it, a Flow on another datastore copied onto it."""
    if isinstance(flow, type):
        return flow(datastore=store)
    if flow.configuration.datastore is store:
        return flow
    clone = copy.copy(flow)
    clone.configuration = dataclasses.replace(flow.configuration, datastore=store)
    return clone


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
