"""``Container(pip=[...])``: each layer its own Python environment (Ray's runtime_env ``pip``), no image.

Two layers of one flow import two versions of one package in one run, while the driver has a third
environment of its own (the project's). Each environment is made once per Ray session (~6-11 s here,
online or from a local wheel) and reused by every task that asks for the same requirements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, layers

pytestmark = pytest.mark.slow


class TwoSixes(Flow): ...


@TwoSixes.register(container=layers.Container(pip=["six==1.16.0"]))
class Old(Layer):
    def __call__(self) -> None:
        import six

        self.version = six.__version__


@TwoSixes.register(container=layers.Container(pip=["six==1.17.0"]))
class New(Layer):
    def __call__(self) -> None:
        import six

        self.version = six.__version__


@TwoSixes.register
class Both(Layer):
    def __call__(self, old: Old, new: New) -> None:
        self.versions = (old.version, new.version)


def test_two_layers_use_two_versions_of_one_package_in_one_run(ray_cluster: Any, tmp_path: Path) -> None:
    from laminar_ray import Ray

    execution = TwoSixes(datastore=datastores.Local(str(tmp_path)), executor=Ray())(progress=False)
    assert execution.layer(Both).versions == ("1.16.0", "1.17.0")
