"""``Backend``: an executor and a datastore that a flow test runs on (see the ``backend`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from laminar import Flow
from laminar.datastore import Datastore
from laminar.executors import Executor

F = TypeVar("F", bound=Flow)


@dataclass
class Backend:
    """An executor and a datastore to run flows on."""

    name: str
    datastore: Datastore
    executor: Executor

    def flow(self, cls: type[F]) -> F:
        return cls(datastore=self.datastore, executor=self.executor)
