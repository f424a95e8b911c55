"""A layer that raises SystemExit or KeyboardInterrupt fails the flow with what it raised, type and message,
on every executor (on Ray these were a task cancelled and a worker process that died, the message lost),
and its failure record names it."""

from __future__ import annotations

import pytest
from backends import Backend

from laminar import Flow, Layer, Parameters


class Raises(Flow): ...


@Raises.register
class Quits(Layer):
    def __call__(self, p: Parameters) -> None:
        if p.how == "exit":
            raise SystemExit("the layer asked to exit")
        raise KeyboardInterrupt("the layer was interrupted")


@pytest.mark.parametrize(
    ("how", "raised", "text"),
    [("exit", SystemExit, "the layer asked to exit"), ("interrupt", KeyboardInterrupt, "the layer was interrupted")],
)
def test_a_layer_raising_a_base_exception_fails_the_flow_with_it(
    backend: Backend, how: str, raised: type[BaseException], text: str
) -> None:
    flow = backend.flow(Raises)
    with pytest.raises(raised) as caught:
        flow(execution="e", how=how, progress=False)
    assert type(caught.value) is raised and text in str(caught.value)
    failure = backend.datastore.read_json("flows/Raises/e/Quits/0.failure-1.json")
    assert failure["error"] == repr(raised(text)) and failure["worker_lost"] is False, failure
