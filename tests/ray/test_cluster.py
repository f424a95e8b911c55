"""The fast paths through Ray's private API (laminar_ray.cluster) are all there: a Ray upgrade that removes
one fails here, by name, instead of silently slowing every task down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_remote_functions_have_the_private_entry_point_that_names_tasks_cheaply() -> None:
    import ray

    from laminar_ray import cluster

    function = ray.remote(num_returns=2)(lambda: (1, 2))
    assert cluster.has_fast_submit(function), (
        "ray.remote_function.RemoteFunction lost _remote, _default_options or _serialized_base_runtime_env_info: "
        "laminar_ray.cluster.named falls back to .options(name=...) per task (~0.12 ms more a task)"
    )
    first, second = cluster.named(function)("a-task-name", ())
    assert ray.get([first, second]) == [1, 2]


def test_streaming_generators_have_the_private_read_that_takes_ready_items_cheaply() -> None:
    import ray

    from laminar_ray import cluster

    @ray.remote(num_returns="streaming")
    def three() -> Any:
        for item in (1, 2, 3):  # noqa: UP028 (a "yield from" a tuple fails on the send() Ray makes)
            yield item

    generator = three.remote()
    assert cluster.has_fast_items(generator), (
        "ray.ObjectRefGenerator lost _next_sync: laminar_ray.cluster.ready_items falls back to next_ready() "
        "and next() (~35 us more a batched split)"
    )
    items: list[int] = []
    ended = False
    deadline = time.monotonic() + 30
    while not ended and time.monotonic() < deadline:
        refs, ended, error = cluster.ready_items(generator)
        assert error is None
        items.extend(ray.get(refs))
    assert (items, ended) == ([1, 2, 3], True)


def test_this_process_is_told_apart_from_a_worker() -> None:
    import ray

    from laminar_ray import cluster

    assert cluster.in_worker() is False
    assert ray.get(ray.remote(cluster.in_worker).remote()) is True


def test_a_worker_tells_ray_cancelling_its_task_from_a_keyboard_interrupt_of_its_own(tmp_path: Path) -> None:
    import ray

    from laminar_ray import cluster

    def waits(started: str) -> None:
        Path(started).touch()
        try:
            for _ in range(6000):  # Ray's cancel interrupts Python code, not a sleep in C: short sleeps
                time.sleep(0.01)
        except KeyboardInterrupt:
            Path(f"{started}-told").write_text(str(cluster.cancelled()))
            raise

    def raises() -> bool:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            return cluster.cancelled()

    assert ray.get(ray.remote(raises).remote()) is False
    started = tmp_path / "started"
    ref = ray.remote(waits).remote(str(started))
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    ray.cancel(ref)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=60)
    assert Path(f"{started}-told").read_text() == "True"


def test_freed_heap_memory_can_be_given_back() -> None:
    import ctypes

    from laminar_ray import cluster

    assert callable(ctypes.CDLL("libc.so.6").malloc_trim)
    cluster.trim()
