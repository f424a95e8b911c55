"""rchui/laminar docs/source/advanced/serde.md, every example as written, on Thread and on Ray.

Changed only what the page leaves undefined: ``BinaryIO`` and ``Dict`` are used without being imported
(imported here); ``datastores.Local()`` writes ``.laminar`` in the working directory (a temp dir here).
The page's flows have no layers: each test adds one that stores a value of the registered type, and runs
the flow on Thread and on Ray, to see the protocol at work. The last listing's protocol keeps values in a
dict of its own instead of writing them at the URI it is given, which a content-addressed datastore cannot
store (nor a Ray worker share): building it works as written, and storing a value with it is refused,
saying what its ``write`` must do.
"""

import json
from typing import Any, BinaryIO, Dict, List, Union  # noqa: UP035 - the page's

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, serde
from laminar.errors import ArtifactError


@pytest.fixture(params=["thread", "ray"])
def executor(request: pytest.FixtureRequest) -> executors.Executor:
    if request.param == "thread":
        return executors.Thread()
    request.getfixturevalue("ray_cluster")
    from laminar_ray import Ray

    return Ray()


@pytest.fixture(autouse=True)
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_protocols(executor):
    datastore = datastores.Local()

    class SerdeFlow(Flow): ...

    @datastore.protocol(list)
    class ListProtcol(serde.Protocol):
        def load(self, file: BinaryIO) -> List[Any]:  # noqa: UP006
            return eval(file.read().decode())

        def loads(self, stream: bytes) -> List[Any]:  # noqa: UP006
            return eval(stream.decode())

        def dump(self, value: List[Any], file: BinaryIO) -> None:  # noqa: UP006
            file.write(value.__repr__().encode())

        def dumps(self, value: List[Any]) -> bytes:  # noqa: UP006
            return value.__repr__().encode()

    flow = SerdeFlow(datastore=datastore)

    assert _stored(flow, executor, [1, "two", 3.0]) == (ListProtcol.name, [1, "two", 3.0])


def test_multiple_types(executor):
    datastore = datastores.Local()

    class SerdeFlow(Flow): ...

    @datastore.protocol(dict, list)
    class JsonProtocol(serde.Protocol):
        def load(self, file: BinaryIO) -> Union[Dict[str, Any], List[Any]]:  # noqa: UP006, UP007
            return json.load(file)

        def dumps(self, value: Union[Dict[str, Any], List[Any]]) -> bytes:  # noqa: UP006, UP007
            return json.dumps(value).encode()

    flow = SerdeFlow(datastore=datastore)

    assert _stored(flow, executor, {"a": [1, 2]}) == (JsonProtocol.name, {"a": [1, 2]})
    assert _stored(flow, executor, [True, None])[0] == JsonProtocol.name


def test_beyond_the_datastore(executor):
    cache: Dict[str, List[Any]] = {}  # noqa: UP006
    datastore = datastores.Local()

    class SerdeFlow(Flow): ...

    @datastore.protocol(list)
    class ListProtcol(serde.Protocol):
        def read(uri: str) -> List[Any]:  # type: ignore[misc]  # noqa: UP006 - the page's, without self
            return cache[uri]

        def write(value: List[Any], uri: str) -> None:  # type: ignore[misc]  # noqa: UP006
            cache[uri] = value

    flow = SerdeFlow(datastore=datastore)

    assert datastore.serde.choose([1]).name == ListProtcol.name
    with pytest.raises(ArtifactError, match=r"ListProtcol.write wrote nothing at the URI it was given"):
        _stored(flow, executor, [1, 2])


def _stored(flow: Flow, executor: executors.Executor, value: Any) -> tuple[str, Any]:
    """Run ``flow`` with one layer that stores ``value``: the protocol the datastore stores it with, and the
    value as a fresh reader reads it back."""

    class Stores(Layer):
        def __call__(self) -> None:
            self.value = value

    type(flow).registry.pop("Stores", None)
    type(flow).register(Stores)
    flow.configuration.executor = executor
    execution = flow()
    store = flow.configuration.datastore
    return store.serde.choose(value).name, type(flow)(datastore=store).execution(execution.id).layer(Stores).value
