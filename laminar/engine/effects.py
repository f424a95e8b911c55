"""What the engine's transitions ask the loop to do: the only ways its decisions reach the world.

A transition (:mod:`laminar.engine.state`) changes the state and returns a
list of these; :mod:`laminar.engine.loop` carries them out, in order. Being
plain values, they compare equal in tests: a transition is tested by the
state it leaves and the effects it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from laminar.records import FailureRecord, LayerRecord, SplitDocument
from laminar.task import Task


@dataclass(frozen=True)
class Submit:
    """Hand ``task`` to the session."""

    task: Task


@dataclass(frozen=True)
class Withdraw:
    """Withdraw a run task started ahead of dependencies that have not finished: the flow is failing."""

    task: Task


@dataclass(frozen=True)
class Release:
    """No task will read ``layer``'s outputs again in this run: the session may drop what it holds of them."""

    layer: str


@dataclass(frozen=True)
class WriteSplit:
    """A finished split's document, for the journal."""

    layer: str
    index: int
    document: SplitDocument


@dataclass(frozen=True)
class WriteLayer:
    """A layer's record (finished, skipped or failed), for the journal."""

    layer: str
    record: LayerRecord


@dataclass(frozen=True)
class WriteFailure:
    """A split's last failed attempt, for the journal."""

    layer: str
    index: int
    record: FailureRecord


@dataclass(frozen=True)
class Note:
    """A line for the log: ``level`` is a ``logging`` level."""

    level: int
    message: str


Effect = Submit | Withdraw | Release | WriteSplit | WriteLayer | WriteFailure | Note
