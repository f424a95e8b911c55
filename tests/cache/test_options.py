"""How caching is turned on and off, and what a datastore with allow_pickle=False takes from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from laminar.cache import CacheWarning
from laminar.cache import index as cache_index
from laminar.configurations import datastores, executors
from laminar.configurations.layers import Cache
from laminar.errors import ArtifactError, ConfigurationError
from tests.cache.cachedflows import Defaults, Pickled, Pipeline, parameters, runs


def test_a_flow_wide_cache_covers_every_layer_but_those_that_opt_out(tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    store = datastores.Local(str(tmp_path / "store"))
    flow = Defaults(datastore=store, executor=executors.Thread(), cache=Cache())
    flow(progress=False, log=log)
    assert runs(log) == ["First", "Never"]
    flow(progress=False, log=log)
    assert runs(log) == ["Never"]
    Defaults(datastore=store, executor=executors.Thread())(progress=False, log=log)  # no cache: everything runs
    assert runs(log) == ["First", "Never"]
    flow(progress=False, cache=False, log=log)
    assert runs(log) == ["First", "Never"]


def test_a_per_call_cache_turns_it_on_for_one_run(tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    flow = Defaults(datastore=datastores.Local(str(tmp_path / "store")), executor=executors.Thread())
    flow(progress=False, cache=Cache(), log=log)
    flow(progress=False, cache=Cache(), log=log)
    assert runs(log) == ["First", "Never", "Never"]  # the second run's First hit


def test_refresh_names_layers_of_the_flow() -> None:
    flow = Pipeline(datastore=datastores.Memory(), executor=executors.Thread())
    with pytest.raises(ConfigurationError, match=r"Pipeline: refresh names 'Nope'.*its layers are: Load, "):
        flow(progress=False, refresh=["Nope"], **parameters("unused"))


def test_a_cache_version_must_not_be_blank() -> None:
    with pytest.raises(ConfigurationError, match=r"Cache: version: .*non-empty"):
        Cache(version=" ")


def test_a_datastore_without_pickle_takes_no_pickled_artifact_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = str(tmp_path / "runs.log")
    monkeypatch.setenv("CACHE_TEST_LOG", log)
    root = str(tmp_path / "store")
    Pickled(datastore=datastores.Local(root), executor=executors.Thread())(progress=False)
    assert runs(log) == ["MakeOpaque"]
    strict = Pickled(datastore=datastores.Local(root, allow_pickle=False), executor=executors.Thread())
    with pytest.warns(CacheWarning, match=r"cache miss: .*allow_pickle=False"), pytest.raises(ArtifactError):
        strict(progress=False)  # it runs, and cannot store its value without pickle
    assert runs(log) == ["MakeOpaque"]


def test_a_layers_files_of_entries_are_merged_once_many(tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    store = datastores.Memory()
    flow = Pipeline(datastore=store, executor=executors.Thread())
    directory = cache_index.directory("Pipeline", "Report")
    for beta in range(cache_index.MERGE_AT + 2):  # each run adds one file of Report's entries
        flow(progress=False, **parameters(log, beta=str(beta)))
    runs(log)
    (merged,) = store.files.list_names(directory)  # the run that read more than MERGE_AT merged them
    flow(progress=False, **parameters(log, beta=str(cache_index.MERGE_AT + 1)))
    flow(progress=False, **parameters(log, beta=str(cache_index.MERGE_AT)))
    assert runs(log) == []  # both read from the merged file
    assert store.files.list_names(directory) == [merged]
    flow(progress=False, **parameters(log, beta="0"))  # its entry was the ninth of its key: not kept
    assert runs(log) == ["Report"]
