"""What travels between the driver and the workers round-trips through its packing (laminar_ray.wire)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores
from laminar.configurations.layers import Container
from laminar.records import SplitMeta
from laminar.task import Input, Task, TaskKind
from laminar_ray.wire import Again, Call, Context, Program, meta_of, meta_wire


class Wired(Flow): ...


@Wired.register
class Only(Layer):
    def __call__(self) -> None:
        self.x = 1


def test_a_call_round_trips_with_its_error_and_changed_container() -> None:
    graph = Wired().graph()
    default = graph["Only"].configuration
    changed = default.model_copy(update={"container": Container(cpu=0.5, memory=100)})
    task = Task(7, TaskKind.retry, "Only", 2, 4, 3, changed, {"A": Input("A", "finished", 1, {"n": 2}, None)},
                error=MemoryError("too big"))  # fmt: skip
    call = Call.of("run-key", b"context", [], task, default, {"A": (0,)}, task.inputs, task.error)
    args = call.wire(["a value"])
    back, values = Call.unwire(args)
    assert values == ("a value",)
    assert (back.key, back.kind, back.layer, back.index, back.splits, back.attempt) == ("run-key", *(
        TaskKind.retry, "Only", 2, 4, 3))  # fmt: skip
    assert back.inputs == task.inputs and back.slots == {"A": (0,)}
    assert isinstance(back.error, MemoryError) and str(back.error) == "too big"
    assert back.container == changed.container
    rebuilt = back.task(default)
    assert rebuilt.configuration.container == changed.container and rebuilt.configuration.retry == default.retry


def test_a_call_with_the_graphs_configuration_sends_no_container_and_a_plain_blob() -> None:
    graph = Wired().graph()
    task = Task(1, TaskKind.run, "Only", None, None, 1, graph["Only"].configuration, {})
    call = Call.of("k", b"c", [], task, graph["Only"].configuration, {}, {}, None)
    (blob,) = call.wire([])  # nothing but the standard pickle's bytes
    assert isinstance(blob, bytes) and Call.unwire((blob,))[0] == call
    assert call.container is None


def test_metas_programs_and_contexts_round_trip(tmp_path: Path) -> None:
    meta = SplitMeta(("x", "n"), {"n": 3}, {"artifacts": {}, "record": {"attempt": 1}})
    wired = meta_wire(meta)
    assert isinstance(wired, list) and meta_of(wired) == meta  # lists and dicts only: Ray packs them itself
    graph = Wired().graph()
    program = Program.of(graph)
    assert Program.of(graph).digest == program.digest and pickle.loads(program.blob).flow == "Wired"
    context = Context("Wired", "e-1", datastores.Local(str(tmp_path)))
    unpacked = pickle.loads(context.pack())
    assert (unpacked.flow, unpacked.execution, unpacked.datastore.root) == ("Wired", "e-1", str(tmp_path))


@pytest.mark.parametrize("again", list(Again))
def test_an_again_travels_as_its_value(again: Again) -> None:
    assert Again(again.value) is again and isinstance(again.value, str)
