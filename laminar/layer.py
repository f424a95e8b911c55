"""``Layer``, the unit of work, its ``State`` and the built-in ``Parameters`` layer.

Anything a layer assigns to ``self`` is an artifact. laminar keeps its own
bookkeeping in one reserved attribute, ``_laminar``, so every other name is
the user's. A layer built by hand, ``A(foo="bar")``, has those attributes
preset, which is how unit tests call ``B()(A(foo="bar"))``.

>>> class A(Layer):
...     def __call__(self) -> None:
...         self.foo = "bar"
>>> a = A()
>>> a()
>>> a.foo, a.name, a.state.finished
('bar', 'A', False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from laminar.artifacts import Artifacts
from laminar.options import LayerConfiguration

RESERVED = "_laminar"


@dataclass(frozen=True)
class State:
    """What happened to a layer: ``pending``, ``running``, ``finished``, ``skipped`` or ``failed``."""

    phase: str = "pending"
    attempt: int = 0
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.phase == "finished"

    @property
    def skipped(self) -> bool:
        return self.phase == "skipped"

    @property
    def failed(self) -> bool:
        return self.phase == "failed"

    def __bool__(self) -> bool:
        return self.finished


@dataclass
class Context:
    """laminar's bookkeeping for one layer instance."""

    flow: str | None = None
    execution: str | None = None
    #: None until asked for (``Layer.configuration``): dependencies and results seldom are.
    configuration: LayerConfiguration | None = None
    #: What ``configuration`` is a copy of, made when first asked for (a run's hooks may change it;
    #: most layers never look at it). None: the defaults.
    template: LayerConfiguration | None = None
    index: int | None = None
    splits: int | None = None
    state: State = field(default_factory=State)
    artifacts: Artifacts | None = None
    shards: set[str] = field(default_factory=set)
    #: Set on a running split: which of ``index``, ``splits`` and ``execution`` it read (its result may
    #: depend on them), kept in its record for the cache (laminar.cache).
    seen: set[str] | None = None


class Layer:
    """A unit of work: override ``__call__``; declare dependencies by annotating its parameters."""

    _laminar: Context

    def __init__(self, **attributes: Any) -> None:
        self._laminar = Context()
        for name, value in attributes.items():
            setattr(self, name, value)

    def __call__(self) -> None:
        """The layer's work. The default does nothing."""

    @property
    def name(self) -> str:
        """The layer's name: its class name."""
        return type(self).__name__

    @property
    def state(self) -> State:
        return self._laminar.state

    @property
    def configuration(self) -> LayerConfiguration:
        """This run's configuration; hooks may change its ``container``."""
        context = self._laminar
        if context.configuration is None:
            template = context.template
            context.configuration = LayerConfiguration() if template is None else template.copy_for_run()
        return context.configuration

    @property
    def index(self) -> int | None:
        """This split's number in a foreach layer, else None."""
        return self._seen("index").index

    @property
    def splits(self) -> int | None:
        """The number of splits of a foreach layer, else None."""
        return self._seen("splits").splits

    @property
    def execution(self) -> str | None:
        """The id of the execution this layer runs in (None for a layer built by hand)."""
        return self._seen("execution").execution

    def _seen(self, name: str) -> Context:
        context = self._laminar
        if context.seen is not None:
            context.seen.add(name)
        return context

    def shard(self, **attributes: Iterable[Any]) -> None:
        """Store each item of each iterable separately; readers get an ``Accessor``.

        >>> a = Layer()
        >>> a.shard(foo=range(3))
        >>> a.foo
        [0, 1, 2]
        """
        for name, values in attributes.items():
            try:
                items = list(values)
            except TypeError:
                raise TypeError(
                    f"{self.name}.shard({name}=...) needs an iterable, got {type(values).__name__}; "
                    f"assign it (self.{name} = ...) to broadcast one value instead"
                ) from None
            setattr(self, name, items)
            self._laminar.shards.add(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: artifacts of dependencies and results load here.
        if name == RESERVED or name.startswith("__"):
            raise AttributeError(name)
        context: Context | None = self.__dict__.get(RESERVED)
        artifacts = context.artifacts if context is not None else None
        if artifacts is None or context is None:
            raise AttributeError(f"{type(self).__name__!r} layer has no attribute {name!r}")
        try:
            value = artifacts.get(name)
        except KeyError:
            where = f"{context.flow}.{type(self).__name__}"
            if not context.state.finished:
                hint = (
                    f"it did not finish (state: {context.state.phase}); "
                    f"check `{type(self).__name__.lower()}.state.finished` before reading it"
                )
            else:
                known = ", ".join(sorted(artifacts.names())) or "none"
                hint = f"its artifacts are: {known}"
            if isinstance(self, Parameters):
                known = ", ".join(sorted(artifacts.names())) or "none"
                raise AttributeError(
                    f"{context.flow} was run without parameter {name!r} (its parameters: {known}); pass "
                    f"flow({name}=...), or declare it with a default (see laminar.parameters)"
                ) from None
            raise AttributeError(f"{where} has no artifact {name!r}: {hint}") from None
        self.__dict__[name] = value
        return value

    def __repr__(self) -> str:
        context = self._laminar  # not self.index or self.state: a parameter may bear those names
        split = f"[{context.index}]" if context.index is not None else ""
        return f"<{type(self).__name__}{split} {context.state.phase}>"


def assigned(layer: Layer) -> dict[str, Any]:
    """The attributes a layer assigned to itself: its artifacts."""
    return {name: value for name, value in vars(layer).items() if name != RESERVED}


class Parameters(Layer):
    """The flow's parameters: ``flow(foo=1)`` is read as ``p.foo`` by ``def __call__(self, p: Parameters)``.

    A parameter always reads back as given, also one named like a layer's own attribute (``name``,
    ``state``, ``index``, ``splits``, ``configuration``, ``shard``, ``execution``): on a ``Parameters``
    those names are the parameters'. A subclass with annotated attributes declares typed parameters with
    defaults (see :mod:`laminar.parameters`); built by hand, it reads its defaults.

    >>> p = Parameters(name="given", shard=3)
    >>> p.name, p.shard
    ('given', 3)
    """

    def __init__(self, **attributes: Any) -> None:
        self._laminar = Context()
        self.__dict__.update(attributes)  # not setattr: `name` and `state` are read-only properties of a layer

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_":  # laminar's own names and dunders as usual; every other name may be a parameter
            own = object.__getattribute__(self, "__dict__")
            if name in own:
                return own[name]
            context = own.get(RESERVED)
            artifacts = context.artifacts if context is not None else None
            if artifacts is not None:
                try:
                    value = artifacts.get(name)
                except KeyError:
                    pass
                else:
                    own[name] = value
                    return value
        return object.__getattribute__(self, name)
