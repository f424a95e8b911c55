"""rchui/laminar docs/source/flows/parameters.md, every example as written, on each backend.

Changed only what the page leaves undefined: ``backend.flow(ParameterFlow)`` for ``ParameterFlow()`` (the
test's datastore and executor); "path/to/large.csv", here a small CSV in a temp dir.
"""

import pandas as pd

from laminar import Flow, Layer, Parameters


def test_passing_values(backend, printed):
    # main.py

    class ParameterFlow(Flow): ...

    @ParameterFlow.register
    class A(Layer):
        def __call__(self, parameters: Parameters) -> None:
            print(parameters.foo)

    if flow := backend.flow(ParameterFlow):
        execution = flow(foo="bar")
    printed(["bar"])
    # the page's diagram draws Parameters --> A; laminar's leaves the built-in Parameters layer out, and
    # the graph has the dependency
    assert flow.graph()["A"].dependencies == ("Parameters",)
    assert execution.parameters.foo == "bar"


def test_the_execution_guard(backend, printed, tmp_path):
    path = tmp_path / "large.csv"  # the page's "path/to/large.csv"
    path.write_text("x,y\n1,2\n3,4\n")

    class ParameterFlow(Flow): ...

    @ParameterFlow.register
    class A(Layer):
        def __call__(self, parameters: Parameters) -> None:
            print(int(parameters.foo["y"].sum()))

    if flow := backend.flow(ParameterFlow):
        flow(foo=pd.read_csv(path))
    printed(["6"])
    # The guard is False where a layer runs in another process (a Ray worker re-importing a script),
    # so the CSV is read once, by the scheduling process.
    from laminar import runtime

    assert bool(flow) is True
    with runtime.importing():
        assert bool(flow) is False
