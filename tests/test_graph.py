"""Graph building and validation: dependencies from hints, and every problem reported at once."""

from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors, hooks
from laminar.configurations.layers import ForEach, Parameter
from laminar.errors import FlowDefinitionError
from laminar.hooks import Kind

# -- dependencies -----------------------------------------------------------------------------------


class Deps(Flow): ...


@Deps.register
class Root(Layer):
    def __call__(self) -> None: ...


@Deps.register
class Other(Layer):
    def __call__(self) -> None: ...


@Deps.register
class Leaf(Layer):
    def __call__(self, any_name: Root, p: Parameters) -> None: ...

    @hooks.entry
    def check(self, other: Other, root: Root) -> bool:
        return True


def test_dependencies_come_from_call_and_hook_annotations() -> None:
    graph = Deps().graph()
    leaf = graph["Leaf"]
    assert leaf.call == {"any_name": "Root", "p": "Parameters"}
    assert leaf.dependencies == ("Root", "Parameters", "Other")
    assert [bound.parameters for bound in leaf.hooks_of(Kind.entry)] == [{"other": "Other", "root": "Root"}]
    assert list(graph.nodes) == ["Root", "Other", "Leaf"]
    assert graph.dependents == {"Root": ("Leaf",), "Other": ("Leaf",), "Leaf": ()}


def test_topological_order_puts_dependencies_first_whatever_the_registration_order() -> None:
    class Late(Flow): ...

    Late.register(Leaf)
    Late.register(Other)
    Late.register(Root)
    assert list(Late().graph().nodes) == ["Other", "Root", "Leaf"]


# -- one problem each ---------------------------------------------------------------------------------


class Cyclic(Flow): ...


@Cyclic.register
class X(Layer):
    def __call__(self, z: "Z") -> None: ...


@Cyclic.register
class Y(Layer):
    def __call__(self, x: X) -> None: ...


@Cyclic.register
class Z(Layer):
    def __call__(self, y: Y) -> None: ...


def problems(flow: type[Flow]) -> list[str]:
    with pytest.raises(FlowDefinitionError) as raised:
        flow().graph()
    assert raised.value.flow == flow.__name__
    assert f"Flow {flow.__name__!r} is not valid" in str(raised.value)
    return raised.value.problems


def test_cycle_is_printed() -> None:
    (problem,) = problems(Cyclic)
    assert "cycle: X -> Z -> Y -> X" in problem


class Prepare(Layer):
    def __call__(self) -> None: ...


class Prepair(Layer):  # the typo: never registered
    def __call__(self) -> None: ...


class Unregistered(Flow): ...


Unregistered.register(Prepare)


@Unregistered.register
class Uses(Layer):
    def __call__(self, data: Prepair) -> None: ...


def test_unregistered_dependency_suggests_the_closest_name() -> None:
    (problem,) = problems(Unregistered)
    assert problem.startswith("Uses.__call__: parameter 'data' depends on layer 'Prepair'")
    assert "not registered with this flow" in problem
    assert "Did you mean 'Prepare'?" in problem


class Unannotated(Flow): ...


@Unannotated.register
class Bare(Layer):
    def __call__(self, something) -> None:  # type: ignore[no-untyped-def]
        ...


def test_unannotated_parameter() -> None:
    (problem,) = problems(Unannotated)
    assert "Bare.__call__: parameter 'something' has no annotation" in problem
    assert "`something: SomeLayer`" in problem


class NotALayer(Flow): ...


@NotALayer.register
class Typed(Layer):
    def __call__(self, count: int) -> None: ...


def test_annotation_that_is_not_a_layer() -> None:
    (problem,) = problems(NotALayer)
    assert "Typed.__call__: parameter 'count'" in problem
    assert "not a Layer subclass" in problem


class Dup(Layer):
    def __call__(self) -> None: ...


def _another_dup() -> type[Layer]:
    class Dup(Layer):
        def __call__(self) -> None: ...

    return Dup


class Duplicates(Flow): ...


Duplicates.register(Dup)
Duplicates.register(_another_dup())


def test_duplicate_layer_names() -> None:
    (problem,) = problems(Duplicates)
    assert "two different layers are named 'Dup'" in problem
    assert "_another_dup.<locals>.Dup" in problem  # tells the two apart
    assert "rename one" in problem


OTHER_DUP = _another_dup()


class WrongClass(Flow): ...


WrongClass.register(Dup)


@WrongClass.register
class ReadsDup(Layer):
    def __call__(self, dup: OTHER_DUP) -> None:  # type: ignore[valid-type]
        ...


def test_annotation_with_a_same_named_class_that_is_not_the_registered_one() -> None:
    (problem,) = problems(WrongClass)
    assert "ReadsDup.__call__: parameter 'dup' is annotated with" in problem
    assert "_another_dup.<locals>.Dup" in problem and "test_graph.Dup" in problem


def test_registering_the_same_class_twice_is_not_a_duplicate() -> None:
    class Twice(Flow): ...

    Twice.register(Root)
    Twice.register(Root)
    assert list(Twice().graph().nodes) == ["Root"]


class ForeachOnStranger(Flow): ...


ForeachOnStranger.register(Root)
ForeachOnStranger.register(Other)


@ForeachOnStranger.register(foreach=ForEach(parameters=[Parameter(layer=Other, attribute="items")]))
class Fans(Layer):
    def __call__(self, root: Root) -> None: ...


def test_foreach_parameter_on_a_layer_that_is_not_a_dependency() -> None:
    (problem,) = problems(ForeachOnStranger)
    assert "Fans: ForEach parameter Other.items reads layer 'Other'" in problem
    assert "`other: Other`" in problem


class BadHook(Flow): ...


@BadHook.register
class Hooked(Layer):
    def __call__(self) -> None: ...

    @hooks.submission
    def size(self, data) -> None:  # type: ignore[no-untyped-def]
        ...


def test_hook_parameters_are_validated_too() -> None:
    (problem,) = problems(BadHook)
    assert "Hooked hook Hooked.size: parameter 'data' has no annotation" in problem


def test_star_arguments_cannot_name_layers() -> None:
    class Star(Flow): ...

    @Star.register
    class Starred(Layer):
        def __call__(self, *layers: Any) -> None: ...

    (problem,) = problems(Star)
    assert "parameter 'layers'" in problem and "*args" in problem


# -- every problem at once ----------------------------------------------------------------------------


class Everything(Flow): ...


Everything.register(Prepare)
Everything.register(Uses)
Everything.register(Bare)
Everything.register(foreach=ForEach(parameters=[Parameter(layer=Other, attribute="items")]))(Fans)
Everything.register(Root)
Everything.register(X)
Everything.register(Y)
Everything.register(Z)


def test_every_problem_is_reported_in_one_error() -> None:
    found = problems(Everything)
    assert len(found) == 4
    text = "\n".join(found)
    assert "parameter 'data' depends on layer 'Prepair'" in text
    assert "parameter 'something' has no annotation" in text
    assert "Fans: ForEach parameter Other.items" in text
    assert "cycle: X -> Z -> Y -> X" in text
    with pytest.raises(FlowDefinitionError, match=r"\(4 problems\)"):
        Everything().graph()


def test_an_invalid_flow_fails_before_any_work_runs() -> None:
    store = datastores.Memory()
    with pytest.raises(FlowDefinitionError):
        Everything(datastore=store, executor=executors.Thread())()
    assert store.execution_ids(Everything) == []


def test_annotations_resolve_through_the_module_when_function_globals_are_partial() -> None:
    """cloudpickle rebuilds functions with only the globals their code uses (not annotation names)."""
    import types

    def call(self, root: "Root") -> None: ...  # type: ignore[no-untyped-def]

    partial = types.FunctionType(call.__code__, {"__name__": __name__}, "call")
    partial.__module__ = __name__
    partial.__annotations__ = {"root": "Root", "return": "None"}
    Rebuilt = type("Rebuilt", (Layer,), {"__call__": partial, "__module__": __name__})

    class Partial(Flow): ...

    Partial.register(Root)
    Partial.register(Rebuilt)
    assert Partial().graph()["Rebuilt"].call == {"root": "Root"}


# -- the graph kept per flow class ----------------------------------------------------------------------


def test_a_flow_class_builds_its_graph_once_while_its_classes_stay_as_they_are() -> None:
    class Kept(Flow): ...

    Kept.register(Root)
    first = Kept().graph()
    assert Kept().graph() is first  # another instance, nothing changed: the same graph

    Kept.register(Other)  # a registration: built anew
    second = Kept().graph()
    assert second is not first and list(second.nodes) == ["Root", "Other"]

    class Moving(Layer):
        def __call__(self, root: Root) -> None: ...

    Kept.register(Moving)
    assert Kept().graph()["Moving"].dependencies == ("Root",)

    def call(self: Any, other: Other) -> None: ...

    Moving.__call__ = call  # type: ignore[method-assign]  # a method assigned on a layer class: built anew
    assert Kept().graph()["Moving"].dependencies == ("Other",)

    def gate(self: Any, root: Root) -> bool:
        return True

    Moving.gate = hooks.entry(gate)  # type: ignore[attr-defined]  # a hook added to a layer class
    assert Kept().graph()["Moving"].dependencies == ("Other", "Root")


def test_a_flow_definition_with_problems_raises_on_every_call() -> None:
    class Broken(Flow): ...

    @Broken.register
    class Needs(Layer):
        def __call__(self, other: Other) -> None: ...

    for _ in range(2):
        with pytest.raises(FlowDefinitionError, match="not registered"):
            Broken().graph()
    Broken.register(Other)
    assert Broken().graph()["Needs"].dependencies == ("Other",)
