"""Caching across executions (issue 27), on every executor x datastore pair (the ``backend`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laminar.cache import CacheWarning
from laminar.cache import index as cache_index
from laminar.datastore import Datastore
from laminar.display.progress import headline, rows
from laminar.engine.snapshot import Snapshot
from tests.backends import Backend
from tests.cache.cachedflows import (
    ALL,
    Failing,
    Fetch,
    Load,
    Pipeline,
    Places,
    Report,
    Scale,
    Square,
    Total,
    parameters,
    runs,
    versioned,
)

pytestmark = pytest.mark.timeout(180)

ALL_LAYERS = ("Load", "Square", "Scale", "Total", "Report")


def test_a_second_execution_with_the_same_inputs_runs_nothing(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Pipeline)
    first = flow(progress=False, **parameters(log))
    assert runs(log) == ALL
    seen: list[Snapshot] = []
    second = flow(progress=False, observer=seen.append, **parameters(log))
    assert runs(log) == []
    assert {name: view.cached for name, view in seen[-1].layers.items()} == dict.fromkeys(ALL_LAYERS, 1) | {"Square": 3}
    assert "7/7 splits done" in headline("Pipeline", second.id, rows(seen[-1]))
    assert headline("Pipeline", second.id, rows(seen[-1])).endswith(", 7 cached")
    assert second.layer(Report).text == first.layer(Report).text == "b:28"
    assert list(second.layer(Square).value) == [1, 4, 9]
    assert second.layer(Load).blob == "x" * 10_000
    layers = {row.name: row for row in second.summary()}
    assert all(layers[name].cached_from == first.id for name in ALL_LAYERS)
    assert layers["Square"].cached == 3
    (split,) = [s for s in second.splits(Square) if s.index == 1]
    assert backend.datastore.read_split_record("Pipeline", second.id, "Square", 1)["cached_from"] == first.id
    assert split.state == "finished"


def test_a_changed_parameter_reruns_the_layers_that_read_it_and_those_whose_inputs_changed(
    backend: Backend, tmp_path: Path
) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Pipeline)
    flow(progress=False, **parameters(log))
    runs(log)
    flow(progress=False, **parameters(log, beta="c"))  # only Report reads beta
    assert runs(log) == ["Report"]
    flow(progress=False, **parameters(log, alpha=-2))  # Scale reruns; its factor is the same: Total hits
    assert runs(log) == ["Scale"]
    changed = flow(progress=False, **parameters(log, alpha=3))
    assert runs(log) == ["Report", "Scale", "Total"]
    assert changed.layer(Total).total == 42
    cached = {row.name: row.cached for row in changed.summary()}
    assert cached == {"Load": 1, "Square": 3, "Scale": 0, "Total": 0, "Report": 0}


def test_one_changed_item_reruns_one_split(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Pipeline)
    flow(progress=False, **parameters(log))
    runs(log)
    execution = flow(progress=False, **parameters(log, items=[1, 5, 3]))
    assert runs(log) == ["Load", "Report", "Square[1]", "Total"]
    assert list(execution.layer(Square).value) == [1, 25, 9]
    assert {row.name: row.cached for row in execution.summary()}["Square"] == 2


def test_bumping_a_version_reruns_that_layer(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    backend.flow(versioned("1"))(progress=False, log=log)
    assert runs(log) == ["Make", "Use"]
    backend.flow(versioned("1"))(progress=False, log=log)
    assert runs(log) == []
    execution = backend.flow(versioned("2"))(progress=False, log=log)
    assert runs(log) == ["Make"]  # its value is the same: Use, on version 1 still, hits
    assert execution.layer("Use").value == 2


def _artifact_of(backend: Backend, execution_id: str) -> str:
    store = backend.datastore
    entries = store.document("Pipeline", execution_id, "Load", 0)["artifacts"]
    return cache_index.layout.artifact(entries["blob"]["digests"][0])


def test_a_deleted_artifact_turns_a_hit_into_a_miss(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Pipeline)
    first = flow(progress=False, **parameters(log))
    runs(log)
    store = backend.datastore
    store.files.fs.rm(store.files.path(_artifact_of(backend, first.id)))
    with pytest.warns(CacheWarning, match=r"Pipeline\.Load: cache miss: .* is missing"):
        again = flow(progress=False, **parameters(log))
    assert runs(log) == ["Load"]  # its artifacts are the same again: everything after it hits
    assert again.layer(Load).blob == "x" * 10_000


def test_a_corrupt_artifact_or_a_damaged_entry_is_a_miss_and_a_warning(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Pipeline)
    first = flow(progress=False, **parameters(log))
    runs(log)
    store = backend.datastore
    store.files.put_bytes(_artifact_of(backend, first.id), b"not what was stored")
    with pytest.warns(CacheWarning, match=r"Pipeline\.Load: cache miss: .* is corrupt"):
        flow(progress=False, **parameters(log))
    assert runs(log) == ["Load"]
    (damaged,) = _entry_files(store, "Scale")
    store.files.put_bytes(damaged, b"{not json")
    with pytest.warns(CacheWarning, match=r"Pipeline\.Scale: the cache entries in .* cannot be used"):
        flow(progress=False, **parameters(log))
    assert runs(log) == ["Scale"]
    (rewritten,) = _entry_files(store, "Scale")  # merged into a new file, the damaged one deleted
    assert rewritten != damaged
    assert json.loads(store.files.get_bytes(rewritten))["format"] == cache_index.FORMAT
    flow(progress=False, **parameters(log))
    assert runs(log) == []


def _entry_files(store: Datastore, layer: str) -> list[str]:
    directory = cache_index.directory("Pipeline", layer)
    return [f"{directory}/{name}" for name in store.files.list_names(directory)]


def test_cache_false_and_refresh_per_call(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Pipeline)
    flow(progress=False, **parameters(log))
    runs(log)
    flow(progress=False, cache=False, **parameters(log))
    assert runs(log) == ALL
    flow(progress=False, refresh=[Scale], **parameters(log))
    assert runs(log) == ["Scale"]


def test_a_resumed_execution_takes_cache_hits(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Failing)
    first = flow(progress=False, log=log)
    assert runs(log) == ["Double", "Fetch"]
    Path(log + ".fail").touch()
    with pytest.raises(RuntimeError, match="told to fail"):
        flow(progress=False, refresh=[Fetch], execution="refreshed", log=log)
    assert runs(log) == ["Fetch"]
    Path(log + ".fail").unlink()
    resumed = flow.execution("refreshed").resume(progress=False)
    assert runs(log) == []  # Fetch is looked up again on resume (no refresh there): both hit
    assert resumed.layer("Double").value == 20
    assert {row.name: row.cached_from for row in resumed.summary()} == {"Fetch": first.id, "Double": first.id}


def test_a_moved_or_added_item_reruns_only_the_splits_it_changes(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Places)
    flow(progress=False, log=log, items=["a", "b", "c"])
    runs(log)
    execution = flow(progress=False, log=log, items=["z", "a", "b", "c"])  # one in front: all others moved
    assert runs(log) == ["Place[0]", "Place[1]", "Place[2]", "Place[3]", "Upper[0]"]
    assert list(execution.layer("Upper").value) == ["Z", "A", "B", "C"]
    assert list(execution.layer("Place").value) == ["z@0/4", "a@1/4", "b@2/4", "c@3/4"]
    flow(progress=False, log=log, items=["z", "a", "b", "c", "d"])  # one more at the end
    assert runs(log) == ["Place[0]", "Place[1]", "Place[2]", "Place[3]", "Place[4]", "Upper[4]"]


def test_a_layer_rerun_on_resume_runs_again_and_is_never_taken_from_the_cache(backend: Backend, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = backend.flow(Failing)
    flow(progress=False, log=log)
    assert runs(log) == ["Double", "Fetch"]
    second = flow(progress=False, log=log)
    assert runs(log) == []  # both hits: the cache holds Fetch and Double
    rerun = second.resume(progress=False, rerun=[Fetch])  # e.g. an artifact of Fetch was found damaged
    assert runs(log) == ["Double", "Fetch"]  # Fetch and what is downstream of it ran, not looked up
    assert rerun.layer("Double").value == 20
    assert {row.name: row.cached_from for row in rerun.summary()} == {"Fetch": None, "Double": None}
