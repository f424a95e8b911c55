"""How the Ray session learns which tasks finished: in turn, out of turn behind a long one, with timeouts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from laminar_ray.inflight import InFlight

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _tasks() -> tuple[Any, Any]:
    import ray

    @ray.remote(num_cpus=0)
    def quick(n: int) -> int:
        return n

    @ray.remote(num_cpus=0)
    def until(path: str) -> str:
        while not os.path.exists(path):
            time.sleep(0.01)
        return "released"

    return quick, until


def _drain(in_flight: InFlight[str], count: int) -> list[str]:
    names: list[str] = []
    give_up = time.monotonic() + 60  # a bound, so that a watch that never finds them fails
    while len(names) < count:
        assert time.monotonic() < give_up, f"only {names} of {count} tasks were found finished"
        names += [name for name, _ in in_flight.finished(1.0)]
    return names


def _count_sweeps(in_flight: InFlight[Any], monkeypatch: Any) -> list[float]:
    """When each sweep over all tasks in flight starts, from now on."""
    sweeps: list[float] = []
    sweep = in_flight._sweep

    def counted() -> list[tuple[Any, Any]]:
        sweeps.append(time.monotonic())
        return sweep()

    monkeypatch.setattr(in_flight, "_sweep", counted)
    return sweeps


def test_tasks_finishing_in_turn_come_back_oldest_first_with_their_refs() -> None:
    import ray

    quick, _ = _tasks()
    in_flight: InFlight[str] = InFlight()
    for n in range(20):
        in_flight.add(n, f"task {n}", quick.remote(n))
    found: list[tuple[str, Any]] = []
    while len(found) < 20:
        found += in_flight.finished(None)
    assert sorted(name for name, _ in found) == sorted(f"task {n}" for n in range(20))
    assert [ray.get(ref) for _, ref in found] == [int(name.split()[1]) for name, _ in found]
    assert len(in_flight) == 0 and in_flight.ref(3) is None


def test_tasks_finishing_behind_one_still_running_are_found_while_it_runs(tmp_path: Path) -> None:
    import ray

    quick, until = _tasks()
    release = tmp_path / "release"
    in_flight: InFlight[str] = InFlight()
    head = until.remote(str(release))
    in_flight.add(0, "head", head)
    for n in range(1, 6):
        in_flight.add(n, f"quick {n}", quick.remote(n))
    try:
        names = _drain(in_flight, 5)  # found by a sweep, not in turn: the oldest task has not finished
        assert sorted(names) == [f"quick {n}" for n in range(1, 6)]
        assert ray.wait([head], timeout=0)[0] == []
        assert list(in_flight) == [0] and in_flight.ref(0) is head
    finally:
        release.touch()
    assert _drain(in_flight, 1) == ["head"]


def test_a_timeout_returns_nothing_while_every_task_still_runs(tmp_path: Path) -> None:
    _, until = _tasks()
    release = tmp_path / "release"
    in_flight: InFlight[str] = InFlight()
    in_flight.add(0, "a", until.remote(str(release)))
    in_flight.add(1, "b", until.remote(str(release)))
    try:
        assert in_flight.finished(0.0) == []
        assert in_flight.finished(0.2) == []
        assert len(in_flight) == 2
    finally:
        release.touch()
    assert sorted(_drain(in_flight, 2)) == ["a", "b"]


def test_with_nothing_in_flight_a_timeout_is_waited_out_and_none_returns_at_once() -> None:
    in_flight: InFlight[str] = InFlight()
    assert in_flight.finished(None) == []
    started = time.monotonic()
    assert in_flight.finished(0.05) == []
    assert time.monotonic() - started >= 0.05


def test_a_few_tasks_that_all_run_long_are_waited_on_at_once_without_waking(tmp_path: Path, monkeypatch: Any) -> None:
    """Up to FEW in flight (mostly batches of splits, each long): one wait for any of them, which sleeps
    until one finishes or the timeout; no sweeps, no wake every few ms."""
    import laminar_ray.inflight as inflight

    _, until = _tasks()
    release = tmp_path / "release"
    in_flight: InFlight[str] = InFlight()
    for n in range(3):
        in_flight.add(n, f"long {n}", until.remote(str(release)))
    waits = []
    wait = inflight.ray.wait

    def counted(*args: Any, **kwargs: Any) -> Any:
        waits.append(kwargs.get("timeout"))
        return wait(*args, **kwargs)

    monkeypatch.setattr(inflight.ray, "wait", counted)
    sweeps = _count_sweeps(in_flight, monkeypatch)
    try:
        started = time.monotonic()
        assert in_flight.finished(1.0) == []
        assert time.monotonic() - started >= 0.9  # the timeout was waited out
        assert len(waits) == 1 and sweeps == [], (waits, sweeps)
    finally:
        release.touch()
    assert sorted(_drain(in_flight, 3)) == ["long 0", "long 1", "long 2"]


def test_tasks_that_all_run_long_are_swept_less_and_less_often(tmp_path: Path, monkeypatch: Any) -> None:
    """More than FEW in flight (here: FEW lowered): sweeps start ~2 ms apart and double while they find
    nothing, up to 50 ms: a second of waiting makes a few dozen, not the ~500 a fixed 2 ms would."""
    import laminar_ray.inflight as inflight

    monkeypatch.setattr(inflight, "FEW", 2)
    _, until = _tasks()
    release = tmp_path / "release"
    in_flight: InFlight[str] = InFlight()
    for n in range(3):
        in_flight.add(n, f"long {n}", until.remote(str(release)))
    sweeps = _count_sweeps(in_flight, monkeypatch)
    try:
        assert in_flight.finished(1.0) == []
        assert 3 <= len(sweeps) < 60
    finally:
        release.touch()
    assert sorted(_drain(in_flight, 3)) == ["long 0", "long 1", "long 2"]


def test_tasks_that_finish_in_turn_are_not_swept_after_each(monkeypatch: Any) -> None:
    """A chain's tasks can finish only in turn: each taking longer than the first interval (2 ms) must
    not cost a sweep over all in flight; sweeps double their interval until one finds something."""
    import ray

    @ray.remote(num_cpus=0)
    def link(previous: int) -> int:
        time.sleep(0.006)
        return previous + 1

    in_flight: InFlight[int] = InFlight()
    ref = link.remote(0)
    for n in range(30):
        in_flight.add(n, n, ref)
        ref = link.remote(ref)
    in_flight.add(30, 30, ref)
    sweeps = _count_sweeps(in_flight, monkeypatch)
    found: list[int] = []
    while len(found) < 31:
        found += [n for n, _ in in_flight.finished(None)]
    assert found == list(range(31))
    assert len(sweeps) < 15, f"{len(sweeps)} sweeps for 31 tasks finishing in turn"


def _many(monkeypatch: Any) -> None:
    """Batched waits from 32 tasks in flight (two of the oldest at a time), sweeps no sooner than 1 s."""
    from laminar_ray import inflight

    monkeypatch.setattr(inflight, "BATCH_FROM", 32)
    monkeypatch.setattr(inflight, "SWEEP_MIN", 1.0)
    monkeypatch.setattr(inflight, "SWEEP_MAX", 1.0)


def test_with_many_in_flight_one_wait_is_for_several_of_the_oldest(monkeypatch: Any) -> None:
    """The oldest finishes first, the second later: one wait returns both, and every task after them
    that finished meanwhile (a wait per task would have returned the oldest alone)."""
    import ray

    @ray.remote(num_cpus=0)
    def sleeps(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    _many(monkeypatch)
    in_flight: InFlight[int] = InFlight()
    for n, seconds in enumerate([0.05, 0.3] + [0.0] * 30):
        in_flight.add(n, n, sleeps.remote(seconds))
    first = [n for n, _ in in_flight.finished(None)]
    assert first[:2] == [0, 1] and first == list(range(len(first))), first
    found = first
    while len(found) < 32:
        found += [n for n, _ in in_flight.finished(None)]
    assert sorted(found) == list(range(32))


def test_with_many_in_flight_a_wait_that_runs_out_returns_those_of_the_oldest_that_finished(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import ray

    quick, until = _tasks()
    release = tmp_path / "release"
    _many(monkeypatch)
    head = until.remote(str(release))
    refs = [quick.remote(n) for n in range(1, 40)]
    ray.wait(refs, num_returns=len(refs))
    in_flight: InFlight[str] = InFlight()  # made now: its first sweep is due a second from now
    in_flight.add(0, "head", head)
    for n, ref in enumerate(refs, 1):
        in_flight.add(n, f"quick {n}", ref)
    try:
        assert [name for name, _ in in_flight.finished(0.2)] == ["quick 1"]  # the oldest two: one finished
        names = _drain(in_flight, 38)  # the rest, while the oldest still runs
        assert sorted(names) == sorted(f"quick {n}" for n in range(2, 40))
        assert list(in_flight) == [0]
    finally:
        release.touch()
    assert _drain(in_flight, 1) == ["head"]


def test_when_no_completion_is_urgent_one_wait_is_for_several_of_the_oldest(tmp_path: Path, monkeypatch: Any) -> None:
    """Few in flight: an urgent wait returns the oldest as soon as it finished (and each next one that
    finished too); a wait that is not urgent is for the oldest eight, and, one of them still running, returns
    at the longest interval (here 0.5 s) with those that finished; with eight or fewer in flight, waits take
    them as they finish. (Eleven in flight: more than FEW, here lowered to none, which one wait covers.)"""
    import ray

    from laminar_ray import inflight

    monkeypatch.setattr(inflight, "SWEEP_MAX", 0.5)
    monkeypatch.setattr(inflight, "FEW", 0)
    quick, until = _tasks()
    release = tmp_path / "release"
    second = until.remote(str(release))
    refs = [quick.remote(n) for n in range(10)]
    ray.wait(refs, num_returns=len(refs))
    in_flight: InFlight[str] = InFlight()
    in_flight.add(0, "quick 0", refs[0])
    in_flight.add(1, "second", second)
    for n in range(1, 10):
        in_flight.add(n + 1, f"quick {n}", refs[n])
    try:
        assert [name for name, _ in in_flight.finished(None)] == ["quick 0"]
        started = time.monotonic()
        names = [name for name, _ in in_flight.finished(None, urgent=False)]
        assert names == [f"quick {n}" for n in range(1, inflight.LAZY_BATCH)]  # the oldest eight but "second"
        assert time.monotonic() - started >= inflight.SWEEP_MAX * 0.9
        assert list(in_flight) == [1, 9, 10]
        monkeypatch.setattr(inflight, "SWEEP_MAX", 30.0)
        started = time.monotonic()  # three left: taken as they finish, urgent or not (a lazy wait: 30 s)
        assert sorted(name for name, _ in in_flight.finished(None, urgent=False)) == ["quick 8", "quick 9"]
        assert time.monotonic() - started < 10
    finally:
        release.touch()
    assert _drain(in_flight, 1) == ["second"]
