"""Datastores: any fsspec URL (here ``file://``; S3 when ``LAMINAR_S3_ROOT`` is set), and the results API.

Artifacts are content addressed: equal values are stored once, across layers
and executions (values of at most 4 KiB serialized are kept in their split's
document instead). Reading results needs only the datastore.

    python examples/datastore.py [--thread]
    LAMINAR_S3_ROOT=s3://bucket/prefix AWS_ENDPOINT_URL=http://127.0.0.1:9000 python examples/datastore.py
"""

import os
import sys
import tempfile
from pathlib import Path

from laminar import Flow, Layer
from laminar.configurations import datastores, executors


class Stored(Flow): ...


@Stored.register
class Make(Layer):
    def __call__(self) -> None:
        self.data = list(range(10_000))
        self.copy = list(range(10_000))  # equal to data: stored once


if flow := Stored(
    datastore=(
        datastores.S3(root=os.environ["LAMINAR_S3_ROOT"], endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        if os.environ.get("LAMINAR_S3_ROOT")
        else datastores.Fsspec(root=f"file://{tempfile.mkdtemp(prefix='laminar-store-')}")
    ),
    executor=executors.Thread() if "--thread" in sys.argv else None,
):
    store = flow.configuration.datastore
    first, second = flow(), flow()
    print(f"datastore: {store.url}")
    print(f"executions: {store.list_executions(flow=flow)}")
    print(f"layers of the first: {store.list_layers(execution=first)}")
    print(f"artifacts of Make: {store.list_artifacts(layer=first.layer(Make))}")
    # A fresh flow object with only the datastore reads the results back: no executor involved.
    reader = Stored(datastore=store)
    print(f"read back: sum(data) = {sum(reader.execution(second.id).layer(Make).data)}")
    if store.root.startswith("file://"):
        root = Path(store.root.removeprefix("file://"))
        blobs = [p for p in (root / "artifacts").rglob("*") if p.is_file()]
        print(f"4 artifacts written across 2 executions, {len(blobs)} stored (content addressed)")
