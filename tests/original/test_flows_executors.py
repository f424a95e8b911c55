"""rchui/laminar docs/source/flows/executors.md, every example as written.

Changed only what the page leaves undefined: the first listing uses ``Layer`` without importing it
(imported here); the page's flows have no datastore (the test's temp dir). ``executors.Docker()`` is
laminar's executor that runs every split in a container of its layer's image (podman); the page gives
``A`` no image (the original's default image, rchui/laminar, is not this laminar's), so running it is
refused before any work, naming the fix; tests/containers/test_docker_executor.py runs one with an image.
``executors.AWS.Batch`` builds as written and is refused when a flow runs on it.
"""

import pytest

from laminar import Flow, Layer
from laminar.errors import ConfigurationError


def test_docker(tmp_path):
    from laminar.configurations import executors, layers

    class DockerFlow(Flow): ...

    @DockerFlow.register(container=layers.Container(cpu=1, memory=1500))
    class A(Layer): ...

    flow = DockerFlow(executor=executors.Docker())

    assert DockerFlow.registry["A"].configuration.container.cpu == 1
    flow.configuration.datastore = _store(tmp_path)
    with pytest.raises(ConfigurationError, match=r"executors.Docker runs every layer in a container .* A names none"):
        flow()


def test_thread(tmp_path):
    from laminar.configurations import executors

    class ThreadFlow(Flow): ...

    flow = ThreadFlow(executor=executors.Thread())

    @ThreadFlow.register
    class Runs(Layer):  # the page's flow has no layers: one, to see it run in this process
        def __call__(self) -> None:
            import threading

            self.thread = threading.current_thread().name

    flow.configuration.datastore = _store(tmp_path)
    assert flow().layer(Runs).thread.startswith("laminar-ThreadFlow")


def test_aws_batch(tmp_path):
    from laminar.configurations import executors

    class BatchFlow(Flow): ...

    flow = BatchFlow(executor=executors.AWS.Batch(job_queue_arn=..., job_role_arn=...))

    flow.configuration.datastore = _store(tmp_path)
    with pytest.raises(ConfigurationError, match=r"executors.AWS.Batch .* is not part of this laminar"):
        flow()


def _store(tmp_path):
    from laminar.configurations import datastores

    return datastores.Local(root=str(tmp_path / "store"))
