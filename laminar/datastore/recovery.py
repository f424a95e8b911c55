"""What a resumed execution may trust: every record read and checked, the damaged ones set aside.

Readers (:mod:`laminar.datastore.index`) trust the records they find and raise on a damaged one. A resume
must not: it reads every record and document an execution left (:func:`survey`), keeps what it can read
and check, and reruns the rest. A file it cannot read (not JSON, or not a record's or a document's
shape) is set aside (:func:`set_aside`: renamed to a name starting with ``.``, which no reader reads), so
that what the rerun writes is the only record of what it reran. ``Execution.resume(rerun=[...])`` voids
layers on purpose (:func:`void`): their records and documents are removed, their artifacts stay
(content addressed, other splits may share them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from laminar import records
from laminar.datastore import layout
from laminar.datastore.files import Files, decoded
from laminar.errors import ArtifactError
from laminar.records import SplitDocument

READERS = 16  # documents read at once from object stores (one request each)


@dataclass
class Found:
    """What one layer's records hold that can be read and checked."""

    record: dict[str, Any] | None = None  # its record (a finished one wins), without the documents it carries
    documents: dict[int, SplitDocument] = field(default_factory=dict)


@dataclass
class Survey:
    """What an execution's layers hold, and the files found damaged (relative paths)."""

    layers: dict[str, Found]
    damaged: list[str]


def survey(files: Files, flow: str, execution: str, layers: Iterable[str]) -> Survey:
    """Read every record and document of ``layers`` in ``execution``: what is readable, and what is not."""
    damaged: list[str] = []
    relative = layout.execution(flow, execution)
    batched: dict[str, tuple[str, Any]] = {}  # layer -> (the batch of layer records holding it, its record)
    for name in files.list_names(relative):
        if layout.is_layer_batch(name):
            path = f"{relative}/{name}"
            found = records.layer_batch_records(_read(files, path, damaged))
            if found is None:
                _damaged(damaged, path)
            else:
                batched.update((layer, (path, record)) for layer, record in found.items())
    return Survey({name: _layer(files, flow, execution, name, batched.get(name), damaged) for name in layers}, damaged)


def _layer(
    files: Files, flow: str, execution: str, layer: str, batched: tuple[str, Any] | None, damaged: list[str]
) -> Found:
    label = f"{flow}.{layer} of execution {execution!r}"
    relative = layout.layer(flow, execution, layer)
    listing = files.list_names(relative)
    found = Found()
    own = f"{relative}/{layout.LAYER}"
    sources = [(own, _read(files, own, damaged) if layout.LAYER in listing else None)]
    if batched is not None:
        sources.append(batched)
    for source, content in sources:
        if content is None:
            continue
        carried = records.carried(content)
        if not isinstance(content, dict) or carried is None or not _documents(carried, label, found):
            _damaged(damaged, source)
            continue
        if found.record is None or (records.is_finished(content) and not records.is_finished(found.record)):
            found.record = records.without_documents(content)
    names = [name for name in listing if layout.is_batch(name) or layout.split_index(name) is not None]
    for name, content in zip(names, _read_all(files, [f"{relative}/{n}" for n in names], damaged), strict=True):
        if content is None:
            continue
        index = layout.split_index(name)
        documents = {str(index): content} if index is not None else records.split_batch_documents(content)
        if documents is None or not _documents(documents, label, found):
            _damaged(damaged, f"{relative}/{name}")
    return found


def _documents(documents: dict[str, Any], label: str, found: Found) -> bool:
    """Add ``documents`` (split -> document) to ``found`` if every one of them is a document; else False."""
    checked = {}
    for key, content in documents.items():
        if not key.isdigit():
            return False
        try:
            checked[int(key)] = records.checked_document(content, label, "", "")
        except ArtifactError:
            return False
    found.documents.update(checked)
    return True


def _read(files: Files, relative: str, damaged: list[str]) -> Any:
    """The JSON at ``relative``; None when it is missing or damaged (then noted in ``damaged``)."""
    try:
        return decoded(files.get_bytes(relative))
    except FileNotFoundError:
        return None
    except ValueError:
        _damaged(damaged, relative)
        return None


def _read_all(files: Files, paths: list[str], damaged: list[str]) -> list[Any]:
    """``_read`` of each of ``paths``; several at once on object stores, where each is a request."""
    if files.local or len(paths) < 2:
        return [_read(files, path, damaged) for path in paths]
    with ThreadPoolExecutor(min(READERS, len(paths)), thread_name_prefix="laminar-survey") as pool:
        return list(pool.map(lambda path: _read(files, path, damaged), paths))


def _damaged(damaged: list[str], relative: str) -> None:
    if relative not in damaged:
        damaged.append(relative)


def set_aside(files: Files, relative: str) -> str:
    """Rename the damaged file ``relative`` to a name no reader reads (starting with ``.``), in its own
    directory, for whoever wants to look at it; return that name."""
    directory, _, name = relative.rpartition("/")
    aside = f"{directory}/.damaged-{os.urandom(4).hex()}-{name}"
    with files.guard(f"set {relative} aside"):
        if files.local:
            os.replace(files.path(relative), files.path(aside))
        else:
            files.fs.mv(files.path(relative), files.path(aside))
    return aside


def void(files: Files, flow: str, execution: str, layer: str) -> None:
    """Remove ``layer``'s records and documents from ``execution``: its record in batches of layer records
    (each such batch rewritten without it, atomically; one left empty removed) and its directory."""
    relative = layout.execution(flow, execution)
    for name in files.list_names(relative):
        if not layout.is_layer_batch(name):
            continue
        path = f"{relative}/{name}"
        try:
            content = files.read_json(path)
        except ArtifactError:
            set_aside(files, path)
            continue
        found = records.layer_batch_records(content)
        if found is None:
            set_aside(files, path)
        elif layer in found:
            del found[layer]
            if found:
                files.write_json(path, records.layer_batch(found))
            else:
                with files.guard(f"remove {path}"):
                    files.fs.rm_file(files.path(path))
    directory = layout.layer(flow, execution, layer)
    with files.guard(f"remove {directory}"):
        if files.local:
            shutil.rmtree(files.path(directory), ignore_errors=True)
        elif files.list_names(directory):
            files.fs.rm(files.path(directory), recursive=True)
