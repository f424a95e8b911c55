"""Flows the cache tests run: every layer notes each run of it in a file (Ray workers are processes)."""

from __future__ import annotations

import os
from typing import Any

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import Cache, ForEach, Parameter


def note(log: str, label: str) -> None:
    """Append ``label`` to the file ``log``: one line per run of a split, from any process."""
    with open(log, "a") as file:
        file.write(label + "\n")
        file.flush()
        os.fsync(file.fileno())


def runs(log: str) -> list[str]:
    """What ran since the file was last emptied (and empties it)."""
    try:
        with open(log) as file:
            found = sorted(file.read().split())
    except FileNotFoundError:
        return []
    os.remove(log)
    return found


class Pipeline(Flow): ...


@Pipeline.register(cache=Cache())
class Load(Layer):
    def __call__(self, p: Parameters) -> None:
        note(p.log, "Load")
        self.shard(item=p.items)
        self.blob = "x" * 10_000  # stored in a file of its own (beyond the 4 KiB kept in documents)


@Pipeline.register(cache=Cache(), foreach=ForEach([Parameter(layer=Load, attribute="item")]))
class Square(Layer):
    def __call__(self, load: Load, p: Parameters) -> None:
        note(p.log, f"Square[{self.index}]")
        self.value = load.item * load.item


@Pipeline.register(cache=Cache())
class Scale(Layer):
    def __call__(self, p: Parameters) -> None:
        note(p.log, "Scale")
        self.factor = abs(p.alpha)  # alpha 2 and -2 make the same factor


@Pipeline.register(cache=Cache())
class Total(Layer):
    def __call__(self, square: Square, scale: Scale, p: Parameters) -> None:
        note(p.log, "Total")
        self.total = sum(square.value) * scale.factor


@Pipeline.register(cache=Cache())
class Report(Layer):
    def __call__(self, total: Total, p: Parameters) -> None:
        note(p.log, "Report")
        self.text = f"{p.beta}:{total.total}"


ALL = ["Load", "Report", "Scale", "Square[0]", "Square[1]", "Square[2]", "Total"]


def parameters(log: str, **changes: Any) -> dict[str, Any]:
    return {"log": log, "items": [1, 2, 3], "alpha": 2, "beta": "b", **changes}


class Make(Layer):
    def __call__(self, p: Parameters) -> None:
        note(p.log, "Make")
        self.value = 1


class Use(Layer):
    def __call__(self, make: Make, p: Parameters) -> None:
        note(p.log, "Use")
        self.value = make.value + 1


def versioned(version: str) -> type[Flow]:
    """A flow whose layer ``Make`` has cache version ``version`` (``Use`` has version 1)."""

    class Versioned(Flow): ...

    Versioned.register(cache=Cache(version=version))(Make)
    Versioned.register(cache=Cache(version="1"))(Use)
    return Versioned


class Failing(Flow): ...


@Failing.register(cache=Cache())
class Fetch(Layer):
    def __call__(self, p: Parameters) -> None:
        note(p.log, "Fetch")
        if os.path.exists(p.log + ".fail"):  # outside laminar: the key does not see it
            raise RuntimeError("told to fail")
        self.value = 10


@Failing.register(cache=Cache())
class Double(Layer):
    def __call__(self, fetch: Fetch, p: Parameters) -> None:
        note(p.log, "Double")
        self.value = fetch.value * 2


class Defaults(Flow): ...


@Defaults.register
class First(Layer):
    def __call__(self, p: Parameters) -> None:
        note(p.log, "First")
        self.value = 1


@Defaults.register(cache=False)
class Never(Layer):
    def __call__(self, first: First, p: Parameters) -> None:
        note(p.log, "Never")
        self.value = first.value + 1


class Opaque:
    """A value only pickle stores."""

    def __init__(self, value: int) -> None:
        self.value = value


class Pickled(Flow): ...


@Pickled.register(cache=Cache())
class MakeOpaque(Layer):
    def __call__(self) -> None:  # no parameters: a datastore with allow_pickle=False cannot store a str
        note(os.environ["CACHE_TEST_LOG"], "MakeOpaque")
        self.thing = Opaque(1)


class Places(Flow): ...


@Places.register(cache=Cache())
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(item=p.items)


@Places.register(cache=Cache(), foreach=ForEach([Parameter(layer=Items, attribute="item")]))
class Upper(Layer):  # reads only its item
    def __call__(self, items: Items, p: Parameters) -> None:
        note(p.log, f"Upper[{self._laminar.index}]")  # (not through self.index: that would be a read)
        self.value = items.item.upper()


@Places.register(cache=Cache(), foreach=ForEach([Parameter(layer=Items, attribute="item")]))
class Place(Layer):  # reads where it sits
    def __call__(self, items: Items, p: Parameters) -> None:
        note(p.log, f"Place[{self.index}]")
        self.value = f"{items.item}@{self.index}/{self.splits}"
