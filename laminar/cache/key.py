"""What a cache entry is keyed by, and the digests it is checked against.

A unit (a plain layer's one split, or one split of a foreach layer) is found in two steps, like a
build system's verifying traces:

1. Its *key* (:func:`unit_key`): the flow and layer names, the layer's code version
   (:func:`code_version`), the configuration that changes results (:func:`configuration`), how
   it sees each dependency its run reads (finished or skipped, one split or all, which attributes
   are selected items) and the digests of the foreach items selected for it (the split's own
   items). Not where they sit: the split's index and count are among its reads when it reads them
   (``self.index``, ``self.splits``, ``self.execution``: :data:`laminar.records.SELF`), so an item
   that moved, or a grid that grew, reruns only the splits whose own items changed or that read
   their place. The key names entries (:mod:`laminar.cache.index`).
2. Each entry there holds the *reads* of the run that made it: the attributes it read of each
   dependency (noted while it ran: :class:`laminar.artifacts.Traced`) with their digests then. An
   entry is a hit when every one of those digests is the same now (:func:`read_digest`). A layer
   that reads ``p.alpha`` is not re-run when only ``p.beta`` changed; a layer whose code reads
   different attributes for different inputs is still right, because its code version is in the key
   and the first attribute whose value differs sends it down another path only after it was read.

What the key does not see (docs/caching.md): files, services and globals read outside laminar;
randomness and time; the code of functions and modules the layer calls (only the layer class's own
source, and its bases' below ``Layer``, is hashed: give ``Cache(version=...)`` and bump it when
such code changes); environment variables; resources (cpu, memory, gpu), which must not change
results.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from laminar.graph import Node
from laminar.hooks import Kind
from laminar.layer import Layer
from laminar.options import Cache
from laminar.records import ArtifactEntry
from laminar.task import Input

#: A dependency attribute that its split does not have (read with ``getattr(dep, name, default)``).
ABSENT = "absent"
#: Bumped when the key's recipe changes: entries of an older recipe are never hits.
RECIPE = 1


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


_sources: weakref.WeakKeyDictionary[type[Layer], str] = weakref.WeakKeyDictionary()


def _source_hash(layer: type[Layer]) -> str:
    """A hash of the class's source and its bases' below ``Layer``; of their functions' bytecode when
    the source cannot be read (a class made with ``type()``, a session without files). Once a class."""
    found = _sources.get(layer)
    if found is None:
        found = _sources[layer] = _hashed_source(layer)
    return found


def _hashed_source(layer: type[Layer]) -> str:
    parts = []
    for klass in layer.__mro__:
        if klass is Layer or not issubclass(klass, Layer):
            break
        try:
            parts.append(inspect.getsource(klass))
        except (OSError, TypeError):
            for name, value in sorted(vars(klass).items()):
                code = getattr(getattr(value, "__func__", value), "__code__", None)
                if code is not None:
                    parts.append(f"{name}:{code.co_code.hex()}:{code.co_consts!r}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def code_version(node: Node, cache: Cache) -> str:
    """``version`` when given (the user's word for "same code"), else a hash of the layer's source; and
    the source of the flow-wide execution hooks that run around it (not the layer's code: always)."""
    own = f"version:{cache.version}" if cache.version is not None else f"source:{_source_hash(node.layer)}"
    around = [
        _function_source(bound.hook.function)
        for bound in node.hooks_of(Kind.execution)
        if not issubclass(bound.hook.owner, Layer)
    ]
    return own if not around else own + ":hooks:" + hashlib.sha256("\n".join(around).encode()).hexdigest()


def _function_source(function: Any) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        return f"{getattr(function, '__qualname__', '?')}:{code.co_code.hex() if code else ''}"


def configuration(node: Node) -> dict[str, Any]:
    """The configuration that changes what a layer computes: its foreach grid, what it catches, and the
    image and packages it runs with. Resources, retries and environment variables are left out."""
    config = node.configuration
    foreach = config.foreach
    return {
        "foreach": [[p.layer.__name__, p.attribute, p.index] for p in foreach.parameters] if foreach else None,
        "catch": sorted(f"{e.__module__}.{e.__qualname__}" for e in config.catch.exceptions) if config.catch else None,
        "image": config.container.image,
        "pip": list(config.container.pip),
    }


def run_reads(node: Node) -> frozenset[str]:
    """The dependencies a run of ``node`` reads: those of ``__call__`` and of its execution hooks."""
    found = set(node.call.values())
    found.update(d for bound in node.hooks_of(Kind.execution) for d in bound.parameters.values())
    return frozenset(found)


def entry_digest(entry: ArtifactEntry | None, item: int | None) -> str:
    """One attribute of one split: ``item`` of a shard (its own digest), else the whole value."""
    if entry is None:
        return ABSENT
    protocols, digests = entry.get("protocols", []), entry.get("digests", [])
    if item is not None and entry.get("sharded"):
        return f"{protocols[item]}:{digests[item]}" if 0 <= item < len(digests) else ABSENT
    if not entry.get("sharded") and len(digests) == 1:
        return f"{protocols[0]}:{digests[0]}"
    return "shard:" + _hash([protocols, digests])


def split_digest(entries: Mapping[str, ArtifactEntry], attribute: str, item: int | None) -> str:
    """An attribute as one split sees it; ``"*"`` (it listed the names): every attribute."""
    if attribute == "*":
        return _hash({name: entry_digest(entry, None) for name, entry in sorted(entries.items())})
    return entry_digest(entries.get(attribute), item)


def read_digest(read: Input, attribute: str, splits: Iterable[Mapping[str, ArtifactEntry]]) -> str:
    """What a split read of a dependency, as digests: ``splits`` are the dependency's splits it sees
    (one, or every split of a foreach dependency read whole, in order)."""
    item = read.items.get(attribute) if attribute in read.items else None
    seen = [split_digest(entries, attribute, item) for entries in splits]
    return seen[0] if read.split is not None and len(seen) == 1 else "joined:" + _hash(seen)


def unit_key(flow: str, node: Node, cache: Cache, inputs: Mapping[str, Input], items: Mapping[str, str]) -> str:
    """The key of one unit (see the module docstring); ``items``: the digests of its selected items. The
    split's index and count are not in it: a split that reads them (``self.index``, ``self.splits``) has
    them among its reads, so an item that moved, or a grid that grew, reruns only the splits whose
    own items changed or that read where they are."""
    seen = {  # how, not where: which split and item it reads is in the digests (items, reads)
        name: [read.state, "whole" if read.split is None else "split", sorted(read.items)]
        for name, read in sorted(inputs.items())
    }
    return _hash(
        {
            "recipe": RECIPE,
            "flow": flow,
            "layer": node.name,
            "code": code_version(node, cache),
            "configuration": configuration(node),
            "inputs": seen,
            "items": dict(sorted(items.items())),
        }
    )
