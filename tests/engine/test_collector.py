"""While a run goes on, Python's young collections are spaced out (laminar.engine.collector); after it,
the process's thresholds are what they were, whatever else happened."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from laminar.engine import collector


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_a_run_raises_the_young_threshold_and_puts_it_back() -> None:
    with collector.spaced():
        assert gc.get_threshold() == (collector.YOUNG, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_thresholds_come_back_when_the_run_raises() -> None:
    with pytest.raises(ValueError), collector.spaced():
        raise ValueError("a layer failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_runs_that_overlap_in_threads_put_it_back_only_when_the_last_ends() -> None:
    entered, leave = threading.Event(), threading.Event()

    def other_run() -> None:
        with collector.spaced():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=other_run)
    with collector.spaced():
        thread.start()
        assert entered.wait(10)
    assert gc.get_threshold() == (collector.YOUNG, 10, 10)  # the other run still goes on
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_someone_else_chose_are_left_alone() -> None:
    gc.set_threshold(100_000, 5, 5)  # higher already
    with collector.spaced():
        assert gc.get_threshold() == (100_000, 5, 5)
    gc.set_threshold(0)  # collection off
    with collector.spaced():
        assert gc.get_threshold()[0] == 0
    gc.set_threshold(700, 10, 10)
    with collector.spaced():
        gc.set_threshold(2_000, 10, 10)  # changed by other code during the run
    assert gc.get_threshold() == (2_000, 10, 10)


def test_a_flow_run_spaces_collections_while_it_runs_and_not_after() -> None:
    from laminar import Flow, Layer

    seen = []

    class Collected(Flow): ...

    @Collected.register
    class Only(Layer):
        def __call__(self) -> None:
            seen.append(gc.get_threshold()[0])
            self.x = 1

    from laminar.configurations import datastores, executors

    Collected(datastore=datastores.Memory(), executor=executors.Thread())()
    assert seen == [collector.YOUNG]
    assert gc.get_threshold() == (700, 10, 10)
