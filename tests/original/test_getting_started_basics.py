"""rchui/laminar docs/source/getting_started/basics.md, every example as written, on each backend.

Changed only what the page leaves undefined, each where it happens: a flow is built by ``backend.flow(F)``
(the test's datastore, a temp dir, memory or a moto S3 bucket, and its executor, Thread or Ray) where the
page writes ``F()`` and lets the defaults choose; each listing is its own ``main.py`` on the page, so
each test defines its own classes. Prints are read from this process or, on Ray, from its workers.
"""

from laminar import Flow, Layer
from original.docpages import in_order


def test_registering_layers(backend):
    class RegisterFlow(Flow): ...

    @RegisterFlow.register
    class A(Layer): ...

    assert RegisterFlow.registry["A"].layer is A
    assert backend.flow(RegisterFlow)().layer(A).state.finished


def test_a_layer_registered_to_multiple_flows(backend):
    class Flow1(Flow): ...

    class Flow2(Flow): ...

    @Flow1.register
    @Flow2.register
    class A(Layer): ...

    @Flow1.register
    @Flow2.register
    class B(Layer): ...

    assert Flow1.registry["A"].layer is Flow2.registry["A"].layer is A
    assert Flow1.registry["B"].layer is Flow2.registry["B"].layer is B
    for flow in (backend.flow(Flow1), backend.flow(Flow2)):
        assert flow().layer(B).state.finished


def test_executing_flows(backend):
    # main.py
    class TriggerFlow(Flow): ...

    @TriggerFlow.register
    class A(Layer): ...

    if flow := backend.flow(TriggerFlow):
        execution = flow()
    assert execution.layer(A).state.finished


def test_multiple_flows_in_a_row(backend):
    class Flow1(Flow): ...

    class Flow2(Flow): ...

    @Flow1.register
    class A(Layer): ...

    @Flow2.register
    class B(Layer): ...

    if flow1 := backend.flow(Flow1):
        first = flow1()

    if flow2 := backend.flow(Flow2):
        second = flow2()
    assert first.layer(A).state.finished and second.layer(B).state.finished


def test_performing_tasks(backend, printed):
    # main.py

    class TaskFlow(Flow): ...

    @TaskFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print("hello world")

    if flow := backend.flow(TaskFlow):
        flow()
    printed(["hello world"])


def test_dependencies(backend, printed):
    # main.py

    class HelloFlow(Flow): ...

    @HelloFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print(self.name)

    @HelloFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            print(self.name)

    if flow := backend.flow(HelloFlow):
        flow()
    printed(["A", "B"])
    assert "A --> B" in flow.mermaid()  # the page's diagram


def test_an_extended_graph(backend, printed):
    # main.py

    class HelloFlow(Flow): ...

    @HelloFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print(self.name)

    @HelloFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            print(self.name)

    @HelloFlow.register
    class C(Layer):
        def __call__(self, b: B) -> None:
            print(self.name)

    @HelloFlow.register
    class D(Layer):
        def __call__(self, a: A, b: B, c: C) -> None:
            print(self.name)

    if flow := backend.flow(HelloFlow):
        execution = flow()
    printed(["A", "B", "C", "D"])
    diagram = flow.mermaid()
    assert all(edge in diagram for edge in ("A --> B", "A --> D", "B --> C", "C --> D"))  # the page's diagram
    # each waits on those it depends on: the order the page prints, whatever the executor
    ended = [execution.summary()[i].ended for i in range(4)]
    assert ended == sorted(ended)


def test_artifacts(backend, printed):
    # main.py

    class HelloFlow(Flow): ...

    @HelloFlow.register
    class Start(Layer):
        def __call__(self) -> None:
            self.message = "Hello World"
            print(f"Sending the message: {self.message}")

    @HelloFlow.register
    class Middle(Layer):
        def __call__(self, start: Start) -> None:
            print(start.message)
            self.message = start.message

    @HelloFlow.register
    class End(Layer):
        def __call__(self, middle: Middle) -> None:
            print(f"Sent message: {middle.message}")

    if flow := backend.flow(HelloFlow):
        execution = flow()
    lines = printed(["Sending the message: Hello World", "Hello World", "Sent message: Hello World"])
    assert "Start --> Middle" in flow.mermaid() and "Middle --> End" in flow.mermaid()
    assert execution.layer(Middle).message == "Hello World"
    if backend.executor.__class__.__name__ == "Thread":  # one process: its prints arrive in the order made
        assert in_order(lines, ["Sending the message: Hello World", "Hello World", "Sent message: Hello World"])
