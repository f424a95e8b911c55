"""Issue 21: the Thread executor warns about (or, asked to, refuses) what Ray would refuse on this machine,
so that a test on Thread catches a request no node here could satisfy."""

import os
import warnings

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, hooks, layers
from laminar.errors import ConfigurationError, InfeasibleWarning, ResourceError
from laminar.executors import machine

CPUS = os.cpu_count() or 1


def flow_asking(container: layers.Container, infeasible: str = "warn", *, splits: int = 1) -> Flow:
    class Asks(Flow): ...

    @Asks.register
    class Items(Layer):
        def __call__(self) -> None:
            self.shard(n=list(range(splits)))

    @Asks.register(container=container, foreach=layers.ForEach(parameters=[layers.Parameter(Items, "n")]))
    class Big(Layer):
        def __call__(self, items: Items) -> None:
            self.ran = True

    return Asks(datastore=datastores.Memory(), executor=executors.Thread(infeasible=infeasible))


def test_a_request_beyond_this_machine_warns_once_per_layer_and_still_runs() -> None:
    flow = flow_asking(layers.Container(cpu=CPUS + 1), splits=3)
    with pytest.warns(
        InfeasibleWarning, match=rf"Asks.Big\[0\] requests cpu={CPUS + 1} \(this machine has {CPUS}\)"
    ) as seen:
        execution = flow()
    assert len([w for w in seen if issubclass(w.category, InfeasibleWarning)]) == 1
    assert list(execution.layer("Big").ran) == [True] * 3


def test_infeasible_error_refuses_it_as_ray_would() -> None:
    flow = flow_asking(layers.Container(cpu=1, memory=10**9), infeasible="error")
    with pytest.raises(ResourceError, match=r"Asks.Big\[0\] requests memory=1000000000 MB \(this machine has \d+ MB\)"):
        flow()


def test_custom_resources_and_gpus_this_machine_lacks() -> None:
    over = machine.beyond(layers.Container(cpu=0.5, gpu=machine.capacity()["GPU"] + 1, resources={"accelerator_x": 1}))
    assert set(over) == {"GPU", "accelerator_x"}
    assert "'accelerator_x'=1 (this machine has 0)" in machine.describe(over)


def test_a_request_a_hook_raises_is_checked_too() -> None:
    class Hooked(Flow): ...

    @Hooked.register
    class Grows(Layer):
        @hooks.submission
        def more(self) -> None:
            self.configuration.container.cpu = CPUS * 4

    flow = Hooked(datastore=datastores.Memory(), executor=executors.Thread(infeasible="error"))
    with pytest.raises(ResourceError, match=rf"Hooked.Grows requests cpu={CPUS * 4}"):
        flow()


def test_what_fits_runs_without_a_word() -> None:
    flow = flow_asking(layers.Container(cpu=min(1, CPUS), memory=100), infeasible="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InfeasibleWarning)
        flow()


def test_ignore_and_bad_values() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InfeasibleWarning)
        flow_asking(layers.Container(cpu=CPUS + 1), infeasible="ignore")()
    with pytest.raises(ConfigurationError, match="Thread\\(infeasible='sometimes'\\)"):
        executors.Thread(infeasible="sometimes")
