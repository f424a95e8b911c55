"""Views built from what real runs record (Thread executor, Local datastore in a temporary directory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from IPython.core.formatters import format_display_data
from runflows import Live

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors, layers
from laminar.errors import ConfigurationError, ExecutionNotFound
from laminar.results import views as collect
from laminar.results.views import Catalog, execution_view, flow_view, summaries


def test_a_failed_run_shows_states_counts_the_failure_and_previews(demo_run: tuple[Any, str]) -> None:
    flow, identifier = demo_run
    view = flow_view(flow, identifier)
    assert (view.flow, view.id, view.state, view.live) == ("Demo", "demo", "failed", False)
    assert {layer.name: layer.state for layer in view.layers} == {
        "Load": "finished",
        "Fit": "failed",
        "Check": "pending",  # stopped by the failure: its finished splits stay, it has no record
        "Summary": "pending",
    }
    fit = view.layer("Fit")
    assert (fit.splits, fit.finished, fit.failed, fit.label) == (8, 7, 1, "7/8, 1 failed")  # 8 from Load's shard
    (failed,) = [s for s in fit.split_views if s.state == "failed"]
    assert failed.index == 3 and failed.retries == 1  # failed on attempt 2 of Retry(attempts=2)
    last = failed.last
    assert last is not None and last.error == "ValueError('item 3 is bad')" and last.ended is not None
    assert last.traceback is not None and 'raise ValueError(f"item {load.item} is bad")' in last.traceback
    finished = fit.split_views[0].last
    assert finished is not None and finished.resources == {"cpu": 1.0, "memory": 1500, "gpu": 0.0}
    assert finished.started is not None and finished.ended is not None and finished.ended >= finished.started
    assert view.layer("Check").splits == 8  # 1:1 after Fit
    assert view.parameters == {"bad": "3", "count": "8"}
    artifacts = {a.name: a.preview for a in view.layer("Load").artifacts}
    assert artifacts == {"item": "sharded, 8 items; first: 0", "table": "{'a': [1, 2, 3]}"}
    assert view.ended is not None and view.created is not None and view.ended > view.created
    attempts = json.loads(json.dumps(view.to_json()))["layers"][1]["split_views"][3]["attempts"]
    assert [attempt["number"] for attempt in attempts] == [1, 2]  # every failed attempt is recorded


class Flaky(Flow): ...


@Flaky.register
class Parts(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(part=range(4))
        self.big = np.zeros(200_000)  # 1.6 MB: a file of its own


@Flaky.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Parts, attribute="part")]))
class Piece(Layer):
    def __call__(self, parts: Parts, p: Parameters) -> None:
        if parts.part == 2 and Path(p.flag).exists():
            raise RuntimeError("the flag is up")
        self.half = parts.part / 2


def test_a_resumed_split_shows_its_failure_then_its_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    flow = Flaky(datastore=datastores.Local(root=str(tmp_path / "store")), executor=executors.Thread())
    with pytest.raises(RuntimeError):
        flow(execution="flaky", progress=False, flag=str(flag))
    assert flow_view(flow, "flaky").state == "failed"
    flag.unlink()
    flow.execution("flaky").resume(progress=False)
    view = flow_view(flow, "flaky")
    piece = view.layer("Piece")
    assert (view.state, piece.state, piece.finished, piece.failed, piece.splits) == ("finished", "finished", 4, 0, 4)
    resumed = piece.split_views[2]
    # the resume goes on counting the split's attempts: its first run's failed attempt 1, then attempt 2
    assert [(a.number, a.state) for a in resumed.attempts] == [(1, "failed"), (2, "finished")]
    assert resumed.state == "finished" and resumed.last is not None and resumed.last.error is None
    assert {a.name: a.preview for a in view.layer("Parts").artifacts}["big"] == "ndarray shape=(200000,) dtype=float64"
    monkeypatch.setattr(collect, "PREVIEW_BYTES", 1_000_000)  # the array is 1.6 MB: not loaded
    big = {a.name: a.preview for a in flow_view(flow, "flaky").layer("Parts").artifacts}["big"]
    assert big.startswith("numpy, 1.5 MiB (not loaded")


def test_a_run_in_progress_is_incomplete_with_counts_worked_out_from_its_records(tmp_path: Path) -> None:
    store = datastores.Local(root=str(tmp_path / "store"))
    # What a driver elsewhere has written so far: the execution, its parameters, Items, 3 splits of Work.
    done = {"state": "finished"}
    store.write_split("Live", "run", "Parameters", 0, {"count": 10, "pause": 0.0}, set(), record=done)
    created = {"flow": "Live", "id": "run", "created": 1.0, "parameters": ["count", "pause"]}
    store.write_execution("Live", "run", created)
    store.write_layer_record("Live", "run", "Parameters", {"state": "finished", "splits": None, "names": ["count"]})
    store.write_split("Live", "run", "Items", 0, {"n": range(10)}, {"n"}, record={"state": "finished"})
    store.write_layer_record("Live", "run", "Items", {"state": "finished", "splits": None, "names": ["n"]})
    for index in range(3):
        record = {"state": "finished", "attempt": 1, "started": 2.0 + index, "ended": 2.5 + index}
        store.write_split("Live", "run", "Work", index, {"y": index}, set(), record=record)
    view = execution_view(store, "Live", "run", Live().graph())
    assert (view.state, view.live, view.ended) == ("incomplete", True, None)
    work = view.layer("Work")
    assert (work.state, work.splits, work.finished, work.remaining, work.label) == ("running", 10, 3, 7, "3/10")
    assert work.started == 2.0
    assert view.layer("Total").state == "pending"

    # Without the flow's code: the layers the records name, in the order they started, no edges.
    blind = execution_view(store, "Live", "run")
    assert not blind.graph.edges_known
    assert [(n.name, n.foreach) for n in blind.graph.nodes] == [("Items", False), ("Work", True)]
    assert [layer.state for layer in blind.layers] == ["finished", "running"]


def test_lists_are_newest_first_and_names_from_urls_are_checked(tmp_path: Path, demo_run: tuple[Any, str]) -> None:
    flow = Live(datastore=datastores.Local(root=str(tmp_path / "store")), executor=executors.Thread())
    for name in ("first", "second"):
        flow(execution=name, progress=False, count=2, pause=0.0)
    listed = summaries(flow.configuration.datastore)
    assert [(item.id, item.state) for item in listed] == [("second", "finished"), ("first", "finished")]
    assert listed[0].parameters == {"count": "2", "pause": "0.0"} and listed[0].seconds is not None
    catalog = Catalog(flow.configuration.datastore, {"Live": flow.graph()})
    assert catalog.view("Live", "first").graph.edges_known
    with pytest.raises(ConfigurationError, match="cannot be used as a datastore path"):
        catalog.view("Live", "../first")
    with pytest.raises(ExecutionNotFound, match=r"Live has no execution 'third' .* \(its latest: first, second\)"):
        catalog.view("Live", "third")


def test_jupyter_shows_the_svg_and_keeps_the_table_and_mermaid(demo_run: tuple[Any, str]) -> None:
    flow, identifier = demo_run
    data, _ = format_display_data(flow)
    assert data["text/html"].startswith('<div class="laminar-display"><svg class="laminar-graph"')
    assert data["image/svg+xml"].startswith('<svg xmlns="http://www.w3.org/2000/svg" class="laminar-graph"')
    assert data["text/vnd.mermaid"] == flow.mermaid()
    data, _ = format_display_data(flow.execution(identifier))
    html = data["text/html"]
    assert 'data-layer="Fit" data-state="failed"' in html  # the picture ...
    assert '<tr class="laminar-failed"' in html and html.count('class="laminar-finished"') == 1  # ... the table
    assert data["text/markdown"].startswith("```mermaid")
