"""Layer configuration models: clear messages on bad values, also on assignment in hooks."""

import pytest

from laminar import Layer
from laminar.configurations.layers import Catch, Container, ForEach, ForEachParameter, Parameter, Retry
from laminar.errors import ConfigurationError
from laminar.options import LayerConfiguration


class A(Layer): ...


def test_container_defaults() -> None:
    c = Container()
    assert (c.cpu, c.memory, c.gpu, c.resources, c.image, c.env) == (1, 1500, 0, {}, None, {})


def test_container_fractional_cpu_and_gpu_and_custom_resources() -> None:
    c = Container(cpu=0.25, gpu=0.5, resources={"accelerator_x": 1})
    assert (c.cpu, c.gpu, c.resources) == (0.25, 0.5, {"accelerator_x": 1})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpu": -1}, r"Container: cpu: Input should be greater than or equal to 0 \(got -1\)"),
        ({"gpu": -0.5}, r"Container: gpu: .* \(got -0.5\)"),
        ({"memory": -1}, r"Container: memory: .* \(got -1\)"),
        ({"resources": {"x": -1}}, "resource 'x' must be >= 0"),
        ({"resources": {"CPU": 2}}, r"use Container\(cpu=\.\.\.\)"),
        ({"image": "has space"}, "image must be a non-empty image reference"),
        ({"cpus": 1}, "cpus: Extra inputs are not permitted"),
    ],
)
def test_container_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Container(**kwargs)  # type: ignore[arg-type]


def test_memory_float_rounds_up() -> None:
    assert Container(memory=1500.2).memory == 1501
    assert Container(memory=1024.0).memory == 1024
    c = Container()
    c.memory = 99.01  # type: ignore[assignment]
    assert c.memory == 100


def test_assignment_is_validated_as_in_a_hook() -> None:
    c = Container()
    with pytest.raises(ConfigurationError, match=r"Container: cpu: .* \(got -2\)"):
        c.cpu = -2
    assert c.cpu == 1  # unchanged
    configuration = LayerConfiguration()
    with pytest.raises(ConfigurationError, match="memory"):
        configuration.container.memory = "a lot"  # type: ignore[assignment]


def test_copy_for_run_is_deep() -> None:
    configuration = LayerConfiguration(container=Container(env={"A": "1"}))
    copy = configuration.copy_for_run()
    copy.container.env["A"] = "2"
    copy.container.memory = 1
    assert configuration.container.env == {"A": "1"}
    assert configuration.container.memory == 1500


# -- Retry ----------------------------------------------------------------------------------------


def test_retry_rejects_zero_attempts() -> None:
    with pytest.raises(
        ConfigurationError, match=r"Retry: attempts: Input should be greater than or equal to 1 \(got 0\)"
    ):
        Retry(attempts=0)


@pytest.mark.parametrize("kwargs", [{"delay": -1}, {"backoff": 0.5}, {"jitter": 1.5}, {"jitter": -0.1}])
def test_retry_rejects_bad_timing(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match=f"Retry: {next(iter(kwargs))}"):
        Retry(**kwargs)  # type: ignore[arg-type]


def test_retry_wait_is_exponential_without_jitter() -> None:
    retry = Retry(attempts=5, delay=0.5, backoff=3, jitter=0)
    assert [retry.wait(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]


def test_retry_wait_stays_within_jitter_bounds() -> None:
    retry = Retry(delay=1, backoff=2, jitter=0.1)
    waits = [retry.wait(3) for _ in range(500)]
    assert all(3.6 <= w <= 4.4 for w in waits)
    assert len(set(waits)) > 1  # jittered, not constant


# -- Catch ------------------------------------------------------------------------------------------


def test_catch_matches_subclasses() -> None:
    catch = Catch(TypeError, OSError)
    assert catch.catches(FileNotFoundError())
    assert catch.catches(TypeError())
    assert not catch.catches(ValueError())


@pytest.mark.parametrize("bad", ["TypeError", TypeError("instance"), int])
def test_catch_rejects_what_is_not_an_exception_class(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="is not an exception class; pass classes such as Catch"):
        Catch(bad)  # type: ignore[arg-type]


# -- ForEach and Parameter -------------------------------------------------------------------------------


def test_parameter_alias_and_keywords() -> None:
    assert ForEachParameter is Parameter
    p = Parameter(layer=A, attribute="foo", index=None)
    assert (p.layer, p.attribute, p.index) == (A, "foo", None)
    assert Parameter(A, "foo").index == 0


@pytest.mark.parametrize("attribute", ["not an identifier", "1abc", "a.b", ""])
def test_parameter_attribute_must_be_an_identifier(attribute: str) -> None:
    with pytest.raises(ConfigurationError, match="attribute must be a Python identifier"):
        Parameter(layer=A, attribute=attribute)


def test_parameter_layer_must_be_a_layer() -> None:
    with pytest.raises(ConfigurationError, match="layer must be a Layer subclass"):
        Parameter(layer=int, attribute="foo")


def test_parameter_index_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError, match="index must be >= 0 or None"):
        Parameter(layer=A, attribute="foo", index=-1)


def test_foreach_needs_a_parameter() -> None:
    with pytest.raises(ConfigurationError, match="ForEach needs at least one Parameter"):
        ForEach(parameters=[])
    assert ForEach(parameters=[Parameter(A, "x")]).parameters[0].attribute == "x"
