"""Caching across executions: a unit whose code and inputs were seen before reuses what it stored.

``key`` says what a unit is keyed by and checked against, ``index`` where entries live and what a
hit must pass, ``memo`` how the engine uses them (its one seam: :class:`laminar.engine.loop.Memo`).
docs/caching.md is the user's guide.
"""

from laminar.cache.index import CacheWarning
from laminar.cache.memo import Memo

__all__ = ["CacheWarning", "Memo"]
