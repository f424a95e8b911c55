"""rchui/laminar docs/source/advanced/recovery.md, every example as written, on each backend.

Changed only what the page leaves undefined: the ``Catch`` listing imports ``layers`` and calls ``Catch``
(imported here); ``raise ...`` raises the Ellipsis, which Python refuses with a ``TypeError`` ("exceptions
must derive from BaseException"), so the ``Catch(TypeError, IOError)`` of the listing catches it; the
resume listing's ``flow`` and ``execution_id`` are a flow here that fails once, and its execution.
"""

from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import layers
from laminar.configurations.layers import Catch


def test_catch(backend):
    from laminar import Flow, Layer

    class CatchFlow(Flow): ...

    @CatchFlow.register(catch=Catch(TypeError, IOError))
    class A(Layer):
        def __call__(self) -> None:
            self.before = "kept"
            raise ...  # noqa: B016 - as the page writes it

    execution = backend.flow(CatchFlow)()
    a = execution.layer(A)
    assert a.state.finished and a.before == "kept"  # exits at once, with its state written


def test_retry(backend):
    class RetryFlow(Flow): ...

    @RetryFlow.register(retry=layers.Retry(attempts=3))
    class A(Layer): ...

    assert backend.flow(RetryFlow)().layer(A).state.finished
    retry = layers.Retry(attempts=3, delay=0.1, backoff=2, jitter=0.1)
    assert 0.1 * 2 * 0.9 <= retry.wait(2) <= 0.1 * 2 * 1.1  # jittered exponential backoff


def test_resume(backend, tmp_path: Path):
    class Flaky(Flow): ...

    @Flaky.register
    class Done(Layer):
        def __call__(self, p: Parameters) -> None:
            with open(Path(p.log) / "done", "a") as log:
                log.write("x")

    @Flaky.register
    class Fails(Layer):
        def __call__(self, done: Done, p: Parameters) -> None:
            if not (Path(p.log) / "fixed").exists():
                raise RuntimeError("not yet")

    flow = backend.flow(Flaky)
    with pytest.raises(RuntimeError, match="not yet"):
        flow(execution="recover", log=str(tmp_path))
    (tmp_path / "fixed").touch()

    execution_id = "recover"

    flow.execution(execution_id).resume()

    assert flow.execution(execution_id).layer(Fails).state.finished
    assert (tmp_path / "done").read_text() == "x"  # the layer that finished was skipped
