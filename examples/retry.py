"""Retry with memory escalation: a retry hook doubles the memory after each failed attempt.

The layer pretends to need 1000 MB and fails with MemoryError below that; it
starts with 300 MB, so it fails twice (300, 600) and succeeds with 1200.

    python examples/retry.py [--thread]
"""

import sys

from laminar import Flow, Layer
from laminar.configurations import executors, hooks
from laminar.configurations.layers import Container, Retry


class Hungry(Flow): ...


@Hungry.register(container=Container(memory=300), retry=Retry(attempts=4, delay=0.05, backoff=2))
class Load(Layer):
    def __call__(self) -> None:
        memory = self.configuration.container.memory
        if memory < 1000:
            raise MemoryError(f"needs 1000 MB, has {memory} MB")
        self.memory = memory
        self.attempt = self.state.attempt

    @hooks.retry
    def more_memory(self) -> None:
        # self.state.error is the failure that caused this retry.
        if isinstance(self.state.error, MemoryError):
            self.configuration.container.memory *= 2
            print(
                f"attempt {self.state.attempt} failed ({self.state.error}); retrying with "
                f"{self.configuration.container.memory} MB",
                flush=True,
            )


if flow := Hungry(executor=executors.Thread() if "--thread" in sys.argv else None):
    load = flow().layer(Load)
    print(f"Load finished on attempt {load.attempt} with memory={load.memory} MB")
