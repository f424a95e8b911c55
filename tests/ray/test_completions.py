"""Completions found together come in one ``ray.get``; one failure among them is told as its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores
from laminar.executors.base import Run
from laminar.records import SplitMeta
from laminar.task import Task, TaskKind

pytestmark = pytest.mark.usefixtures("ray_cluster")


class Together(Flow): ...


@Together.register
class Only(Layer):
    def __call__(self) -> None:
        self.x = 1


def test_one_failure_among_tasks_found_finished_together_is_its_own(tmp_path: Path) -> None:
    import ray

    from laminar_ray import Ray

    @ray.remote(num_returns=2)
    def finishes(n: int) -> tuple[list[object], list[object]]:
        return [["x"], {}, {"n": n}], [{"x": n}, []]

    @ray.remote(num_returns=2)
    def fails() -> tuple[object, object]:
        raise ValueError("this one fails on purpose")

    flow = Together(datastore=datastores.Local(str(tmp_path)))
    graph = flow.graph()
    session = Ray().open(Run("Together", "an-execution", graph, flow.configuration.datastore))
    tasks = [Task(n, TaskKind.run, "Only", n, 3, 0, graph["Only"].configuration, {}) for n in range(3)]
    metas = [finishes.remote(0)[0], fails.remote()[0], finishes.remote(2)[0]]
    ray.wait(metas, num_returns=3)
    completions = session._completions(list(zip(tasks, metas, strict=True)))
    assert [completion.task for completion in completions] == tasks
    assert [completion.value for completion in completions[::2]] == [
        SplitMeta(("x",), {}, {"n": 0}),
        SplitMeta(("x",), {}, {"n": 2}),
    ]
    assert completions[0].error is None and completions[2].error is None
    error = completions[1].error
    assert isinstance(error, ValueError) and "this one fails on purpose" in str(error)
    # and together without a failure: the same completions as one by one
    together = session._completions([(tasks[0], metas[0]), (tasks[2], metas[2])])
    assert together == [session._completion(tasks[0], metas[0]), session._completion(tasks[2], metas[2])]
