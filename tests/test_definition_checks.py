"""Mistakes refused where they are written (issue 20.7, 20.11, 20.12): configuration values out of range,
a misspelt field, a dict for a model, ``async``/generator ``__call__``, async hooks, hooks without self."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from laminar import Flow, Layer
from laminar.configurations import hooks, layers
from laminar.errors import ConfigurationError


class F(Flow): ...


# -- 20.11: values validated where they are written, naming field, value and the valid range ---------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.Retry(delay=float("inf")), r"Retry: delay: Input should be a finite number \(got inf\)"),
        (lambda: layers.Retry(backoff=float("inf")), r"Retry: backoff: Input should be a finite number"),
        (
            lambda: layers.Retry(backoff=1e308),
            r"the wait before attempt 3 .* longest wait between attempts is 604800 s",
        ),
        (lambda: layers.Retry(attempts=400, delay=1, backoff=2), r"longest wait between attempts"),
        (lambda: layers.Retry(delay=float("nan")), r"Retry: delay: Input should be a finite number"),
        (lambda: layers.Container(memory=-0.5), r"Container: memory: memory is in MB and must be >= 0 \(got -0.5\)"),
        (lambda: layers.Container(memory=float("inf")), r"Container: memory: .*finite"),
        (lambda: layers.Container(cpu=float("inf")), r"Container: cpu: Input should be a finite number"),
        (lambda: layers.Container(gpu=float("nan")), r"Container: gpu: .* \(got nan\)"),
        (lambda: layers.Container(resources={"x": float("nan")}), r"resource 'x' must be a finite number >= 0"),
        (lambda: layers.Container(resources={"x": float("inf")}), r"resource 'x' must be a finite number >= 0"),
        (
            lambda: layers.Container(memroy=500),
            r"memroy: Extra inputs are not permitted \(got 500\); did you mean 'memory'\?",
        ),
        (lambda: layers.Retry(atempts=2), r"did you mean 'attempts'\?"),
    ],
)
def test_bad_values_are_refused_where_written(make: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_a_retry_whose_waits_fit_is_accepted_and_waits_without_overflow() -> None:
    retry = layers.Retry(attempts=1, backoff=1e308)  # never waits: one attempt
    assert retry.attempts == 1
    retry = layers.Retry(attempts=20, delay=0.1, backoff=2, jitter=0)
    assert retry.wait(19) == pytest.approx(0.1 * 2**18)


@pytest.mark.parametrize(
    ("keyword", "value", "fix"),
    [
        ("container", {"memory": 500}, r"write container=Container\(memory=500\)"),
        ("retry", {"attempts": 2}, r"write retry=Retry\(attempts=2\)"),
        ("catch", TypeError, r"write catch=Catch\(TypeError\)"),
        ("foreach", [], r"write foreach=ForEach\(parameters=\[\.\.\.\]\)"),
        ("retry", 3, r"write retry=Retry\(\.\.\.\)"),
    ],
)
def test_register_refuses_a_value_that_is_not_its_model(keyword: str, value: Any, fix: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"F.register\({keyword}=...\) of layer L: .*{fix}"):

        @F.register(**{keyword: value})
        class L(Layer): ...


def test_whole_numbers_stay_ints_as_in_the_original() -> None:
    assert repr(layers.Container(cpu=4).cpu) == "4" and repr(layers.Container(cpu=0.5).cpu) == "0.5"


def test_a_hook_changing_the_container_to_a_bad_value_is_refused_at_once() -> None:
    container = layers.Container()
    with pytest.raises(ConfigurationError, match="Container: memory"):
        container.memory = -1
    with pytest.raises(ConfigurationError, match=r"Container: cpu: .* \(got nan\)"):
        container.cpu = float("nan")


# -- 20.7: async and generator __call__, async hooks ----------------------------------------------


def test_async_call_is_refused_at_registration() -> None:
    with pytest.raises(ConfigurationError, match=r"F.register: layer Async: __call__ is async; .*asyncio.run"):

        @F.register
        class Async(Layer):
            async def __call__(self) -> None: ...


def test_async_generator_call_is_refused_at_registration() -> None:
    with pytest.raises(ConfigurationError, match="__call__ is async"):

        @F.register
        class AsyncGenerator(Layer):
            async def __call__(self) -> Any:
                yield 1


def test_generator_call_is_refused_at_registration() -> None:
    with pytest.raises(ConfigurationError, match=r"layer Yields: __call__ is a generator .*self.shard"):

        @F.register
        class Yields(Layer):
            def __call__(self) -> Iterator[int]:
                yield 1


@pytest.mark.parametrize("decorator", [hooks.entry, hooks.execution, hooks.submission, hooks.retry])
def test_async_hooks_are_refused_where_defined(decorator: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"@hooks\.\w+ .*\.hook is async; .*asyncio.run"):

        class Layered(Layer):
            @decorator
            async def hook(self) -> bool:
                return False


def test_async_generator_execution_hook_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="is async"):

        class Layered(Layer):
            @hooks.execution
            async def around(self) -> Any:
                yield


# -- 20.12: a @staticmethod hook, a hook without self -------------------------------------------------


def test_a_staticmethod_hook_is_refused_where_defined() -> None:
    with pytest.raises(ConfigurationError, match=r"is a staticmethod; .*take self first"):

        class Static(Layer):
            @hooks.entry
            @staticmethod
            def go() -> bool:
                return True


def test_a_staticmethod_wrapping_a_hook_is_refused_at_registration() -> None:
    class Wrapped(Layer):
        @staticmethod
        @hooks.submission
        def size(self) -> None: ...

    with pytest.raises(ConfigurationError, match=r"Wrapped\.size is a staticmethod"):
        F.register(Wrapped)


def test_a_classmethod_hook_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="is a classmethod"):

        class Classy(Layer):
            @hooks.execution
            @classmethod
            def around(cls) -> None: ...


def test_a_hook_without_self_is_refused_where_defined() -> None:
    class Upstream(Layer): ...

    with pytest.raises(ConfigurationError, match=r"takes no self \(its first parameter is a: \.\.\.\)"):

        class NoSelf(Layer):
            @hooks.submission
            def size(a: Upstream) -> None: ...  # type: ignore[misc]

    with pytest.raises(ConfigurationError, match=r"takes no self \(its first parameter is nothing\)"):

        class Nothing(Layer):
            @hooks.entry
            def go() -> bool:  # type: ignore[misc]
                return True


def test_a_staticmethod_flow_hook_is_refused_where_the_flow_is_defined() -> None:
    with pytest.raises(ConfigurationError, match="is a staticmethod"):

        class Hooked(Flow):
            @staticmethod
            @hooks.execution
            def everywhere(self: Layer) -> None: ...


def test_a_hook_whose_self_has_another_name_is_accepted() -> None:
    class Named(Layer):
        @hooks.entry
        def go(layer) -> bool:  # any name for the layer is fine, unannotated
            return True

    assert Named().go() is True
