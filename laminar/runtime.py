"""Which kind of process this is: the one that schedules, or a worker running one layer.

Executors that start processes (Ray) mark their workers with the environment
variable below, set at the process edge (the task's runtime_env), never by
mutating ``os.environ`` of the scheduling process.
"""

from __future__ import annotations

import os

WORKER_ENV = "LAMINAR_WORKER"


def in_worker() -> bool:
    """True inside a process started only to run layers."""
    return os.environ.get(WORKER_ENV) == "1"
