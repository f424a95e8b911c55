"""The containers tests' podman configuration and image.

``CONTAINERS_CONF`` is set at collection, before any test starts Ray: Ray workers (which start the
containers) inherit the environment the raylet had when it started. A ``CONTAINERS_CONF`` already set
wins. Without podman the tests fail, naming the fix (``bash tests/setup.sh`` installs it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("CONTAINERS_CONF", str(Path(__file__).with_name("containers.conf")))

import image as test_image  # tests/containers/image.py


@pytest.fixture(scope="session")
def image() -> str:
    """The test image's reference, built once per change of its inputs (~5 s), else reused."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run bash tests/setup.sh (Debian's podman and runc)")
    return test_image.ensure_image()


@pytest.fixture
def ray_cluster(ray_cluster: Any, request: pytest.FixtureRequest) -> Any:
    """The session's Ray, with the test's module sent to workers by value (they cannot import it)."""
    ray_cluster.cloudpickle.register_pickle_by_value(sys.modules[request.module.__name__])
    return ray_cluster
