"""rchui/laminar docs/source/layers/branching.md, every example as written, on each backend.

Changed only what the page leaves undefined: the listings after the first use ``BranchFlow`` (defined in
the first) and the later ``D`` listings replace the earlier ``D`` (each listing is its own version of
the flow here); flows are built with the test's datastore and executor (``backend.flow(BranchFlow)``).
``A.foo`` is random, as written: each test asserts what the page says for whichever branch was taken.
"""

import random

from laminar import Flow, Layer
from laminar.configuration import hooks


def test_dependencies(backend):
    class BranchFlow(Flow): ...

    @BranchFlow.register
    class A(Layer):
        def __call__(self) -> None: ...

    @BranchFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None: ...

    @BranchFlow.register
    class C(Layer):
        def __call__(self, a: A) -> None: ...

    # The page's diagram draws A --> B --> C; its code (and its text: "B and C after in parallel because
    # there is no defined dependencies between them") says B and C each depend on A only.
    diagram = backend.flow(BranchFlow).mermaid()
    assert "A --> B" in diagram and "A --> C" in diagram and "B --> C" not in diagram
    execution = backend.flow(BranchFlow)()
    assert all(state.finished for state in execution.layers().values())


def _conditions(ending: bool):
    class BranchFlow(Flow): ...

    @BranchFlow.register
    class A(Layer):
        def __call__(self) -> None:
            self.foo = random.random()

    @BranchFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            self.foo = a.foo

        @hooks.entry
        def random_foo(self, a: A) -> bool:
            return a.foo <= 0.5

    @BranchFlow.register
    class C(Layer):
        def __call__(self, a: A) -> None:
            self.foo = a.foo

    if not ending:

        @BranchFlow.register
        class D(Layer):
            def __call__(self, b: B, c: C) -> None: ...

    else:

        @BranchFlow.register
        class D(Layer):
            def __call__(self, b: B, c: C) -> None:
                self.foo = b.foo if b.state.finished else c.foo

            @hooks.entry
            def always_true(self) -> bool:
                return True

    return BranchFlow


def test_conditions_skip_a_whole_subtree(backend):
    flow = backend.flow(_conditions(ending=False))
    for _ in range(3):  # A.foo is random: a few runs take both branches most of the time
        execution = flow()
        states = execution.layers()
        b_ran = execution.layer("A").foo <= 0.5
        assert states["B"].finished is b_ran and states["B"].skipped is not b_ran
        assert states["C"].finished
        assert states["D"].finished is b_ran  # D runs only if all layers it depends on ran


def test_ending_the_branch_and_state(backend):
    flow = backend.flow(_conditions(ending=True))
    for _ in range(3):
        execution = flow()
        foo = execution.layer("A").foo
        assert execution.layers()["B"].finished is (foo <= 0.5)
        d = execution.layer("D")
        assert d.state.finished  # regardless of whether B ran
        assert d.foo == foo  # B.foo if B finished, else C.foo: both are A's
