"""The cache's entries in the datastore, and the checks a hit must pass before it is used.

::

    cache/<flow>/<layer>/entries-<stamp>-<random>.json   the entries a run added to a layer (or several
                                                         runs', merged): unit key -> its entries,
                                                         newest first, each the reads it was made with,
                                                         the execution and split that made it, and that
                                                         split's archive (attribute -> digests)

Entries live in the datastore they describe, so any later execution in it (any process, Local,
Memory or S3) finds them. They are kept per layer, in a few files rather than one per unit: a run
reads a layer's files once (one listing, one read each, in parallel) when it first looks a unit of
it up, and adds one file per layer at its end, so a fan-out of 1,000 splits costs a few requests,
not thousands. Once a layer has more than :data:`MERGE_AT` files, or one that cannot be read, the
run that read them writes them merged into one and deletes them. A file removed by another run
meanwhile reads as empty: runs never wait for each other, and a lost entry costs a later run a
miss, never a wrong result.

An entry names artifacts by digest: a hit copies nothing, it writes a new split document pointing
at them. It is used only if every artifact it names exists and (with ``Cache(verify=True)``) still
hashes to its digest, and if this datastore may load its protocols (``allow_pickle=False`` refuses
pickled ones); otherwise, as for a file of entries that cannot be read, the lookup is a miss and says
why in a :class:`CacheWarning` (a corrupt artifact file is removed, so that the run the miss causes
stores it whole again: a content-addressed store never rewrites a file that exists). Entries are
written once the run ended and its records were committed (:meth:`laminar.journal.Journal.close`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import secrets
import time
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from laminar.datastore import Datastore, layout, transfer
from laminar.errors import ArtifactError, LaminarError
from laminar.records import ArtifactEntry, checked_document

ROOT = "cache"
PREFIX = "entries-"
#: Entries kept per key: the same code on the same selected items read differently (other parameters).
KEPT = 8
#: A layer's files of entries beyond which the run that read them merges them into one.
MERGE_AT = 8
FORMAT = 2


class CacheWarning(UserWarning):
    """A cache entry that could not be used: the lookup was a miss and the unit runs."""


def directory(flow: str, layer: str | None = None) -> str:
    parts = [ROOT, layout.segment("flow name", flow)]
    if layer is not None:
        parts.append(layout.segment("layer name", layer))
    return "/".join(parts)


def new_file(flow: str, layer: str) -> str:
    """A new file of entries: its name sorts by time (newer files' entries come first)."""
    stamp = f"{time.time_ns():020d}"
    return f"{directory(flow, layer)}/{PREFIX}{stamp}-{secrets.token_hex(4)}.json"


@dataclass(frozen=True)
class Variant:
    """One entry: what the run read (dependency -> attribute -> digest), who made it, what it stored."""

    reads: Mapping[str, Mapping[str, str]]
    execution: str
    split: int
    artifacts: dict[str, ArtifactEntry]
    caught: str | None = None
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "reads": {name: dict(attributes) for name, attributes in self.reads.items()},
            "execution": self.execution,
            "split": self.split,
            "artifacts": self.artifacts,
            "caught": self.caught,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, content: Any, where: str) -> Variant:
        if not isinstance(content, dict) or not isinstance(content.get("reads"), dict):
            raise ArtifactError(f"{where} is damaged (an entry without its reads)")
        checked_document({"artifacts": content.get("artifacts"), "record": {}}, where, where, "the cache")
        reads = content["reads"]
        if not all(isinstance(a, dict) for a in reads.values()):
            raise ArtifactError(f"{where} is damaged (reads)")
        return cls(
            {str(n): {str(k): str(v) for k, v in a.items()} for n, a in reads.items()},
            str(content.get("execution", "")),
            int(content.get("split", 0)),
            content["artifacts"],
            str(content["caught"]) if content.get("caught") is not None else None,
            float(content.get("created", 0.0)),
        )


Entries = dict[str, list[Variant]]  # unit key -> its entries, newest first


@dataclass
class Loaded:
    """A layer's entries as one run read them: by key, the files they came from, whether one was damaged."""

    entries: Entries = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    damaged: bool = False

    @property
    def merge(self) -> bool:
        """Whether the run that read these should write them merged (and delete the files)."""
        return self.damaged or len(self.files) > MERGE_AT


def load(store: Datastore, flow: str, layer: str) -> Loaded:
    """Every entry of ``layer``: one listing and a read of each file (in parallel). A file that cannot
    be read warns and counts as damaged (its entries are misses); one gone meanwhile is empty."""
    base = directory(flow, layer)
    names = [n for n in store.files.list_names(base) if n.startswith(PREFIX) and n.endswith(".json")]
    files = [f"{base}/{name}" for name in names]
    loaded = Loaded(files=files)
    if not files:
        return loaded
    with ThreadPoolExecutor(min(8, len(files)), thread_name_prefix="laminar-cache") as pool:
        contents = list(pool.map(lambda relative: _read(store, relative), files))
    for relative, content in sorted(zip(files, contents, strict=True), reverse=True):  # newest first
        if isinstance(content, BaseException):
            loaded.damaged = True
            warnings.warn(
                f"{flow}.{layer}: the cache entries in {relative} in {store.url} cannot be used ({content}); "
                f"their units run again and the file is replaced (laminar cache clear --flow {flow} --layer {layer} "
                "removes them all)",
                CacheWarning,
                stacklevel=3,
            )
            continue
        for unit, variants in content.items():
            loaded.entries.setdefault(unit, []).extend(variants)
    return loaded


def _read(store: Datastore, relative: str) -> Entries | BaseException:
    try:
        content = store.files.read_json(relative)
        if content is None:  # merged and removed by another run meanwhile
            return {}
        found = content.get("keys") if isinstance(content, dict) else None
        if content.get("format") != FORMAT or not isinstance(found, dict):
            raise ArtifactError(f"not a file of cache entries of format {FORMAT}")
        return {
            str(unit): [Variant.from_json(v, relative) for v in variants]
            for unit, variants in found.items()
            if isinstance(variants, list)
        }
    except (LaminarError, ValueError, TypeError, KeyError, AttributeError) as error:
        return error


def add(entries: Entries, unit: str, variant: Variant) -> None:
    """Put ``variant`` first among the entries of ``unit``, replacing one made with the same reads."""
    kept = [v for v in entries.get(unit, []) if v.reads != variant.reads]
    entries[unit] = [variant, *kept][:KEPT]


def write(store: Datastore, flow: str, layer: str, new: Entries, loaded: Loaded | None) -> None:
    """Write the entries a run added to ``layer``: one new file; merged with what it had read (which is
    then deleted) when ``loaded`` asks for it."""
    if loaded is not None and loaded.merge:
        merged = {unit: list(variants) for unit, variants in loaded.entries.items()}
        for unit, variants in new.items():
            for variant in reversed(variants):
                add(merged, unit, variant)
        new = merged
    if new:
        content = {"format": FORMAT, "keys": {unit: [v.to_json() for v in vs] for unit, vs in new.items()}}
        store.files.write_json(new_file(flow, layer), content)
    if loaded is not None and loaded.merge:
        for relative in loaded.files:
            with contextlib.suppress(FileNotFoundError, OSError):
                store.files.fs.rm(store.files.path(relative))


def flows(store: Datastore) -> list[str]:
    return sorted(store.files.list_names(ROOT))


def layers(store: Datastore, flow: str) -> list[str]:
    return sorted(store.files.list_names(directory(flow)))


def clear(store: Datastore, flow: str | None = None, layer: str | None = None) -> int:
    """Remove the entries of a layer, a flow or (neither given) all; return how many keys went. The
    artifacts stay: executions' records name them too."""
    targets = [flow] if flow is not None else flows(store)
    removed = 0
    for name in targets:
        for each in [layer] if layer is not None else layers(store, name):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CacheWarning)
                loaded = load(store, name, each)
            if loaded.files:
                with contextlib.suppress(FileNotFoundError):
                    store.files.fs.rm(store.files.path(directory(name, each)), recursive=True)
            removed += len(loaded.entries)
    return removed


# -- verifying a hit -------------------------------------------------------------------------------


def problem(store: Datastore, artifacts: Mapping[str, ArtifactEntry], *, verify: bool) -> str | None:
    """Why the artifacts an entry names cannot be used here, or None: every one exists (and with
    ``verify`` hashes to its digest) and this datastore may load its protocol."""
    for name, entry in artifacts.items():
        inline = entry.get("inline", {})
        for protocol in entry.get("protocols", []):
            try:
                store.serde.get(protocol, where=f"artifact {name!r}")
            except LaminarError as error:
                return str(error)
        spans = entry.get("spans") or [None] * len(entry.get("digests", []))
        files = {digest for digest, span in zip(entry.get("digests", []), spans, strict=False) if span is None}
        if entry.get("pack"):
            files.add(entry["pack"])
        for digest in sorted(files):
            if digest in inline:
                if _decoded_hash(inline[digest]) != digest:
                    return f"artifact {digest[:12]} of {name!r} kept in the entry is corrupt"
                continue
            found = _file_problem(store, digest, verify=verify)
            if found is not None:
                return f"artifact {digest[:12]} of {name!r} {found}"
    return None


def _decoded_hash(encoded: str) -> str | None:
    try:
        return hashlib.sha256(base64.b64decode(encoded, validate=True)).hexdigest()
    except (binascii.Error, TypeError, ValueError):
        return None


def _file_problem(store: Datastore, digest: str, *, verify: bool) -> str | None:
    files = store.files
    try:
        relative = layout.artifact(digest)
    except ArtifactError as error:
        return str(error)
    where = files.path(relative)
    try:
        if not verify:
            return None if files.fs.exists(where) else f"is missing (expected at {relative})"
        with _open(store, where) as source:
            actual = transfer.hash_file(source)
    except FileNotFoundError:
        return f"is missing (expected at {relative})"
    except OSError as error:
        return f"cannot be read ({type(error).__name__}: {error})"
    if actual == digest:
        return None
    # Stores skip an artifact whose file exists (content addressed): the run this miss causes could not
    # replace a corrupt one, and every reader of it fails anyway. Removed, the run stores it whole again.
    with contextlib.suppress(OSError):
        files.fs.rm(where)
    return f"is corrupt (its SHA-256 is {actual[:12]}; removed, so that the run stores it again)"


@contextlib.contextmanager
def _open(store: Datastore, where: str) -> Iterator[IO[bytes]]:
    files = store.files
    if files.local:
        with open(where, "rb") as file:
            yield file
    elif "memory" in files.fs.protocol:  # fsspec's memory files share one position: read a copy
        yield io.BytesIO(files.fs.cat_file(where))
    else:
        with files.fs.open(where, "rb") as file:
            yield file


# -- inspecting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One cached layer of a datastore: its keys, their entries, the newest entry and what made it."""

    flow: str
    layer: str
    keys: int
    entries: int
    newest: float | None
    execution: str | None


def listed(store: Datastore, flow: str | None = None) -> list[Listed]:
    """Every cached layer (of ``flow``, or of every flow) with its entries: what ``laminar cache ls``
    prints. A damaged file of entries counts for none."""
    found = []
    for name in [flow] if flow is not None else flows(store):
        for layer in layers(store, name):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CacheWarning)
                loaded = load(store, name, layer)
            variants = [v for vs in loaded.entries.values() for v in vs]
            newest = max(variants, key=lambda v: v.created, default=None)
            found.append(
                Listed(
                    name,
                    layer,
                    len(loaded.entries),
                    len(variants),
                    newest.created if newest else None,
                    newest.execution if newest else None,
                )
            )
    return found
