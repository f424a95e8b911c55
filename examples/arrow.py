"""Arrow tables as artifacts: stored as Arrow IPC (not pickle), split into row batches with ForEach.

python examples/arrow.py [--thread]
"""

import sys

import pyarrow as pa
import pyarrow.compute as pc

from laminar import Flow, Layer
from laminar.configurations import executors
from laminar.configurations.layers import ForEach, Parameter


class Tables(Flow): ...


@Tables.register
class Load(Layer):
    def __call__(self) -> None:
        table = pa.table({"city": ["a", "b", "c", "d", "e", "f"], "people": [5, 3, 8, 1, 9, 2]})
        self.table = table
        self.shard(batch=[table.slice(i, 2) for i in range(0, table.num_rows, 2)])  # 3 tables of 2 rows


@Tables.register(foreach=ForEach(parameters=[Parameter(layer=Load, attribute="batch")]))
class Count(Layer):
    def __call__(self, load: Load) -> None:
        self.people = pc.sum(load.batch["people"]).as_py()


@Tables.register
class Merge(Layer):
    def __call__(self, load: Load, count: Count) -> None:
        self.total = sum(count.people)
        self.largest = load.table.sort_by([("people", "descending")]).slice(0, 2)


if flow := Tables(executor=executors.Thread() if "--thread" in sys.argv else None):
    execution = flow()
    merge = execution.layer(Merge)
    protocol = flow.configuration.datastore.serde.choose(merge.largest).name
    print(f"per batch: {list(execution.layer(Count).people)}; total people: {merge.total}")
    print(f"largest: {merge.largest.to_pylist()}")
    print(f"stored as {protocol}; read back as {type(merge.largest).__module__}.{type(merge.largest).__name__}")
