"""The container side: run the one task the host wrote into a directory, write its outcome there.

The directory (mounted at :data:`TASK_DIR`) holds, from the host:

- ``task.json``: the host's versions (:func:`versions`), its process id and the task's label;
- ``task.pkl``: ``(function, args, kwargs)`` pickled with cloudpickle;

and gets from here ``outcome.pkl``: ``("returned", value)`` or ``("raised", exception, traceback text)``,
written last and atomically, so that the host can tell a task that raised (exit 0, the user's exception,
which the executor treats like any other) from a container that died (no outcome, its exit code; a
``sys.exit(n)`` in the task ends the container with ``n``, it is not raised in the host process).
Versions are compared before anything is unpickled: a pickle made by another Python minor version,
laminar or cloudpickle may load wrongly or not at all, so a mismatch exits with :data:`EXIT_MISMATCH`
and says which.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TASK_DIR = "/laminar-task"  # where the host mounts the task's directory
PROTOCOL = 1
EXIT_MISMATCH = 65  # the image's Python, laminar or cloudpickle differ from the host's
EXIT_ORPHANED = 66  # the host process that started the container is gone
EXIT_UNPICKLE = 67  # the task names a module the image does not have


def versions() -> dict[str, Any]:
    """What must be equal on both sides for the task's pickle to mean the same thing."""
    import cloudpickle

    from laminar import __version__

    return {
        "protocol": PROTOCOL,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "laminar": __version__,
        "cloudpickle": cloudpickle.__version__,
    }


def _watch(parent: int, directory: Path) -> None:
    """Exit when the host process that waits for this container is gone (killed with its Ray worker):
    the container would otherwise run on, holding its CPUs and writing artifacts no one will commit.
    Only with ``--pid=host`` (the host's processes visible here); it may be gone before this starts."""
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            print(f"laminar: host process {parent} is gone; stopping", file=sys.stderr, flush=True)
            for leftover in directory.iterdir():  # no one will remove them on the host
                leftover.unlink(missing_ok=True)
            os._exit(EXIT_ORPHANED)
        except PermissionError:
            pass  # it exists, owned by another user
        time.sleep(1.0)


def _write(directory: Path, outcome: tuple[Any, ...]) -> None:
    import cloudpickle

    try:
        blob = cloudpickle.dumps(outcome)
    except Exception as error:  # a value or an exception that cannot be pickled
        what = "value it returned" if outcome[0] == "returned" else f"exception it raised ({outcome[1]!r})"
        text = outcome[2] if outcome[0] == "raised" else ""
        message = f"the task ran in the container, but the {what} cannot be pickled back: {error!r}"
        blob = cloudpickle.dumps(("raised", TypeError(message), text))
    partial = directory / "outcome.pkl.partial"
    partial.write_bytes(blob)
    partial.rename(directory / "outcome.pkl")


def main(argv: Sequence[str]) -> int:
    directory = Path(argv[0] if argv else TASK_DIR)
    header = json.loads((directory / "task.json").read_text())
    mine = versions()
    differ = {key: (header.get(key), value) for key, value in mine.items() if header.get(key) != value}
    if differ:
        lines = ", ".join(f"{key} {host} on the host but {here} in the image" for key, (host, here) in differ.items())
        print(
            f"laminar: {header.get('label', 'task')}: the image does not match the host: {lines}; "
            "build the image with the same Python minor version and the same laminar and cloudpickle versions",
            file=sys.stderr,
        )
        return EXIT_MISMATCH
    parent = header.get("parent")  # set only with --pid=host: the host's processes are visible here
    if isinstance(parent, int):
        threading.Thread(target=_watch, args=(parent, directory), daemon=True, name="laminar-parent").start()

    import cloudpickle

    from laminar import runtime

    runtime.mark_worker()  # a flow module the task imports must not start its flow in here
    try:
        function, args, kwargs = cloudpickle.loads((directory / "task.pkl").read_bytes())
    except ModuleNotFoundError as error:
        print(
            f"laminar: {header.get('label', 'task')}: the task needs module {error.name!r}, which the image lacks: "
            "install it in the image (a flow's own modules travel by value; installed packages do not)",
            file=sys.stderr,
        )
        return EXIT_UNPICKLE
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # the host re-raises it: Catch and Retry see the user's own exception
        _write(directory, ("raised", error, traceback.format_exc()))
    else:
        _write(directory, ("returned", value))
    sys.stdout.flush()
    return 0
