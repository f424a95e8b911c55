"""rchui/laminar docs/source/advanced/composition.md, every example as written, on each backend.

Changed only what the page leaves undefined: flows are built with the test's datastore and executor
(``backend.flow(Flow1)`` for ``Flow1()``, also the ``Flow2()`` given to ``next``).
"""

from laminar import Flow, Layer, Parameters


def test_chaining(backend, printed):
    class Flow1(Flow): ...

    @Flow1.register
    class A(Layer):
        def __call__(self) -> None:
            self.foo = "bar"

    class Flow2(Flow): ...

    @Flow2.register
    class B(Layer):
        def __call__(self, parameters: Parameters) -> None:
            self.foo = parameters.foo
            print(self.foo)

    if flow1 := backend.flow(Flow1):
        execution = flow1().next(flow=backend.flow(Flow2), linker=lambda e: Parameters(foo=e.layer(A).foo))
    printed(["bar"])
    assert execution.flow.name == "Flow2" and execution.layer(B).foo == "bar"
    assert backend.flow(Flow1).execution(execution.id).layer(A).foo == "bar"  # one id, both flows


def test_inheritance(backend, printed):
    class Flow1(Flow): ...

    @Flow1.register
    class A(Layer):
        def __call__(self) -> None:
            self.foo = "bar"

    class Flow2(Flow): ...

    @Flow2.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            self.foo = a.foo
            print(self.foo)

    class CombinedFlow(Flow1, Flow2): ...

    if flow := backend.flow(CombinedFlow):
        execution = flow()
    printed(["bar"])
    assert sorted(CombinedFlow.registry) == ["A", "B", "Parameters"]
    assert execution.layer(B).foo == "bar"
