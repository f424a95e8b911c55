"""The grid of a foreach layer: which items of which dependencies each split reads.

Pure functions of the configuration and of what the dependencies produced
(their split counts and shard lengths), so the driver computes splits without
loading any artifact value.

- ``Parameter(A, "x")`` (index 0): a sharded ``x`` is an axis with one value per
  item; an unsharded ``x`` is broadcast to every split.
- ``Parameter(A, "x", index=k)`` reads split ``k`` of a foreach layer ``A``.
- ``Parameter(A, "x", index=None)`` over a foreach layer ``A``: one value per
  split of ``A`` (1:1 chaining); several such parameters on one layer zip.
- Axes combine as ``itertools.product`` in the order listed (first slowest).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from laminar.options import ForEach
from laminar.records import SplitMeta


@dataclass(frozen=True)
class Axis:
    layer: str
    split: int | None  # None: one value per split of ``layer`` (1:1)
    attributes: tuple[str, ...]
    length: int


@dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]
    broadcast: Mapping[str, tuple[int, tuple[str, ...]]]  # layer -> (split, attributes)

    @property
    def size(self) -> int:
        return math.prod(axis.length for axis in self.axes)

    @property
    def streams_from(self) -> str | None:
        """The layer this grid maps 1:1 onto, when that is its only axis and nothing else is read."""
        if len(self.axes) == 1 and self.axes[0].split is None and not self.broadcast:
            return self.axes[0].layer
        return None

    def one_split_of_whole_values(self, flow: str, layer: str) -> str | None:
        """A warning when no parameter is sharded: the layer runs one split that gets each whole value,
        most likely a list that was assigned (``self.foo = [...]``) where ``self.shard(foo=[...])`` was
        meant. None when some parameter is sharded (or mapped 1:1)."""
        if self.axes or not self.broadcast:
            return None
        read = ", ".join(
            f"{source}.{attribute}" for source, (_, names) in self.broadcast.items() for attribute in names
        )
        source, (_, names) = next(iter(self.broadcast.items()))
        fix = (
            f"parameters are never sharded: shard the values in a layer, self.shard({names[0]}=p.{names[0]})"
            if source == "Parameters"
            else f"write self.shard({names[0]}=...) in {source}.__call__ instead of self.{names[0]} = ..."
        )
        return (
            f"{flow}.{layer}: its ForEach reads {read}, which {'was' if len(names) == 1 else 'were'} assigned, not "
            f"sharded, so {layer} runs 1 split that gets the whole value; to run one split per item, {fix}"
        )

    def coordinates(self, index: int) -> tuple[int, ...]:
        """Mixed-radix digits of ``index``, the first axis varying slowest.

        >>> Grid((Axis("A", 0, ("x",), 2), Axis("B", 0, ("y",), 3)), {}).coordinates(4)
        (1, 1)
        """
        digits = []
        for axis in reversed(self.axes):
            index, digit = divmod(index, axis.length)
            digits.append(digit)
        return tuple(reversed(digits))

    def selection(self, index: int) -> dict[str, tuple[int, dict[str, int | None]]]:
        """For split ``index``: dependency layer -> (its split to read, attribute -> item or None)."""
        chosen: dict[str, tuple[int, dict[str, int | None]]] = {}
        for layer, (split, attributes) in self.broadcast.items():
            chosen[layer] = (split, dict.fromkeys(attributes))
        for axis, digit in zip(self.axes, self.coordinates(index), strict=True):
            if axis.split is None:
                chosen[axis.layer] = (digit, dict.fromkeys(axis.attributes))
            else:
                split, items = chosen.setdefault(axis.layer, (axis.split, {}))
                items.update(dict.fromkeys(axis.attributes, digit))
        return chosen


class GridError(ValueError):
    """A ForEach that cannot be expanded with what its dependencies produced."""


def build(
    foreach: ForEach,
    *,
    is_foreach: Callable[[str], bool],
    splits: Callable[[str], int],
    meta: Callable[[str, int], SplitMeta],
) -> Grid:
    """Expand ``foreach`` given each dependency's foreach-ness, split count and split metas."""
    axes: list[Axis] = []
    broadcast: dict[str, tuple[int, tuple[str, ...]]] = {}
    zipped: dict[str, int] = {}  # layer -> position in axes of its 1:1 axis
    for parameter in foreach.parameters:
        layer, attribute = parameter.layer.__name__, parameter.attribute
        if parameter.index is None and is_foreach(layer):
            if layer in zipped:
                axis = axes[zipped[layer]]
                axes[zipped[layer]] = Axis(layer, None, (*axis.attributes, attribute), axis.length)
            else:
                zipped[layer] = len(axes)
                axes.append(Axis(layer, None, (attribute,), splits(layer)))
            continue
        split = parameter.index or 0
        count = splits(layer) if is_foreach(layer) else 1
        if split >= count:
            raise GridError(f"ForEach parameter {layer}.{attribute} reads split {split}, but {layer} has {count}")
        found = meta(layer, split)
        if attribute not in found.names:
            known = ", ".join(found.names) or "none"
            raise GridError(
                f"ForEach parameter {layer}.{attribute}: layer {layer} has no artifact {attribute!r} "
                f"(its artifacts: {known}); assign or shard it in {layer}.__call__"
            )
        if attribute in found.shards:
            axes.append(Axis(layer, split, (attribute,), found.shards[attribute]))
        else:
            previous = broadcast.get(layer, (split, ()))
            broadcast[layer] = (split, (*previous[1], attribute))
    for layer in zipped:
        if layer in broadcast or any(a.layer == layer and a.split is not None for a in axes):
            raise GridError(f"ForEach reads {layer} both 1:1 (index=None) and by split index; use one")
    return Grid(tuple(axes), broadcast)
