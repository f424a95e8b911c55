"""A layer that is killed by Ray's memory monitor until a retry hook doubles its memory request.

Run as a script: ``oomflow.py ROOT``; it starts its own Ray whose memory monitor fires at a
threshold just above what the machine uses now, and prints JSON facts.
"""

from __future__ import annotations

import json
import os
import sys

import psutil
import ray

from laminar import Flow, Layer
from laminar.configurations import datastores, hooks, layers
from laminar_ray import Ray


class Hungry(Flow): ...


@Hungry.register(container=layers.Container(cpu=1, memory=200), retry=layers.Retry(attempts=3, delay=0.1))
class Grow(Layer):
    def __call__(self) -> None:
        self.memory = self.configuration.container.memory
        self.assigned = ray.get_runtime_context().get_assigned_resources()["memory"]
        if self.memory < 400:
            chunks = []
            for _ in range(64):  # up to 8 GiB, 128 MiB at a time: the monitor kills us long before
                chunks.append(bytearray(128 * 2**20))
        self.attempt = self.state.attempt

    @hooks.retry
    def more_memory(self) -> None:
        if isinstance(self.state.error, MemoryError):  # what laminar_ray reports for a monitor kill
            self.configuration.container.memory *= 2


def low_threshold_environment() -> dict[str, str]:
    """Ray settings for this process only: the memory monitor fires a few GiB above today's usage.

    The margin (3 GiB) is what the first attempt allocates before it is killed; it also absorbs what
    the rest of the machine adds meanwhile. With 1.5 GiB, two fresh-clone CI runs saw the second and
    third attempts killed too while no process held much memory (the test suite's own page cache
    growing, presumably: not pinned down).
    """
    total = psutil.virtual_memory().total
    used = total - psutil.virtual_memory().available
    return {
        "RAY_memory_usage_threshold": f"{min(0.97, (used + 3 * 2**30) / total):.4f}",
        "RAY_memory_monitor_refresh_ms": "100",
        "RAY_task_oom_retries": "0",  # Ray's own OOM retries would repeat the same request
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


if __name__ == "__main__":
    # Set only when run as a script, at the edge of the Ray it starts: importing this module changes nothing.
    os.environ.update(low_threshold_environment())
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    execution = Hungry(datastore=datastores.Local(sys.argv[1]), executor=Ray())()
    grow = execution.layer(Grow)
    print(json.dumps({"memory": grow.memory, "assigned": grow.assigned, "attempt": grow.attempt}))
