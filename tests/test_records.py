"""The journal: finished layers' records committed together, soon after they finish, off the engine's thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from laminar.configurations import datastores
from laminar.datastore import Datastore, layout
from laminar.journal import Journal, Policy
from laminar.records import Documents, LayerRecord, SplitDocument

FINISHED = {"state": "finished", "splits": None, "names": ["x"]}
RECORD = LayerRecord("finished", names=("x",))


def _batches(root: Path) -> list[Path]:
    return sorted((root / "flows" / "F" / "e").glob(f"{layout.LAYERS}*"))


def _eventually_read(store: Datastore, layer: str) -> dict[str, object] | None:
    """The layer's record once a reader finds it, waiting up to 10 s (it is written on another thread)."""
    deadline = time.monotonic() + 10
    while (record := store.read_layer_record("F", "e", layer)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return record


def test_layers_finishing_close_together_are_committed_in_one_file(tmp_path: Path) -> None:
    store = datastores.Local(str(tmp_path))
    writing = Journal(store, "F", "e", Policy(seconds=60.0))  # all three come within the window
    for layer in ("A", "B", "C"):
        document = store.write_split("F", "e", layer, 0, {"x": layer}, set(), commit=False).document
        assert document is not None
        writing.split(layer, 0, document)
        writing.layer(layer, RECORD)
    assert _batches(tmp_path) == []  # not before the window closed: here, the run ends
    writing.close()
    writing.check()
    (batch,) = _batches(tmp_path)
    assert sorted(p.name for p in (tmp_path / "flows" / "F" / "e").iterdir()) == [batch.name]  # no layer directories
    reader = datastores.Local(str(tmp_path))
    assert [reader.read_layer_record("F", "e", layer) for layer in "ABC"] == [FINISHED] * 3
    assert [reader.split("F", "e", layer, 0).get("x") for layer in "ABC"] == ["A", "B", "C"]


def test_a_layer_finishing_alone_is_committed_without_waiting_for_the_run_to_end(tmp_path: Path) -> None:
    store = datastores.Local(str(tmp_path))
    writing = Journal(store, "F", "e", Policy(seconds=0.05))
    writing.layer("A", RECORD)
    try:
        assert _eventually_read(datastores.Local(str(tmp_path)), "A") == FINISHED  # the run still going
        assert (tmp_path / "flows" / "F" / "e" / "A" / layout.LAYER).exists()  # alone: its own layer.json
    finally:
        writing.close()
    writing.check()


def test_a_full_batch_of_layer_records_is_committed_at_once(tmp_path: Path) -> None:
    store = datastores.Local(str(tmp_path))
    writing = Journal(store, "F", "e", Policy(seconds=60.0, layers=2))
    try:
        writing.layer("A", RECORD)
        writing.layer("B", RECORD)
        reader = datastores.Local(str(tmp_path))
        assert _eventually_read(reader, "A") == FINISHED and _eventually_read(reader, "B") == FINISHED
        assert len(_batches(tmp_path)) == 1
    finally:
        writing.close()
    writing.check()


def test_records_gathered_while_the_writer_is_busy_are_committed_at_most_layers_to_a_file(tmp_path: Path) -> None:
    """``Policy(layers=1)`` commits every layer's record alone, also when records gather while the writer
    is still writing an earlier one (on a slow disk): never in a batch larger than the policy's."""
    store = datastores.Local(str(tmp_path))
    entered, release = threading.Event(), threading.Event()
    commit_layers = store.commit_layers

    def slow(flow: str, execution: str, layers: Mapping[str, tuple[Mapping[str, Any], Documents | None]]) -> None:
        if "A" in layers:
            entered.set()
            assert release.wait(10)
        commit_layers(flow, execution, layers)

    store.commit_layers = slow  # type: ignore[method-assign]
    writing = Journal(store, "F", "e", Policy(seconds=60.0, layers=1))
    writing.layer("A", RECORD)
    assert entered.wait(10)  # the writer is busy with A's record
    writing.layer("B", RECORD)
    writing.layer("C", RECORD)  # B and C gather meanwhile
    release.set()
    writing.close()
    writing.check()
    assert _batches(tmp_path) == []
    assert [(tmp_path / "flows" / "F" / "e" / layer / layout.LAYER).exists() for layer in "ABC"] == [True] * 3
    reader = datastores.Local(str(tmp_path))
    assert [reader.read_layer_record("F", "e", layer) for layer in "ABC"] == [FINISHED] * 3


def test_a_layers_record_is_committed_after_its_splits_documents(tmp_path: Path) -> None:
    """A full batch of documents handed in while a commit waits for its window goes before the layer's
    record handed in after it: a record that says finished never precedes its splits' documents."""
    store = datastores.Local(str(tmp_path))
    order: list[str] = []
    commit_splits, commit_layers = store.commit_splits, store.commit_layers

    def splits(flow: str, execution: str, layer: str, documents: Mapping[int, SplitDocument]) -> None:
        order.append(f"splits {layer} {sorted(documents)}")
        commit_splits(flow, execution, layer, documents)

    def records(flow: str, execution: str, layers: Mapping[str, tuple[Mapping[str, Any], Documents | None]]) -> None:
        order.append(f"layers {sorted(layers)}")
        commit_layers(flow, execution, layers)

    store.commit_splits, store.commit_layers = splits, records  # type: ignore[method-assign]
    writing = Journal(store, "F", "e", Policy(seconds=60.0, splits=2))
    for index in range(3):
        document = store.write_split("F", "e", "A", index, {"x": index}, set(), commit=False).document
        assert document is not None
        writing.split("A", index, document)
    writing.layer("A", LayerRecord("finished", splits=3, names=("x",)))
    writing.close()
    writing.check()
    assert order[0] == "splits A [0, 1]" and order[-1] == "layers ['A']"
    assert datastores.Local(str(tmp_path)).finished_splits("F", "e", "A") == {0, 1, 2}
