"""Read-side views over a layer's artifacts, shared by every executor and the results API.

A dependency handed to ``__call__`` is a layer instance whose missing
attributes are looked up in one of these views. Values are loaded lazily, one
attribute (and one shard item) at a time, so reading ``a.x`` never loads
``a.big``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, overload


class Accessor(Sequence[Any]):
    """A lazy, read-only sequence: ``len(acc)``, ``acc[i]``, ``acc[i:j]``, iteration.

    Items are loaded only when read. A slice is a plain ``list`` of the items it
    selects (loading those, and only those), as in the original laminar: it prints,
    compares and serializes as the list it is.

    >>> acc = Accessor(3, lambda i: i * 10)
    >>> len(acc), acc[-1], acc[1:]
    (3, 20, [10, 20])
    >>> acc == [0, 10, 20]
    True
    """

    __slots__ = ("_length", "_load", "_name")

    def __init__(self, length: int, load: Callable[[int], Any], name: str = "") -> None:
        self._length = length
        self._load = load
        self._name = name

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._load(position) for position in range(self._length)[index]]
        try:
            given = operator.index(index)  # ints and int-likes such as numpy.int64, never floats
        except TypeError:
            raise TypeError(f"Accessor indices must be integers or slices, not {type(index).__name__}") from None
        position = given + self._length if given < 0 else given
        if not 0 <= position < self._length:
            label = f" {self._name!r}" if self._name else ""
            raise IndexError(
                f"Accessor{label} index {given} out of range: it has {self._length} items "
                f"(valid: {-self._length}..{self._length - 1})"
            )
        return self._load(position)

    def __iter__(self) -> Iterator[Any]:
        for index in range(self._length):
            yield self._load(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Sequence, Accessor)) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        label = f" {self._name!r}" if self._name else ""
        return f"<Accessor{label} of {self._length} items>"


class Artifacts(Protocol):
    """What a finished split (or a whole foreach layer) exposes to its readers."""

    def names(self) -> Sequence[str]: ...

    def get(self, name: str) -> Any:
        """The value; an Accessor for a sharded attribute. KeyError if absent."""

    def item(self, name: str, index: int) -> Any:
        """One item of a sharded attribute; the whole value for an unsharded one."""

    def length(self, name: str) -> int | None:
        """Number of shard items, or None when ``name`` is not sharded."""


class Values:
    """Artifacts held as Python values (what a Ray task returns, or a layer just made)."""

    def __init__(self, values: Mapping[str, Any], shards: frozenset[str] = frozenset()) -> None:
        self._values = values
        self._shards = shards

    def names(self) -> Sequence[str]:
        return list(self._values)

    def get(self, name: str) -> Any:
        value = self._values[name]
        if name in self._shards:
            items = list(value)
            return Accessor(len(items), items.__getitem__, name)
        return value

    def item(self, name: str, index: int) -> Any:
        value = self._values[name]
        return value[index] if name in self._shards else value

    def length(self, name: str) -> int | None:
        return len(self._values[name]) if name in self._shards else None


class Joined:
    """A foreach layer read as a whole: every attribute an Accessor over its splits."""

    def __init__(self, splits: Sequence[Artifacts]) -> None:
        self._splits = splits

    def names(self) -> Sequence[str]:
        return self._splits[0].names() if self._splits else []

    def get(self, name: str) -> Any:
        if self._splits and name not in self._splits[0].names():
            raise KeyError(name)
        return Accessor(len(self._splits), lambda i: self._splits[i].get(name), name)

    def item(self, name: str, index: int) -> Any:
        return self.get(name)

    def length(self, name: str) -> int | None:
        return None

    def split(self, index: int) -> Artifacts:
        """One split's artifacts."""
        return self._splits[index]


class Selected:
    """One foreach split's view of a dependency: selected attributes become single items."""

    def __init__(self, base: Artifacts, items: Mapping[str, int | None]) -> None:
        self._base = base
        self._items = items

    def names(self) -> Sequence[str]:
        return self._base.names()

    def get(self, name: str) -> Any:
        if name in self._items:
            index = self._items[name]
            return self._base.get(name) if index is None else self._base.item(name, index)
        return self._base.get(name)

    def item(self, name: str, index: int) -> Any:
        return self._base.item(name, index)

    def length(self, name: str) -> int | None:
        return self._base.length(name)


def split_of(source: Artifacts | None, index: int) -> Artifacts | None:
    """Split ``index`` of a joined view (a traced one's reads still noted); any other view as it is."""
    if isinstance(source, Traced):
        base = split_of(source.base, index)
        return Traced(base, source.read) if base is not None else None
    return source.split(index) if isinstance(source, Joined) else source


class Traced:
    """A view that notes which attributes its reader asked for (``names()`` notes ``"*"``): what a
    split read of a dependency, kept in its record for the cache (:mod:`laminar.cache`), which checks
    only those attributes' digests when it looks for an earlier result."""

    __slots__ = ("_base", "_read")

    def __init__(self, base: Artifacts, read: set[str]) -> None:
        self._base = base
        self._read = read

    @property
    def base(self) -> Artifacts:
        return self._base

    @property
    def read(self) -> set[str]:
        return self._read

    def names(self) -> Sequence[str]:
        self._read.add("*")
        return self._base.names()

    def get(self, name: str) -> Any:
        self._read.add(name)
        return self._base.get(name)

    def item(self, name: str, index: int) -> Any:
        self._read.add(name)
        return self._base.item(name, index)

    def length(self, name: str) -> int | None:
        self._read.add(name)
        return self._base.length(name)
