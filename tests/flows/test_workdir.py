"""Issue 21: ``Container.workdir`` is honoured, never accepted and ignored. Without an image each split runs
in a process of its own in that directory (a thread cannot have a working directory of its own), on every
executor; a directory that does not exist, or a datastore that lives in one process, is a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import layers
from laminar.errors import ConfigurationError


class Located(Flow): ...


@Located.register
class Before(Layer):
    def __call__(self, p: Parameters) -> None:
        self.n = 2


def test_a_split_runs_in_its_workdir(backend, tmp_path: Path) -> None:
    workdir = tmp_path / "app"
    workdir.mkdir()
    (workdir / "data.txt").write_text("relative to the workdir")

    class Here(Flow): ...

    Here.register(Before)

    @Here.register(container=layers.Container(cpu=0.5, memory=100, workdir=str(workdir), env={"MODE": "x"}))
    class Reads(Layer):
        def __call__(self, before: Before) -> None:
            self.cwd = os.getcwd()
            with open("data.txt") as file:  # a relative path, as in the split's image
                self.text = file.read()
            self.mode = os.environ.get("MODE")
            self.n = before.n

    flow = backend.flow(Here)
    if backend.datastore.process_local:
        with pytest.raises(ConfigurationError, match=r"runs the split in a process of its own.*use datastores.Local"):
            flow()
        return
    reads = flow().layer(Reads)
    assert (reads.cwd, reads.text, reads.mode, reads.n) == (str(workdir), "relative to the workdir", "x", 2)
    assert os.getcwd() != str(workdir)  # this process's own working directory is untouched


def test_a_workdir_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    from laminar.configurations import datastores, executors

    class Missing(Flow): ...

    @Missing.register(container=layers.Container(workdir="/no/such/app"))
    class Nowhere(Layer): ...

    flow = Missing(datastore=datastores.Local(root=str(tmp_path / "store")), executor=executors.Thread())
    with pytest.raises(ConfigurationError, match=r"Missing.Nowhere: Container\(workdir='/no/such/app'\) is not a dir"):
        flow()


def test_default_workdir_means_the_image_default_and_no_process_of_its_own() -> None:
    from laminar.containers import launch_for
    from laminar.datastore import Local

    assert layers.Container().workdir is None
    launch = launch_for(layers.Container(image="localhost/x:1"), Local(root="/tmp/laminar-test-store"))
    assert launch.workdir == "/laminar"
