"""On Ray, splits of one foreach layer share Ray tasks (docs/batching.md) and each stays a split.

Which splits shared a task is read from inside them: every split records the id of the Ray task it ran
in. Batched and unbatched runs must agree on everything else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, hooks
from laminar.configurations.layers import Container, ForEach, Parameter, Retry
from laminar.types import unwrap

pytestmark = pytest.mark.usefixtures("ray_cluster")

SCRIPTS = Path(__file__).parent / "scripts"

LIGHT = Container(cpu=0.5, memory=0)  # four at once on the tests' 2-CPU Ray


def task_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_task_id())


class TwoPart(Exception):
    """An exception that pickles but cannot be unpickled (its __init__ takes two arguments, Exception's
    pickle hands it one): common in user code."""

    def __init__(self, field: str, value: int) -> None:
        super().__init__(f"{field} is {value}")


def fan_out(batch: int | None, *, retry: Retry | None = None) -> type[Flow]:
    """Items -> Each (a foreach layer with ``batch``) -> Total. ``p.fail`` names splits that raise on their
    first attempt, ``p.kill`` one that kills its own worker on its first attempt (markers in ``p.marks``)."""
    flow = type(f"Batched{batch}", (Flow,), {"__module__": __name__})

    class Items(Layer):
        def __call__(self, p: Parameters) -> None:
            self.shard(n=list(range(p.count)))

    class Each(Layer):
        def __call__(self, items: Items, p: Parameters) -> None:
            self.task = task_id()
            self.n = items.n
            mark = Path(p.marks) / f"{items.n}"
            first = not mark.exists()
            mark.touch()
            if first and items.n in p.fail:
                raise ValueError(f"split {items.n} fails once")
            if first and items.n in p.unpicklable:
                raise TwoPart("n", items.n)
            if first and items.n == p.kill:
                time.sleep(1.0)  # the outcomes of the splits before it reach the driver first
                os.kill(os.getpid(), signal.SIGKILL)
            self.square = items.n * items.n

    class Total(Layer):
        def __call__(self, each: Each) -> None:
            self.total = sum(each.square)

    # this module's annotations are strings, and these classes are not its globals: give the real ones
    Items.__call__.__annotations__ = {"p": Parameters, "return": None}
    Each.__call__.__annotations__ = {"items": Items, "p": Parameters, "return": None}
    Total.__call__.__annotations__ = {"each": Each, "return": None}
    flow.register(Items)
    foreach = ForEach(parameters=[Parameter(layer=Items, attribute="n")], batch=batch)
    flow.register(Each, foreach=foreach, container=LIGHT, retry=retry)
    flow.register(Total)
    return flow


def run(flow: type[Flow], root: Path, **parameters: Any) -> Any:
    from laminar_ray import Ray

    marks = root / "marks"
    marks.mkdir(parents=True, exist_ok=True)
    settings = {"fail": [], "unpicklable": [], "kill": -1, **parameters}
    return flow(datastore=datastores.Local(str(root / "store")), executor=Ray())(
        marks=str(marks), progress=False, **settings
    )


def attempts(execution: Any) -> dict[int, list[str]]:
    return {split.index: [attempt.state for attempt in split.attempts] for split in execution.splits("Each")}


def tasks_of(execution: Any) -> list[list[int]]:
    """The splits that ran in each Ray task (their last attempts), in split order."""
    each = execution.layer("Each")
    shared: dict[str, list[int]] = {}
    for n, task in zip(each.n, each.task, strict=True):
        shared.setdefault(task, []).append(n)
    return sorted(shared.values())


def test_batched_and_unbatched_runs_give_the_same_results_and_records(tmp_path: Path) -> None:
    count = 60
    found = {}
    for batch in (1, 7, None):
        execution = run(fan_out(batch), tmp_path / str(batch), count=count)
        each = execution.layer("Each")
        found[batch] = (
            list(each.n),
            list(each.square),
            execution.layer("Total").total,
            attempts(execution),
            {name: (state.phase, state.attempt) for name, state in execution.layers().items()},
        )
        shared = tasks_of(execution)
        if batch == 1:
            assert shared == [[n] for n in range(count)]
        elif batch == 7:  # pinned: seven a task, in order, the last what is left
            assert shared == [list(range(start, min(start + 7, count))) for start in range(0, count, 7)]
        else:  # adaptive: trivial splits share tasks
            assert len(shared) < count, shared
    assert found[1] == found[7] == found[None]
    assert found[1][2] == sum(n * n for n in range(count))
    assert set(map(tuple, found[1][3].values())) == {("finished",)}


def test_quick_splits_share_the_reports_of_their_batch_and_each_stays_a_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from laminar_ray import cluster

    read = []
    ready_items = cluster.ready_items

    def counted(generator: Any) -> Any:
        found = ready_items(generator)
        read.append(len(found[0]))
        return found

    monkeypatch.setattr(cluster, "ready_items", counted)
    count = 400
    execution = run(fan_out(None), tmp_path, count=count)
    assert execution.layer("Total").total == sum(n * n for n in range(count))
    assert set(map(tuple, attempts(execution).values())) == {("finished",)}
    # each split that Total reads yields its artifacts; the outcomes come in reports: one per split at
    # first (nothing measured), then one for many
    batches = len(tasks_of(execution))
    assert count + batches <= sum(read) < 2 * count, (sum(read), batches)


def test_a_split_that_raises_inside_a_batch_fails_alone_and_is_retried_alone(tmp_path: Path) -> None:
    execution = run(fan_out(5, retry=Retry(attempts=2, delay=0)), tmp_path, count=10, fail=[3])
    assert execution.layer("Total").total == sum(n * n for n in range(10))
    tried = attempts(execution)
    assert tried[3] == ["failed", "finished"]
    assert all(tried[n] == ["finished"] for n in range(10) if n != 3), tried
    # its batch went on: splits 0-2 and 4 ran in one task, split 3's retry in another
    shared = tasks_of(execution)
    assert [0, 1, 2, 4] in shared and [3] in shared, shared


def test_an_exception_that_cannot_travel_back_fails_its_split_alone_and_names_its_type(tmp_path: Path) -> None:
    execution = run(fan_out(5, retry=Retry(attempts=2, delay=0)), tmp_path, count=10, unpicklable=[1])
    assert execution.layer("Total").total == sum(n * n for n in range(10))
    tried = attempts(execution)
    assert tried[1] == ["failed", "finished"]
    assert all(tried[n] == ["finished"] for n in range(10) if n != 1), tried  # its report's others kept
    (split,) = [split for split in execution.splits("Each") if split.index == 1]
    (failed,) = [attempt for attempt in split.attempts if attempt.state == "failed"]
    assert "TwoPart: n is 1" in (failed.error or ""), failed.error
    assert "cannot be sent back" in (failed.error or ""), failed.error


def test_a_worker_killed_mid_batch_keeps_the_finished_splits_and_reruns_the_rest(tmp_path: Path) -> None:
    execution = run(fan_out(5, retry=Retry(attempts=2, delay=0)), tmp_path, count=5, kill=2)
    assert execution.layer("Total").total == sum(n * n for n in range(5))
    tried = attempts(execution)
    assert tried[0] == tried[1] == ["finished"], tried  # done before the kill: kept, not run again
    assert tried[2] == tried[3] == tried[4] == ["failed", "finished"], tried  # one failed attempt each


# -- streaming and task options ---------------------------------------------------------------------


class Chained(Flow): ...


@Chained.register
class Numbers(Layer):
    def __call__(self) -> None:
        self.shard(n=[0, 1])


STEP = 1.5


@Chained.register(container=LIGHT, foreach=ForEach(parameters=[Parameter(layer=Numbers, attribute="n")], batch=2))
class Slow(Layer):
    def __call__(self, numbers: Numbers) -> None:
        self.task = task_id()
        time.sleep(STEP)
        self.n = numbers.n
        self.ended = time.time()


@Chained.register(container=LIGHT, foreach=ForEach(parameters=[Parameter(layer=Slow, attribute="n", index=None)]))
class Then(Layer):
    def __call__(self, slow: Slow) -> None:
        self.started = time.time()
        self.n = slow.n


def test_a_chained_foreach_streams_split_by_split_inside_a_batch(tmp_path: Path) -> None:
    from laminar_ray import Ray

    execution = Chained(datastore=datastores.Local(str(tmp_path)), executor=Ray())(progress=False)
    slow, then = execution.layer(Slow), execution.layer(Then)
    assert list(then.n) == [0, 1]
    assert slow.task[0] == slow.task[1]  # one batch (so the other of the tests' two workers is free)
    # split 0 downstream started when split 0 upstream finished, before its batch-mate (split 1) did
    assert slow.ended[0] <= then.started[0] < slow.ended[1], (list(slow.ended), list(then.started))


class Sized(Flow): ...


@Sized.register
class Sizes(Layer):
    def __call__(self) -> None:
        self.shard(n=list(range(8)))


@Sized.register(foreach=ForEach(parameters=[Parameter(layer=Sizes, attribute="n")], batch=4))
class Work(Layer):
    def __call__(self, sizes: Sizes) -> None:
        import ray

        self.task = task_id()
        self.memory = ray.get_runtime_context().get_assigned_resources()["memory"]
        self.n = sizes.n

    @hooks.submission
    def size(self, sizes: Sizes) -> None:  # a hook sees the dependency whole; self.index names the split
        self.configuration.container.cpu = 0.5
        self.configuration.container.memory = 100 if sizes.n[unwrap(self.index)] % 2 else 200


def test_splits_whose_hooks_ask_for_different_resources_never_share_a_task(tmp_path: Path) -> None:
    from laminar_ray import Ray

    work = Sized(datastore=datastores.Local(str(tmp_path)), executor=Ray())(progress=False).layer(Work)
    by_task: dict[str, list[int]] = {}
    for n, task in zip(work.n, work.task, strict=True):
        by_task.setdefault(task, []).append(n)
    # never a task of both requests (odd splits ask for 100 MB, even ones for 200 MB), and splits did share
    # tasks; how a request's four splits are cut depends on when their submission hooks (Ray tasks of their
    # own) come back: a group is sent as it is whenever the run is idle, so [0, 2, 4] + [6] happens too
    assert all(len({n % 2 for n in splits}) == 1 for splits in by_task.values()), by_task
    assert sorted(n for splits in by_task.values() for n in splits) == list(range(8))
    assert len(by_task) < 8 and max(len(splits) for splits in by_task.values()) > 1, by_task
    for n, memory in zip(work.n, work.memory, strict=True):
        assert memory == pytest.approx((100 if n % 2 else 200) * 1024 * 1024)


@pytest.mark.slow
def test_resume_after_the_driver_is_killed_mid_batched_fan_out_reruns_no_finished_split(tmp_path: Path) -> None:
    import ray

    sys.path.insert(0, str(SCRIPTS))
    from batchcrash import BatchCrash, Square, Total

    from laminar_ray import Ray

    root, log = tmp_path / "store", tmp_path / "log"
    log.touch()
    address = ray.get_runtime_context().gcs_address

    def finished() -> set[int]:
        return datastores.Local(str(root)).finished_splits("BatchCrash", "crashed", "Square")

    driver = subprocess.Popen([sys.executable, str(SCRIPTS / "batchcrash.py"), str(root), address, str(log)])
    try:
        deadline = time.monotonic() + 120
        while len(finished()) < 4:
            assert driver.poll() is None, "the flow ended before it could be interrupted"
            assert time.monotonic() < deadline, "no split finished in time"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    done_before = finished()
    assert 4 <= len(done_before) < 18
    started = Counter(int(line) for line in log.read_text().split())
    assert any(n not in done_before for n in started), "no batch was cut short by the kill"

    execution = BatchCrash(datastore=datastores.Local(str(root)), executor=Ray()).execution("crashed").resume()
    assert execution.layer(Total).total == sum(n * n for n in range(18))
    runs = Counter(int(line) for line in log.read_text().split())
    assert all(runs[n] == 1 for n in done_before), (runs, done_before)  # finished before the kill: kept
    assert set(runs) == set(range(18))
    assert len(set(execution.layer(Square).task)) < 18  # splits shared tasks
