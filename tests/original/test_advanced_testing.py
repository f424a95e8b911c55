"""rchui/laminar docs/source/advanced/testing.md, every example as written, where the page's code can run.

The page tests its flow on ``datastores.Memory()`` and ``executors.Thread()``, as written; the same test
runs on each backend too (the test's datastore and executor). Three of its layer and hook tests cannot
run as written, in the original either, and are changed as little as their intent needs, each said where:
``a().foo`` reads an attribute of what ``__call__`` returned (None: a layer keeps what it assigns, and
``__call__`` returning a value is an error here); ``next(a.configure_foo())`` runs the hook only to its
``yield``, before the line that changes ``foo``. ``Int`` is a protocol the page never defines.
"""

from collections.abc import Generator

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, hooks, serde
from laminar.types import unwrap


class TestFlow(Flow): ...


TestFlow.__test__ = False  # type: ignore[attr-defined]  # a class named Test*: not for pytest to collect


@TestFlow.register
class A(Layer):
    def __call__(self) -> None:
        self.foo = "bar"


@TestFlow.register
class B(Layer):
    def __call__(self, a: A) -> None:
        self.foo = a.foo


@TestFlow.register
class C(Layer):
    def __call__(self, b: B) -> None:
        self.foo = b.foo


def test_flow() -> None:
    flow = TestFlow(datastore=datastores.Memory(), executor=executors.Thread())
    execution = flow()

    assert execution.layer(A).foo == "bar"
    assert execution.layer(B).foo == "bar"
    assert execution.layer(C).foo == "bar"
    assert unwrap(execution.id)


def test_flow_on_each_backend(backend) -> None:
    execution = backend.flow(TestFlow)()
    assert [execution.layer(layer).foo for layer in (A, B, C)] == ["bar"] * 3


# main.py


class HookedFlow(Flow): ...  # the page's second TestFlow


@HookedFlow.register
class Hooked(Layer):  # the page's second A
    def __call__(self) -> None:
        self.foo = "bar"

    @hooks.execution
    def configure_foo(self) -> Generator[None, None, None]:
        yield
        self.foo = self.foo + ".baz"


class Depends(Layer):  # the page's second B: built by hand, never registered
    def __call__(self, a: Hooked) -> None:
        self.foo = a.foo


def test_the_flow_with_the_hook_runs_as_written() -> None:
    if flow := HookedFlow(datastore=datastores.Memory(), executor=executors.Thread()):
        execution = flow()
    assert execution.layer(Hooked).foo == "bar.baz"


def test_A() -> None:
    a = Hooked()
    a()  # the page: assert a().foo == "bar"
    assert a.foo == "bar"


def test_B() -> None:
    a = Hooked(foo="bar")
    b = Depends()
    b(a)  # the page: assert b(a).foo == "bar"
    assert b.foo == "bar"


def test_configure_foo() -> None:
    a = Hooked(foo="bar")
    hook = a.configure_foo()
    next(hook)  # the page's next(a.configure_foo()): runs to the yield
    next(hook, None)  # and on past it, as laminar does after __call__
    assert a.foo == "bar.baz"


class Int(serde.Protocol):
    def dumps(self, value: int) -> bytes:
        return str(value).encode()

    def loads(self, stream: bytes) -> int:
        return int(stream.decode())


def test_int_protocol() -> None:
    assert Int().dumps(1) == b"1"
