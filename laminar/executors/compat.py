"""The original laminar's other executors, by their documented names: ``executors.Docker()`` and
``executors.AWS.Batch(...)`` (its executors page builds flows with both).

- ``Docker`` is real: the ``Thread`` executor with every split in a container of its layer's
  ``Container.image`` (podman, which takes Docker's command line; see :mod:`laminar.containers`), or of
  ``Docker(image=...)`` for layers that name none. A flow with a layer that has neither is refused when it
  starts, before any work, naming the layers.
- ``AWS.Batch`` is not provided: building one works, as the original's page writes it, and a flow run on
  it is refused when it starts, before any work, naming what to use instead. Nothing is ever accepted and
  silently run elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from laminar.errors import ConfigurationError
from laminar.executors.base import Run
from laminar.executors.thread import Thread, ThreadSession
from laminar.task import Task, TaskKind


class Docker(Thread):
    """Every split in a container of its layer's image, else of ``image``, started with podman."""

    def __init__(self, image: str | None = None, workers: int | None = None, *, infeasible: str = "warn") -> None:
        super().__init__(workers, infeasible=infeasible)
        self.image = image

    def __repr__(self) -> str:
        return f"Docker(image={self.image!r}, workers={self.workers})"

    def open(self, run: Run) -> ThreadSession:
        bare = [name for name, node in run.graph.nodes.items() if node.configuration.container.image is None]
        if bare and self.image is None:
            raise ConfigurationError(
                f"{run.flow}: executors.Docker runs every layer in a container of its image, and "
                f"{', '.join(bare)} name{'s' if len(bare) == 1 else ''} none: give "
                f"{'it' if len(bare) == 1 else 'them'} Container(image=...), or Docker(image=...) for all, or "
                "run on executors.Thread() or Ray"
            )
        return _DockerSession(run, self.workers, self.infeasible, self.image)


class _DockerSession(ThreadSession):
    def __init__(self, run: Run, workers: int, infeasible: str, image: str | None) -> None:
        super().__init__(run, workers, infeasible)
        self._image = image

    def submit(self, task: Task) -> None:
        container = task.configuration.container
        if task.kind is TaskKind.run and container.image is None and self._image is not None:
            changed = container.model_copy(update={"image": self._image})
            task = dataclasses.replace(task, configuration=task.configuration.model_copy(update={"container": changed}))
        super().submit(task)


class _Batch:
    """The original's experimental AWS Batch executor: built as its page writes it, refused when used."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return "AWS.Batch(...)"

    def open(self, run: Run) -> ThreadSession:
        raise ConfigurationError(
            f"{run.flow}: executors.AWS.Batch (the original laminar's experimental AWS Batch executor) is not part "
            "of this laminar; on AWS, run the flow on a Ray cluster (laminar submit, or laminar_ray.Ray(address=...)) "
            "with a datastores.S3(...) datastore"
        )


class AWS:
    """Namespace of the original's AWS executors: ``executors.AWS.Batch`` (refused when used)."""

    Batch = _Batch
