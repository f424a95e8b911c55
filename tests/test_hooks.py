"""Hook decorators and their collection from classes."""

from collections.abc import Iterator

import pytest

from laminar import Flow, Layer
from laminar.configurations import hooks
from laminar.errors import ConfigurationError
from laminar.hooks import Kind, collect


class Base(Layer):
    @hooks.entry
    def first(self) -> bool:
        return True

    @hooks.execution
    def around(self) -> Iterator[None]:
        yield

    @hooks.entry
    def replaced(self) -> bool:
        return True


class Child(Base):
    @hooks.submission
    def size(self) -> None: ...

    def replaced(self) -> bool:  # a plain method: no longer a hook
        return False

    @hooks.retry
    def again(self) -> None: ...


def test_collect_in_definition_order_base_first() -> None:
    found = [(hook.kind, hook.name, hook.owner) for hook in collect(Child)]
    assert found == [
        (Kind.entry, "first", Base),
        (Kind.execution, "around", Base),
        (Kind.submission, "size", Child),
        (Kind.retry, "again", Child),
    ]
    assert collect(Child)[0].qualname == "Base.first"


def test_hooks_on_a_flow_class() -> None:
    class F(Flow):
        @hooks.execution
        def everywhere(self) -> None: ...

    assert [hook.name for hook in collect(F)] == ["everywhere"]


def test_entry_hooks_cannot_yield() -> None:
    with pytest.raises(ConfigurationError, match="entry hooks return a value and cannot yield"):

        class Bad(Layer):
            @hooks.entry
            def gen(self) -> Iterator[bool]:
                yield True


def test_hook_decorators_need_callables() -> None:
    with pytest.raises(ConfigurationError, match=r"@hooks\.retry decorates a method"):
        hooks.retry(3)  # type: ignore[type-var]
