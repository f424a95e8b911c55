"""Issue 20.4's last sentence: a datastore with ``allow_pickle=False`` stores plain JSON values (``flow(n=3)``,
lists, string-keyed dicts) as JSON, parameters and artifacts alike, on Thread and Ray; what JSON would not
read back as it was (a tuple, an object) is still refused, naming the parameter."""

from __future__ import annotations

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors
from laminar.errors import ArtifactError
from laminar.serde import Serde


class Plain(Flow): ...


@Plain.register
class Uses(Layer):
    def __call__(self, p: Parameters) -> None:
        self.total = p.n + sum(p.xs)
        self.options = dict(p.options)
        self.shard(items=p.xs)


@pytest.fixture(params=["thread", "ray"])
def executor(request: pytest.FixtureRequest) -> executors.Executor:
    if request.param == "thread":
        return executors.Thread()
    request.getfixturevalue("ray_cluster")
    from laminar_ray import Ray

    return Ray()


def test_plain_parameters_and_artifacts_are_stored_as_json_without_pickle(tmp_path, executor) -> None:
    store = datastores.Local(root=str(tmp_path / "store"), allow_pickle=False)
    options = {"z": 1.5, "a": None, "nested": {"k": [True, "s"]}}
    execution = Plain(datastore=store, executor=executor)(n=3, xs=[1, 2], options=options)
    uses = execution.layer(Uses)
    assert (uses.total, list(uses.items)) == (6, [1, 2])
    assert uses.options == options and list(uses.options) == ["z", "a", "nested"]  # keys in their order
    parameters = execution.parameters
    assert (parameters.n, parameters.xs) == (3, [1, 2])
    # read back by a datastore that refuses pickle, as any reader may
    again = Plain(datastore=datastores.Local(root=str(tmp_path / "store"), allow_pickle=False))
    assert again.execution(execution.id).layer(Uses).total == 6


def test_values_json_would_change_are_still_refused(tmp_path) -> None:
    store = datastores.Local(root=str(tmp_path / "store"), allow_pickle=False)
    flow = Plain(datastore=store, executor=executors.Thread())
    with pytest.raises(ArtifactError, match=r"Plain.Parameters.* 'xs'.*tuple needs protocol 'cloudpickle'"):
        flow(n=3, xs=(1, 2), options={})
    with pytest.raises(ArtifactError, match="dict needs protocol 'cloudpickle'"):
        flow(n=3, xs=[1], options={1: "int keys come back as strings"})


def test_only_allow_pickle_false_chooses_json_for_plain_values() -> None:
    assert Serde().choose({"a": 1}).name == "cloudpickle"  # unchanged where pickle is allowed
    assert Serde(allow_pickle=False).choose({"a": [1, 2.5, None, "s", True]}).name == "json-plain"
