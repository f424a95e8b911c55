"""Hook decorators and their collection from layer and flow classes.

A hook is a method marked with one of the decorators below. It takes the
layer as ``self`` and may take other layers as parameters (annotated like
``__call__``), which makes them dependencies. Several hooks of one kind run in
definition order; a subclass overriding a hook by name replaces it.

- ``entry``: returns a truthy value to run the layer (all must be truthy).
- ``execution``: runs on the executor around ``__call__``; a generator hook
  runs to its ``yield`` before the call and resumes after it.
- ``submission``: runs before each split is submitted; may change
  ``self.configuration.container`` (dynamic resources).
- ``retry``: runs before the backoff wait of a retry.

In every hook of a foreach layer a dependency is seen whole, as a join sees it
(a sharded attribute is an ``Accessor``, a foreach dependency is read over its
splits) and ``self.index`` names the split: ``memory[a.baz[unwrap(self.index)]]``.
Only inside ``__call__`` is a foreach parameter the split's own item.

Entry hooks return a bool-like value (None is an error: a branch that fell
through); submission, retry and plain execution hooks return nothing.

A hook is a plain method (``def``, taking ``self`` first): a ``@staticmethod``
or ``@classmethod``, a function without ``self``, and ``async def`` hooks are
refused where they are defined, since laminar calls every hook with the layer,
in a worker thread or process, and would otherwise run them wrongly or not at
all (a coroutine left unawaited looks truthy to an entry hook).
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from laminar.errors import ConfigurationError

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__laminar_hook__"


class Kind(str, enum.Enum):
    entry = "entry"
    execution = "execution"
    submission = "submission"
    retry = "retry"


def _mark(kind: Kind, function: F) -> F:
    check(kind, function)
    setattr(function, _MARK, kind)
    return function


def check(kind: Kind, function: Any) -> None:
    """Refuse what cannot be a hook: not a plain method taking ``self`` first, or ``async``."""
    label = f"@hooks.{kind.value}"
    if isinstance(function, (staticmethod, classmethod)):
        inner = function.__func__
        raise ConfigurationError(
            f"{label} {inner.__qualname__} is a {type(function).__name__}; hooks are called with the layer: "
            f"drop @{type(function).__name__} and take self first, `def {inner.__name__}(self, ...)`"
        )
    if not inspect.isfunction(function):
        raise ConfigurationError(f"{label} decorates a method (def name(self, ...)), got {function!r}")
    name = function.__qualname__
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise ConfigurationError(
            f"{label} {name} is async; laminar calls hooks as plain functions in a worker thread or "
            "process and would never await it: write `def`, and run async code inside it with asyncio.run(...)"
        )
    parameters = list(inspect.signature(function).parameters.values())
    first = parameters[0] if parameters else None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if (
        first is None
        or first.kind not in positional
        or (first.name != "self" and first.annotation is not inspect.Parameter.empty)
    ):
        shown = f"{first.name}: ..." if first is not None else "nothing"
        raise ConfigurationError(
            f"{label} {name} takes no self (its first parameter is {shown}); hooks are methods called with "
            f"the layer first: `def {function.__name__}(self, ...)`"
        )


def entry(function: F) -> F:
    """Run the layer only if this returns a truthy value. Entry hooks cannot yield."""
    if inspect.isgeneratorfunction(function):
        raise ConfigurationError(
            f"@hooks.entry {function.__qualname__} is a generator; entry hooks return a value "
            "and cannot yield (use @hooks.execution for code around the call)"
        )
    return _mark(Kind.entry, function)


def execution(function: F) -> F:
    """Run around ``__call__`` on the executor (generator: before and after ``yield``)."""
    return _mark(Kind.execution, function)


def submission(function: F) -> F:
    """Run before a split is submitted; may change ``self.configuration.container``."""
    return _mark(Kind.submission, function)


def retry(function: F) -> F:
    """Run before the backoff wait of a retry; may raise the next attempt's resources."""
    return _mark(Kind.retry, function)


@dataclass(frozen=True)
class Hook:
    """A hook found on a layer or flow class."""

    kind: Kind
    name: str
    function: Callable[..., Any]
    owner: type  # the class that defines it: a Layer, or a Flow for flow-wide hooks

    @property
    def qualname(self) -> str:
        return f"{self.owner.__name__}.{self.name}"


def collect(cls: type) -> list[Hook]:
    """Hooks defined on ``cls`` and its bases, in definition order, base classes first."""
    found: dict[str, Hook] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, (staticmethod, classmethod)):  # @staticmethod above the hook decorator
                marked = getattr(value.__func__, _MARK, None)
                if isinstance(marked, Kind):
                    check(marked, value)
            kind = getattr(value, _MARK, None)
            if isinstance(kind, Kind):
                found[name] = Hook(kind=kind, name=name, function=value, owner=klass)
            elif name in found:  # overridden by a plain method: no longer a hook
                del found[name]
    return list(found.values())
