"""Building the view model of :mod:`laminar.display.model` from what a datastore records.

The display modules draw views; this one makes them from the
execution's record, its layers' records, its splits' documents and failure records, and its artifacts
(for previews). Records are all it has, so what they do not say is not made up: a layer without a
record that has made progress (or whose dependencies all finished) is ``running``, which is also what
an execution whose driver died looks like; a running foreach layer's split count is worked out from its
dependencies' records when they allow it, else unknown.

A flow's code gives the graph; a datastore browsed without it (``laminar ui`` with no ``TARGET``) still
shows every execution, with the layers its records name and no edges.

Cost: a finished layer is one record read; ``splits=True`` also reads every split's record (for the
timeline and split tables: ~25 us a split from a local disk, each batch of documents read twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, Protocol

from laminar import foreach as foreach_
from laminar.datastore import Datastore, layout
from laminar.display.model import (
    ArtifactView,
    AttemptView,
    ExecutionSummary,
    ExecutionView,
    GraphView,
    LayerView,
    NodeView,
    SplitView,
    graph_view,
)
from laminar.display.previews import preview, size
from laminar.errors import ExecutionNotFound
from laminar.graph import PARAMETERS, Graph
from laminar.records import FailureRecord, SplitRecord, log_bytes


class Flow(Protocol):
    """What a view needs of a flow (a :class:`~laminar.flow.Flow`; results sit below flows)."""

    @property
    def name(self) -> str: ...

    @property
    def configuration(self) -> Any: ...

    def graph(self) -> Graph: ...


#: Artifacts larger than this are described by protocol and size, not loaded, for a preview.
PREVIEW_BYTES = 16 * 2**20
#: Executions a list shows at most, newest first.
LISTED = 200


def flow_view(
    flow: Flow, execution: str, *, splits: bool = True, previews: bool = True, parameter_values: bool | None = None
) -> ExecutionView:
    """``flow``'s execution ``execution`` as a view, from the flow's own datastore."""
    store = flow.configuration.datastore
    return execution_view(
        store, flow.name, execution, flow.graph(), splits=splits, previews=previews, parameter_values=parameter_values
    )


def execution_view(
    store: Datastore,
    flow: str,
    execution: str,
    graph: Graph | None = None,
    *,
    splits: bool = True,
    previews: bool = True,
    parameter_values: bool | None = None,
) -> ExecutionView:
    """An execution as a view. ``graph``: the flow's (else the layers its records name, no edges);
    ``splits``: read every split's record too (timeline, split tables); ``previews``: load artifacts
    and parameters (at most :data:`PREVIEW_BYTES` each) to preview them."""
    record = store.read_execution(flow, execution)
    if record is None:
        known = ", ".join(store.execution_ids(flow)[-3:]) or "none"
        raise ExecutionNotFound(
            f"{flow} has no execution {execution!r} in {store.url} (its latest: {known}); list them with "
            "`laminar executions TARGET`, or pass the datastore it ran with (--datastore URL)"
        )
    records = {}
    if graph is not None:
        shape = graph_view(graph)
        records = {node.name: store.read_layer_record(flow, execution, node.name) for node in shape.nodes}
    else:
        shape, records = _recorded_shape(store, flow, execution)
    layers: list[LayerView] = []
    for node in shape.nodes:
        layers.append(_layer(store, flow, execution, node, graph, records[node.name], layers, splits, previews))
    state = _state(layers)
    if state == "failed":  # what has no record was stopped by the failure: it will not run now
        layers = [_replace_state(layer, "pending") if layer.state == "running" else layer for layer in layers]
    ended = None
    if state != "incomplete":
        stamps = [t for layer in layers for t in (layer.ended, *(s.ended for s in layer.split_views)) if t]
        ended = max(stamps, default=None)
    created = record.get("created")
    return ExecutionView(
        flow=flow,
        id=execution,
        state=state,
        graph=shape,
        created=float(created) if created is not None else None,
        ended=ended,
        parameters=_parameters(store, flow, execution, record, _either(parameter_values, previews)),
        layers=tuple(layers),
        executor=str(record["executor"]) if record.get("executor") is not None else None,
    )


def _either(given: bool | None, default: bool) -> bool:
    return default if given is None else given


def _replace_state(layer: LayerView, state: str) -> LayerView:
    return replace(layer, state=state, remaining=None)


def _state(layers: Iterable[LayerView]) -> str:
    states = [layer.state for layer in layers]
    if "failed" in states:
        return "failed"
    if all(s in ("finished", "skipped") for s in states):
        return "finished"
    return "incomplete"


def _recorded_shape(store: Datastore, flow: str, execution: str) -> tuple[GraphView, dict[str, Any]]:
    """The layers an execution's records name (in the order they started), without the flow's code."""
    named = SimpleNamespace(flow=SimpleNamespace(name=flow), id=execution)  # what layer_names reads
    names = [name for name in store.layer_names(named) if name != PARAMETERS]
    records = {name: store.read_layer_record(flow, execution, name) for name in names}
    started = {name: float((records[name] or {}).get("started") or 0.0) for name in names}
    nodes = []
    for name in sorted(names, key=lambda n: (started[n] or float("inf"), n)):
        record = records[name] or {}
        foreach = record.get("splits") is not None or bool(store.finished_splits(flow, execution, name) - {0})
        nodes.append(NodeView(name=name, foreach=foreach, fans_out=foreach))
    return GraphView(flow=flow, nodes=tuple(nodes), edges_known=False), records


def _layer(
    store: Datastore,
    flow: str,
    execution: str,
    node: NodeView,
    graph: Graph | None,
    record: Mapping[str, Any] | None,
    before: list[LayerView],
    splits: bool,
    previews: bool,
) -> LayerView:
    record = record or {}
    state = str(record.get("state", "")) or None
    count = record.get("splits")
    total: int | None = int(count) if count is not None else None
    finished: set[int] = set()
    failed: set[int] = set()
    if state != "finished" or splits:
        finished, failed = _split_indices(store, flow, execution, node.name)
    if state is None:
        settled = {layer.name: layer for layer in before}
        upstream = [settled.get(d) for d in node.dependencies]
        ready = graph is not None and all(layer is not None and layer.state == "finished" for layer in upstream)
        state = "running" if finished or failed or ready else "pending"
    if total is None and node.foreach and graph is not None and state != "skipped":
        total = _total(store, flow, execution, graph, node.name, before)
    views = _splits(store, flow, execution, node.name, finished, failed) if splits else ()
    done = total if state == "finished" and node.foreach and total is not None else len(finished)
    started, ended = record.get("started"), record.get("ended")
    if started is None and views:
        started = min((s.started for s in views if s.started is not None), default=None)
    if ended is None and views and state in ("failed", "finished"):
        ended = max((s.ended for s in views if s.ended is not None), default=None)
    names = [str(n) for n in record.get("names", ())] if state == "finished" else []
    return LayerView(
        name=node.name,
        state=state,
        foreach=node.foreach,
        splits=total if node.foreach else None,
        finished=done if node.foreach else int(state == "finished"),
        failed=len(failed - finished) if node.foreach else int(state == "failed"),
        remaining=max(total - len(finished) - len(failed), 0) if state == "running" and total is not None else None,
        started=float(started) if started is not None else None,
        ended=float(ended) if ended is not None else None,
        error=str(record["error"]) if record.get("error") is not None else None,
        artifacts=_artifacts(store, flow, execution, node.name, names, total, node.foreach, previews),
        split_views=views,
        attempts=int(record.get("attempt") or 0),
        failures=_failures(store, flow, execution, node.name, failed - finished, views),
        cached=int(record.get("cached") or 0),
        cached_from=str(record["cached_from"]) if record.get("cached_from") is not None else None,
    )


def _failures(
    store: Datastore, flow: str, execution: str, layer: str, failed: set[int], views: tuple[SplitView, ...]
) -> tuple[SplitView, ...]:
    """The splits whose last attempt failed: from the split views made already, else read (only those)."""
    if not failed:
        return ()
    made = {split.index: split for split in views}
    files = store.attempts(flow, execution, layer) if not made else {}
    return tuple(
        made.get(index) or split_view(store, flow, execution, layer, index, files.get(index), False)
        for index in sorted(failed)
    )


def _split_indices(store: Datastore, flow: str, execution: str, layer: str) -> tuple[set[int], set[int]]:
    """The splits of a layer that finished, and those with a failed attempt (a failure record)."""
    finished = store.finished_splits(flow, execution, layer)
    failed = {index for index, files in store.attempts(flow, execution, layer).items() if files["failures"]}
    return finished, failed


def _total(store: Datastore, flow: str, execution: str, graph: Graph, name: str, before: list[LayerView]) -> int | None:
    """A running foreach layer's split count, worked out as the engine does from its dependencies."""
    counts = {layer.name: layer.splits for layer in before}

    def splits(layer: str) -> int:
        count = counts.get(layer)
        if count is None:
            raise foreach_.GridError(f"{layer}'s split count is not known yet")
        return count

    configuration = graph[name].configuration.foreach
    if configuration is None:
        return None
    try:
        grid = foreach_.build(
            configuration,
            is_foreach=lambda layer: layer in graph.nodes and graph[layer].foreach,
            splits=splits,
            meta=lambda layer, split: store.read_meta(flow, execution, layer, split),
        )
    except Exception:  # a dependency not readable yet: the count stays unknown
        return None
    return grid.size


def _splits(
    store: Datastore, flow: str, execution: str, layer: str, finished: set[int], failed: set[int]
) -> tuple[SplitView, ...]:
    """The recorded splits, each with its attempts: every failed one, the finished one, and one that is
    running (or whose process died) as its log tells."""
    files = store.attempts(flow, execution, layer)
    indices = finished | failed | set(files)
    return tuple(split_view(store, flow, execution, layer, i, files.get(i), i in finished) for i in sorted(indices))


def split_view(
    store: Datastore,
    flow: str,
    execution: str,
    layer: str,
    index: int,
    files: Mapping[str, list[int]] | None,
    finished: bool,
) -> SplitView:
    """One split and its attempts, oldest first (``files``: its attempts with a failure record or a log
    file, as :meth:`Datastore.attempts` lists them)."""
    files = files or {"failures": [], "logs": []}
    attempts: dict[int, AttemptView] = {}
    for attempt in files["failures"]:
        found = store.read_failure(flow, execution, layer, index, attempt)
        if found is not None:
            failure = FailureRecord.from_json(found)
            if failure.log is None and attempt in files["logs"]:  # its process died: what it wrote until then
                failure = replace(failure, log=_log_file(store, flow, execution, layer, index, attempt))
            attempts[attempt] = _failed(failure)
    if finished:
        found = store.read_split_record(flow, execution, layer, index)
        if found is not None:
            record = SplitRecord.from_json(found)
            log = record.log or (store.read_log(flow, execution, layer, record.log_file) if record.log_file else None)
            attempts[record.attempt] = _finished(record, log)
    for attempt in files["logs"]:  # a log without a record of its attempt: running, or its process died
        if attempt not in attempts:
            log = _log_file(store, flow, execution, layer, index, attempt)
            attempts[attempt] = AttemptView(number=attempt, state="running", **_streams(log))
    ordered = tuple(attempts[number] for number in sorted(attempts))
    return SplitView(index=index, state=ordered[-1].state if ordered else "running", attempts=ordered)


def _log_file(store: Datastore, flow: str, execution: str, layer: str, index: int, attempt: int) -> dict[str, Any]:
    name = layout.log(flow, execution, layer, index, attempt).rpartition("/")[2]
    return store.read_log(flow, execution, layer, name) or {}


def _streams(log: Mapping[str, Any] | None) -> dict[str, Any]:
    log = log or {}
    text = {stream: str((log.get(stream) or {}).get("text", "")) for stream in ("stdout", "stderr")}
    return {**text, "log_bytes": log_bytes(log)}


def _failed(record: FailureRecord) -> AttemptView:
    return AttemptView(
        number=record.attempt,
        state="failed",
        started=record.started,
        ended=record.ended,
        error=record.error,
        traceback=record.traceback,
        worker_lost=record.worker_lost,
        timed_out=record.timed_out,
        resources=dict(record.resources),
        worker=dict(record.worker),
        **_streams(record.log),
    )


def _finished(record: SplitRecord, log: Mapping[str, Any] | None) -> AttemptView:
    return AttemptView(
        number=record.attempt,
        state="finished",
        started=record.started,
        ended=record.ended,
        resources=dict(record.resources),
        worker=dict(record.worker),
        caught=record.caught,
        cached_from=record.cached_from,
        **_streams(log),
    )


def _artifacts(
    store: Datastore,
    flow: str,
    execution: str,
    layer: str,
    names: list[str],
    total: int | None,
    foreach: bool,
    previews: bool,
) -> tuple[ArtifactView, ...]:
    if not previews:
        return tuple(ArtifactView(name, "") for name in names)
    found = []
    for name in names:
        shown = _value(store, flow, execution, layer, name)
        if foreach:
            shown = f"{total} values, one per split; split 0: {shown}"
        found.append(ArtifactView(name, shown))
    return tuple(found)


def _value(store: Datastore, flow: str, execution: str, layer: str, name: str) -> str:
    """A preview of split 0's artifact ``name``, loaded only when small enough."""
    try:
        # The archive entry says where the bytes are and (for a file) how many there are; it is the
        # datastore's private read, as the previews need the size before the value.
        entry = store.document(flow, execution, layer, 0)["artifacts"][name]
        if entry.get("sharded"):
            items = len(entry["digests"])
            first = preview(store.split(flow, execution, layer, 0).item(name, 0)) if items else ""
            return f"sharded, {items} items" + (f"; first: {first}" if first else "")
        digest, protocol = entry["digests"][0], entry["protocols"][0]
        if digest not in entry.get("inline", {}) and entry.get("spans") is None:
            stored = int(store.fs.size(store.files.path(layout.artifact(digest))))
            if stored > PREVIEW_BYTES:
                return f"{protocol}, {size(stored)} (not loaded for a preview)"
        return preview(store.split(flow, execution, layer, 0).get(name))
    except Exception as error:  # a class that cannot be imported here, a damaged artifact: say so
        return f"<not readable here: {type(error).__name__}: {' '.join(str(error).split())[:120]}>"


def _parameters(
    store: Datastore, flow: str, execution: str, record: Mapping[str, Any], previews: bool
) -> dict[str, str]:
    names = [str(n) for n in record.get("parameters", ())]
    if not previews:
        return dict.fromkeys(names, "")
    return {name: _value(store, flow, execution, PARAMETERS, name) for name in names}


def flows(store: Datastore) -> list[str]:
    """Names of the flows with executions in ``store``."""
    return [name for name in store.files.list_names(layout.FLOWS) if not name.startswith(".")]


def summaries(
    store: Datastore, graphs: Mapping[str, Graph] | None = None, *, limit: int = LISTED
) -> list[ExecutionSummary]:
    """The newest ``limit`` executions of every flow in ``store``, newest first (by creation time)."""
    graphs = graphs or {}
    found: list[tuple[float, str, str, Mapping[str, Any]]] = []
    for flow in flows(store):
        for identifier in store.execution_ids(flow):
            record = store.read_execution(flow, identifier)
            if record is not None:
                found.append((float(record.get("created") or 0.0), flow, identifier, record))
    found.sort(key=lambda item: (item[0], item[2]), reverse=True)
    listed = []
    for _, flow, identifier, _record in found[:limit]:
        view = execution_view(store, flow, identifier, graphs.get(flow), splits=False, previews=False)
        parameters = _parameters(store, flow, identifier, _record, True)
        listed.append(ExecutionSummary(flow, identifier, view.state, view.created, view.ended, parameters))
    return listed


class Catalog:
    """What ``laminar ui`` serves: a datastore's executions, with the graphs of the flows whose code it has.

    The web server asks only this for data, so it never touches a Flow or the datastore itself.
    """

    def __init__(self, store: Datastore, graphs: Mapping[str, Graph] | None = None) -> None:
        self.store = store
        self.graphs = dict(graphs or {})

    @property
    def url(self) -> str:
        return self.store.url

    def executions(self) -> list[ExecutionSummary]:
        return summaries(self.store, self.graphs)

    def view(self, flow: str, execution: str, *, splits: bool = True) -> ExecutionView:
        layout.segment("flow name", flow)  # a name from a URL: refused before it reaches a path
        layout.segment("execution id", execution)
        return execution_view(self.store, flow, execution, self.graphs.get(flow), splits=splits, previews=splits)
