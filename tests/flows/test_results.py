"""SPEC 8: reading results back: layers, state, Accessors, listings, ids, no executor needed."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import pytest

from laminar import Accessor, Execution, Flow, Layer, Parameters
from laminar.configurations.layers import ForEach, Parameter
from laminar.errors import LaminarError


class ResultsFlow(Flow): ...


@ResultsFlow.register
class Make(Layer):
    def __call__(self, p: Parameters) -> None:
        self.title = p.title
        self.shard(numbers=[1, 2, 3])


@ResultsFlow.register(foreach=ForEach(parameters=[Parameter(layer=Make, attribute="numbers")]))
class Each(Layer):
    def __call__(self, make: Make) -> None:
        self.double = make.numbers * 2
        self.label = f"{make.title}-{self.index}"


def test_layer_artifacts_and_state_are_readable(backend):
    execution = backend.flow(ResultsFlow)(title="t", execution="my-id")
    assert execution.id == "my-id"
    make = execution.layer(Make)
    assert make.title == "t"
    assert make.state.finished
    assert list(make.numbers) == [1, 2, 3]
    each = execution.layer(Each)
    assert each.state.finished
    assert isinstance(each.double, Accessor)
    assert list(each.double) == [2, 4, 6]
    assert each.label[1] == "t-1"
    assert each.label[-1] == "t-2"
    assert len(each.label) == 3
    with pytest.raises(AttributeError, match="missing"):
        make.missing  # noqa: B018


def test_layer_by_name_and_unknown_layer(backend):
    execution = backend.flow(ResultsFlow)(title="t")
    assert execution.layer("Make").title == "t"
    with pytest.raises(LaminarError, match=r"no layer 'Nope' \(its layers: Each, Make\)"):
        execution.layer("Nope")


def test_datastore_listings(backend):
    flow = backend.flow(ResultsFlow)
    execution = flow(title="t")
    store = flow.configuration.datastore
    # the original's results page: list_executions -> Execution objects, list_layers -> layer objects,
    # list_artifacts -> names
    assert store.list_executions(flow=flow) == [execution]
    (listed,) = store.list_executions(flow=ResultsFlow)
    assert isinstance(listed, Execution) and listed.id == execution.id
    assert listed.layer(Make).title == "t"
    layers = store.list_layers(execution=execution)
    assert [type(layer) for layer in layers] == [Each, Make, Parameters]
    assert [layer.name for layer in layers] == ["Each", "Make", "Parameters"]
    assert layers[1].title == "t" and layers[0].state.finished
    assert store.list_artifacts(layer=execution.layer(Make)) == ["numbers", "title"]
    assert store.list_artifacts(layer=execution.layer(Each)) == ["double", "label"]
    assert store.execution_ids(flow) == [execution.id]
    assert store.layer_names(execution) == ["Each", "Make", "Parameters"]
    with pytest.raises(TypeError, match="execution_ids"):
        store.list_executions(flow="ResultsFlow")


def test_generated_ids_are_unique_and_sorted_by_creation(backend):
    flow = backend.flow(ResultsFlow)
    ids = [flow(title=str(i)).id for i in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids)
    assert [e.id for e in flow.configuration.datastore.list_executions(flow=flow)] == ids
    assert [flow.execution(i).layer(Make).title for i in ids] == ["0", "1", "2", "3", "4"]


def test_results_from_a_new_flow_instance_without_executor(backend):
    backend.flow(ResultsFlow)(title="again", execution="read-me")
    fresh = ResultsFlow(datastore=backend.datastore)  # no executor: reading needs only the datastore
    execution = fresh.execution("read-me")
    assert execution.layer(Make).title == "again"
    assert list(execution.layer(Each).double) == [2, 4, 6]
    assert fresh.configuration.executor is None


READER = textwrap.dedent(
    """
    import pickle
    import sys
    from laminar import Flow, Layer

    class ResultsFlow(Flow): ...

    @ResultsFlow.register
    class Make(Layer): ...

    with open(sys.argv[1], "rb") as file:
        datastore = pickle.load(file)
    execution = ResultsFlow(datastore=datastore).execution("read-me")
    assert execution.layer(Make).title == "elsewhere", execution.layer(Make).title
    assert list(execution.layer(Make).numbers) == [1, 2, 3]
    assert "ray" not in sys.modules, "reading results imported ray"
    print("ok")
    """
)


def test_reading_results_never_imports_ray(backend, tmp_path):
    if backend.datastore.process_local:
        pytest.skip("a Memory datastore is not visible from another process")
    backend.flow(ResultsFlow)(title="elsewhere", execution="read-me")
    handle = tmp_path / "datastore.pickle"
    handle.write_bytes(pickle.dumps(backend.datastore))
    done = subprocess.run(
        [sys.executable, "-c", READER, str(handle)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
