"""SPEC 2 and seeds 002/004: dependencies, entry hooks, skipped subtrees, ending a branch, state.

The seed's ``A.foo = random.random()`` is replaced by a flow parameter so both sides of the condition
are tested deterministically.
"""

from __future__ import annotations

from laminar import Flow, Layer, Parameters
from laminar.configuration import hooks

# -- seed 002: basic branching -------------------------------------------------------------------


class BranchFlow(Flow): ...


@BranchFlow.register
class A(Layer):
    def __call__(self, p: Parameters) -> None:
        self.foo = p.foo


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


@BranchFlow.register
class D(Layer):
    """No entry hook: runs only if both B and C finished."""

    def __call__(self, b: B, c: C) -> None:
        self.ran = True


@BranchFlow.register
class E(Layer):
    """Below D: skipped with it (a whole subtree is skipped)."""

    def __call__(self, d: D) -> None:
        self.ran = True


def test_entry_hook_true_runs_the_layer_and_its_subtree(backend):
    execution = backend.flow(BranchFlow)(foo=0.25)
    assert execution.layer(B).state.finished
    assert execution.layer(B).foo == 0.25
    assert execution.layer(C).foo == 0.25
    assert execution.layer(D).ran is True
    assert execution.layer(E).ran is True


def test_entry_hook_false_skips_the_layer_and_its_whole_subtree(backend):
    execution = backend.flow(BranchFlow)(foo=0.75)
    assert execution.layer(A).state.finished
    assert execution.layer(C).state.finished
    assert execution.layer(C).foo == 0.75
    for layer in (B, D, E):
        state = execution.layer(layer).state
        assert state.skipped, layer
        assert not state.finished
    # nothing of a skipped layer was stored
    store = backend.datastore
    assert store.list_artifacts(layer=execution.layer(D)) == []


# -- seed 004: ending the branch, and State -------------------------------------------------------


class EndedFlow(Flow): ...


EndedFlow.register(A)
EndedFlow.register(B)
EndedFlow.register(C)


@EndedFlow.register
class Joined(Layer):
    def __call__(self, b: B, c: C) -> None:
        self.foo = b.foo if b.state.finished else c.foo
        self.b_finished = b.state.finished

    @hooks.entry
    def always_true(self) -> bool:
        return True


@EndedFlow.register
class After(Layer):
    """No entry hook, below Joined: runs because Joined ran."""

    def __call__(self, joined: Joined) -> None:
        self.foo = joined.foo


def test_ending_the_branch_runs_the_join_when_a_branch_was_skipped(backend):
    execution = backend.flow(EndedFlow)(foo=0.75)
    assert execution.layer(B).state.skipped
    joined = execution.layer(Joined)
    assert joined.state.finished
    assert joined.b_finished is False
    assert joined.foo == 0.75  # from C
    assert execution.layer(After).foo == 0.75


def test_ending_the_branch_reads_the_branch_when_it_ran(backend):
    execution = backend.flow(EndedFlow)(foo=0.5)
    joined = execution.layer(Joined)
    assert joined.b_finished is True
    assert joined.foo == 0.5


# -- several entry hooks: all must be truthy ------------------------------------------------------


class ManyHooksFlow(Flow): ...


ManyHooksFlow.register(A)


@ManyHooksFlow.register
class Guarded(Layer):
    def __call__(self, a: A) -> None:
        self.ran = True

    @hooks.entry
    def positive(self, a: A) -> bool:
        return a.foo > 0

    @hooks.entry
    def small(self, a: A) -> int:
        return int(a.foo < 10)  # truthiness, not `is True`


def test_layer_runs_only_if_every_entry_hook_is_truthy(backend):
    flow = backend.flow(ManyHooksFlow)
    assert flow(foo=5).layer(Guarded).state.finished
    assert flow(foo=50).layer(Guarded).state.skipped
    assert flow(foo=-1).layer(Guarded).state.skipped


# -- an entry hook's parameter is a dependency even when __call__ does not name it ------------------


class HookDependencyFlow(Flow): ...


@HookDependencyFlow.register
class Gate(Layer):
    def __call__(self, p: Parameters) -> None:
        self.open = p.open


@HookDependencyFlow.register
class Gated(Layer):
    def __call__(self) -> None:
        self.ran = True

    @hooks.entry
    def gate_is_open(self, gate: Gate) -> bool:
        return bool(gate.open)


def test_entry_hook_parameters_are_dependencies(backend):
    flow = backend.flow(HookDependencyFlow)
    assert flow.graph()["Gated"].dependencies == ("Gate",)
    assert flow(open=True).layer(Gated).ran is True
    assert flow(open=False).layer(Gated).state.skipped


# -- the states of every layer, read back ----------------------------------------------------------


def test_execution_layers_reports_every_state(backend):
    execution = backend.flow(BranchFlow)(foo=0.75)
    states = {name: state.phase for name, state in execution.layers().items()}
    assert states == {"A": "finished", "B": "skipped", "C": "finished", "D": "skipped", "E": "skipped"}
