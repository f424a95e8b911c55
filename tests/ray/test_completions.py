"""Completions found together come in one ``ray.get``; one failure among them is told as its own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter

pytestmark = pytest.mark.usefixtures("ray_cluster")

SPLITS = 8


class Together(Flow): ...


@Together.register
class Items(Layer):
    def __call__(self) -> None:
        self.shard(n=list(range(SPLITS)))


@Together.register(
    container=Container(cpu=0.25, memory=0), foreach=ForEach(parameters=[Parameter(layer=Items, attribute="n")])
)
class Finish(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        time.sleep(max(0.0, p.at - time.time()))  # every split finishes at about the same moment
        if items.n == 3:
            raise ValueError("split 3 fails on purpose")
        self.n = items.n


def test_one_failure_among_tasks_that_finished_together_is_its_own_and_the_others_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from laminar_ray import Ray, session

    batches: list[int] = []
    completions = session.Session._completions

    def counted(self: session.Session, finished: list[tuple[object, object]]) -> object:
        batches.append(len(finished))
        return completions(self, finished)

    monkeypatch.setattr(session.Session, "_completions", counted)
    store = datastores.Local(str(tmp_path))
    flow = Together(datastore=store, executor=Ray())
    with pytest.raises(ValueError, match="split 3 fails on purpose") as raised:
        flow(at=time.time() + 3.0, progress=False)
    assert "Together.Finish[3]" in "\n".join(getattr(raised.value, "__notes__", []))
    assert max(batches) > 1, batches  # several were found finished at once, the failure among them
    [execution] = store.list_executions(flow)
    done = store.finished_splits("Together", execution, "Finish")
    assert done == set(range(SPLITS)) - {3}
