"""Remove the node running a layer mid-way; print JSON facts about the retried attempt."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray
from ray.cluster_utils import Cluster

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, layers
from laminar_ray import Ray


class Lost(Flow): ...


@Lost.register(
    container=layers.Container(cpu=1, memory=0, resources={"spot": 1}),
    retry=layers.Retry(attempts=2, delay=0.1),
)
class OnSpot(Layer):
    def __call__(self, p: Parameters) -> None:
        self.node = ray.get_runtime_context().get_node_id()
        self.attempt = self.state.attempt
        Path(p.marker, f"attempt-{self.attempt}").write_text(self.node)
        if self.attempt == 1:
            time.sleep(120)  # the driver removes this node meanwhile


def main(root: str, marker: str) -> None:
    store = 80 * 1024 * 1024
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": store})
    spot = [cluster.add_node(num_cpus=1, resources={"spot": 1}, object_store_memory=store) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    result: dict[str, object] = {}

    def run() -> None:
        try:
            execution = Lost(datastore=datastores.Local(root), executor=Ray())(marker=marker)
            layer = execution.layer(OnSpot)
            result.update(node=layer.node, attempt=layer.attempt)
        except Exception as error:  # reported, not swallowed: the test fails on it
            result["error"] = repr(error)

    runner = threading.Thread(target=run)
    runner.start()
    first = Path(marker, "attempt-1")
    deadline = time.monotonic() + 120
    while not first.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    doomed = next(node for node in spot if node.node_id == first.read_text())
    cluster.remove_node(doomed)
    runner.join(timeout=180)
    result["removed"] = doomed.node_id
    print(json.dumps(result))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
