"""SPEC 4: parameters, chaining flows with next(), flow inheritance, one layer on several flows."""

from __future__ import annotations

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import Container

# -- parameters -------------------------------------------------------------------------------------


class ParamFlow(Flow): ...


@ParamFlow.register
class UsesParams(Layer):
    def __call__(self, p: Parameters) -> None:
        self.doubled = p.foo * 2
        self.names = sorted(name for name in ("foo", "bar") if hasattr(p, name))


def test_keyword_arguments_are_read_through_the_parameters_layer(backend):
    execution = backend.flow(ParamFlow)(foo=1, bar={"nested": [1, 2]})
    assert execution.layer(UsesParams).doubled == 2
    assert execution.layer(UsesParams).names == ["bar", "foo"]
    assert execution.parameters.foo == 1
    assert execution.layer(Parameters).bar == {"nested": [1, 2]}


# -- chaining: next() with a linker, over three flows -------------------------------------------------


class First(Flow): ...


class Second(Flow): ...


class Third(Flow): ...


@First.register
@Second.register
@Third.register
class AddOne(Layer):
    def __call__(self, p: Parameters) -> None:
        self.foo = p.foo + 1


def test_next_chains_flows_under_one_execution_id(backend):
    first = backend.flow(First)(foo=1, execution="chain")
    second = first.next(flow=backend.flow(Second), linker=lambda e: Parameters(foo=e.layer(AddOne).foo))
    third = second.next(flow=backend.flow(Third), linker=lambda e: Parameters(foo=e.layer(AddOne).foo * 10))
    assert first.layer(AddOne).foo == 2
    assert second.layer(AddOne).foo == 3
    assert third.layer(AddOne).foo == 31
    assert first.id == second.id == third.id == "chain"
    assert third.flow.name == "Third"
    assert backend.datastore.execution_ids(Second) == ["chain"]


# -- inheritance ---------------------------------------------------------------------------------


class Flow1(Flow): ...


class Flow2(Flow): ...


@Flow1.register
class A(Layer):
    def __call__(self) -> None:
        self.value = "a"


@Flow2.register
class B(Layer):
    def __call__(self, p: Parameters) -> None:
        self.value = f"b{p.suffix}"


class BothFlows(Flow1, Flow2): ...


@BothFlows.register
class C(Layer):
    def __call__(self, a: A, b: B) -> None:
        self.value = a.value + b.value


def test_inherited_flow_has_every_layer_of_both(backend):
    assert sorted(BothFlows.registry) == ["A", "B", "C", "Parameters"]  # as the original's test_combination
    assert BothFlows.registry["Parameters"].layer is Parameters and sorted(Flow1.registry) == ["A", "Parameters"]
    assert BothFlows.registry["A"].layer is A
    assert BothFlows.registry["B"].layer is B
    assert "C" not in Flow1.registry and "C" not in Flow2.registry
    execution = backend.flow(BothFlows)(suffix="!")
    assert execution.layer(A).value == "a"
    assert execution.layer(B).value == "b!"
    assert execution.layer(C).value == "ab!"


# -- one layer, several flows, different configuration ------------------------------------------------


class Small(Flow): ...


class Large(Flow): ...


@Small.register(container=Container(cpu=0.5, memory=100))
@Large.register(container=Container(cpu=1, memory=200))
class Sized(Layer):
    def __call__(self) -> None:
        self.memory = self.configuration.container.memory
        self.cpu = self.configuration.container.cpu


def test_one_layer_on_several_flows_keeps_each_flows_configuration(backend):
    assert backend.flow(Small)().layer(Sized).memory == 100
    assert backend.flow(Large)().layer(Sized).memory == 200
    assert backend.flow(Small)().layer(Sized).cpu == 0.5
    assert Small.registry["Sized"].layer is Large.registry["Sized"].layer is Sized
