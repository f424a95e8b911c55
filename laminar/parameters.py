"""Declared flow parameters: typed, with defaults, validated at ``flow(...)`` before any work runs.

A flow declares its parameters as annotated attributes of a ``Parameters`` subclass, the way Metaflow
declares ``Parameter("epochs", default=10)`` on a flow and Prefect validates a flow function's
signature; its layers read them by annotating a parameter with that class, which also tells a type
checker what ``p.epochs`` is::

    class Settings(Parameters):
        epochs: int = 10                                    # typed, with a default
        rate: float = Field(0.1, description="step size")   # pydantic's Field for help text
        paths: list[str]                                    # no default: required

    @Train.register
    class Fit(Layer):
        def __call__(self, p: Settings) -> None:
            print(p.epochs * 2)

Every ``Parameters`` subclass the flow's layers and hooks take is the flow's declaration (several are
merged, as flows are by inheritance). ``Train()(epochs="3")`` is validated by pydantic against it (lax
coercion, as Prefect's: ``"3"`` becomes 3); a missing, mistyped or unknown parameter (with a "did you
mean") is a :class:`~laminar.errors.ParameterError` naming the flow and the parameter, raised before the
execution exists; defaults are stored with what was given, so ``execution.parameters`` shows them all.
``laminar run TARGET --help`` lists them and ``-p epochs=3`` is parsed by the declared type.

A flow whose layers take only ``Parameters`` itself declares nothing and keeps the original's behaviour:
any keyword is a parameter, a missing one surfaces where a layer reads it, and the CLI reads ``-p`` values
as JSON, else as text.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import json
import typing
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from laminar.errors import ParameterError
from laminar.layer import Parameters

#: What ``Flow.__call__`` itself takes: never a parameter's name.
RESERVED = frozenset({"execution", "observer", "progress"})
_REQUIRED: Any = ...


@dataclass(frozen=True)
class Field_:
    """One declared parameter: its type, default (``...``: required), help text, and validator."""

    name: str
    annotation: Any
    default: Any
    description: str | None
    adapter: TypeAdapter[Any]

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def value(self, given: Any) -> Any:
        return self.adapter.validate_python(given)

    def default_value(self) -> Any:
        return copy.deepcopy(self.default)  # a mutable default is never shared between executions


def declared(cls: type[Parameters]) -> dict[str, Field_]:
    """The fields ``cls`` declares (its annotated attributes, bases first); none for ``Parameters`` itself.
    Raises ``TypeError`` naming what is wrong with a declaration, ``ValidationError`` for a bad default."""
    if cls is Parameters:
        return {}
    found = _kept.get(cls)
    if found is None:
        found = _kept[cls] = _declared(cls)
    return found


_kept: weakref.WeakKeyDictionary[type, dict[str, Field_]] = weakref.WeakKeyDictionary()


def _declared(cls: type[Parameters]) -> dict[str, Field_]:
    fields: dict[str, Field_] = {}
    config = ConfigDict(arbitrary_types_allowed=True)
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Parameters)) or klass is Parameters:
            continue
        hints = typing.get_type_hints(klass, include_extras=True)
        for name in inspect.get_annotations(klass):
            annotation = hints[name]
            if typing.get_origin(annotation) is typing.ClassVar:
                continue
            if name.startswith("_") or name in RESERVED:
                reason = "starts with '_' (laminar's own)" if name.startswith("_") else "is an argument of flow(...)"
                raise TypeError(f"parameter {name!r} of {klass.__qualname__} {reason}: rename it")
            default = klass.__dict__.get(name, _REQUIRED)
            description = None
            if isinstance(default, FieldInfo):  # pydantic's Field(default, description=...)
                description = default.description
                default = default.get_default(call_default_factory=True) if not default.is_required() else _REQUIRED
            try:
                adapter: TypeAdapter[Any] = TypeAdapter(annotation, config=config)
            except Exception:  # a type pydantic cannot check: an instance check instead
                adapter = TypeAdapter(Any)
            field = Field_(name, annotation, default, description, adapter)
            if not field.required:  # a default must be of its type: checked at definition
                try:
                    field.value(field.default)
                except ValidationError as error:
                    reasons = "; ".join(_reason(detail) for detail in error.errors())
                    raise TypeError(
                        f"parameter {name!r} of {klass.__qualname__}: its default {field.default!r} is not "
                        f"{_type(annotation)}: {reasons}"
                    ) from None
            fields[name] = field
    return fields


def combined(classes: Iterable[type[Parameters]]) -> type[Parameters]:
    """The one declaration of a flow whose layers take ``classes``: ``Parameters`` when none is a subclass,
    the subclass when one is, else a class that inherits them all (``isinstance`` holds for each)."""
    found = list(dict.fromkeys(cls for cls in classes if cls is not Parameters))
    if not found:
        return Parameters
    if len(found) == 1:
        return found[0]
    return _merged(tuple(found))


@cache
def _merged(classes: tuple[type[Parameters], ...]) -> type[Parameters]:
    merged: type[Parameters] = type("Parameters", classes, {"__module__": classes[0].__module__})
    return merged


def problems(cls: type[Parameters]) -> list[str]:
    """What is wrong with a flow's declaration (bad names, defaults not of their type), for the graph."""
    if cls is Parameters:
        return []
    try:
        declared(cls)
    except (TypeError, NameError, ValidationError) as error:
        return [f"declared parameters {cls.__qualname__}: {_first_line(error)}"]
    clashes = _clashes(cls)
    return [f"declared parameters: {clash}" for clash in clashes]


def _clashes(cls: type[Parameters]) -> list[str]:
    """Fields two merged declarations give different types."""
    seen: dict[str, tuple[Any, str]] = {}
    found = []
    for base in cls.__bases__ if cls.__name__ == "Parameters" and cls is not Parameters else (cls,):
        for name, info in declared(base).items():
            if name in seen and seen[name][0] != info.annotation:
                found.append(
                    f"{name!r} is {_type(seen[name][0])} in {seen[name][1]} but {_type(info.annotation)} in "
                    f"{base.__qualname__}: declare it once, or with one type"
                )
            seen.setdefault(name, (info.annotation, base.__qualname__))
    return found


def validate(flow: str, cls: type[Parameters], given: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters to store for ``flow(**given)``: validated against ``cls``'s declaration, with the
    defaults of those not given; for an undeclared flow, ``given`` as it is (its names checked)."""
    for name in given:
        if not name.isidentifier():
            raise ParameterError(
                f"{flow}: parameter name {name!r} is not a Python identifier; layers read parameters as "
                "attributes (p.name): rename it"
            )
        if name.startswith("_"):
            raise ParameterError(
                f"{flow}: parameter name {name!r} starts with '_', which laminar keeps for its own bookkeeping "
                "on a layer: rename it"
            )
    fields = declared(cls)
    if not fields:
        return dict(given)
    lines = []
    for name in given:
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            lines.append(f"it has no parameter {name!r}; {hint}its parameters: {'; '.join(describe(cls))}")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in given:
            if field.required:
                lines.append(f"parameter {name!r} ({_type(field.annotation)}) is required: pass {name}=...")
            else:
                values[name] = field.default_value()
            continue
        try:
            values[name] = field.value(given[name])
        except ValidationError as error:
            reasons = "; ".join(_reason(detail) for detail in error.errors())
            lines.append(f"parameter {name!r} must be {_type(field.annotation)}: {reasons} (got {given[name]!r})")
    if lines:
        raise ParameterError(f"{flow}: " + "; ".join(lines) + f" (declared in {cls.__qualname__})")
    return values


def _reason(detail: Any) -> str:
    where = ".".join(str(part) for part in detail["loc"])
    return f"{where}: {detail['msg']}" if where else str(detail["msg"])


def parse(flow: str, cls: type[Parameters], name: str, text: str) -> Any:
    """A ``-p NAME=TEXT`` value as the declared type reads it: JSON for structured types (``[1, 2]``), the
    text itself for strings, else pydantic's reading of the text (``3``, ``no`` for a bool); an undeclared
    flow's values are JSON when they are JSON, else text (the original's behaviour). Values are
    validated with the rest afterwards, by :func:`validate`."""
    fields = declared(cls)
    if not fields:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if name not in fields:
        return text  # refused by validate, with the names it has
    adapter = fields[name].adapter
    for attempt in (adapter.validate_json, adapter.validate_python):
        try:
            return attempt(text)
        except ValidationError:
            continue
    return text  # validate says why it is not of the type


def describe(cls: type[Parameters]) -> list[str]:
    """One line per declared parameter: ``name: type = default  description``."""
    lines = []
    for name, field in declared(cls).items():
        default = "(required)" if field.required else f"= {field.default!r}"
        help_ = f"  {field.description}" if field.description else ""
        lines.append(f"{name}: {_type(field.annotation)} {default}{help_}")
    return lines


def _type(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def _first_line(error: Exception) -> str:
    return " ".join(str(error).split())


def is_declaration(value: object) -> bool:
    """Whether ``value`` is a Parameters class (the base or a declaration)."""
    return isinstance(value, type) and issubclass(value, Parameters)
