"""On Ray, a plain layer that every split of a foreach layer reads is deserialized once per worker, not per split.

The first tasks carry its ref, later ones only its key (but for one in CARRY_EVERY at random); a worker
that lacks the value gets the task again with the ref.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter
from laminar.executors.base import Run
from laminar.task import Task, TaskKind
from laminar_ray.wire import Again

pytestmark = pytest.mark.usefixtures("ray_cluster")

SPLITS = 40


class Counted:
    """A value that appends its process id to ``log`` each time it is unpickled."""

    def __init__(self, log: str, slow: bool = False) -> None:
        self.log = log
        self.slow = slow

    def __reduce__(self) -> tuple[Any, ...]:
        return _loaded, (self.log, self.slow)


def _loaded(log: str, slow: bool) -> Counted:
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    return Counted(log, slow)


class Shared(Flow): ...


@Shared.register
class Source(Layer):
    def __call__(self, p: Parameters) -> None:
        self.model = Counted(p.log, p.slow)
        self.shard(n=list(range(SPLITS)))


# One split a task: this module holds how unbatched tasks carry a shared input (in a batch its first
# split carries the ref, which its worker keeps for the others: tests/ray/test_batching.py).
@Shared.register(
    container=Container(cpu=0.5, memory=0),
    foreach=ForEach(parameters=[Parameter(layer=Source, attribute="n")], batch=1),
)
class Use(Layer):
    def __call__(self, source: Source) -> None:
        if source.n == 0 and source.model.slow:
            time.sleep(1.0)  # holds its worker, so that the next splits go to others
        with open(f"{source.model.log}.runs", "a") as runs:
            runs.write(f"{source.n}\n")
        self.log = source.model.log
        self.n = source.n
        self.pid = os.getpid()


@Shared.register
class Gather(Layer):
    """A join: submitted ahead, while the splits it reads are in flight."""

    def __call__(self, use: Use) -> None:
        self.n = list(use.n)


def _run(tmp_path: Path, *, slow: bool) -> tuple[Use, collections.Counter[str]]:
    """Run the flow on Ray: its Use layer (checked) and how many times each process loaded the model."""
    from laminar_ray import Ray

    log = tmp_path / "loads"
    log.touch()
    flow = Shared(datastore=datastores.Local(str(tmp_path / "store")), executor=Ray())
    execution = flow(log=str(log), slow=slow, progress=False)
    use = execution.layer(Use)
    assert sorted(use.n) == list(range(SPLITS)) and set(use.log) == {str(log)}
    assert execution.layer(Gather).n == list(range(SPLITS))
    return use, collections.Counter(log.read_text().split())


def test_a_plain_layer_read_by_every_split_is_loaded_once_per_worker(tmp_path: Path) -> None:
    use, loads = _run(tmp_path, slow=False)
    workers = {str(pid) for pid in use.pid}
    # Every worker that ran splits loaded the shared value exactly once (resolved per split, it would be
    # loaded SPLITS times in all).
    assert set(loads) == workers, (loads, workers)
    assert all(count == 1 for count in loads.values()), loads
    assert sum(loads.values()) < SPLITS


def _only_split_0_carries(monkeypatch: pytest.MonkeyPatch, *, carry_every: int) -> list[str]:
    """Split 0 alone carries the ref among the first tasks, then one task in ``carry_every``; the labels
    of the tasks sent again (filled as the flow runs)."""
    from laminar_ray import cluster, outputs, session

    monkeypatch.setattr(cluster.Cluster, "cpus", lambda self: 1)
    monkeypatch.setattr(outputs, "CARRY_EVERY", carry_every)
    resent: list[str] = []
    submit = session.Session._submit

    def counted(self: session.Session, task: Any, *, carry: bool) -> None:
        if carry:  # only a task that ran nothing is sent again carrying every ref
            resent.append(task.label)
        submit(self, task, carry=carry)

    monkeypatch.setattr(session.Session, "_submit", counted)
    return resent


def test_a_worker_that_lacks_a_shared_input_gets_the_task_again_with_its_ref(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only split 0 carries the ref, and holds its worker a second: the splits that other workers take
    first come with the key alone, find nothing kept, and go again with the ref; every split runs once.
    The join, submitted ahead of them, ran nothing either and went again with their new outputs."""
    resent = _only_split_0_carries(monkeypatch, carry_every=10**9)
    use, loads = _run(tmp_path, slow=True)
    assert list(use.n) == list(range(SPLITS))
    assert "Gather" in resent and "Use[0]" not in resent, resent
    # each split ran its layer once: a task sent back had run nothing
    assert sorted(int(n) for n in (tmp_path / "loads.runs").read_text().split()) == list(range(SPLITS))
    assert set(loads) == {str(pid) for pid in use.pid} and all(count == 1 for count in loads.values()), loads


def test_tasks_that_carry_the_ref_at_random_reach_the_workers_the_first_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but every later task carries the ref too (one in one): no worker misses it."""
    resent = _only_split_0_carries(monkeypatch, carry_every=1)
    use, loads = _run(tmp_path, slow=True)
    assert list(use.n) == list(range(SPLITS)) and resent == []
    assert set(loads) == {str(pid) for pid in use.pid} and all(count == 1 for count in loads.values()), loads


def test_after_the_first_tasks_about_one_in_carry_every_carries_the_ref(tmp_path: Path) -> None:
    import random

    import ray

    from laminar_ray import Ray, outputs
    from laminar_ray.session import Session

    flow = Shared(datastore=datastores.Local(str(tmp_path)))
    opened = Ray().open(Run("Shared", "an-execution", flow.graph(), flow.configuration.datastore))
    assert isinstance(opened, Session)
    held = opened._outputs
    held._random = random.Random(0)
    ref = ray.put("shared")
    entries = [held._shared_entry(ref) for _ in range(held._carriers + 1600)]
    assert all(entry is ref for entry in entries[: held._carriers])
    later = entries[held._carriers :]
    assert set(later) == {ref, ref.hex()}
    assert 50 <= later.count(ref) <= 150, later.count(ref)  # 100 expected, 1600 / CARRY_EVERY
    assert outputs.CARRY_EVERY == 16


def test_a_key_the_worker_holds_no_value_for_is_missing_or_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from laminar_ray import worker
    from laminar_ray.kept import Kept

    dropped_keys: collections.deque[str] = collections.deque(maxlen=64)
    monkeypatch.setattr(worker, "_dropped", dropped_keys)
    monkeypatch.setattr(worker, "_shared", Kept(worker.SHARED, dropped=dropped_keys.append))
    worker._shared["kept"] = "value"
    assert worker._shared_inputs(["kept"]) == ["value"]
    with pytest.raises(worker._Missing) as missing:
        worker._shared_inputs(["kept", "never resolved here"])
    assert missing.value.outcome is Again.missing
    for n in range(worker.SHARED):  # fills the cache: "kept" is dropped
        worker._shared.keep(f"filler {n}", lambda: None)
    with pytest.raises(worker._Missing) as dropped:
        worker._shared_inputs(["kept"])
    assert dropped.value.outcome is Again.dropped


def test_a_task_whose_worker_dropped_a_shared_input_makes_every_later_task_carry_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that never had the value: the task goes again with its refs. One that dropped it (its cache
    full): every later task carries its refs too."""
    from laminar_ray import Ray
    from laminar_ray.session import Session

    flow = Shared(datastore=datastores.Local(str(tmp_path)))
    graph = flow.graph()
    opened = Ray().open(Run("Shared", "an-execution", graph, flow.configuration.datastore))
    assert isinstance(opened, Session)
    sent: list[tuple[int, bool]] = []
    monkeypatch.setattr(opened, "_submit", lambda task, *, carry: sent.append((task.key, carry)))
    tasks = [Task(n, TaskKind.run, "Use", n, SPLITS, 1, graph["Use"].configuration, {}) for n in range(2)]
    carriers = opened._outputs._carriers
    assert opened._received(tasks[0], Again.missing.value) is None
    assert sent == [(0, True)] and opened._outputs._carriers == carriers
    assert opened._received(tasks[1], Again.dropped.value) is None
    assert sent == [(0, True), (1, True)] and opened._outputs._carriers == sys.maxsize


def test_a_call_sends_shared_keys_in_its_blob_and_only_refs_as_arguments() -> None:
    import ray

    from laminar.task import Input, TaskKind
    from laminar_ray import wire

    ref = ray.put([{"x": 1}, []])
    call = wire.Call(
        "execution", b"context", ["a key", ref, "another"], TaskKind.run, "Use", 3, 10, 0,
        {"source": Input("Source", "finished", 0, {"n": 3}, 1)}, None, None, {"source": (~1,)},
    )  # fmt: skip
    args = call.wire(["value"])
    assert len(args) == 3 and args[1] == [ref] and args[2] == "value"  # blob, the refs, the values
    assert wire.Call.unwire(args) == (call, ("value",))
    keyed = wire.Call(**{**call.__dict__, "boxed": ["a key"]})
    assert len(keyed.wire([])) == 1  # a task that carries keys alone sends its blob alone
    assert wire.Call.unwire(keyed.wire([]))[0] == keyed
