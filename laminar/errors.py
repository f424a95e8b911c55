"""Every error laminar raises on purpose derives from :class:`LaminarError`.

Messages name the flow and the layer, say what was given, what is valid and
how to fix it. Problems found while validating a flow are collected and
reported together, so a user fixes them in one pass.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence


class LaminarError(Exception):
    """Base class of every error raised by laminar itself."""

    #: False for an error another attempt cannot mend (a missing image, a wrong configuration): ``Retry``
    #: does not retry it.
    retryable: bool = True


def retryable(error: BaseException) -> bool:
    """Whether another attempt might not fail with ``error`` (see :attr:`LaminarError.retryable`)."""
    return bool(getattr(error, "retryable", True))


class FlowDefinitionError(LaminarError):
    """A flow's graph or a layer's declaration is invalid; raised before any work runs."""

    def __init__(self, flow: str, problems: Sequence[str]) -> None:
        self.flow = flow
        self.problems = list(problems)
        count = len(self.problems)
        header = f"Flow {flow!r} is not valid ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([header, *(f"  - {problem}" for problem in self.problems)]))

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        return type(self), (self.flow, self.problems)  # errors cross process boundaries (Ray)


class ConfigurationError(LaminarError):
    """A configuration value (Container, Retry, Catch, ForEach, datastore, executor) is invalid."""

    retryable = False


class LayerError(LaminarError):
    """Something about one layer of a running execution is wrong (not the user's own exception)."""

    def __init__(self, flow: str, layer: str, message: str) -> None:
        self.flow = flow
        self.layer = layer
        self.message = message
        super().__init__(f"{flow}.{layer}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return type(self), (self.flow, self.layer, self.message)


class LayerTimeout(LayerError, TimeoutError):
    """A split ran longer than its ``Container(timeout=...)`` and was stopped: one failed attempt."""

    def __init__(self, flow: str, layer: str, message: str, seconds: float = 0.0) -> None:
        super().__init__(flow, layer, message)
        self.seconds = seconds

    def __reduce__(self) -> tuple[type, tuple[str, str, str, float]]:  # type: ignore[override]
        return type(self), (self.flow, self.layer, self.message, self.seconds)


class ArtifactError(LaminarError):
    """An artifact cannot be serialized, is missing, or is corrupt."""


class DatastoreError(LaminarError):
    """The datastore cannot be reached or used. Messages never contain credentials."""


class ExecutionNotFound(LaminarError):
    """An execution id that the datastore does not know."""


class ExecutionExists(ConfigurationError):
    """A new execution's id is taken: it exists, or another start claimed it at the same moment."""


class ResourceError(LaminarError):
    """A layer asked for resources that no node of the cluster can ever provide."""


def formatted(error: BaseException) -> str:
    """``error`` with its traceback (and the chain of its causes), as Python prints it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
