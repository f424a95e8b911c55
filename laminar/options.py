"""Layer configuration: ``Container``, ``Retry``, ``Catch``, ``Cache``, ``ForEach`` and ``Parameter``.

They are pydantic models so that a wrong value fails where it is written,
with a message that says what is valid. Every layer of every execution gets
its own deep copy of its registration's configuration, so a hook that changes
one layer's ``container`` never changes another's.

>>> Container(cpu=0.5, memory=2048).cpu
0.5
>>> Container(cpu=-1)
Traceback (most recent call last):
...
laminar.errors.ConfigurationError: Container: cpu: Input should be greater than or equal to 0 (got -1)
"""

from __future__ import annotations

import difflib
import math
import random
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from laminar.errors import ConfigurationError

OptionsT = TypeVar("OptionsT", bound="Options")


#: The longest wait between two attempts that ``Retry`` accepts: the driver waits for it.
MAX_WAIT = 7 * 24 * 3600.0


def _explain(model: type[BaseModel], error: ValidationError) -> ConfigurationError:
    lines = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        line = f"{where}: {message} (got {detail.get('input')!r})" if where else message
        if detail["type"] == "extra_forbidden":  # a misspelt field: say which one was meant
            fields = list(model.model_fields)
            close = difflib.get_close_matches(where, fields, n=1)
            line += (f"; did you mean {close[0]!r}?" if close else "") + f" (its fields: {', '.join(fields)})"
        lines.append(line)
    return ConfigurationError(f"{model.__name__}: " + "; ".join(lines))


class Options(BaseModel):
    """Base of laminar's configuration models: validated on creation and on assignment."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", arbitrary_types_allowed=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _explain(type(self), error) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as error:
            raise _explain(type(self), error) from None

    def _deep_copy(self: OptionsT) -> OptionsT:
        """A deep copy without ``copy.deepcopy``'s generic machinery: nested models, dicts and lists are
        copied; everything else configurations hold (numbers, strings, tuples, classes) is immutable."""
        copy = self.__copy__()
        copy.__dict__.update({name: _copied(value) for name, value in self.__dict__.items()})
        return copy


def _copied(value: Any) -> Any:
    if isinstance(value, Options):
        return value._deep_copy()
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


class Container(Options):
    """Where and with what a layer runs.

    ``cpu`` and ``gpu`` may be fractional; ``memory`` is in MB (a float is
    rounded up); ``resources`` holds custom resource amounts; ``env`` is set in
    the layer's process. ``image`` runs each split in a container of that image
    (podman, on every executor; ``cpu`` and ``memory`` become its limits, and
    ``workdir`` its working directory, default ``/laminar``); ``workdir``
    without an image runs each split in a process of its own (this Python)
    in that directory of the node, which must exist; ``pip`` gives the layer a
    Python environment of its own with those requirements (Ray's runtime_env,
    without an image). ``timeout`` is the seconds one attempt of a split may
    run (from its start on a worker to its artifacts stored): one over it is
    stopped and fails with ``LayerTimeout``, an attempt ``Retry`` retries (its
    retry hooks may raise the next attempt's timeout, as its memory).
    """

    # int | float: a whole number stays an int, as given (Container(cpu=4).cpu prints 4, as the original's)
    cpu: int | float = Field(default=1, ge=0, allow_inf_nan=False)
    memory: int = Field(default=1500, ge=0)
    gpu: int | float = Field(default=0, ge=0, allow_inf_nan=False)
    resources: dict[str, float] = Field(default_factory=dict)
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str | None = None
    pip: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("timeout must be a finite number of seconds > 0, or None for no timeout")
        return value

    def requested(self) -> dict[str, float]:
        """What it asks for, as records keep it: ``cpu``, ``memory`` (MB), ``gpu`` and custom resources."""
        return {"cpu": self.cpu, "memory": self.memory, "gpu": self.gpu, **self.resources}

    @field_validator("memory", mode="before")
    @classmethod
    def _round_memory(cls, value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            if value < 0:  # rounded up first, -0.5 would pass as 0
                raise ValueError("memory is in MB and must be >= 0")
            return math.ceil(value)
        return value

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if not math.isfinite(amount):
                raise ValueError(f"resource {name!r} must be a finite number >= 0, got {amount!r}")
            if amount < 0:
                raise ValueError(f"resource {name!r} must be >= 0")
            if name in {"CPU", "GPU", "memory"}:
                raise ValueError(f"use Container({name.lower()}=...) rather than resources[{name!r}]")
        return value

    @field_validator("image")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError("image must be a non-empty image reference without spaces")
        return value

    @field_validator("pip")
    @classmethod
    def _check_pip(cls, value: list[str]) -> list[str]:
        if any(not requirement.strip() for requirement in value):
            raise ValueError("pip requirements must be non-empty strings such as 'six==1.17.0' or a wheel's path")
        return value


class Retry(Options):
    """Retry a failing layer: ``attempts`` in all, waiting with jittered exponential backoff.

    ``Retry()`` makes 3 attempts; the original laminar's made 1 (no retry): write ``Retry(attempts=1)``
    for that (README, "The original laminar").

    >>> Retry(attempts=3, delay=1, backoff=2, jitter=0).wait(2)
    2.0
    """

    attempts: int = Field(default=3, ge=1)
    delay: float = Field(default=0.1, ge=0, allow_inf_nan=False)
    backoff: float = Field(default=2, ge=1, allow_inf_nan=False)
    jitter: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_longest_wait(self) -> Retry:
        """The wait before the last attempt, ``delay * backoff ** (attempts - 2)`` jittered, must be at
        most :data:`MAX_WAIT`: computed in logarithms, since ``backoff ** n`` overflows a float long before."""
        if self.attempts < 2 or self.delay == 0:
            return self
        exponent = math.log10(self.delay) + (self.attempts - 2) * math.log10(self.backoff)
        if exponent > math.log10(MAX_WAIT / (1 + self.jitter)):  # a jittered wait is up to (1 + jitter) x
            raise ValueError(
                f"the wait before attempt {self.attempts} would be delay * backoff ** {self.attempts - 2} = "
                f"10**{exponent:.1f} s; the longest wait between attempts is {MAX_WAIT:.0f} s (a week): "
                "lower delay, backoff or attempts"
            )
        return self

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = self.delay * self.backoff ** (attempt - 1)
        return float(base * (1 + random.uniform(-self.jitter, self.jitter)))


class Catch(Options):
    """Exceptions (and subclasses) that end a layer as finished, keeping what it saved.

    >>> Catch(TypeError, OSError).catches(FileNotFoundError())
    True
    """

    exceptions: tuple[type[BaseException], ...] = ()

    def __init__(self, *exceptions: type[BaseException]) -> None:
        for exception in exceptions:
            if not (isinstance(exception, type) and issubclass(exception, BaseException)):
                raise ConfigurationError(
                    f"Catch: {exception!r} is not an exception class; pass classes such as Catch(TypeError, OSError)"
                )
        super().__init__(exceptions=tuple(exceptions))

    def catches(self, error: BaseException) -> bool:
        return isinstance(error, self.exceptions)


class Cache(Options):
    """Reuse a layer's (each split's) results from an earlier execution whose inputs were the same.

    The key is the layer's flow and name, its code ``version`` (given, or a hash of the class's
    source: see :mod:`laminar.cache.key` for what that does not see), the configuration that changes
    results (``foreach``, ``catch``, the container's ``image`` and ``pip``; never resources), and the
    digests of the input artifacts and parameters it read. ``verify`` re-hashes every artifact of a
    hit before it is used (False: only checks that each exists). Turned on per layer
    (``@F.register(cache=Cache(version="2"))``) or for every layer (``F(cache=Cache())``);
    ``docs/caching.md`` says the rest.

    >>> Cache(version="2").version
    '2'
    """

    version: str | None = None
    verify: bool = True

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("version must be a non-empty string such as '2', or None to hash the layer's source")
        return value


class Parameter(Options):
    """One axis of a ``ForEach``: the artifact ``attribute`` of ``layer``.

    ``index`` picks the split of a foreach ``layer`` to read (default 0);
    ``index=None`` maps the foreach ``layer`` 1:1, one split per upstream split.
    """

    layer: type
    attribute: str
    index: int | None = 0

    def __init__(self, layer: type, attribute: str, index: int | None = 0) -> None:
        super().__init__(layer=layer, attribute=attribute, index=index)

    @field_validator("layer")
    @classmethod
    def _check_layer(cls, value: type) -> type:
        if not _is_layer(value):
            raise ValueError("layer must be a Layer subclass")
        return value

    @field_validator("attribute")
    @classmethod
    def _check_attribute(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError("attribute must be a Python identifier")
        return value

    @field_validator("index")
    @classmethod
    def _check_index(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("index must be >= 0 or None")
        return value


ForEachParameter = Parameter


def _is_layer(value: object) -> bool:
    """Whether ``value`` is a subclass of ``laminar.layer.Layer``, told by its bases' names: this module
    sits below ``layer`` (a layer carries its configuration), so it cannot import the class."""
    return isinstance(value, type) and any(
        base.__name__ == "Layer" and base.__module__ == "laminar.layer" for base in value.__mro__
    )


class ForEach(Options):
    """Run one split per combination of the parameters' items (``itertools.product`` order).

    ``batch`` is how many splits may share one Ray task (each keeps its own document, record, retries and
    logs): ``None`` (the default) lets the backend choose from the splits' measured durations, ``N`` pins
    it to ``N`` splits a task, ``1`` runs one split a task. ``executors.Thread()`` runs splits one by one
    whatever it says. See docs/batching.md.
    """

    parameters: list[Parameter]
    batch: int | None = None

    def __init__(self, parameters: list[Parameter], batch: int | None = None) -> None:
        super().__init__(parameters=parameters, batch=batch)

    @field_validator("batch", mode="before")
    @classmethod
    def _check_batch(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError("batch must be a whole number of splits >= 1, or None to let the backend choose")
        return value

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: list[Parameter]) -> list[Parameter]:
        if not value:
            raise ValueError("ForEach needs at least one Parameter")
        return value


class LayerConfiguration(Options):
    """Everything a registration configures for one layer on one flow."""

    container: Container = Field(default_factory=Container)
    retry: Retry | None = None
    catch: Catch | None = None
    foreach: ForEach | None = None
    #: None: the flow's default (``F(cache=...)``); False: never cached, whatever the flow's default.
    cache: Cache | bool | None = None

    def copy_for_run(self) -> LayerConfiguration:
        """A deep copy that a layer's hooks may change freely.

        >>> configuration = LayerConfiguration(container=Container(env={"A": "1"}))
        >>> copy = configuration.copy_for_run()
        >>> copy.container.env["A"] = "2"
        >>> configuration.container.env, copy == configuration
        ({'A': '1'}, False)
        """
        return self._deep_copy()
