"""The cache's entries in the datastore, and the checks a hit must pass before it is used.

::

    cache/<flow>/<layer>/<key>.json     entries of one unit key (laminar.cache.key): newest first, each
                                        the reads it was made with, the execution and split that made
                                        it, and that split's archive (attribute -> digests)

Entries live in the datastore they describe, so any later execution in it (any process, Local,
Memory or S3) finds them. An entry names artifacts by digest: a hit copies nothing, it writes a new
split document pointing at them. It is used only if every artifact it names exists and (with
``Cache(verify=True)``) still hashes to its digest, and if this datastore may load its protocols
(``allow_pickle=False`` refuses pickled ones); otherwise, as for an entry that cannot be read, the
lookup is a miss and says why in a :class:`CacheWarning` (a corrupt artifact file is removed, so that
the run the miss causes stores it whole again: a content-addressed store never rewrites a file that
exists). Entries are written once the run ended and
its records were committed (:meth:`laminar.journal.Journal.close`); two runs writing one key at once
may lose one's entry, which costs a later run a miss, never a wrong result.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from laminar.datastore import Datastore, layout, transfer
from laminar.errors import ArtifactError, LaminarError
from laminar.records import ArtifactEntry, checked_document

ROOT = "cache"
#: Entries kept per key: the same code on the same selected items read differently (other parameters).
KEPT = 8
FORMAT = 1


class CacheWarning(UserWarning):
    """A cache entry that could not be used: the lookup was a miss and the unit runs."""


def directory(flow: str, layer: str | None = None) -> str:
    parts = [ROOT, layout.segment("flow name", flow)]
    if layer is not None:
        parts.append(layout.segment("layer name", layer))
    return "/".join(parts)


def path(flow: str, layer: str, key: str) -> str:
    return f"{directory(flow, layer)}/{key}.json"


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


def read(store: Datastore, flow: str, layer: str, key: str) -> list[Variant]:
    """The entries of ``key``, newest first: [] when there are none; a damaged file warns and is []."""
    relative = path(flow, layer, key)
    try:
        content = store.files.read_json(relative)
        if content is None:
            return []
        variants = content.get("variants") if isinstance(content, dict) else None
        if content.get("format") != FORMAT or not isinstance(variants, list):
            raise ArtifactError(f"{relative} is damaged (not a cache file of format {FORMAT})")
        return [Variant.from_json(v, relative) for v in variants]
    except (LaminarError, ValueError, TypeError, KeyError) as error:
        warnings.warn(
            f"{flow}.{layer}: the cache entry {relative} in {store.url} cannot be used ({error}); the layer runs "
            f"again and its entry is rewritten (laminar cache clear --flow {flow} --layer {layer} removes them)",
            CacheWarning,
            stacklevel=2,
        )
        return []


def write(store: Datastore, flow: str, layer: str, key: str, variant: Variant) -> None:
    """Add ``variant`` to the entries of ``key`` (replacing one made with the same reads)."""
    relative = path(flow, layer, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)  # a damaged file is replaced
        kept = [v for v in read(store, flow, layer, key) if v.reads != variant.reads]
    variants = [variant, *kept][:KEPT]
    store.files.write_json(relative, {"format": FORMAT, "variants": [v.to_json() for v in variants]})


def keys(store: Datastore, flow: str, layer: str) -> set[str]:
    """The keys with entries of ``layer`` (one listing)."""
    return {name[: -len(".json")] for name in store.files.list_names(directory(flow, layer)) if name.endswith(".json")}


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
            found = keys(store, name, each)
            if found:
                with contextlib.suppress(FileNotFoundError):
                    store.files.fs.rm(store.files.path(directory(name, each)), recursive=True)
            removed += len(found)
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


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


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
    prints. Reads every entry file; a damaged one counts as a key without entries."""
    found = []
    for name in [flow] if flow is not None else flows(store):
        for layer in layers(store, name):
            variants = []
            unit_keys = keys(store, name, layer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CacheWarning)
                for unit in sorted(unit_keys):
                    variants.extend(read(store, name, layer, unit))
            newest = max(variants, key=lambda v: v.created, default=None)
            found.append(
                Listed(
                    name,
                    layer,
                    len(unit_keys),
                    len(variants),
                    newest.created if newest else None,
                    newest.execution if newest else None,
                )
            )
    return found
