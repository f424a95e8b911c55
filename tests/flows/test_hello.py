"""SPEC 1: a flow of two layers, artifacts, names, the execution guard, parallel layers."""

from __future__ import annotations

from pathlib import Path

from laminar import Execution, Flow, Layer, Parameters


class HelloFlow(Flow): ...


@HelloFlow.register
class Hello(Layer):
    def __call__(self) -> None:
        self.value = "hello"
        self.own_name = self.name


@HelloFlow.register
class World(Layer):
    def __call__(self, hello: Hello) -> None:
        self.value = f"{hello.value} world"
        self.upstream_name = hello.name


def test_hello_world(backend):
    flow = backend.flow(HelloFlow)
    assert flow  # the execution guard is True in the scheduling process
    execution = flow()
    assert isinstance(execution, Execution)
    assert execution.layer(Hello).value == "hello"
    assert execution.layer(World).value == "hello world"
    assert execution.layer(Hello).own_name == "Hello"
    assert execution.layer(World).upstream_name == "Hello"
    assert execution.layer(World).state.finished


def test_parameter_name_is_free(backend):
    """The annotation picks the dependency, whatever the parameter is called."""
    execution = backend.flow(RenamedFlow)()
    assert execution.layer(Second).value == 2


class RenamedFlow(Flow): ...


@RenamedFlow.register
class First(Layer):
    def __call__(self) -> None:
        self.value = 1


@RenamedFlow.register
class Second(Layer):
    def __call__(self, anything_at_all: First) -> None:
        self.value = anything_at_all.value + 1


# -- layers with no path between them run in parallel ---------------------------------------------
#
# Each of Left and Right waits for the other to have started (a file in a shared directory); run one
# after the other, the first would time out and fail the flow.


class ParallelFlow(Flow): ...


def _wait_for(path: Path) -> bool:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.005)
    return False


@ParallelFlow.register
class Left(Layer):
    def __call__(self, p: Parameters) -> None:
        (Path(p.directory) / "left").touch()
        self.saw_other = _wait_for(Path(p.directory) / "right")


@ParallelFlow.register
class Right(Layer):
    def __call__(self, p: Parameters) -> None:
        (Path(p.directory) / "right").touch()
        self.saw_other = _wait_for(Path(p.directory) / "left")


@ParallelFlow.register
class Both(Layer):
    def __call__(self, left: Left, right: Right) -> None:
        self.value = left.saw_other and right.saw_other


def test_independent_layers_run_in_parallel(backend, tmp_path):
    execution = backend.flow(ParallelFlow)(directory=str(tmp_path))
    assert execution.layer(Both).value is True


def test_artifacts_of_any_type_round_trip(backend):
    execution = backend.flow(TypesFlow)()
    produced = execution.layer(Produce)
    assert produced.mapping == {"a": [1, 2, (3, 4)]}
    assert produced.nothing is None
    assert produced.number == 1.5
    assert execution.layer(Consume).total == 10


class TypesFlow(Flow): ...


@TypesFlow.register
class Produce(Layer):
    def __call__(self) -> None:
        self.mapping = {"a": [1, 2, (3, 4)]}
        self.nothing = None
        self.number = 1.5


@TypesFlow.register
class Consume(Layer):
    def __call__(self, produce: Produce) -> None:
        self.total = sum(produce.mapping["a"][:2]) + sum(produce.mapping["a"][2]) + (produce.nothing or 0)
