"""What an execution's records say of each layer, as plain data for tables and pictures.

>>> rows = [LayerSummary("A", "finished"), LayerSummary("B", "skipped")]
>>> status(rows)
'finished'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerSummary:
    """One layer of an execution as its records tell it."""

    name: str
    phase: str
    splits: int | None = None
    artifacts: tuple[str, ...] = ()
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    cached: int = 0  # splits taken from the cache (laminar.cache) instead of run
    cached_from: str | None = None  # the execution they came from, when all came from one

    @property
    def seconds(self) -> float | None:
        return self.ended - self.started if self.started is not None and self.ended is not None else None


def status(rows: Iterable[LayerSummary]) -> str:
    """An execution's overall state: ``failed``, ``finished`` (every layer settled) or ``incomplete``."""
    phases = [row.phase for row in rows]
    if "failed" in phases:
        return "failed"
    if all(phase in ("finished", "skipped") for phase in phases):
        return "finished"
    return "incomplete"
