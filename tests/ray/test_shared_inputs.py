"""On Ray, a plain layer that every split of a foreach layer reads is deserialized once per worker, not per split.

The first tasks carry its ref, later ones only its key; a worker that lacks the value gets the task again
with the ref.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores
from laminar.configurations.layers import Container, ForEach, Parameter

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


@Shared.register(
    container=Container(cpu=0.5, memory=0), foreach=ForEach(parameters=[Parameter(layer=Source, attribute="n")])
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


def _run(tmp_path: Path, *, slow: bool) -> tuple[Use, collections.Counter[str]]:
    """Run the flow on Ray: its Use layer (checked) and how many times each process loaded the model."""
    from laminar_ray import Ray

    log = tmp_path / "loads"
    log.touch()
    flow = Shared(datastore=datastores.Local(str(tmp_path / "store")), executor=Ray())
    use = flow(log=str(log), slow=slow, progress=False).layer(Use)
    assert sorted(use.n) == list(range(SPLITS)) and set(use.log) == {str(log)}
    return use, collections.Counter(log.read_text().split())


def test_a_plain_layer_read_by_every_split_is_loaded_once_per_worker(tmp_path: Path) -> None:
    use, loads = _run(tmp_path, slow=False)
    workers = {str(pid) for pid in use.pid}
    # Every worker that ran splits loaded the shared value exactly once (resolved per split, it would be
    # loaded SPLITS times in all).
    assert set(loads) == workers, (loads, workers)
    assert all(count == 1 for count in loads.values()), loads
    assert sum(loads.values()) < SPLITS


def test_a_worker_that_lacks_a_shared_input_gets_the_task_again_with_its_ref(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only split 0 carries the ref, and holds its worker a second: the splits that other workers take
    first come with the key alone, find nothing kept, and go again with the ref; every split runs once."""
    from laminar_ray import session

    monkeypatch.setattr(session, "_carriers", lambda nodes: 1)
    resent: list[str] = []
    resend = session.Session._resend

    def counted(self: session.Session, task: Any) -> None:
        resent.append(task.label)
        resend(self, task)

    monkeypatch.setattr(session.Session, "_resend", counted)
    use, loads = _run(tmp_path, slow=True)
    assert list(use.n) == list(range(SPLITS))
    assert resent and "Use[0]" not in resent, resent
    # each split ran its layer once: a task sent back had run nothing
    assert sorted(int(n) for n in (tmp_path / "loads.runs").read_text().split()) == list(range(SPLITS))
    assert set(loads) == {str(pid) for pid in use.pid} and all(count == 1 for count in loads.values()), loads


def test_a_key_the_worker_holds_no_value_for_is_missing() -> None:
    from laminar_ray import worker

    worker._shared["kept"] = "value"
    assert worker._shared_inputs(["kept"]) == ["value"]
    with pytest.raises(worker._Missing):
        worker._shared_inputs(["kept", "never resolved here"])


def test_a_call_sends_shared_keys_in_its_blob_and_only_refs_as_arguments() -> None:
    import ray

    from laminar.executors.base import Input, TaskKind
    from laminar_ray import worker

    ref = ray.put([{"x": 1}, []])
    call = worker.Call(
        "execution", b"context", ["a key", ref, "another"], TaskKind.run, "Use", 3, 10, 0,
        {"source": Input("Source", "finished", 0, {"n": 3}, 1)}, None, None, {"source": (~1,)},
    )  # fmt: skip
    args = call.wire(["value"])
    assert len(args) == 3 and args[1] == [ref] and args[2] == "value"  # blob, the refs, the values
    assert worker.Call.unwire(args) == (call, ("value",))
    keyed = worker.Call(**{**call.__dict__, "boxed": ["a key"]})
    assert len(keyed.wire([])) == 1  # a task that carries keys alone sends its blob alone
    assert worker.Call.unwire(keyed.wire([]))[0] == keyed
