"""Datastores under real flows: dedup across layers and executions, results from a fresh datastore."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from laminar import Flow, Layer
from laminar.configurations import executors
from laminar.datastore import layout

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.datastore.conftest import Subject

BLOB = random.Random(1).randbytes(1 << 20)


class Twice(Flow): ...


@Twice.register
class First(Layer):
    def __call__(self) -> None:
        self.blob = BLOB


@Twice.register
class Second(Layer):
    def __call__(self, first: First) -> None:
        self.blob = bytes(first.blob)  # an equal value, not the same object
        self.size = len(first.blob)


def test_equal_values_from_layers_and_executions_are_stored_once(subject: Subject) -> None:
    flow = Twice(datastore=subject.store, executor=executors.Thread())
    one, two = flow(), flow()
    blobs = [f for f in subject.files(layout.ARTIFACTS) if len(subject.read(f)) > len(BLOB)]
    assert len(blobs) == 1
    assert subject.files(layout.TMP) == []

    fresh = Twice(datastore=subject.make())  # reading needs only the datastore
    assert fresh.execution(two.id).layer(Second).blob == BLOB
    assert fresh.execution(one.id).layer(Second).size == len(BLOB)
    assert subject.make().execution_ids(Twice) == sorted([one.id, two.id])
