"""On Ray, split documents are committed by the scheduler: a foreach layer's in batches, the last of
them with the layer's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter
from laminar.datastore import layout
from laminar.journal import Policy

pytestmark = pytest.mark.usefixtures("ray_cluster")

LIGHT = Container(cpu=0.5, memory=0)


class Many(Flow): ...


@Many.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=list(range(p.count)))


@Many.register(container=LIGHT, foreach=ForEach(parameters=[Parameter(layer=Items, attribute="n")]))
class Square(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        if items.n == p.fail:
            raise ValueError(f"split {items.n} fails")
        self.square = items.n * items.n
        Path(p.directory, f"done-{items.n}").touch()


def _files(root: Path, layer: str) -> list[str]:
    return sorted(path.name for path in root.glob(f"flows/Many/*/{layer}/*"))


def _layer_record(root: Path, execution: str, layer: str) -> dict[str, object]:
    """The layer's record as written: its layer.json, or its entry in a batch of layer records."""
    directory = root / "flows" / "Many" / execution
    own = directory / layer / layout.LAYER
    if own.exists():
        found: dict[str, object] = json.loads(own.read_text())
        return found
    batches = [json.loads(path.read_text())["layers"] for path in directory.glob(f"{layout.LAYERS}*")]
    (found,) = [batch[layer] for batch in batches if layer in batch]
    return found


def test_split_documents_are_committed_in_batches_then_the_layer_record(tmp_path: Path) -> None:
    from laminar_ray import Ray

    count = Policy().splits + 44
    store = datastores.Local(str(tmp_path / "store"))
    window = Policy(seconds=60.0)  # batches by count only: the first full one, the rest in the layer's record
    flow = Many(datastore=store, executor=Ray(), journal=window)
    execution = flow(count=count, fail=-1, directory=str(tmp_path), progress=False)
    files = _files(tmp_path / "store", "Square")
    batches = [name for name in files if layout.is_batch(name)]
    own = [name for name in files if layout.split_index(name) is not None]  # a batch of one is its own file
    assert batches and len(batches) + len(own) < count // 10  # in batches, not one file per split
    # The documents still pending when the layer finished are committed in its record, one file.
    record = _layer_record(tmp_path / "store", execution.id, "Square")
    assert record["state"] == "finished" and record["documents"]
    assert store.read_layer_record("Many", execution.id, "Square") == {
        k: v for k, v in record.items() if k != "documents"
    }
    assert store.finished_splits("Many", execution.id, "Square") == set(range(count))
    assert sum(execution.layer(Square).square) == sum(n * n for n in range(count))
    record = store.read_split_record("Many", execution.id, "Square", 17)
    assert record is not None and record["state"] == "finished" and record["attempt"] == 1


def test_splits_that_finished_before_a_failure_are_committed_and_not_run_again(tmp_path: Path) -> None:
    from laminar_ray import Ray

    count = 60
    store = datastores.Local(str(tmp_path / "store"))
    flow = Many(datastore=store, executor=Ray())
    with pytest.raises(ValueError, match="split 37 fails"):
        flow(count=count, fail=37, directory=str(tmp_path), execution="failing", progress=False)
    done = {int(path.name.split("-")[1]) for path in tmp_path.glob("done-*")}
    assert store.finished_splits("Many", "failing", "Square") == done
    assert 37 not in done
    for path in tmp_path.glob("done-*"):
        path.unlink()
    execution = flow.execution("failing")
    with pytest.raises(ValueError, match="split 37 fails"):
        execution.resume(progress=False)
    rerun = {int(path.name.split("-")[1]) for path in tmp_path.glob("done-*")}
    assert not rerun & done  # nothing committed ran again


class Chain(Flow): ...


@Chain.register(container=LIGHT)
class First(Layer):
    def __call__(self, p: Parameters) -> None:
        self.x = p.start


@Chain.register(container=LIGHT)
class Second(Layer):
    def __call__(self, first: First) -> None:
        self.x = first.x + 1


@Chain.register(container=LIGHT)
class Third(Layer):
    def __call__(self, second: Second) -> None:
        self.x = second.x + 1


def test_a_chain_of_plain_layers_is_committed_as_one_batch_of_layer_records(tmp_path: Path) -> None:
    """No directory and file per layer: the records (each carrying its layer's one document) of layers
    that finish close together are one file, and read back as if each had its own."""
    from laminar_ray import Ray

    store = datastores.Local(str(tmp_path / "store"))
    window = Policy(seconds=60.0)  # the whole chain within one window
    execution = Chain(datastore=store, executor=Ray(), journal=window)(start=5, progress=False)
    directory = tmp_path / "store" / "flows" / "Chain" / execution.id
    (batch,) = directory.glob(f"{layout.LAYERS}*")
    # (the parameters' record and document are written by the driver before any layer starts, a file of
    # their own)
    assert sorted(path.name for path in directory.iterdir()) == sorted([batch.name, layout.EXECUTION, "Parameters"])
    assert sorted(json.loads(batch.read_text())["layers"]) == ["First", "Second", "Third"]
    reader = Chain(datastore=datastores.Local(str(tmp_path / "store"))).execution(execution.id)
    assert reader.layer(Third).x == 7 and reader.layer(First).state.finished
    assert store.read_layer_record("Chain", execution.id, "Second")["state"] == "finished"  # type: ignore[index]
