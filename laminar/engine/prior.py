"""What the earlier runs of a resumed execution finished: only what can be read and checked is trusted.

:func:`read` surveys the execution's records (:mod:`laminar.datastore.recovery`): every layer record
and every split's document is read and checked, so a split counts as finished only if its document is
there and whole, and a layer only if every one of its splits' documents is. A damaged file (not JSON, or
not the shape of a record or a document) is set aside, with a warning naming it, and what it recorded
runs again; so does a finished layer missing a split's document (the files removed by hand, say). The
execution's own record and its parameters are mended from each other: the record carries the
parameters' document, so losing one of the two loses nothing.

``rerun`` names layers to run again although they finished (an artifact found corrupt, say): they and
every layer downstream of them are voided first, dependents before what they read (an interrupted void
leaves dependents to rerun, never a dependent kept over a voided input).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping

from laminar.datastore import Datastore, layout
from laminar.datastore.recovery import Found
from laminar.engine.layers import Prior
from laminar.errors import ArtifactError, ConfigurationError, LaminarError
from laminar.graph import PARAMETERS, Graph
from laminar.records import ExecutionRecord, LayerRecord, SplitDocument, SplitMeta, checked_document

log = logging.getLogger("laminar")


def rerun_closure(graph: Graph, rerun: Collection[str]) -> list[str]:
    """The layers ``rerun`` names and every layer downstream of them, dependents first; raises
    ConfigurationError naming any that is not a layer of the graph."""
    unknown = sorted(name for name in rerun if name not in graph.nodes)
    if unknown:
        known = ", ".join(graph.nodes) or "none"
        raise ConfigurationError(
            f"{graph.flow}: cannot rerun {', '.join(map(repr, unknown))}: not a layer of the flow (its layers: "
            f"{known}; the Parameters layer holds what the execution was started with and never reruns)"
        )
    closure = set(rerun)
    for name in graph.nodes:  # graph order: a layer comes after what it reads
        if any(dependency in closure for dependency in graph[name].dependencies):
            closure.add(name)
    return [name for name in reversed(list(graph.nodes)) if name in closure]


def read(graph: Graph, store: Datastore, execution: str, rerun: Collection[str] = ()) -> Prior:
    """What earlier runs of ``execution`` finished (see the module docstring), after voiding ``rerun``."""
    flow = graph.flow
    for name in rerun_closure(graph, rerun):
        store.void_layer(flow, execution, name)
    survey = store.survey(flow, execution, [PARAMETERS, *graph.nodes])
    for relative in survey.damaged:
        aside = store.set_aside(flow, execution, relative)
        log.warning(
            "%s",
            f"{flow} execution {execution!r}: {relative} in {store.url} is damaged; it was set aside as {aside} "
            "and what it recorded runs again",
        )
    found = survey.layers
    parameters = _parameters(store, flow, execution, found[PARAMETERS])
    layers: dict[str, int | None] = {}
    splits: dict[str, frozenset[int]] = {}
    for name in graph.nodes:
        count, done = _finished(flow, execution, name, found[name])
        if count is not None:
            layers[name] = None if count < 0 else count
        else:
            splits[name] = done
    documents = {name: layer.documents for name, layer in found.items()}
    documents[PARAMETERS] = {0: parameters}
    attempts = {  # failed attempts recorded by earlier runs: a resume goes on counting
        (name, split): max(files["failures"])
        for name in splits
        for split, files in store.attempts(flow, execution, name).items()
        if files["failures"]
    }
    return Prior(layers, splits, _metas(graph, documents, layers, splits), attempts)


def _finished(flow: str, execution: str, name: str, found: Found) -> tuple[int | None, frozenset[int]]:
    """A finished layer's split count (-1: a plain layer), or None and the splits that finished."""
    record = LayerRecord.from_json(found.record) if found.record is not None else None
    if record is None or not record.finished:
        return None, frozenset(found.documents)
    expected = range(1 if record.splits is None else record.splits)
    missing = [index for index in expected if index not in found.documents]
    if not missing:
        return (-1 if record.splits is None else record.splits), frozenset()
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    log.warning(
        "%s",
        f"{flow}.{name} finished in execution {execution!r}, but the documents of {len(missing)} of its splits "
        f"({shown}) are missing: they run again",
    )
    return None, frozenset(index for index in found.documents if index in expected)


def _parameters(store: Datastore, flow: str, execution: str, found: Found) -> SplitDocument:
    """The Parameters layer's document; its record and the execution's written again if either is lost."""
    relative = f"{layout.execution(flow, execution)}/{layout.EXECUTION}"
    try:
        content = store.read_execution(flow, execution)
    except ArtifactError:  # not JSON: set aside, and written again below
        content = None
        store.set_aside(flow, execution, relative)
    claimed = ExecutionRecord.from_json(content) if isinstance(content, dict) else None
    document = found.documents.get(0)
    finished = found.record is not None and LayerRecord.from_json(found.record).finished
    if document is None or not finished:
        document = _claimed_document(flow, execution, claimed)
        names = tuple(sorted(document["artifacts"]))
        store.write_layer_record(
            flow, execution, PARAMETERS, LayerRecord("finished", names=names).to_json(), {0: document}
        )
        log.warning("%s", f"{flow} execution {execution!r}: its parameters' record was lost; written again")
    if claimed is None:
        names = tuple(sorted(document["artifacts"]))
        record = ExecutionRecord(flow, execution, time.time(), names, document)
        store.write_execution(flow, execution, record.to_json())
        log.warning("%s", f"{flow} execution {execution!r}: its record was lost; written again from its parameters")
    return document


def _claimed_document(flow: str, execution: str, claimed: ExecutionRecord | None) -> SplitDocument:
    if claimed is not None and claimed.document is not None:
        try:
            return checked_document(claimed.document, f"{flow} execution {execution!r}", "execution.json", "")
        except ArtifactError:
            pass
    raise LaminarError(
        f"{flow} execution {execution!r}: its parameters cannot be read (their record is missing or damaged, "
        "and the execution's record holds no copy of them); they cannot be recovered: start a new execution"
    )


def _metas(
    graph: Graph,
    documents: Mapping[str, Mapping[int, SplitDocument]],
    layers: Mapping[str, int | None],
    splits: Mapping[str, frozenset[int]],
) -> dict[tuple[str, int], SplitMeta]:
    """The metas of the finished splits that grids read (known from the graph: ``Parameter`` names the
    split it reads) or that name a layer's artifacts (split 0)."""
    metas = {(name, 0): SplitMeta.of(documents[name][0]) for name, done in splits.items() if 0 in done}
    for node in graph.nodes.values():
        for parameter in node.configuration.foreach.parameters if node.configuration.foreach else ():
            name = parameter.layer.__name__
            upstream = graph.nodes.get(name)
            if parameter.index is None and upstream is not None and upstream.foreach:
                continue  # 1:1: reads split counts only
            index = parameter.index or 0
            if name == PARAMETERS or name in layers or index in splits.get(name, ()):
                found = documents.get(name, {}).get(index)
                if found is not None:
                    metas[(name, index)] = SplitMeta.of(found)
    return metas
