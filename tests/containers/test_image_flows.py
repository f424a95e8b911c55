"""``Container(image=...)`` end to end: a flow whose foreach layer runs each split in the image.

On both executors: ``Thread`` starts the containers from its threads, ``Ray`` from inside the layer's
Ray tasks (which hold the split's resources while the container runs). The layer upstream and the one
downstream run on the host as usual and exchange artifacts with the image's splits through the
datastore (Thread) or Ray's object store (Ray), a Local datastore mounted at its own path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from image import MARKER, MARKER_TEXT

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, hooks, layers
from laminar.containers import ImageMissingError
from laminar.errors import ConfigurationError

pytestmark = pytest.mark.slow

#: The image the layers below run in, set per test (hooks that take no layer run in the driver).
IMAGE: dict[str, str] = {}


class Imaged(Flow): ...


@Imaged.register
class Numbers(Layer):
    def __call__(self) -> None:
        self.shard(n=[1, 2, 3])


@Imaged.register(
    container=layers.Container(cpu=1, memory=400, env={"LAYER_MODE": "imaged"}),
    foreach=layers.ForEach(parameters=[layers.Parameter(layer=Numbers, attribute="n")]),
)
class Inside(Layer):
    @hooks.submission
    def in_image(self) -> None:
        self.configuration.container.image = IMAGE["reference"]

    def __call__(self, numbers: Numbers) -> None:
        import laminar_test_only_in_image  # type: ignore[import-not-found]

        if numbers.n < 0:
            raise Refused(f"no negative numbers: {numbers.n}")
        self.marker = Path(MARKER).read_text()
        self.module = laminar_test_only_in_image.WHERE
        self.twice = numbers.n * 2
        self.mode = os.environ["LAYER_MODE"]
        self.memory = int(Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").read_text()) // (1024 * 1024)


@Imaged.register
class After(Layer):
    def __call__(self, inside: Inside) -> None:
        self.total = sum(inside.twice)
        self.markers = sorted(set(inside.marker))
        self.on_host = not Path(MARKER).exists()


class Refused(ValueError):
    pass


@pytest.fixture
def image_for_layers(image: str) -> Iterator[str]:
    IMAGE["reference"] = image
    yield image
    IMAGE.clear()


def _executor(name: str, request: pytest.FixtureRequest) -> Any:
    if name == "thread":
        return executors.Thread()
    request.getfixturevalue("ray_cluster")
    from laminar_ray import Ray

    return Ray()


@pytest.mark.parametrize("executor", ["thread", "ray"])
def test_a_layer_runs_each_split_in_its_image(
    executor: str, image_for_layers: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    flow = Imaged(datastore=datastores.Local(str(tmp_path / "store")), executor=_executor(executor, request))
    execution = flow(progress=False)
    inside = execution.layer(Inside)
    assert list(inside.twice) == [2, 4, 6]
    assert set(inside.module) == {"image"} and set(inside.mode) == {"imaged"}
    assert set(inside.memory) == {400}  # Container.memory is the container's limit
    after = execution.layer(After)
    assert (after.total, after.markers, after.on_host) == (12, [MARKER_TEXT], True)
    # what the containers wrote is in the datastore: a later process reads it without Ray or podman
    again = Imaged(datastore=datastores.Local(str(tmp_path / "store"))).execution(execution.id)
    assert list(again.layer(Inside).marker) == [MARKER_TEXT] * 3


@pytest.mark.parametrize("executor", ["thread", "ray"])
def test_a_missing_image_fails_the_layer_naming_it(
    executor: str, image_for_layers: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    IMAGE["reference"] = "localhost/laminar-no-such-image:0"
    flow = Imaged(datastore=datastores.Local(str(tmp_path / "store")), executor=_executor(executor, request))
    with pytest.raises(ImageMissingError, match=r"Imaged\.Inside\[\d\]: image 'localhost/laminar-no-such-image:0'"):
        flow(progress=False)


class Negative(Flow): ...


@Negative.register
class Minus(Layer):
    def __call__(self) -> None:
        self.shard(n=[-1])


@Negative.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Minus, attribute="n")]))
class InsideNegative(Inside):
    def __call__(self, numbers: Minus) -> None:  # type: ignore[override]
        super().__call__(numbers)  # type: ignore[arg-type]


@pytest.mark.parametrize("executor", ["thread", "ray"])
def test_what_a_split_raises_in_its_image_keeps_its_type(
    executor: str, image_for_layers: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    flow = Negative(datastore=datastores.Local(str(tmp_path / "store")), executor=_executor(executor, request))
    with pytest.raises(Refused, match="no negative numbers: -1"):
        flow(progress=False)


def test_an_image_with_a_memory_datastore_is_a_clear_error(image_for_layers: str) -> None:
    flow = Imaged(datastore=datastores.Memory(), executor=executors.Thread())
    with pytest.raises(ConfigurationError, match="lives in this process's memory and a container is another"):
        flow(progress=False)
