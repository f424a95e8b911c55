"""Property: over random DAGs with random entry conditions, every layer ends as the seeds predict.

Seeds 002/004: a layer with entry hooks runs iff they are all truthy; without, it runs iff every
dependency finished (so one skipped layer skips its subtree).
"""

from __future__ import annotations

import inspect
import itertools
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, hooks

Dag = tuple[list[list[int]], list[bool | None]]
_names = itertools.count()


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    size = draw(st.integers(min_value=1, max_value=7))
    dependencies = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(size)]
    conditions = [draw(st.sampled_from([None, True, False])) for _ in range(size)]
    return dependencies, conditions


def predict(dag: Dag) -> list[str]:
    dependencies, conditions = dag
    finished: list[bool] = []
    for deps, condition in zip(dependencies, conditions, strict=True):
        finished.append(condition if condition is not None else all(finished[d] for d in deps))
    return ["finished" if f else "skipped" for f in finished]


def _gate(value: bool) -> Callable[[Layer], bool]:
    def gate(self: Layer) -> bool:
        return value

    return gate


def build(dag: Dag) -> type[Flow]:
    """A flow of layers L0..Ln built with plain classes: each ``__call__`` annotated with its dependencies."""
    dependencies, conditions = dag
    flow: type[Flow] = type(f"Random{next(_names)}", (Flow,), {})
    classes: list[type[Layer]] = []
    for index, (deps, condition) in enumerate(zip(dependencies, conditions, strict=True)):

        def call(self: Layer, **upstream: Layer) -> None:
            self.seen = sorted(name for name, layer in upstream.items() if layer.state.finished)

        parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        parameters += [inspect.Parameter(f"l{d}", inspect.Parameter.KEYWORD_ONLY, annotation=classes[d]) for d in deps]
        call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        call.__annotations__ = {f"l{d}": classes[d] for d in deps}
        namespace: dict[str, Any] = {"__call__": call}
        if condition is not None:
            namespace["gate"] = hooks.entry(_gate(condition))
        layer = type(f"L{index}", (Layer,), namespace)
        classes.append(flow.register(layer))
    return flow


def check(flow: Flow, dag: Dag) -> None:
    execution = flow()
    expected = predict(dag)
    states = [execution.layer(f"L{i}").state.phase for i in range(len(expected))]
    assert states == expected
    for index, deps in enumerate(dag[0]):
        if expected[index] == "finished":  # it saw exactly which of its dependencies finished
            assert execution.layer(f"L{index}").seen == sorted(f"l{d}" for d in deps if expected[d] == "finished")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_final_states_match_the_seed_semantics_on_thread(dag: Dag) -> None:
    check(build(dag)(datastore=datastores.Memory(), executor=executors.Thread()), dag)


@pytest.mark.slow
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(dag=dags())
def test_final_states_match_the_seed_semantics_on_ray(ray_cluster: object, dag: Dag) -> None:
    from laminar_ray import Ray

    with tempfile.TemporaryDirectory() as root:
        check(build(dag)(datastore=datastores.Local(root), executor=Ray()), dag)


def test_the_prediction_itself_follows_the_seeds() -> None:
    # A -> B (gated off) -> D ; A -> C -> D ; D gated on: D runs although B was skipped.
    dag: Dag = ([[], [0], [0], [1, 2]], [None, False, None, True])
    assert predict(dag) == ["finished", "skipped", "finished", "finished"]
    assert predict(([[], [0], [1]], [None, False, None])) == ["finished", "skipped", "skipped"]
