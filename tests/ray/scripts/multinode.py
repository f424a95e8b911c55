"""Run a flow on a 3-node ray.cluster_utils.Cluster; print JSON facts about where splits ran."""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray
from ray.cluster_utils import Cluster

from laminar import Flow, Layer
from laminar.configurations import datastores, hooks, layers
from laminar.types import unwrap
from laminar_ray import Ray


class Zones(Flow): ...


@Zones.register
class Plan(Layer):
    def __call__(self) -> None:
        self.shard(zone=["zone_a", "zone_b", "zone_a", "zone_b"])


@Zones.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Plan, attribute="zone")]))
class Place(Layer):
    def __call__(self, plan: Plan) -> None:
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        self.assigned = context.get_assigned_resources()

    @hooks.submission
    def pick(self, plan: Plan) -> None:
        self.configuration.container.cpu = 0.5
        self.configuration.container.memory = 0
        self.configuration.container.resources = {plan.zone[unwrap(self.index)]: 1}  # hooks see plan whole


def main(root: str) -> None:
    object_store = 80 * 1024 * 1024
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": object_store, "include_dashboard": False},
    )
    zone_nodes = {
        zone: cluster.add_node(num_cpus=1, resources={zone: 2}, object_store_memory=object_store)
        for zone in ("zone_a", "zone_b")
    }
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            execution = Zones(datastore=datastores.Local(root), executor=Ray())()
        place = execution.layer(Place)
        print(
            json.dumps(
                {
                    "zones": list(execution.layer(Plan).zone),
                    "ran_on": list(place.node),
                    "assigned": list(place.assigned),
                    "zone_nodes": {zone: node.node_id for zone, node in zone_nodes.items()},
                    "warnings": [str(w.message) for w in caught],
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
