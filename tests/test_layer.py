"""``Layer`` on its own: unit-test style calls, shard, name, state, and the public import paths."""

import pytest

from laminar import Layer, Parameters, State
from laminar.types import unwrap


class A(Layer):
    def __call__(self) -> None:
        self.foo = "foo"


class B(Layer):
    def __call__(self, a: A) -> None:
        self.foo = a.foo * 2


class D(Layer):
    """Seed 004's join: reads B if it finished, else C."""

    def __call__(self, b: B, c: A) -> None:
        self.foo = b.foo if b.state.finished else c.foo


def test_layer_built_with_preset_attributes() -> None:
    a = A(foo="bar", other=[1])
    assert a.foo == "bar"
    assert a.other == [1]


def test_unit_test_style_call() -> None:
    b = B()
    b(A(foo="bar"))
    assert b.foo == "barbar"


def test_call_runs_the_layer_itself() -> None:
    a = A()
    assert a() is None
    assert a.foo == "foo"


def test_state_of_a_hand_built_layer() -> None:
    a = A()
    assert a.state == State()
    assert a.state.phase == "pending"
    assert not a.state.finished and not a.state.skipped and not a.state.failed
    assert not a.state  # a State is truthy only when finished
    d = D()
    d(B(foo="from b"), A(foo="from c"))
    assert d.foo == "from c"  # B was not finished


def test_state_flags() -> None:
    assert State("finished").finished and State("finished")
    assert State("skipped").skipped
    assert State("failed", attempt=2, error=ValueError()).failed


def test_name_is_the_class_name() -> None:
    assert A().name == "A"
    assert B(name_like="x").name == "B"


def test_shard_keeps_a_list_and_marks_it() -> None:
    a = A()
    a.shard(foo=(x for x in range(3)), bar="ab")
    assert a.foo == [0, 1, 2]
    assert a.bar == ["a", "b"]


def test_index_and_splits_are_none_outside_a_foreach() -> None:
    a = A()
    assert a.index is None and a.splits is None and a.execution is None


def test_missing_attribute_of_a_hand_built_layer() -> None:
    with pytest.raises(AttributeError, match="'A' layer has no attribute 'nothing'"):
        A().nothing  # noqa: B018


def test_repr() -> None:
    assert repr(A()) == "<A pending>"


def test_parameters_is_a_layer() -> None:
    p = Parameters(foo=1)
    assert isinstance(p, Layer) and p.foo == 1


# -- laminar.types.unwrap ----------------------------------------------------------------------------


def test_unwrap() -> None:
    assert unwrap(0) == 0
    assert unwrap("") == ""
    with pytest.raises(ValueError, match="expected a value, got None"):
        unwrap(None)
    with pytest.raises(ValueError, match="custom"):
        unwrap(None, "custom")


# -- both import paths ----------------------------------------------------------------------------------


def test_configurations_and_configuration_are_the_same_objects() -> None:
    import laminar.configuration as singular
    import laminar.configurations as plural
    from laminar.configuration import hooks as hooks_singular
    from laminar.configurations import hooks as hooks_plural

    assert hooks_singular is hooks_plural
    for name in ("datastores", "executors", "hooks", "layers", "serde"):
        assert getattr(singular, name) is getattr(plural, name)
    assert plural.layers.Container is singular.layers.Container
    assert plural.hooks.entry is hooks_singular.entry


def test_seed_style_imports() -> None:
    from laminar import Flow, Layer, Parameters  # noqa: F401
    from laminar.configuration import hooks  # noqa: F401
    from laminar.configurations import datastores, executors, layers, serde  # noqa: F401
    from laminar.configurations.layers import Catch, Container, ForEach, ForEachParameter, Parameter, Retry  # noqa: F401
