"""Flow classes: registration, inheritance, the execution guard, execution ids."""

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors
from laminar.errors import ConfigurationError
from laminar.flow import new_execution_id
from laminar.runtime import WORKER_ENV


class A(Layer):
    def __call__(self) -> None:
        self.value = 1


def test_register_returns_the_class_bare_and_configured() -> None:
    class F(Flow): ...

    assert F.register(A) is A
    assert F.register(retry=None)(A) is A
    assert F.registry["A"].layer is A


def test_register_refuses_what_is_not_a_layer() -> None:
    class F(Flow): ...

    with pytest.raises(ConfigurationError, match=r"F\.register decorates Layer subclasses"):
        F.register(int)  # type: ignore[type-var]
    with pytest.raises(ConfigurationError, match="'Parameters' is the built-in"):
        F.register(Parameters)


def test_layers_registered_on_a_base_after_the_subclass_exists_are_inherited() -> None:
    class Base(Flow): ...

    class Child(Base): ...

    Base.register(A)
    assert Child.registry["A"].layer is A
    assert "A" not in Flow.registry


def test_registrations_on_a_subclass_do_not_leak_to_the_base() -> None:
    class Base(Flow): ...

    class Child(Base): ...

    Child.register(A)
    assert "A" not in Base.registry


def test_execution_guard_is_false_in_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    class F(Flow): ...

    assert F(datastore=datastores.Memory())
    monkeypatch.setenv(WORKER_ENV, "1")
    assert not F(datastore=datastores.Memory())


def test_generated_ids_are_unique_and_sorted() -> None:
    ids = [new_execution_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert ids == sorted(ids)


def test_execution_ids_must_be_safe_path_segments() -> None:
    class F(Flow): ...

    F.register(A)
    flow = F(datastore=datastores.Memory(), executor=executors.Thread())
    with pytest.raises(ConfigurationError, match=r"execution id '\.\./x' cannot be used"):
        flow(execution="../x")
    with pytest.raises(ConfigurationError, match="execution id"):
        flow.execution("a/b")


def test_no_executor_is_chosen_until_a_run_needs_one() -> None:
    class F(Flow): ...

    flow = F(datastore=datastores.Memory())
    assert flow.configuration.executor is None
    assert "executor=None" in repr(flow)
