"""rchui/laminar docs/source/layers/scaling_up.md, every example as written.

The page defines layers with a ``Container`` configuration and never runs them (``Task``, ``First`` and
``Second`` have no ``__call__``); what it says is held here: each layer's configuration is the one given,
and a ``Container`` shared across layers is each one's own copy (changing one never changes another).
layers/configuration.md's test runs a layer with this very ``Container`` on Thread and on Ray.
"""

from laminar import Flow, Layer
from laminar.configurations.layers import Container


def test_container():
    class ContainerFlow(Flow): ...

    @ContainerFlow.register(container=Container(cpu=4, memory=2000, workdir="/app"))
    class Task(Layer): ...

    container = ContainerFlow.registry["Task"].configuration.container
    assert (container.cpu, container.memory, container.workdir) == (4, 2000, "/app")


def test_a_container_shared_across_layers():
    class ContainerFlow(Flow): ...

    container = Container(cpu=4, memory=2000, workdir="/app")

    @ContainerFlow.register(container=container)
    class First(Layer): ...

    @ContainerFlow.register(container=container)
    class Second(Layer): ...

    first, second = (ContainerFlow.registry[name].configuration.container for name in ("First", "Second"))
    assert first == second == container
    first.memory = 4000
    assert second.memory == container.memory == 2000
