"""The outputs of splits that finished in this process, for the dependents that run here to read.

A run hands its split's document back uncommitted (the journal commits it, with
others, a while later); a dependent running in the same process reads the
split's artifacts through that document, from the datastore by digest, so
values still round-trip through serde. A split not found here finished in an
earlier run: it is read from the datastore.
"""

from __future__ import annotations

from laminar import runner
from laminar.artifacts import Artifacts, Joined
from laminar.datastore.views import LazySplits, StoredSplit
from laminar.executors.base import Run
from laminar.records import SplitDocument
from laminar.task import Input, Task


class Outputs:
    """Documents of the splits finished in this run, by layer and split."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._documents: dict[str, dict[int, SplitDocument]] = {}

    def keep(self, task: Task, value: object) -> object:
        """Keep the document of a run task's outcome (before the task's completion is reported); return the
        task's value for the engine: a run's SplitMeta."""
        if not isinstance(value, runner.Outcome):
            return value
        if task.feeds and value.meta.document is not None:
            self._documents.setdefault(task.layer, {})[task.split] = value.meta.document
        return value.meta

    def release(self, layer: str) -> None:
        """No dependent will read ``layer`` again in this run."""
        self._documents.pop(layer, None)

    def artifacts(self, name: str, read: Input) -> Artifacts:
        """A dependency's artifacts as a task reads them (``runner.ArtifactSource``)."""
        run = self._run
        if read.split is None:
            return Joined(LazySplits(self, run.flow, run.execution, name, read.splits or 0))
        return self.split(run.flow, run.execution, name, read.split)

    def split(self, flow: str, execution: str, layer: str, index: int) -> Artifacts:
        """A finished split's artifacts: through its document held here, else from the datastore."""
        document = self._documents.get(layer, {}).get(index)
        store = self._run.datastore
        if document is None:
            return store.split(flow, execution, layer, index)
        return StoredSplit(store.reader, f"{flow}.{layer}[{index}] of execution {execution!r}", document["artifacts"])
