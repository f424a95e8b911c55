"""Read-side views over stored splits: archives read once, values loaded (and verified) lazily."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from laminar.artifacts import Accessor, Artifacts


class Loader(Protocol):
    """What loads a stored artifact (the datastore's read side)."""

    def get_value(self, protocol_name: str, digest: str, *, where: str, inline: Mapping[str, str] | None) -> Any: ...

    def get_packed(
        self, protocol_name: str, digest: str, pack: str, span: Any, *, where: str, inline: Mapping[str, str] | None
    ) -> Any: ...


class Splits(Protocol):
    """What finds a finished split's artifacts (the datastore)."""

    def split(self, flow: str, execution: str, layer: str, index: int) -> Artifacts: ...


class StoredSplit:
    """One split's archive; values load (and verify) on first read."""

    def __init__(self, store: Loader, label: str, entries: Mapping[str, Any]) -> None:
        self._store = store
        self._label = label
        self._entries = entries

    def names(self) -> Sequence[str]:
        return list(self._entries)

    def _load(self, name: str, index: int) -> Any:
        entry = self._entries[name]
        where = f"{self._label} artifact {name!r}" + (f" item {index}" if entry["sharded"] else "")
        protocol, digest, inline = entry["protocols"][index], entry["digests"][index], entry.get("inline")
        spans = entry.get("spans")
        if spans is not None and spans[index] is not None:  # a small item of a shard, in the shard's pack
            return self._store.get_packed(protocol, digest, entry.get("pack"), spans[index], where=where, inline=inline)
        return self._store.get_value(protocol, digest, where=where, inline=inline)

    def get(self, name: str) -> Any:
        entry = self._entries[name]
        if entry["sharded"]:
            return Accessor(len(entry["digests"]), lambda i: self._load(name, i), name)
        return self._load(name, 0)

    def item(self, name: str, index: int) -> Any:
        return self._load(name, index) if self._entries[name]["sharded"] else self._load(name, 0)

    def length(self, name: str) -> int | None:
        entry = self._entries[name]
        return len(entry["digests"]) if entry["sharded"] else None


class LazySplits(Sequence[Artifacts]):
    """The splits of a foreach layer, each archive read only when first needed."""

    def __init__(self, store: Splits, flow: str, execution: str, layer: str, count: int) -> None:
        self._args = (flow, execution, layer)
        self._store = store
        self._count = count
        self._cache: dict[int, Artifacts] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(self._count)[index]]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"split {index} out of range ({self._count} splits)")
        if index not in self._cache:
            self._cache[index] = self._store.split(*self._args, index)
        return self._cache[index]
