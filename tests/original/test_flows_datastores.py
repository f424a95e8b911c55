"""rchui/laminar docs/source/flows/datastores.md, every example as written.

Changed only what the page leaves undefined: ``datastores.Local()`` writes to ``.laminar`` in the working
directory, here a temp dir; ``datastores.AWS.S3()`` needs a bucket (the original's ``AWS.S3`` requires a
root too), here one on the moto S3 server with its endpoint and keys. The page's flows have no layers
and are never called: each test registers one layer (``Writes``) and runs the flow, on Thread and Ray,
to show the datastore at work.
"""

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, executors
from laminar.errors import ConfigurationError


@pytest.fixture(params=["thread", "ray"])
def executor(request: pytest.FixtureRequest) -> executors.Executor:
    if request.param == "thread":
        return executors.Thread()
    request.getfixturevalue("ray_cluster")
    from laminar_ray import Ray

    return Ray()


class Writes(Layer):
    def __call__(self) -> None:
        self.value = "stored"


def test_local(executor, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where Local() writes: .laminar in the working directory

    class LocalFlow(Flow): ...

    flow = LocalFlow(datastore=datastores.Local())

    LocalFlow.register(Writes)
    flow.configuration.executor = executor
    assert flow().layer(Writes).value == "stored"
    assert (tmp_path / ".laminar" / "flows" / "LocalFlow").is_dir()


def test_memory(executor):
    class MemoryFlow(Flow): ...

    flow = MemoryFlow(datastore=datastores.Memory())

    MemoryFlow.register(Writes)
    flow.configuration.executor = executor
    if isinstance(executor, executors.Thread):
        assert flow().layer(Writes).value == "stored"
    else:  # the page's warning: "Can only be used with the Thread executor"
        with pytest.raises(ConfigurationError, match="lives in one process and Ray tasks run in others"):
            flow()


def test_aws_s3(executor, s3_server):
    class S3Flow(Flow): ...

    # the page's datastores.AWS.S3(), with the bucket and server it leaves undefined
    flow = S3Flow(datastore=datastores.AWS.S3(root=f"s3://{s3_server.bucket()}/laminar", **s3_server.options()))

    S3Flow.register(Writes)
    flow.configuration.executor = executor
    execution = flow()
    assert S3Flow(datastore=flow.configuration.datastore).execution(execution.id).layer(Writes).value == "stored"
