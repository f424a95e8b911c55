"""Run one task inside a container image with podman: ``Container(image=...)`` for any executor.

The host side (:func:`run`) writes the task (a pickled callable and its arguments)
into a fresh directory, starts ``podman run IMAGE python3 -m laminar.containers DIR``
with that directory mounted, waits, and hands back what the callable returned or
raised. The container side (:mod:`laminar.containers.entry`) checks that its
Python, laminar and cloudpickle match the host's, runs the callable, and writes
the outcome. Artifacts go to the datastore from inside the container: a
``Local`` datastore is mounted at the same path (:func:`launch_for`), anything
else is reached over the (host) network.

It knows nothing of Ray: a Ray task calls :func:`run` like any function (the
container's exit is the task's end), and so can a thread of the ``Thread``
executor.

>>> launch = Launch(image="localhost/app:1", cpus=0.5, memory=256, env={"A": "1"})
>>> command(launch, "/tmp/task", name="laminar-x")[:4]
['podman', 'run', '--rm', '--pull=never']
"""

from laminar.containers.launch import (
    ContainerError,
    ContainerMemoryError,
    ImageMissingError,
    Launch,
    MismatchError,
    RuntimeMissingError,
    command,
    launch_for,
    run,
)
from laminar.containers.tasks import execute, isolated

__all__ = [
    "ContainerError",
    "ContainerMemoryError",
    "ImageMissingError",
    "Launch",
    "MismatchError",
    "RuntimeMissingError",
    "command",
    "execute",
    "isolated",
    "launch_for",
    "run",
]
