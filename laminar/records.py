"""The records an execution leaves in its datastore: the one place their schema is spelled.

Typed records (:class:`ExecutionRecord`, :class:`LayerRecord`,
:class:`SplitRecord`, :class:`FailureRecord`) are what the engine writes and
results read; each turns into and from its JSON here. A finished split's
*document* (its archive, attribute -> artifacts, and its record) stays JSON-shaped
(:class:`SplitDocument`): it travels from the worker that made it to the writer
as plain dicts, which every backend moves cheaply, and readers load its values
lazily. The batch files that hold many documents or records at once are
spelled here too, so no other module names a key.

>>> LayerRecord.from_json(LayerRecord("finished", splits=3, names=("x",)).to_json())  # doctest: +NORMALIZE_WHITESPACE
LayerRecord(state='finished', splits=3, names=('x',), started=None, ended=None, error=None, split=None,
            attempt=0, cached=0, cached_from=None)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from laminar.errors import ArtifactError

FINISHED, SKIPPED, FAILED = "finished", "skipped", "failed"


# -- documents: a finished split's archive and record, as stored -------------------------------------------


class ArtifactEntry(TypedDict, total=False):
    """One attribute of a split: its artifacts' protocols and digests (one, or one per shard item)."""

    sharded: bool
    protocols: list[str]
    digests: list[str]
    pack: str  # a shard's small items, stored one after the other in one artifact
    spans: list[list[int] | None]  # each item's (offset, length) in the pack, None: an artifact of its own
    inline: dict[str, str]  # artifacts kept in the document: digest -> base64 bytes


class SplitDocument(TypedDict):
    """A finished split: its archive (attribute -> entry) and its record (as :meth:`SplitRecord.to_json`)."""

    artifacts: dict[str, ArtifactEntry]
    record: dict[str, Any]


def document(entries: dict[str, ArtifactEntry], record: Mapping[str, Any]) -> SplitDocument:
    return {"artifacts": entries, "record": dict(record)}


def entry(sharded: bool, stored: list[tuple[str, str]], pack: Mapping[str, Any]) -> ArtifactEntry:
    """An attribute's entry: its ``stored`` (protocol, digest) pairs and, for a shard, its pack's fields."""
    made: ArtifactEntry = {"sharded": sharded, "protocols": [p for p, _ in stored], "digests": [d for _, d in stored]}
    made.update(pack)  # type: ignore[typeddict-item]  # "pack" and "spans", built by the writer
    return made


def checked_document(content: Any, label: str, relative: str, url: str) -> SplitDocument:
    """``content`` if it is a split's document (archive and record), else the ArtifactError to raise."""
    entries = content.get("artifacts") if isinstance(content, dict) else None
    if (
        not isinstance(entries, dict)
        or not all(_valid_entry(e) for e in entries.values())
        or not isinstance(content.get("record"), dict)
    ):
        raise ArtifactError(
            f"{label}: {relative} in {url} is damaged; resume the execution to run the split again (a resume "
            "sets damaged records aside)"
        )
    checked: SplitDocument = content
    return checked


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    protocols, digests, inline = entry.get("protocols"), entry.get("digests"), entry.get("inline", {})
    spans = entry.get("spans", digests)
    return (
        isinstance(protocols, list)
        and isinstance(digests, list)
        and len(protocols) == len(digests)
        and (entry.get("sharded") is True or len(digests) == 1)
        and isinstance(spans, list)
        and len(spans) == len(digests)
        and isinstance(inline, dict)
        and all(isinstance(v, str) for v in inline.values())
    )


def shard_lengths(entries: Mapping[str, ArtifactEntry]) -> dict[str, int]:
    """Each sharded attribute's item count."""
    return {name: len(e["digests"]) for name, e in entries.items() if e.get("sharded")}


@dataclass(frozen=True)
class SplitMeta:
    """What the engine needs to know of a finished split: its artifacts' names and shard lengths."""

    names: tuple[str, ...]
    shards: Mapping[str, int]
    #: The split's document, for the journal to commit; None once it was committed (or read back).
    document: SplitDocument | None = None

    @classmethod
    def of(cls, document: SplitDocument, *, keep: bool = False) -> SplitMeta:
        entries = document["artifacts"]
        return cls(tuple(entries), shard_lengths(entries), document if keep else None)


# -- typed records ------------------------------------------------------------------------------------


def _optional_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ExecutionRecord:
    """An execution's own record, written before any of its layers runs: the claim of its id, carrying the
    Parameters layer's document (``document``), so that what claims the id also holds its parameters."""

    flow: str
    id: str
    created: float
    parameters: tuple[str, ...] = ()
    document: SplitDocument | None = None  # the parameters' document: a copy, so either mends the other
    executor: str | None = None  # what it runs on (the executor's repr)

    def to_json(self) -> dict[str, Any]:
        content = {"flow": self.flow, "id": self.id, "created": self.created, "parameters": list(self.parameters)}
        if self.document is not None:
            content["document"] = self.document
        if self.executor is not None:
            content["executor"] = self.executor
        return content

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> ExecutionRecord:
        document = content.get("document")
        return cls(
            flow=str(content.get("flow", "")),
            id=str(content.get("id", "")),
            created=_optional_float(content.get("created")) or 0.0,
            parameters=tuple(str(name) for name in content.get("parameters", ())),
            document=cast(SplitDocument, document) if isinstance(document, dict) else None,
            executor=str(content["executor"]) if content.get("executor") is not None else None,
        )


@dataclass(frozen=True)
class LayerRecord:
    """How a layer ended: ``finished`` (its split count and artifact names, timings), ``skipped`` or
    ``failed`` (the error and the split that raised it)."""

    state: str
    splits: int | None = None
    names: tuple[str, ...] = ()
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    split: str | None = None  # the label of the split that failed
    attempt: int = 0  # the most attempts a split of it took (a failed layer: the failing one's)
    cached: int = 0  # its splits taken from the cache (laminar.cache) instead of run
    cached_from: str | None = None  # the execution they came from, when every split came from one

    @property
    def finished(self) -> bool:
        return self.state == FINISHED

    def to_json(self) -> dict[str, Any]:
        content: dict[str, Any] = {"state": self.state}
        if self.state == FINISHED:
            content.update(splits=self.splits, names=list(self.names))
        optional = {
            "started": self.started,
            "ended": self.ended,
            "error": self.error,
            "split": self.split,
            "attempt": self.attempt or None,
            "cached": self.cached or None,
            "cached_from": self.cached_from,
        }
        content.update({key: value for key, value in optional.items() if value is not None})
        return content

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> LayerRecord:
        splits = content.get("splits")
        error = content.get("error")
        split = content.get("split")
        attempt = content.get("attempt")
        return cls(
            state=str(content.get("state", "pending")),
            splits=int(splits) if isinstance(splits, int) else None,
            names=tuple(str(name) for name in content.get("names", ())),
            started=_optional_float(content.get("started")),
            ended=_optional_float(content.get("ended")),
            error=str(error) if error is not None else None,
            split=str(split) if split is not None else None,
            attempt=attempt if isinstance(attempt, int) else 0,
            cached=cached if isinstance(cached := content.get("cached"), int) else 0,
            cached_from=str(content["cached_from"]) if content.get("cached_from") is not None else None,
        )


#: A split's log as kept (``laminar.logs.Capture.to_json``): per stream its text (head and tail), bytes, cut.
Log = Mapping[str, Any]
#: Logs of at most this many characters are kept in the record itself; longer ones in a file beside it.
LOG_INLINE = 4096


def log_size(log: Log | None) -> int:
    if not log:
        return 0
    return sum(len(str(log.get(stream, {}).get("text", ""))) for stream in ("stdout", "stderr"))


def log_bytes(log: Log | None) -> int:
    """How many bytes the attempt wrote, kept or cut."""
    if not log:
        return 0
    return sum(int(log.get(stream, {}).get("bytes", 0)) for stream in ("stdout", "stderr"))


@dataclass(frozen=True)
class SplitRecord:
    """A finished split's record: its attempt, timings, the resources it asked for, what Catch caught,
    where it ran and what it wrote (its log, or ``log_file`` when too long for the record)."""

    attempt: int = 1
    started: float | None = None
    ended: float | None = None
    caught: str | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    worker: Mapping[str, Any] = field(default_factory=dict)  # host, pid, and the backend's (node, granted)
    log: Log | None = None
    log_file: str | None = None  # the name of its log's file, beside its record, when not kept in it
    #: The attributes it read of each dependency (``"*"``: it listed them all): what a cache entry of
    #: it is checked against (:mod:`laminar.cache`).
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cached_from: str | None = None  # the execution whose split's artifacts it took (a cache hit)

    def to_json(self) -> dict[str, Any]:
        content: dict[str, Any] = {"state": FINISHED, "attempt": self.attempt}
        if self.started is not None:
            content.update(started=self.started, ended=self.ended, caught=self.caught, resources=dict(self.resources))
        optional = {
            "worker": dict(self.worker) or None,
            "log": self.log,
            "log_file": self.log_file,
            "reads": {name: list(attributes) for name, attributes in self.reads.items()} or None,
            "cached_from": self.cached_from,
        }
        content.update({key: value for key, value in optional.items() if value is not None})
        return content

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> SplitRecord:
        attempt = content.get("attempt")
        caught = content.get("caught")
        resources, worker, log = content.get("resources"), content.get("worker"), content.get("log")
        log_file = content.get("log_file")
        return cls(
            attempt=attempt if isinstance(attempt, int) else 1,
            started=_optional_float(content.get("started")),
            ended=_optional_float(content.get("ended")),
            caught=str(caught) if caught is not None else None,
            resources=dict(resources) if isinstance(resources, dict) else {},
            worker=dict(worker) if isinstance(worker, dict) else {},
            log=log if isinstance(log, dict) else None,
            log_file=str(log_file) if log_file is not None else None,
            reads=reads_of(content),
            cached_from=str(content["cached_from"]) if content.get("cached_from") is not None else None,
        )


#: The name under which a split record's ``reads`` keeps what the split read of itself: ``index``,
#: ``splits``, ``execution`` (not an identifier, so never a layer's name).
SELF = "<self>"


def reads_of(record: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """A split record's ``reads`` (dependency -> attributes), {} when it has none or they are damaged."""
    reads = record.get("reads")
    if not isinstance(reads, dict):
        return {}
    return {
        str(name): tuple(map(str, attributes)) for name, attributes in reads.items() if isinstance(attributes, list)
    }


@dataclass(frozen=True)
class FailureRecord:
    """One failed attempt of a split: its error and traceback, when and where it ran, what it wrote."""

    attempt: int
    error: str
    worker_lost: bool = False
    traceback: str | None = None  # the error's formatted traceback, with the layer's own frames
    ended: float | None = None  # when it ended (else when the engine saw it)
    started: float | None = None
    worker: Mapping[str, Any] = field(default_factory=dict)
    log: Log | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    timed_out: bool = False

    def to_json(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            "state": FAILED,
            "attempt": self.attempt,
            "error": self.error,
            "worker_lost": self.worker_lost,
        }
        optional = {
            "traceback": self.traceback,
            "ended": self.ended,
            "started": self.started,
            "worker": dict(self.worker) or None,
            "log": self.log,
            "resources": dict(self.resources) or None,
            "timed_out": self.timed_out or None,
        }
        content.update({key: value for key, value in optional.items() if value is not None})
        return content

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> FailureRecord:
        attempt = content.get("attempt")
        traceback = content.get("traceback")
        worker, log, resources = content.get("worker"), content.get("log"), content.get("resources")
        return cls(
            attempt=attempt if isinstance(attempt, int) else 0,
            error=str(content.get("error", "")),
            worker_lost=bool(content.get("worker_lost", False)),
            traceback=str(traceback) if traceback is not None else None,
            ended=_optional_float(content.get("ended")),
            started=_optional_float(content.get("started")),
            worker=dict(worker) if isinstance(worker, dict) else {},
            log=log if isinstance(log, dict) else None,
            resources=dict(resources) if isinstance(resources, dict) else {},
            timed_out=bool(content.get("timed_out", False)),
        )


#: The attribute of an exception raised by a split's run that says how its attempt went (set by the
#: runner, where the split ran; read by the engine for the attempt's failure record): JSON-shaped, so it
#: travels with the exception across processes.
ATTEMPT = "_laminar_attempt"


def attach(error: BaseException, info: Mapping[str, Any]) -> None:
    """Note on ``error`` how the attempt that raised it went (started, ended, worker, log, traceback)."""
    with contextlib.suppress(AttributeError, TypeError):  # some exceptions take no attributes
        setattr(error, ATTEMPT, dict(info))


def attempt_of(error: BaseException) -> Mapping[str, Any]:
    found = getattr(error, ATTEMPT, None)
    return found if isinstance(found, dict) else {}


# -- batches: many documents or layer records in one file ----------------------------------------------


#: Split documents not committed yet, by split.
Documents = Mapping[int, SplitDocument]


def is_finished(content: Any) -> bool:
    """Whether a layer record's JSON says the layer finished."""
    return isinstance(content, dict) and content.get("state") == FINISHED


def layer_content(record: Mapping[str, Any], documents: Documents | None) -> dict[str, Any]:
    """A layer record's JSON, carrying ``documents`` (of its splits not committed before) when given."""
    content = dict(record)
    if documents:
        content["documents"] = {str(i): d for i, d in documents.items()}
    return content


def without_documents(content: Mapping[str, Any]) -> dict[str, Any]:
    """A layer record's JSON as readers get it: the documents it carries are read through the splits."""
    return {key: value for key, value in content.items() if key != "documents"}


def carried(content: Any) -> dict[str, Any] | None:
    """The documents a layer record's JSON carries (split -> document), as a batch's ``splits``."""
    return content.get("documents", {}) if isinstance(content, dict) else None


def split_batch(documents: Documents) -> dict[str, Any]:
    return {"splits": {str(i): d for i, d in documents.items()}}


def split_batch_documents(content: Any) -> dict[str, Any] | None:
    """The documents (split -> document) a batch of split documents holds, or None if it is damaged."""
    splits = content.get("splits") if isinstance(content, dict) else None
    return splits if isinstance(splits, dict) and all(i.isdigit() for i in splits) else None


def layer_batch(contents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {"layers": dict(contents)}


def layer_batch_records(content: Any) -> dict[str, dict[str, Any]] | None:
    """The layer records (layer -> its JSON) a batch of layer records holds, or None if it is damaged."""
    layers = content.get("layers") if isinstance(content, dict) else None
    if not isinstance(layers, dict) or not all(isinstance(r, dict) for r in layers.values()):
        return None
    return layers
