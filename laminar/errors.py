"""Every error laminar raises on purpose derives from :class:`LaminarError`.

Messages name the flow and the layer, say what was given, what is valid and
how to fix it. Problems found while validating a flow are collected and
reported together, so a user fixes them in one pass.
"""

from __future__ import annotations

import linecache
import os
import re
import traceback
from collections.abc import Sequence
from pathlib import Path


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


class ParameterError(ConfigurationError):
    """A flow's parameters do not match its declaration: missing, mistyped or unknown (``flow(...)`` raises
    it before the execution exists)."""


class LayerError(LaminarError):
    """Something about one layer of a running execution is wrong (not the user's own exception)."""

    def __init__(self, flow: str, layer: str, message: str) -> None:
        self.flow = flow
        self.layer = layer
        self.message = message
        super().__init__(f"{flow}.{layer}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return type(self), (self.flow, self.layer, self.message)


class UsageError(LayerError):
    """A layer's own code used laminar wrongly: ``__call__`` or a hook returned what laminar would drop.
    Another attempt would do the same, so ``Retry`` does not retry it."""

    retryable = False


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


class RemoteTraceback(Exception):
    """The traceback of an error raised in another process (a Ray worker, a container), as the cause of
    the error re-raised here: printed, it shows the layer's own frames (as ``concurrent.futures`` does)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


class UnpicklableError(Exception):
    """What a layer raised in another process, when that exception cannot be sent back as it is (it does
    not survive being pickled and unpickled, e.g. an ``__init__`` that takes other arguments than the
    message and no ``__reduce__``): its type's name and message, retried as the original would be."""

    def __init__(self, kind: str, message: str, why: str) -> None:
        self.kind = kind
        self.message = message
        self.why = why
        super().__init__(
            f"{kind}: {message} (raised in a worker; the exception itself cannot be sent back: {why}; give "
            f"{kind.rsplit('.', 1)[-1]} a __reduce__, or an __init__ that passes its arguments to Exception's)"
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return type(self), (self.kind, self.message, self.why)


class InfeasibleWarning(UserWarning):
    """A layer asks for more than this machine has: the ``Thread`` executor runs it anyway (it enforces no
    resources), but Ray would refuse it here. ``executors.Thread(infeasible="error")`` refuses it too."""


def formatted(error: BaseException) -> str:
    """``error`` with its traceback (and the chain of its causes), as Python prints it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


#: Where laminar's own modules are (and laminar_ray's, beside them): frames there that call a layer
#: are noise in the layer's traceback.
_OURS = (str(Path(__file__).resolve().parent) + os.sep, str(Path(__file__).resolve().parent) + "_ray" + os.sep)


def user_formatted(error: BaseException) -> str:
    """``error`` as :func:`formatted` prints it, less the leading frames of laminar's own code that called
    the layer: its traceback starts at the user's first frame (all of it when no frame is the user's).

    >>> def layer():
    ...     raise ValueError("bad")
    >>> try:
    ...     layer()
    ... except ValueError as raised:
    ...     text = user_formatted(raised)
    >>> text.splitlines()[-1]
    'ValueError: bad'
    """
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_OURS):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb or error.__traceback__))


_FRAME = re.compile(r'^(\s*)File "(.+)", line (\d+), in ')


def with_source(text: str) -> str:
    """A formatted traceback with the source line of each frame that lacks one filled in where this process
    knows it: a layer defined in a notebook cell or ``__main__`` and shipped to a Ray worker by value ran
    where its source is not, and its driver has it.

    >>> import linecache
    >>> linecache.cache["<cell-1>"] = (20, None, ["x = 1\\n", "y = 1 / 0\\n"], "<cell-1>")
    >>> remote = 'Traceback (most recent call last):\\n  File "<cell-1>", line 2, in f\\nZeroDivisionError\\n'
    >>> print(with_source(remote))
    Traceback (most recent call last):
      File "<cell-1>", line 2, in f
        y = 1 / 0
    ZeroDivisionError
    <BLANKLINE>
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for number, line in enumerate(lines):
        out.append(line)
        frame = _FRAME.match(line)
        if frame is None:
            continue
        following = lines[number + 1] if number + 1 < len(lines) else ""
        indent = frame.group(1)
        if following.startswith(indent + "  ") and not _FRAME.match(following):
            continue  # it has its source line
        source = linecache.getline(frame.group(2), int(frame.group(3))).strip()
        if source:
            out.append(f"{indent}  {source}\n")
    return "".join(out)
