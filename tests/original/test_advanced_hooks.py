"""rchui/laminar docs/source/advanced/hooks.md, every example as written, on each backend.

Changed only what the page leaves undefined, each where it happens: flows are built with the test's
datastore and executor (``backend.flow(F)``); the dependency listing's hook is a fragment (here on a layer
``B`` reading ``A.foo``); the ForEach listing uses ``layers`` and ``List`` without importing them
(imported here). The database of the psycopg2 listing is a sqlite database here (there is no PostgreSQL
server); the listing keeps the connection and cursor on ``self``, which makes them artifacts, and a
connection cannot be stored (in the original either): laminar says so, naming the attribute and the fix,
and the listing with that fix (``del`` them after the ``yield``) runs. The submission listing asks for
``cpu = 4``: Thread runs it (warning on a machine with fewer CPUs), Ray on a Ray of 4 logical CPUs.
"""

import contextlib
import sqlite3
import warnings
from collections.abc import Generator
from typing import List  # noqa: UP035 - the page's

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, hooks, layers
from laminar.errors import ArtifactError, InfeasibleWarning
from laminar.types import unwrap
from original.docpages import in_order, ray4


def test_execution_hook(backend, printed):
    # main.py

    class HookFlow(Flow): ...

    @HookFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print("in call")

        @hooks.execution
        def configure_before_after(self) -> Generator[None, None, None]:
            print("before call")
            yield
            print("after call")

    backend.flow(HookFlow)()
    assert in_order(printed(["before call", "in call", "after call"]), ["before call", "in call", "after call"])


def test_hooks_take_layers_as_dependencies(backend):
    class HookFlow(Flow): ...

    @HookFlow.register
    class A(Layer):
        def __call__(self) -> None:
            self.foo = "b"

    @HookFlow.register
    class B(Layer):
        def __call__(self) -> None:
            self.memory = self.configuration.container.memory

        @hooks.submission
        def configure_container(self, a: A) -> None:
            memory = {"a": 1000, "b": 1500, "c": 2000}
            self.configuration.container.memory = memory[a.foo]

    flow = backend.flow(HookFlow)
    assert flow.graph()["B"].dependencies == ("A",)  # the hook's layer is a dependency
    assert flow().layer(B).memory == 1500


def test_multiple_hooks_run_in_definition_order(backend, printed):
    class HookFlow(Flow): ...

    @HookFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print("in call")

        @hooks.execution
        def configure_entry_1(self) -> None:
            print("before call")

        @hooks.execution
        def configure_entry_2(self) -> Generator[None, None, None]:
            yield
            print("after call")

    backend.flow(HookFlow)()
    assert in_order(printed(["before call", "in call", "after call"]), ["before call", "in call", "after call"])


def test_execution_hooks_open_connections(backend):
    class HookFlow(Flow): ...

    @HookFlow.register
    class A(Layer):
        def __call__(self) -> None:
            self.cursor.execute("SELECT * FROM numbers")

        @hooks.execution
        def hello_world(self) -> Generator[None, None, None]:
            with sqlite3.connect(":memory:") as self.connection:  # the page: psycopg2.connect("dbname=test ...")
                with contextlib.closing(self.connection.cursor()) as self.cursor:
                    self.cursor.execute("CREATE TABLE numbers (n)")
                    yield

    with pytest.raises(ArtifactError, match=r"HookFlow.A.* 'c(onnection|ursor)'"):
        backend.flow(HookFlow)()

    @HookFlow.register
    class Fixed(Layer):  # the listing, with what it opens kept off the artifacts once closed
        def __call__(self) -> None:
            self.cursor.execute("SELECT * FROM numbers")
            self.rows = self.cursor.fetchall()

        @hooks.execution
        def hello_world(self) -> Generator[None, None, None]:
            with sqlite3.connect(":memory:") as self.connection:
                with contextlib.closing(self.connection.cursor()) as self.cursor:
                    self.cursor.execute("CREATE TABLE numbers (n)")
                    self.cursor.execute("INSERT INTO numbers VALUES (1), (2)")
                    yield
            del self.cursor, self.connection

    del HookFlow.registry["A"]  # the failing version above, replaced by the fixed one
    assert backend.flow(HookFlow)().layer(Fixed).rows == [(1,), (2,)]


def test_retry_hooks(backend):
    class HookFlow(Flow): ...

    @HookFlow.register
    class A(Layer):
        @hooks.retry
        def configure_container(self) -> None:
            self.configuration.container.memory = self.configuration.container.memory * 2

    if flow := backend.flow(HookFlow):
        execution = flow()
    assert execution.layer(A).state.finished  # nothing failed: the hook never ran


SUBMISSION = """
from laminar import Flow, Layer
from laminar.configurations import hooks

class HookFlow(Flow):
    ...

@HookFlow.register
class A(Layer):
    def __call__(self) -> None:
        self.asked = (self.configuration.container.cpu, self.configuration.container.memory)

    @hooks.submission
    def configure_container(self) -> None:
        self.configuration.container.cpu = 4
        self.configuration.container.memory = 2000
"""


def test_submission_hooks_on_thread(tmp_path):
    namespace: dict[str, object] = {}
    exec(SUBMISSION, namespace)
    flow_class = namespace["HookFlow"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", InfeasibleWarning)
        if flow := flow_class(datastore=datastores.Local(root=str(tmp_path / "s")), executor=executors.Thread()):
            execution = flow()
    assert execution.layer("A").asked == (4, 2000)


def test_submission_hooks_on_ray(tmp_path):
    out = ray4(
        tmp_path, SUBMISSION + "\nprint('asked', HookFlow(datastore=DATASTORE, executor=EXECUTOR)().layer(A).asked)\n"
    )
    assert "asked (4, 2000)" in out.splitlines()


def test_submission_hooks_per_foreach_split(backend, printed):
    class HookFlow(Flow): ...

    @HookFlow.register
    class A(Layer):
        baz: List[str]  # noqa: UP006 - the page's

        def __call__(self) -> None:
            self.shard(baz=["a", "b", "c"])

    @HookFlow.register(foreach=layers.ForEach(parameters=[layers.ForEachParameter(layer=A, attribute="baz")]))
    class B(Layer):
        baz: List[str]  # noqa: UP006

        def __call__(self, a: A) -> None:
            print(a.baz, self.configuration.container.memory)

        @hooks.submission
        def configure_container(self, a: A) -> None:
            memory = {"a": 1000, "b": 1500, "c": 2000}
            self.configuration.container.memory = memory[a.baz[unwrap(self.index)]]

    if flow := backend.flow(HookFlow):
        flow()
    printed(["a 1000", "b 1500", "c 2000"])


def test_flow_hooks(backend, printed):
    # main.py

    class HelloFlow(Flow):
        @hooks.execution
        def hello_world(self) -> Generator[None, None, None]:
            print(f"before {self.name}")
            yield
            print(f"after {self.name}")

    @HelloFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print("in A")

    @HelloFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            print("in B")

    if flow := backend.flow(HelloFlow):
        flow()
    lines = printed(["before A", "in A", "after A", "before B", "in B", "after B"])
    assert in_order(lines, ["before A", "in A", "after A"]) and in_order(lines, ["before B", "in B", "after B"])
