"""Hello, laminar: two layers, the second reading the first's artifact.

python examples/hello.py            # on a local Ray (started on 127.0.0.1), or the cluster in RAY_ADDRESS
python examples/hello.py --thread   # in this process, no Ray
"""

import sys

from laminar import Flow, Layer
from laminar.configurations import executors


class HelloFlow(Flow): ...


@HelloFlow.register
class Hello(Layer):
    def __call__(self) -> None:
        self.value = "hello"


@HelloFlow.register
class World(Layer):
    def __call__(self, hello: Hello) -> None:
        self.value = f"{hello.value} world"


if flow := HelloFlow(executor=executors.Thread() if "--thread" in sys.argv else None):
    execution = flow()
    print(f"ran {flow.name} on {flow.configuration.executor!r}, execution {execution.id}")
    print(f"World.value = {execution.layer(World).value!r}")
    print(f"results are kept in {flow.configuration.datastore.url}; see them with:")
    print(f"  laminar show examples/hello.py:HelloFlow {execution.id}")
