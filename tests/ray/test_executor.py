"""The Ray backend: per-call resources, hooks as tasks, ObjectRefs, failures that fail fast."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, hooks, layers
from laminar.containers import ContainerError
from laminar.errors import ConfigurationError, LayerError, ResourceError
from laminar.types import unwrap

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _ray(**kwargs: Any) -> Any:
    from laminar_ray import Ray

    return Ray(**kwargs)


# -- resources computed per call from inputs -----------------------------------------------------


class Sized(Flow): ...


@Sized.register
class Sizes(Layer):
    def __call__(self) -> None:
        self.shard(n=[1, 2, 3])


@Sized.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Sizes, attribute="n")]))
class Work(Layer):
    def __call__(self, sizes: Sizes, p: Parameters) -> None:
        import ray

        context = ray.get_runtime_context()
        self.assigned = context.get_assigned_resources()
        self.task_name = context.get_task_name()
        self.hook_pid = int(os.environ["HOOK_PID"])
        from laminar.runtime import in_worker

        self.worker_flag = in_worker()
        self.driver_pid = p.driver_pid

    @hooks.submission
    def size(self, sizes: Sizes) -> None:
        container = self.configuration.container
        n = sizes.n[unwrap(self.index)]  # hooks see sizes whole; this split's item is at self.index
        container.cpu = 0.25 * n
        container.memory = 100 * n
        container.resources = {"laminar_test": n}
        container.env = {"HOOK_PID": str(os.getpid())}


def test_requests_are_computed_per_split_from_inputs(tmp_path: Path) -> None:
    flow = Sized(datastore=datastores.Local(str(tmp_path)), executor=_ray())
    work = flow(driver_pid=os.getpid()).layer(Work)
    for n, assigned in zip([1, 2, 3], work.assigned, strict=True):
        assert assigned["CPU"] == pytest.approx(0.25 * n)
        assert assigned["laminar_test"] == pytest.approx(n)
        assert assigned["memory"] == pytest.approx(100 * n * 1024 * 1024)
    assert list(work.task_name) == ["Sized.Work[0]", "Sized.Work[1]", "Sized.Work[2]"]
    # The hook took a layer, so it ran as a Ray task: not in this (the driver) process.
    assert all(pid != os.getpid() for pid in work.hook_pid)
    assert set(work.worker_flag) == {True}


class Driverside(Flow): ...


@Driverside.register
class NoInputs(Layer):
    def __call__(self) -> None:
        self.hook_pid = int(os.environ["HOOK_PID"])

    @hooks.submission
    def size(self) -> None:
        self.configuration.container.env = {"HOOK_PID": str(os.getpid())}


def test_hooks_without_layer_parameters_run_in_the_driver(tmp_path: Path) -> None:
    flow = Driverside(datastore=datastores.Local(str(tmp_path)), executor=_ray())
    assert flow().layer(NoInputs).hook_pid == os.getpid()


# -- failures -----------------------------------------------------------------------------------


class Killed(Flow): ...


@Killed.register
class Dies(Layer):
    def __call__(self, p: Parameters) -> None:
        marker = Path(p.marker)
        attempts = int(marker.read_text()) + 1 if marker.exists() else 1
        marker.write_text(str(attempts))
        if attempts < p.die_until:
            os.kill(os.getpid(), signal.SIGKILL)
        self.attempts = attempts


class KilledRetried(Flow): ...


KilledRetried.register(retry=layers.Retry(attempts=3, delay=0.01))(Dies)


def test_worker_killed_mid_layer_is_a_failed_attempt_that_retry_repeats(tmp_path: Path) -> None:
    flow = KilledRetried(datastore=datastores.Local(str(tmp_path / "s")), executor=_ray())
    execution = flow(marker=str(tmp_path / "m"), die_until=3)
    assert execution.layer(Dies).attempts == 3


def test_worker_killed_without_retry_fails_the_layer_clearly(tmp_path: Path) -> None:
    flow = Killed(datastore=datastores.Local(str(tmp_path / "s")), executor=_ray())
    with pytest.raises(LayerError, match=r"Killed\.Dies.*worker process died"):
        flow(marker=str(tmp_path / "m"), die_until=5)


class Greedy(Flow): ...


@Greedy.register(container=layers.Container(cpu=0.5))
class Before(Layer):
    def __call__(self) -> None:
        self.value = 1


@Greedy.register(container=layers.Container(gpu=64))
class Gpus(Layer):
    def __call__(self, before: Before) -> None:
        self.ran = True


def test_request_no_node_can_satisfy_fails_within_seconds_naming_layer(tmp_path: Path) -> None:
    flow = Greedy(datastore=datastores.Local(str(tmp_path)), executor=_ray())
    started = time.monotonic()
    with pytest.raises(ResourceError, match=r"Greedy\.Gpus requests .*GPU=64"):
        flow(execution="greedy")
    assert time.monotonic() - started < 30  # a guard against a hang, not a speed assertion
    # Nothing already finished is lost.
    assert flow.execution("greedy").layer(Before).value == 1
    # The executor keeps what submits that layer, and checks its request again on the next run.
    with pytest.raises(ResourceError, match=r"Greedy\.Gpus requests .*GPU=64"):
        flow(execution="greedy-again")


def test_ray_fails_an_unschedulable_task_itself_when_not_prechecked(tmp_path: Path) -> None:
    flow = Greedy(datastore=datastores.Local(str(tmp_path)), executor=_ray(check_feasibility=False))
    with pytest.raises(ResourceError, match=r"Greedy\.Gpus"):
        flow()


class Imaged(Flow): ...


@Imaged.register(container=layers.Container(image="registry.invalid/laminar/none:0"))
class InImage(Layer):
    def __call__(self) -> None:
        self.ran = True


def test_image_that_cannot_start_fails_the_layer_with_a_clear_message(tmp_path: Path) -> None:
    """Not in podman's storage (or no podman at all): a ContainerError naming the layer and the image, at once."""
    flow = Imaged(datastore=datastores.Local(str(tmp_path)), executor=_ray())
    with pytest.raises(ContainerError, match=r"Imaged\.InImage: .*'registry\.invalid/laminar/none:0'"):
        flow()


class ImagedPip(Flow): ...


@ImagedPip.register(container=layers.Container(image="registry.invalid/laminar/none:0", pip=["six"]))
class InImageWithPip(Layer):
    def __call__(self) -> None:
        self.ran = True


def test_image_cannot_combine_with_pip(tmp_path: Path) -> None:
    flow = ImagedPip(datastore=datastores.Local(str(tmp_path)), executor=_ray())
    with pytest.raises(ConfigurationError, match=r"ImagedPip\.InImageWithPip: .*install those packages in the image"):
        flow()


def test_memory_datastore_with_ray_is_a_clear_error() -> None:
    flow = Sized(datastore=datastores.Memory(), executor=_ray())
    with pytest.raises(ConfigurationError, match="lives in one process"):
        flow()


class Raising(Flow): ...


class Oops(ValueError):
    pass


@Raising.register
class Raises(Layer):
    def __call__(self) -> None:
        raise Oops("bad value 42")


def test_user_exception_keeps_its_type_and_message(tmp_path: Path) -> None:
    flow = Raising(datastore=datastores.Local(str(tmp_path)), executor=_ray())
    with pytest.raises(Oops, match="bad value 42") as info:
        flow()
    assert type(info.value) is Oops


def test_running_on_ray_never_replaces_the_drivers_own_classes(tmp_path: Path) -> None:
    methods = {cls: dict(vars(cls)) for cls in (Sizes, Work)}
    Sized(datastore=datastores.Local(str(tmp_path)), executor=_ray())(driver_pid=os.getpid())
    # Classes travel to workers by value; nothing they send back may overwrite them here.
    for cls, before in methods.items():
        assert dict(vars(cls)) == before
        assert cls.__call__.__globals__ is globals()
    Sized().graph()  # annotations still resolve


class Again(Flow): ...


@Again.register
class Counts(Layer):
    def __call__(self) -> None:
        self.shard(n=[1, 2])


@Again.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Counts, attribute="n")]))
class Scaled(Layer):
    def __call__(self, counts: Counts) -> None:
        import ray

        self.cpu = ray.get_runtime_context().get_assigned_resources()["CPU"]

    @hooks.submission
    def size(self, counts: Counts) -> None:
        self.configuration.container.cpu = 0.25 * counts.n[unwrap(self.index)]


def test_running_a_flow_again_reuses_its_remote_functions(tmp_path: Path) -> None:
    """The graph travels in the remote functions, made once per graph and set of task options: a
    second run of the same flow (here with another datastore) makes and exports none."""
    executor = _ray()
    Again(datastore=datastores.Local(str(tmp_path / "a")), executor=executor)()
    made = dict(executor.cluster.functions)
    assert any(key.endswith(":hooks") for key in made)  # the submission hook takes a layer: hook tasks
    assert len({key.split(":")[0] for key in made}) == 1  # one graph
    second = Again(datastore=datastores.Local(str(tmp_path / "b")), executor=executor)()
    assert list(second.layer(Scaled).cpu) == [0.25, 0.5]
    assert executor.cluster.functions == made  # the same function objects, nothing added
    graph = Again().graph()
    assert executor.cluster.program(graph) is executor.cluster.program(Again().graph())  # the graph pickled once
    with pytest.raises(Oops):
        Raising(datastore=datastores.Local(str(tmp_path / "c")), executor=executor)()
    assert len({key.split(":")[0] for key in executor.cluster.functions}) == 2  # another graph, functions of its own
