"""Starting ahead on a session that pipelines (Ray): the scheduler driven by the :class:`Pipelined` fake."""

from __future__ import annotations

from dataclasses import dataclass

from scheduling import Clock, Fake, Pipelined, Skipping, fail, phases, prefer, run

from laminar import Flow, Layer
from laminar.configurations.layers import ForEach, Parameter, Retry
from laminar.errors import ResourceError
from laminar.task import Task


class Chain(Flow): ...


@Chain.register(retry=Retry(attempts=2, delay=1, jitter=0))
class First(Layer):
    def __call__(self) -> None:
        self.x = 0


@Chain.register
class Second(Layer):
    def __call__(self, first: First) -> None:
        self.x = first.x + 1


@Chain.register
class Third(Layer):
    def __call__(self, second: Second, first: First) -> None:
        self.x = second.x + first.x + 1


def test_a_chain_is_submitted_at_once_when_the_session_pipelines(clock: Clock) -> None:
    fake = Pipelined(clock)
    scheduler = run(Chain, fake)
    assert fake.log[:3] == [("submit", "run", "First"), ("submit", "run", "Second"), ("submit", "run", "Third")]
    assert phases(scheduler) == {"First": "finished", "Second": "finished", "Third": "finished"}
    # the layers started ahead saw their dependencies as finished, and read their artifacts
    third = next(t for t in fake.tasks if t.layer == "Third")
    assert {name: read.state for name, read in third.inputs.items()} == {"Second": "finished", "First": "finished"}
    assert fake.run is not None
    assert fake.run.datastore.split("Chain", fake.run.execution, "Third", 0).get("x") == 2


def test_without_pipelining_each_layer_waits_for_its_dependencies(clock: Clock) -> None:
    fake = Fake(clock)
    run(Chain, fake)
    assert fake.log[:3] == [("submit", "run", "First"), ("complete", "run", "First"), ("submit", "run", "Second")]


def test_a_layer_started_ahead_of_a_failed_attempt_waits_for_the_retry(clock: Clock) -> None:
    fake = Pipelined(clock, errors={("First", 1): RuntimeError("first attempt")})
    scheduler = run(Chain, fake)
    assert phases(scheduler) == {"First": "finished", "Second": "finished", "Third": "finished"}
    # Second and Third failed with First's error: neither was retried as a failure of its own (attempt 1
    # again) and neither left a failure record; they started again once First's retry was in flight.
    assert [(t.layer, t.attempt) for t in fake.tasks] == [
        ("First", 1),
        ("Second", 1),
        ("Third", 1),
        ("First", 2),
        ("Second", 1),
        ("Third", 1),
    ]
    assert fake.run is not None
    store, execution = fake.run.datastore, fake.run.execution
    assert store.attempts("Chain", execution, "Second") == {}  # no failure record of any attempt
    assert store.split("Chain", execution, "Third", 0).get("x") == 2


def test_a_dependency_that_fails_for_good_fails_the_flow_with_its_own_error(clock: Clock) -> None:
    errors: dict[tuple[str, int], BaseException] = {("First", i): RuntimeError(f"first {i}") for i in (1, 2)}
    fake = Pipelined(clock, errors=errors)
    scheduler, _ = fail(Chain, fake, RuntimeError, "first 2")
    assert phases(scheduler) == {"First": "failed", "Second": "waiting", "Third": "waiting"}


@dataclass
class Rejecting(Pipelined):
    """Rejects every task of layer Second at submission, as Ray's session does a request no node can satisfy."""

    def submit(self, task: Task) -> None:
        if task.layer != "Second":
            super().submit(task)
            return
        self.log.append(("submit", task.kind.value, task.label))
        raise ResourceError("Second asks for more than any node has")


def test_a_layer_rejected_at_submission_while_ahead_fails_once_its_dependency_finished(clock: Clock) -> None:
    """Rejected while First runs, Second waits for First (not started ahead again and again), then is
    decided as usual and fails the flow with the rejection."""
    fake = Rejecting(clock)
    scheduler, _ = fail(Chain, fake, ResourceError, "more than any node has")
    assert [entry for entry in fake.log if entry[2] == "Second"] == [("submit", "run", "Second")] * 2
    assert phases(scheduler)["Second"] == "failed"


def test_layers_with_entry_hooks_are_never_started_ahead(clock: Clock) -> None:
    fake = Pipelined(clock)
    scheduler = run(Skipping, fake, go=False)
    assert phases(scheduler) == {"A": "finished", "B": "skipped", "C": "skipped", "D": "skipped", "E": "finished"}
    assert fake.log[:2] == [("submit", "run", "A"), ("complete", "run", "A")]


class Branches(Flow): ...


@Branches.register
class Slow(Layer):
    def __call__(self) -> None:
        self.x = 1


@Branches.register
class AfterSlow(Layer):
    def __call__(self, slow: Slow) -> None:
        self.x = slow.x


@Branches.register
class Breaks(Layer):
    def __call__(self) -> None:
        raise KeyError("breaks")


def test_tasks_started_ahead_are_withdrawn_once_the_flow_is_failing(clock: Clock) -> None:
    fake = Pipelined(clock, pick=prefer("Breaks"))
    scheduler, _ = fail(Branches, fake, KeyError, "breaks")
    assert sorted(label for event, _, label in fake.log[:3] if event == "submit") == ["AfterSlow", "Breaks", "Slow"]
    # Breaks failed while Slow still ran: AfterSlow, waiting on it, was withdrawn and never ran; Slow settled
    assert ("cancel", "run", "AfterSlow") in fake.log
    assert ("complete", "cancelled", "AfterSlow") in fake.log
    assert ("complete", "run", "AfterSlow") not in fake.log
    assert phases(scheduler) == {"Slow": "finished", "AfterSlow": "waiting", "Breaks": "failed"}


def test_waits_are_not_urgent_once_every_layer_was_submitted(clock: Clock) -> None:
    """With the whole chain started ahead no completion can start more work: the session may batch them.
    Without pipelining, each wait but the last may let the next layer start."""
    pipelined = Pipelined(clock)
    run(Chain, pipelined)
    assert pipelined.urgent == [False, False, False]
    fake = Fake(clock)
    run(Chain, fake)
    assert fake.urgent == [True, True, False]


def test_waits_are_urgent_again_once_a_layer_started_ahead_goes_back_to_waiting(clock: Clock) -> None:
    fake = Pipelined(clock, errors={("First", 1): RuntimeError("first attempt")})
    scheduler = run(Chain, fake)
    assert phases(scheduler) == {"First": "finished", "Second": "finished", "Third": "finished"}
    assert fake.urgent[0] is False  # all three in flight
    assert True in fake.urgent[1:]  # Second and Third wait for First's retry
    assert fake.urgent[-1] is False


class Fan(Flow): ...


@Fan.register
class Numbers(Layer):
    def __call__(self) -> None:
        self.shard(n=[1, 2, 3])


@Fan.register(foreach=ForEach(parameters=[Parameter(Numbers, "n")]), retry=Retry(attempts=2, delay=1, jitter=0))
class Double(Layer):
    def __call__(self, numbers: Numbers) -> None:
        self.x = 2 * numbers.n
        self.attempt = self.state.attempt


@Fan.register
class Sum(Layer):
    def __call__(self, double: Double) -> None:
        self.total = sum(double.x)
        self.attempts = list(double.attempt)
        self.attempt = self.state.attempt


def _sum(fake: Pipelined) -> tuple[int, list[int], int]:
    assert fake.run is not None
    found = fake.run.datastore.split("Fan", fake.run.execution, "Sum", 0)
    return found.get("total"), found.get("attempts"), found.get("attempt")


def test_a_join_is_submitted_once_every_split_it_reads_is_in_flight(clock: Clock) -> None:
    fake = Pipelined(clock)
    scheduler = run(Fan, fake)
    splits = [("submit", "run", f"Double[{i}]") for i in range(3)]
    assert fake.log[:6] == [
        ("submit", "run", "Numbers"),
        ("complete", "run", "Numbers"),
        *splits,
        ("submit", "run", "Sum"),
    ]
    assert fake.log[-1] == ("complete", "run", "Sum")  # Ray started it once every split's output existed
    assert phases(scheduler) == {"Numbers": "finished", "Double": "finished", "Sum": "finished"}
    assert _sum(fake) == (12, [1, 1, 1], 1)
    sum_task = next(t for t in fake.tasks if t.layer == "Sum")
    assert sum_task.inputs["Double"].state == "finished" and sum_task.inputs["Double"].splits == 3
    # Double's splits could start only once Numbers finished; then everything that runs was in flight
    assert fake.urgent == [True, False, False, False, False]


def test_a_join_waits_for_the_last_split_held_back_by_capacity(clock: Clock) -> None:
    fake = Pipelined(clock, limit=2)
    run(Fan, fake)
    submitted_last = fake.log.index(("submit", "run", "Double[2]"))
    join = fake.log.index(("submit", "run", "Sum"))
    assert fake.log.index(("complete", "run", "Double[0]")) < submitted_last < join
    assert join < fake.log.index(("complete", "run", "Double[2]"))  # still ahead of the last split
    assert fake.most_in_flight == 2
    assert _sum(fake) == (12, [1, 1, 1], 1)


def test_a_join_started_ahead_of_a_failed_split_runs_once_on_the_retried_output(clock: Clock) -> None:
    fake = Pipelined(clock, errors={("Double[1]", 1): RuntimeError("split 1, first attempt")})
    scheduler = run(Fan, fake)
    assert phases(scheduler) == {"Numbers": "finished", "Double": "finished", "Sum": "finished"}
    # Sum failed with the split's error (not an attempt of its own), and went again once the retry was in flight
    assert [(t.layer, t.index, t.attempt) for t in fake.tasks if t.layer != "Numbers"] == [
        ("Double", 0, 1),
        ("Double", 1, 1),
        ("Double", 2, 1),
        ("Sum", None, 1),
        ("Double", 1, 2),
        ("Sum", None, 1),
    ]
    assert _sum(fake) == (12, [1, 2, 1], 1)
    assert fake.run is not None
    assert fake.run.datastore.attempts("Fan", fake.run.execution, "Sum") == {}  # no failure record of any attempt


def test_a_join_whose_upstream_failure_comes_back_after_the_retry_finished_runs_again(clock: Clock) -> None:
    """On Ray a join started ahead that fails with a split's error may still wait for a worker while the
    split's retry runs and finishes: its failure, seen last, is still the split's, not its own."""
    fake = Pipelined(
        clock,
        errors={("Double[1]", 1): RuntimeError("split 1, first attempt")},
        pick=prefer("Double[0]", "Double[2]", "Double[1]"),
    )
    scheduler = run(Fan, fake)
    assert phases(scheduler) == {"Numbers": "finished", "Double": "finished", "Sum": "finished"}
    completions = [label for event, _, label in fake.log if event == "complete"]
    assert completions[-3:] == ["Double[1]", "Sum", "Sum"]  # the retry, then the join's failure, then its run
    assert [(t.layer, t.index, t.attempt) for t in fake.tasks if t.layer != "Numbers"][-2:] == [
        ("Double", 1, 2),
        ("Sum", None, 1),
    ]
    assert _sum(fake) == (12, [1, 2, 1], 1)
    assert fake.run is not None
    assert fake.run.datastore.attempts("Fan", fake.run.execution, "Sum") == {}  # no failure record of any attempt
