"""Branching (seed 002/004): parallel layers, a condition (entry hook), and ending the branch.

B runs only when A.foo <= 0.5. Without an entry hook D would be skipped with B;
D's own entry hook ends the branch, so D always runs and checks ``b.state.finished``.

    python examples/branching.py [--thread]
"""

import sys

from laminar import Flow, Layer, Parameters
from laminar.configurations import executors, hooks


class BranchFlow(Flow): ...


@BranchFlow.register
class A(Layer):
    def __call__(self, p: Parameters) -> None:
        self.foo = p.foo


@BranchFlow.register
class B(Layer):
    def __call__(self, a: A) -> None:
        self.foo = f"B saw {a.foo}"

    @hooks.entry
    def small_foo(self, a: A) -> bool:
        return bool(a.foo <= 0.5)


@BranchFlow.register
class C(Layer):
    def __call__(self, a: A) -> None:
        self.foo = f"C saw {a.foo}"


@BranchFlow.register
class D(Layer):
    def __call__(self, b: B, c: C) -> None:
        self.foo = b.foo if b.state.finished else c.foo

    @hooks.entry
    def always(self) -> bool:
        return True


if flow := BranchFlow(executor=executors.Thread() if "--thread" in sys.argv else None):
    print(flow.mermaid())
    for foo in (0.25, 0.75):
        execution = flow(foo=foo)
        states = {name: state.phase for name, state in execution.layers().items()}
        print(f"foo={foo}: layers {states}; D.foo = {execution.layer(D).foo!r}")
