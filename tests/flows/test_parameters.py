"""Declared parameters (issue 21) and parameters that read back as given (issue 20.6).

A ``Parameters`` subclass with annotated attributes declares a flow's parameters: typed, with defaults,
validated at ``flow(...)`` before any work; undeclared flows keep the original's behaviour. (No
``from __future__ import annotations``: tests define layers inside functions.)"""

import pytest
from pydantic import Field

from laminar import Flow, Layer, Parameters
from laminar.errors import ConfigurationError, FlowDefinitionError, ParameterError


class Settings(Parameters):
    epochs: int = 10
    rate: float = Field(0.1, description="step size")
    plot: bool = False
    paths: list[str]
    name: str = "run"  # a layer's own attribute name, read back as given

    @property
    def steps(self) -> int:  # a declaration is a class: it may compute from its values
        return self.epochs * len(self.paths)


class Train(Flow): ...


@Train.register
class Fit(Layer):
    def __call__(self, p: Settings) -> None:
        self.got = (p.epochs, p.rate, p.plot, p.paths, p.name, p.steps, isinstance(p, Settings))


@Train.register
class Undeclared(Layer):
    def __call__(self, p: Parameters, fit: Fit) -> None:  # the base class reads the same parameters
        self.epochs = p.epochs


def test_declared_parameters_are_validated_typed_and_defaulted(backend):
    execution = backend.flow(Train)(paths=["a", "b"], epochs="3")  # lax, as Prefect's: "3" is 3
    assert execution.layer(Fit).got == (3, 0.1, False, ["a", "b"], "run", 6, True)
    assert execution.layer(Undeclared).epochs == 3
    parameters = execution.parameters
    assert isinstance(parameters, Settings) and parameters.rate == 0.1  # defaults are stored with the rest
    assert sorted(execution.record["parameters"]) == ["epochs", "name", "paths", "plot", "rate"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, r"Train: parameter 'paths' \(list\[str\]\) is required: pass paths=\.\.\. \(declared in Settings\)"),
        ({"paths": ["a"], "epoch": 3}, r"Train: it has no parameter 'epoch'; did you mean 'epochs'\? its parameters: "),
        ({"paths": ["a"], "epochs": "ten"}, r"parameter 'epochs' must be int: .*valid integer.* \(got 'ten'\)"),
        ({"paths": "a.csv"}, r"parameter 'paths' must be list\[str\]: Input should be a valid list"),
        ({"paths": ["a"], "plot": "maybe"}, r"parameter 'plot' must be bool"),
    ],
)
def test_missing_mistyped_and_unknown_parameters_fail_before_anything_runs(memory, given, message):
    flow = memory.flow(Train)
    with pytest.raises(ParameterError, match=message):
        flow(execution="refused", **given)
    assert flow.configuration.datastore.execution_ids(flow) == []  # no execution was created


def test_a_declaration_is_checked_with_the_graph():
    class BadDefault(Parameters):
        n: int = "many"  # type: ignore[assignment]

    class Broken(Flow): ...

    @Broken.register
    class Uses(Layer):
        def __call__(self, p: BadDefault) -> None: ...

    with pytest.raises(FlowDefinitionError, match=r"parameter 'n' of .*BadDefault: its default 'many' is not int"):
        Broken().graph()


def test_two_declarations_merge_and_a_clash_is_a_definition_error():
    class One(Parameters):
        a: int = 1

    class Two(Parameters):
        b: str = "b"

    class Clash(Parameters):
        a: str = "a"

    class Merged(Flow): ...

    @Merged.register
    class First(Layer):
        def __call__(self, p: One) -> None:
            self.a = p.a

    @Merged.register
    class Second(Layer):
        def __call__(self, p: Two) -> None:
            self.b = p.b

    from laminar.configurations import datastores, executors

    execution = Merged(datastore=datastores.Memory(), executor=executors.Thread())(a="2")
    assert (execution.layer(First).a, execution.layer(Second).b) == (2, "b")
    assert isinstance(execution.parameters, One) and isinstance(execution.parameters, Two)

    @Merged.register
    class Third(Layer):
        def __call__(self, p: Clash) -> None: ...

    with pytest.raises(FlowDefinitionError, match=r"'a' is int in .*One but str in .*Clash"):
        Merged().graph()


def test_bad_declared_names_and_registering_a_declaration_are_refused():
    class Reserved(Parameters):
        execution: str = "x"

    class Named(Flow): ...

    @Named.register
    class Uses(Layer):
        def __call__(self, p: Reserved) -> None: ...

    with pytest.raises(FlowDefinitionError, match=r"parameter 'execution' of .*Reserved is an argument of flow"):
        Named().graph()
    with pytest.raises(ConfigurationError, match=r"Settings declares the flow's parameters .* never registered"):
        Train.register(Settings)


def test_a_declaration_built_by_hand_reads_its_defaults_and_what_it_is_given():
    assert (Settings().epochs, Settings(epochs=2).epochs, Settings(name="given").name) == (10, 2, "given")


# -- 20.6: a parameter reads back as given, whatever its name --------------------------------------


class Shadows(Flow): ...


@Shadows.register
class Reads(Layer):
    def __call__(self, p: Parameters) -> None:
        self.got = [p.name, p.state, p.index, p.splits, p.configuration, p.shard]


def test_parameters_named_like_layer_attributes_read_back_as_given(backend):
    given = {"name": "n", "state": "s", "index": 7, "splits": 8, "configuration": {"c": 1}, "shard": "x"}
    execution = backend.flow(Shadows)(**given)
    assert execution.layer(Reads).got == ["n", "s", 7, 8, {"c": 1}, "x"]
    parameters = execution.parameters
    assert [getattr(parameters, key) for key in given] == list(given.values())
    assert repr(parameters) == "<Parameters finished>"  # laminar's own view is untouched


def test_parameter_names_laminar_cannot_give_back_are_refused(memory):
    flow = memory.flow(Shadows)
    with pytest.raises(ParameterError, match="starts with '_', which laminar keeps"):
        flow(_laminar=1)
    with pytest.raises(ParameterError, match="is not a Python identifier"):
        flow(**{"not-an-identifier": 1})


def test_a_missing_undeclared_parameter_names_the_fix(memory):
    class Forgets(Flow): ...

    @Forgets.register
    class Needs(Layer):
        def __call__(self, p: Parameters) -> None:
            self.n = p.count

    with pytest.raises(AttributeError, match=r"Forgets was run without parameter 'count' .* pass flow\(count=\.\.\.\)"):
        memory.flow(Forgets)(other=1)


def test_chaining_validates_the_next_flows_parameters(memory):
    class Before(Flow): ...

    @Before.register
    class Makes(Layer):
        def __call__(self) -> None:
            self.paths = ["x"]

    first = memory.flow(Before)()
    second = memory.flow(Train)
    execution = first.next(flow=second, linker=lambda e: Settings(paths=e.layer(Makes).paths, epochs=1))
    assert execution.layer(Fit).got[:4] == (1, 0.1, False, ["x"])
    with pytest.raises(ParameterError, match="parameter 'paths'"):
        memory.flow(Before)().next(flow=second, linker=lambda e: Parameters(epochs=2))
