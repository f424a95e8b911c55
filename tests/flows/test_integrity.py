"""Damaged records and artifacts never poison a run: a resume trusts only what it can read and check,
sets the rest aside and runs it again, and the advice of every error about damage leads to a run that
succeeds (on every executor x datastore pair).

Each split's document and each layer's record is committed alone (``Policy(splits=1, layers=1)``), so a
test damages one file and knows what it recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backends import Backend

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import ForEach, Parameter
from laminar.datastore import Datastore, layout
from laminar.errors import ArtifactError, ConfigurationError
from laminar.journal import Policy

BLOB = bytes(range(256)) * 64  # 16 KiB: stored as an artifact of its own, not in its document


def record(directory: str, label: str) -> None:
    with open(Path(directory) / "runs", "a") as file:
        file.write(label + "\n")


def runs(directory: Path) -> list[str]:
    path = directory / "runs"
    return path.read_text().splitlines() if path.exists() else []


class Mended(Flow): ...


@Mended.register
class Start(Layer):
    def __call__(self, p: Parameters) -> None:
        record(p.directory, "Start")
        self.blob = BLOB
        self.shard(n=range(5))


@Mended.register(foreach=ForEach(parameters=[Parameter(layer=Start, attribute="n")]))
class Each(Layer):
    def __call__(self, start: Start, p: Parameters) -> None:
        record(p.directory, f"Each[{self.index}]")
        self.square = start.n**2


@Mended.register
class End(Layer):
    def __call__(self, each: Each, start: Start) -> None:
        self.total = sum(each.square) + len(start.blob)


TOTAL = sum(n * n for n in range(5)) + len(BLOB)


def _flow(backend: Backend) -> Mended:
    return Mended(datastore=backend.datastore, executor=backend.executor, journal=Policy(splits=1, layers=1))


def _run(backend: Backend, tmp_path: Path, execution: str = "e") -> Mended:
    flow = _flow(backend)
    flow(execution=execution, directory=str(tmp_path), progress=False)
    return flow


def _write(store: Datastore, relative: str, data: bytes) -> None:
    store.fs.pipe_file(store.files.path(relative), data)


def _remove(store: Datastore, relative: str) -> None:
    store.fs.rm_file(store.files.path(relative))


def _names(store: Datastore, relative: str) -> list[str]:
    return store.files.list_names(relative)


def _damage(store: Datastore, relative: str, how: str) -> None:
    if how == "not-json":
        _write(store, relative, b'{"artifacts": {"squ')
    elif how == "not-a-record":
        _write(store, relative, json.dumps({"artifacts": {"square": {"digests": 3}}, "record": []}).encode())
    else:
        _remove(store, relative)


def _blob_artifact(store: Datastore, execution: str = "e") -> str:
    document = store.read_json(layout.split("Mended", execution, "Start", 0))
    (digest,) = document["artifacts"]["blob"]["digests"]
    return layout.artifact(digest)


@pytest.mark.parametrize("how", ["not-json", "not-a-record", "removed"])
def test_a_damaged_split_document_is_set_aside_and_only_its_split_runs_again(
    backend: Backend, tmp_path: Path, how: str
) -> None:
    flow = _run(backend, tmp_path)
    store = backend.datastore
    _damage(store, layout.split("Mended", "e", "Each", 3), how)
    with pytest.raises(ArtifactError) as caught:
        list(_flow(backend).execution("e").layer(Each).square)
    assert "resume" in str(caught.value) and "delete" not in str(caught.value), caught.value
    before = len(runs(tmp_path))

    execution = flow.execution("e").resume(progress=False)

    assert runs(tmp_path)[before:] == ["Each[3]"]  # nothing else ran again: End's record is whole
    assert list(execution.layer(Each).square) == [n * n for n in range(5)]
    assert _flow(backend).execution("e").layer(End).total == TOTAL
    aside = [name for name in _names(store, layout.layer("Mended", "e", "Each")) if name.startswith(".damaged-")]
    assert len(aside) == (0 if how == "removed" else 1)


@pytest.mark.parametrize("how", ["not-json", "not-a-record", "removed"])
def test_a_damaged_layer_record_is_set_aside_and_its_layer_runs_again(
    backend: Backend, tmp_path: Path, how: str
) -> None:
    flow = _run(backend, tmp_path)
    store = backend.datastore
    _damage(store, f"{layout.layer('Mended', 'e', 'Start')}/{layout.LAYER}", how)  # it carries no document
    before = len(runs(tmp_path))
    execution = flow.execution("e").resume(progress=False)
    assert runs(tmp_path)[before:] == []  # its one split's document is whole: only its record is written again
    assert execution.layer(Start).state.finished and execution.layer(End).total == TOTAL


@pytest.mark.parametrize("how", ["not-json", "removed"])
@pytest.mark.parametrize("which", ["execution.json", "Parameters/layer.json"])
def test_a_damaged_execution_or_parameters_record_is_written_again_from_the_other(
    backend: Backend, tmp_path: Path, how: str, which: str
) -> None:
    flow = _run(backend, tmp_path)
    store = backend.datastore
    _damage(store, f"{layout.execution('Mended', 'e')}/{which}", how)
    before = len(runs(tmp_path))
    execution = flow.execution("e").resume(progress=False)
    assert runs(tmp_path)[before:] == []
    assert execution.parameters.directory == str(tmp_path)
    assert _flow(backend).execution("e").record["parameters"] == ["directory"]


def test_a_finished_layer_whose_artifact_is_corrupt_runs_again_with_its_dependents_on_rerun(
    backend: Backend, tmp_path: Path
) -> None:
    flow = _run(backend, tmp_path)
    store = backend.datastore
    artifact = _blob_artifact(store)
    _write(store, artifact, b"not the blob")
    with pytest.raises(ArtifactError, match="corrupt") as caught:
        _flow(backend).execution("e").layer(Start).blob  # noqa: B018
    assert "rerun=[that layer]" in str(caught.value), caught.value
    before = len(runs(tmp_path))
    flow.execution("e").resume(progress=False)
    assert runs(tmp_path)[before:] == []  # a plain resume trusts the finished layer: its records are whole

    execution = flow.execution("e").resume(rerun=[Start], progress=False)

    assert sorted(runs(tmp_path)[before:]) == ["Each[0]", "Each[1]", "Each[2]", "Each[3]", "Each[4]", "Start"]
    assert _flow(backend).execution("e").layer(Start).blob == BLOB  # its write replaced the corrupt artifact
    assert execution.layer(End).total == TOTAL


def test_rerun_of_a_layer_the_flow_does_not_have_is_refused_before_anything_changes(
    backend: Backend, tmp_path: Path
) -> None:
    flow = _run(backend, tmp_path)
    with pytest.raises(ConfigurationError, match=r"cannot rerun 'Nope'.*its layers: Start, Each, End"):
        flow.execution("e").resume(rerun=["Nope"], progress=False)
    assert flow.execution("e").layer(End).total == TOTAL


def test_a_corrupt_artifact_does_not_poison_a_later_execution_storing_an_equal_value(
    backend: Backend, tmp_path: Path
) -> None:
    flow = _run(backend, tmp_path, "first")
    store = backend.datastore
    artifact = _blob_artifact(store, "first")
    _write(store, artifact, store.fs.cat_file(store.files.path(artifact))[:-1])  # cut short
    second = flow(execution="second", directory=str(tmp_path), progress=False)
    assert second.layer(Start).blob == BLOB
    assert _flow(backend).execution("second").layer(End).total == TOTAL
    assert _flow(backend).execution("first").layer(Start).blob == BLOB  # one address: mended for both
