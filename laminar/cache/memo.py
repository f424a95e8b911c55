"""The cache as the engine sees it: looks a unit up before it runs, learns from every completion.

:class:`Memo` is :class:`laminar.engine.loop.Memo` for one run of an execution. Before a cached
unit's first task goes to the executor the loop asks :meth:`Memo.lookup`: the unit's key
(:mod:`laminar.cache.key`) names a file of entries (:mod:`laminar.cache.index`); an entry whose
reads have the same digests now, and whose artifacts exist and verify, is a hit, handed back as the
run's completion: its split document names the entry's artifacts (no copy) and its record says
``cached_from``. Entry hooks still run first (the engine decides the layer as always); submission
hooks, which only choose resources, do not run for a hit. A miss runs as it would without a cache;
when it finishes, its entry is kept and written once the run ended (:meth:`Memo.close`): one file of
entries per layer, however many splits it has.

The digests a key needs are those of the splits this run finished (from their completions), of a hit
(its entry), or else read from the datastore (the parameters; what a resumed execution's earlier
runs finished). Cached layers are never started ahead of their dependencies (``layers``): their
inputs' digests must be known first. That costs pipelining on Ray: a cached chain takes a driver
round trip per layer.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from laminar.cache import index, key
from laminar.cache.index import CacheWarning, Variant
from laminar.datastore import Datastore
from laminar.errors import LaminarError
from laminar.graph import Graph
from laminar.options import Cache
from laminar.records import SELF, ArtifactEntry, SplitMeta, SplitRecord, reads_of
from laminar.task import Completion, Input, Task, TaskKind

Entries = dict[str, ArtifactEntry]


class Memo:
    """One run's cache: ``caches`` (layer -> its Cache) are kept; all but ``refresh`` are looked up."""

    def __init__(
        self,
        graph: Graph,
        store: Datastore,
        execution: str,
        caches: Mapping[str, Cache],
        refresh: frozenset[str] = frozenset(),
    ) -> None:
        self.graph = graph
        self.store = store
        self.execution = execution
        self.caches = dict(caches)
        self.layers = frozenset(self.caches) - refresh
        self._needed = {d for name in self.caches for d in key.run_reads(graph[name])}
        self._entries: dict[tuple[str, int], Entries] = {}
        self._joined: dict[tuple[str, str, int], str] = {}  # (foreach dependency, attribute, splits) -> digest
        self._loaded: dict[str, index.Loaded] = {}  # layer -> its entries, read on its first lookup
        self._new: dict[str, index.Entries] = {}  # layer -> the entries this run adds
        self._uncommitted: set[str] = set()  # layers with hits since the journal was last flushed
        #: What the run did with the cache: units looked up, hits, entries written.
        self.counts = {"lookups": 0, "hits": 0, "written": 0}

    # -- the engine's seam -------------------------------------------------------------------------

    def lookup(self, task: Task) -> Completion | None:
        node = self.graph[task.layer]
        cache = self.caches[task.layer]
        inputs = self._inputs(task)
        self.counts["lookups"] += 1
        try:
            unit = self._key(task, inputs)
            variants = self._entries_of(task.layer).entries.get(unit, [])
        except LaminarError as error:
            self._warn(task, f"its entries cannot be read ({error})")
            return None
        for variant in variants:
            if not self._matches(variant, task, inputs):
                continue
            trouble = index.problem(self.store, variant.artifacts, verify=cache.verify)
            if trouble is not None:
                self._warn(task, f"the entry from execution {variant.execution!r} cannot be used: {trouble}")
                continue
            self.counts["hits"] += 1
            return self._hit(task, variant, node.name)
        return None

    def completed(self, completion: Completion) -> None:
        task = completion.task
        if completion.error is not None or completion.cached or task.kind is not TaskKind.run:
            return
        meta = completion.value
        document = meta.document if isinstance(meta, SplitMeta) else None
        if document is None:
            return
        if task.layer in self._needed:
            self._entries[(task.layer, task.split)] = document["artifacts"]
        if task.layer not in self.caches:
            return
        inputs = self._inputs(task)
        try:
            reads = {
                dependency: {
                    attribute: self._own(task, attribute)
                    if dependency == SELF
                    else self._digest(dependency, inputs[dependency], attribute)
                    for attribute in names
                }
                for dependency, names in reads_of(document["record"]).items()
            }
            unit = self._key(task, inputs)
        except (KeyError, LaminarError):  # a read of something it was not given: not cacheable
            return
        caught = document["record"].get("caught")
        variant = Variant(
            reads, self.execution, task.split, document["artifacts"], str(caught) if caught else None, time.time()
        )
        index.add(self._new.setdefault(task.layer, {}), unit, variant)

    def uncommitted(self, task: Task) -> bool:
        if not self._uncommitted or self._uncommitted.isdisjoint(task.inputs):
            return False
        self._uncommitted.clear()  # the loop flushes the journal: every hit so far is committed
        return True

    def close(self) -> None:
        """Write the entries of the units that ran (the journal committed their records already): a file
        per layer, merged with the layer's earlier files when they are many or one was damaged."""
        layers = set(self._new) | {name for name, loaded in self._loaded.items() if loaded.merge}
        if not layers:
            return
        with ThreadPoolExecutor(min(8, len(layers)), thread_name_prefix="laminar-cache") as pool:
            futures = {
                layer: pool.submit(
                    index.write, self.store, self.graph.flow, layer, self._new.get(layer, {}), self._loaded.get(layer)
                )
                for layer in sorted(layers)
            }
        for layer, future in futures.items():
            error = future.exception()
            if error is not None:
                warnings.warn(
                    f"{self.graph.flow}.{layer}: its cache entries could not be written ({error}); "
                    "a later run computes them again",
                    CacheWarning,
                    stacklevel=2,
                )
            else:
                self.counts["written"] += len(self._new.get(layer, {}))
        self._new = {}

    # -- keys and digests ----------------------------------------------------------------------------

    def _inputs(self, task: Task) -> dict[str, Input]:
        reads = key.run_reads(self.graph[task.layer])
        return {name: read for name, read in task.inputs.items() if name in reads}

    def _key(self, task: Task, inputs: Mapping[str, Input]) -> str:
        items = {
            f"{name}.{attribute}": key.split_digest(self._split(name, read.split), attribute, item)
            for name, read in inputs.items()
            if read.split is not None and read.state == "finished"
            for attribute, item in read.items.items()
        }
        node = self.graph[task.layer]
        return key.unit_key(self.graph.flow, node, self.caches[task.layer], inputs, items)

    def _matches(self, variant: Variant, task: Task, inputs: Mapping[str, Input]) -> bool:
        for dependency, attributes in variant.reads.items():
            if dependency == SELF:
                if any(self._own(task, name) != value for name, value in attributes.items()):
                    return False
                continue
            read = inputs.get(dependency)
            if read is None or read.state != "finished":
                return False
            for attribute, digest in attributes.items():
                if self._digest(dependency, read, attribute) != digest:
                    return False
        return True

    def _own(self, task: Task, name: str) -> str:
        """What a split read of itself (``index``, ``splits``, ``execution``), as its reads keep it."""
        return str({"index": task.index, "splits": task.splits, "execution": self.execution}.get(name, name))

    def _digest(self, dependency: str, read: Input, attribute: str) -> str:
        if read.split is not None:
            return key.read_digest(read, attribute, [self._split(dependency, read.split)])
        splits = read.splits or 0
        found = self._joined.get((dependency, attribute, splits))
        if found is None:
            found = key.read_digest(read, attribute, [self._split(dependency, i) for i in range(splits)])
            self._joined[(dependency, attribute, splits)] = found
        return found

    def _split(self, layer: str, split: int) -> Entries:
        """A finished split's archive entries: seen in this run, else read from the datastore."""
        found = self._entries.get((layer, split))
        if found is None:
            found = self.store.document(self.graph.flow, self.execution, layer, split)["artifacts"]
            self._entries[(layer, split)] = found
        return found

    def _entries_of(self, layer: str) -> index.Loaded:
        """``layer``'s entries: read once per run, on its first lookup."""
        found = self._loaded.get(layer)
        if found is None:
            found = self._loaded[layer] = index.load(self.store, self.graph.flow, layer)
        return found

    # -- hits --------------------------------------------------------------------------------------

    def _hit(self, task: Task, variant: Variant, layer: str) -> Completion:
        now = time.time()
        record = SplitRecord(
            attempt=task.attempt,
            started=now,
            ended=now,
            caught=variant.caught,
            reads={name: tuple(sorted(attributes)) for name, attributes in variant.reads.items()},
            cached_from=variant.execution,
        )
        document = {"artifacts": variant.artifacts, "record": record.to_json()}
        if layer in self._needed:
            self._entries[(layer, task.split)] = variant.artifacts
        self._uncommitted.add(layer)
        meta = SplitMeta.of(document, keep=True)  # type: ignore[arg-type]  # a SplitDocument
        return Completion(task, value=meta, cached=True)

    def _warn(self, task: Task, why: str) -> None:
        warnings.warn(
            f"{self.graph.flow}.{task.label}: cache miss: {why}; it runs again",
            CacheWarning,
            stacklevel=3,
        )
