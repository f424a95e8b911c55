"""``Kept``: a bounded mapping of values made on demand, the least recently used dropped first.

What the driver and the workers keep between tasks and runs: remote functions,
pickled graphs and submitters per container (the executor); graphs, execution
contexts and shared upstream splits (each worker).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(collections.OrderedDict[K, V]):
    """At most ``size`` entries; :meth:`keep` finds one or makes it."""

    def __init__(self, size: int, dropped: Callable[[K], object] | None = None) -> None:
        super().__init__()
        self.size = size
        self._dropped = dropped  # told the key of each entry dropped

    def keep(self, key: K, make: Callable[[], V]) -> V:
        """The value under ``key``, made by ``make`` the first time (the least recently used go past ``size``)."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            dropped, _ = self.popitem(last=False)
            if self._dropped is not None:
                self._dropped(dropped)
        return value
