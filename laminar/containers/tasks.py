"""A layer's run in its image: :func:`laminar.runner.execute`, called inside a container.

Executors call :func:`execute` instead of ``runner.execute`` for a run whose ``Container`` has an image
(hooks still run where they ran: they only size and gate splits). The split's inputs travel in the
task's pickle (values a Ray task received, or views that read the datastore), its
artifacts are written to the datastore from inside the container, and its outcome (meta, uncommitted
document, values) comes back as if the split had run here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from laminar import runner
from laminar.artifacts import Artifacts
from laminar.containers.launch import launch_for, run, run_in
from laminar.datastore import Datastore
from laminar.errors import ConfigurationError
from laminar.graph import Graph, own_modules
from laminar.logs import LogPolicy
from laminar.task import Input, Task, TaskKind


def isolated(task: Task) -> bool:
    """Whether ``task`` runs in a process of its own: a run whose ``Container`` has an image (its container)
    or a ``workdir`` (a process of this Python in that directory)."""
    container = task.configuration.container
    return task.kind is TaskKind.run and (container.image is not None or container.workdir is not None)


def execute(
    graph: Graph,
    task: Task,
    *,
    flow: str,
    execution: str,
    datastore: Datastore,
    artifacts: runner.ArtifactSource,
    logs: LogPolicy | None = None,
) -> Any:
    """``runner.execute`` with the same arguments, in a container of the task's ``Container.image``, or
    without an image in a process of its own in ``Container.workdir`` (either runs one split: its stdout
    and stderr are the split's)."""
    _ship_by_value(graph)
    # The inputs' views are made here and sent made: the executor's source may be a closure over its own
    # state (Ray's holds its worker's context), which an image without that executor could not unpickle.
    given = {name: artifacts(name, read) for name, read in task.inputs.items() if read.state == "finished"}
    container = task.configuration.container
    if container.image is None:
        if datastore.process_local:
            raise ConfigurationError(
                f"{flow}.{task.label}: Container(workdir={container.workdir!r}) runs the split in a process of "
                f"its own, and {datastore!r} lives in this process's memory; use datastores.Local(...) or S3"
            )
        where: dict[str, str] = {"workdir": str(container.workdir)}
        start: Callable[..., Any] = partial(run_in, str(container.workdir), container.env)
    else:
        where = {"image": str(container.image)}
        start = partial(run, launch_for(container, datastore))
    # its stdout and stderr are the split's (whole_process): the process (container) runs nothing else
    return start(
        runner.execute,
        graph,
        task,
        flow=flow,
        execution=execution,
        datastore=datastore,
        artifacts=partial(_given, given),
        logs=logs,
        whole_process=True,
        worker=where,
        label=f"{flow}.{task.label}",
    )


def _given(given: Mapping[str, Artifacts], name: str, read: Input) -> Artifacts:
    return given[name]


def _ship_by_value(graph: Graph) -> None:
    """The flow's own modules travel by value: an image never saw them (what they import must be in it)."""
    import cloudpickle

    for module in own_modules(graph):
        cloudpickle.register_pickle_by_value(module)
