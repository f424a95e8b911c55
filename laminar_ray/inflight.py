"""Which of a session's in-flight Ray tasks finished: a watch in the driver's own thread.

Ray offers two ways to learn that an ObjectRef is ready: a callback per ref
(``ref.future()``, ``ref._on_completed``), which Ray runs on its I/O thread (the
thread that also dispatches tasks) and which costs that thread a fair share of a
task's CPU, and ``ray.wait``, whose cost grows with the number of refs it is
given (~2 ms over 2,000), but which costs ~4 us over one.

Tasks mostly finish in the order they were started (a chain one after the
other, a fan-out's splits roughly in turn), so :class:`InFlight` waits on the
oldest task alone, and once it finished takes every next one that finished too.
A task that finishes out of turn, behind one that runs long, is found by a sweep
over all of them (one ``ray.wait``), made only once the oldest has run a while
without finishing: about 10 us per task in flight (at least 2 ms, at most 50 ms)
since the oldest last finished or the last sweep, twice as long after each sweep
that found nothing (up to 50 ms), until one finds something. So a sweep, ~1 us per
task, takes at most ~1/10 of one core; tasks that all run long wake the driver at
most ~20 times a second; and a chain, whose tasks can only finish in turn, is swept
less and less often, not once per task (each task of a chain of 100 layers on 2
cores takes longer than the first interval, 2 ms).

With many tasks in flight (a fan-out's window), the driver has no need to hear of
each one as it finishes: Ray's queue is deep, and a wake per completion costs the
driver a good part of what a small task costs (refilling a window one task at a time is
slower than a hundred at a time, in the driver and in the workers alike:
docs/performance.md). So from :data:`BATCH_FROM` tasks in flight, one wait
is for the oldest 1/16 of them (at most :data:`BATCH_MAX`), and returns when
they all finished or at the next sweep's time with those that did: a completion
is seen at most one interval late (~10 us per task in flight, at most 50 ms),
and a chain, whose tasks finish one at a time, still wakes the driver about as
often as they finish.

Once the engine has submitted everything that will run (a chain whose layers
all started ahead), no completion can start more work: it says a wait is not
``urgent``, and while more than :data:`LAZY_BATCH` are in flight the wait is for
the oldest :data:`LAZY_BATCH` or more (1/16 of those in flight), returning at
:data:`SWEEP_MAX` with those that finished. A chain of 100 layers then wakes the
driver every eight layers, not every layer (on 2 cores each wake takes CPU from
the tasks); its last few are
taken as they finish, so that their records are not all left to write at the end.

With at most :data:`FEW` in flight (and no lazy wait), none of that: one ``ray.wait`` for any of them
sleeps until one finished (or the timeout), then one more takes every one that did. Few in flight is
mostly a fan-out's batches of splits (two per slot), each running long and yielding its reports now and
then, the oldest often queued behind the others: the oldest-and-sweeps watch woke the driver every 2 ms
for nothing there (~1,000 times a second, most of a millisecond of driver CPU a 10 ms split).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import ray

T = TypeVar("T")

SWEEP_PER_TASK = 10e-6  # seconds between sweeps per task in flight
SWEEP_MIN = 0.002
SWEEP_MAX = 0.05
BATCH_FROM = 64  # tasks in flight from which one wait is for several of the oldest
BATCH_MAX = 256
LAZY_BATCH = 8  # the fewest tasks one wait is for when no completion is urgent
FEW = 16  # at most this many in flight (and no lazy wait): one wait for any of them


class InFlight(Generic[T]):
    """Refs of running tasks, each with what its owner needs back (``T``), in the order they started."""

    def __init__(self) -> None:
        # key -> (item, ref), oldest first; an OrderedDict finds its first entry at once however many
        # were removed before it (a dict walks past the holes they left)
        self._refs: collections.OrderedDict[int, tuple[T, Any]] = collections.OrderedDict()
        self._moved = time.monotonic()  # when the oldest task last finished, or the last sweep
        self._idle = 0.0  # the time between sweeps, doubled after each that found nothing

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, key: object) -> bool:
        return key in self._refs

    def __iter__(self) -> Iterator[int]:
        return iter(self._refs)

    def add(self, key: int, item: T, ref: Any) -> None:
        self._refs[key] = (item, ref)

    def item(self, key: int) -> T | None:
        """What the owner keeps of a task in flight, or None once it finished."""
        found = self._refs.get(key)
        return None if found is None else found[0]

    def ref(self, key: int) -> Any:
        """The ref of a task in flight, or None once it finished."""
        found = self._refs.get(key)
        return None if found is None else found[1]

    def finished(self, timeout: float | None, *, urgent: bool = True) -> list[tuple[T, Any]]:
        """Block until at least one task finished (or ``timeout`` passed); return those that did, with
        their refs (ready: ``ray.get`` returns at once), and forget them. Without ``urgent``, wait for
        several of the oldest at once, up to :data:`SWEEP_MAX` (see the module docstring)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._refs:
            now = time.monotonic()
            lazy = not urgent and len(self._refs) > LAZY_BATCH
            if not lazy and len(self._refs) <= FEW:
                return self._any(deadline)
            interval = SWEEP_MAX if lazy else self._interval()
            if now - self._moved >= interval:
                self._moved = now
                found = self._sweep() if len(self._refs) > 1 else []
                if found:
                    self._idle = 0.0
                    return found
                self._idle = min(SWEEP_MAX, 2 * interval)  # all of them run long: look less often
            wait = self._moved + interval - now
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - now))
            oldest = [ref for _, ref in itertools.islice(self._refs.values(), self._batch(lazy))]
            ready, _ = ray.wait(oldest, num_returns=len(oldest), timeout=wait, fetch_local=False)
            if ready:  # progress in turn says nothing of tasks finishing out of turn: _idle stays
                self._moved = time.monotonic()
                if len(ready) < len(oldest):  # the wait ran out with some of them finished
                    done = set(ready)
                    keys = itertools.islice(self._refs.items(), len(oldest))
                    return self._take([key for key, (_, ref) in keys if ref in done])
                return self._take(self._in_turn(len(oldest)))
            if deadline is not None and time.monotonic() >= deadline:
                return []
        if deadline is not None:
            time.sleep(max(0.0, deadline - time.monotonic()))
        return []

    def _any(self, deadline: float | None) -> list[tuple[T, Any]]:
        """Block until any of the few tasks in flight finished (or ``deadline``); return all that did, in
        the order they started. Few tasks are mostly batches of splits, each running long and yielding
        now and then, the oldest often queued behind the others: waiting on the oldest and sweeping every
        2 ms woke the driver ~1,000 times a second for nothing (~1 ms of its CPU a split of 10 ms)."""
        refs = [ref for _, ref in self._refs.values()]
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _ = ray.wait(refs, num_returns=1, timeout=wait, fetch_local=False)
        if not ready:
            return []
        self._moved, self._idle = time.monotonic(), 0.0
        return self._finished_now() if len(refs) > 1 else self._take(list(self._refs))

    def _interval(self) -> float:
        """The time between sweeps, and the longest a batched wait runs before it returns what finished."""
        return max(self._idle, min(SWEEP_MAX, max(SWEEP_MIN, SWEEP_PER_TASK * len(self._refs))))

    def _batch(self, lazy: bool) -> int:
        """How many of the oldest tasks one wait is for."""
        count = len(self._refs)
        if lazy:
            return min(BATCH_MAX, max(LAZY_BATCH, count // 16))
        return 1 if count < BATCH_FROM else min(BATCH_MAX, count // 16)

    def _in_turn(self, finished: int) -> list[int]:
        """The ``finished`` oldest tasks and each next one as long as they finished too."""
        keys = list(itertools.islice(self._refs, finished))
        for key, (_, ref) in itertools.islice(self._refs.items(), finished, None):
            ready, _ = ray.wait([ref], num_returns=1, timeout=0, fetch_local=False)
            if not ready:
                break
            keys.append(key)
        return keys

    def _sweep(self) -> list[tuple[T, Any]]:
        """A look over every task in flight for those that finished out of turn."""
        return self._finished_now()

    def _finished_now(self) -> list[tuple[T, Any]]:
        """Every task in flight that has finished, in the order they started (one ``ray.wait``)."""
        refs = [ref for _, ref in self._refs.values()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        if not ready:
            return []
        done = set(ready)
        return self._take([key for key, (_, ref) in self._refs.items() if ref in done])

    def _take(self, keys: list[int]) -> list[tuple[T, Any]]:
        return [self._refs.pop(key) for key in keys]
