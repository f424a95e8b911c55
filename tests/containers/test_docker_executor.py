"""``executors.Docker()``, the original laminar's default executor by its name: every split in a container of
its layer's image, or of ``Docker(image=...)``; a layer with neither is refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from image import MARKER, MARKER_TEXT

from laminar import Flow, Layer
from laminar.configurations import datastores, executors
from laminar.errors import ConfigurationError

pytestmark = pytest.mark.slow


class Contained(Flow): ...


@Contained.register
class First(Layer):
    def __call__(self) -> None:
        self.marker = Path(MARKER).read_text()  # a file only the image has


@Contained.register
class Second(Layer):
    def __call__(self, first: First) -> None:
        self.marker = Path(MARKER).read_text() + "/" + first.marker


def test_every_split_runs_in_the_image(image: str, tmp_path: Path) -> None:
    flow = Contained(datastore=datastores.Local(root=str(tmp_path / "store")), executor=executors.Docker(image=image))
    assert flow().layer(Second).marker == f"{MARKER_TEXT}/{MARKER_TEXT}"


def test_a_layer_without_an_image_is_refused_before_any_work(tmp_path: Path) -> None:
    flow = Contained(datastore=datastores.Local(root=str(tmp_path / "store")), executor=executors.Docker())
    with pytest.raises(
        ConfigurationError, match=r"Contained: executors.Docker runs every layer .* First, Second name none"
    ):
        flow()
    assert flow.configuration.datastore.execution_ids(flow) == []


def test_aws_batch_is_built_as_the_original_writes_it_and_refused_when_used(tmp_path: Path) -> None:
    batch = executors.AWS.Batch(job_queue_arn=..., job_role_arn=...)
    flow = Contained(datastore=datastores.Local(root=str(tmp_path / "store")), executor=batch)
    with pytest.raises(ConfigurationError, match=r"AWS.Batch .* is not part of this laminar; .* Ray cluster"):
        flow()
