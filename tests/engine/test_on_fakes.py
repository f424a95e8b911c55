"""The scheduler driven by a fake executor that completes one task at a time, chosen by the test
(``scheduling.py``): skipping, entry hooks, streaming, capacity, retries and failures."""

from __future__ import annotations

from dataclasses import dataclass

from scheduling import Clock, Fake, Skipping, fail, phases, prefer, run

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, hooks
from laminar.configurations.layers import Container, ForEach, Parameter, Retry
from laminar.engine.snapshot import Snapshot
from laminar.task import Completion

# -- skip propagation and entry decisions --------------------------------------------------------------


def test_false_entry_hook_skips_the_layer_and_its_subtree(clock: Clock) -> None:
    fake = Fake(clock)
    scheduler = run(Skipping, fake, go=False)
    assert phases(scheduler) == {"A": "finished", "B": "skipped", "C": "skipped", "D": "skipped", "E": "finished"}
    assert fake.log == [
        ("submit", "run", "A"),
        ("complete", "run", "A"),
        ("submit", "entry", "B"),
        ("complete", "entry", "B"),
        ("submit", "entry", "E"),  # C and D were skipped without any task
        ("complete", "entry", "E"),
        ("submit", "run", "E"),
        ("complete", "run", "E"),
    ]


def test_true_entry_hook_opens_the_layer(clock: Clock) -> None:
    fake = Fake(clock)
    scheduler = run(Skipping, fake, go=True)
    assert set(phases(scheduler).values()) == {"finished"}
    assert fake.submitted("run") == ["A", "B", "C", "D", "E"]
    assert fake.submitted("entry") == ["B", "E"]


def test_entry_hook_error_fails_the_flow_with_that_error(clock: Clock) -> None:
    fake = Fake(clock)
    scheduler, _ = fail(Skipping, fake, AttributeError, "go", nothing=1)  # A reads p.go and fails
    assert fake.submitted("entry") == []
    assert phases(scheduler)["A"] == "failed"


# -- streaming 1:1 foreach ---------------------------------------------------------------------------------


class Streaming(Flow): ...


@Streaming.register
class Items(Layer):
    def __call__(self) -> None:
        self.shard(n=[0, 1, 2])


@Streaming.register(foreach=ForEach(parameters=[Parameter(Items, "n")]))
class Stage1(Layer):
    def __call__(self, items: Items) -> None:
        self.n = items.n


@Streaming.register(foreach=ForEach(parameters=[Parameter(Stage1, "n", index=None)]))
class Stage2(Layer):
    def __call__(self, stage1: Stage1) -> None:
        self.n = stage1.n


def test_split_i_of_a_one_to_one_stage_starts_when_split_i_upstream_finished(clock: Clock) -> None:
    fake = Fake(clock, pick=prefer("Items", "Stage1[1]", "Stage2[1]"))
    scheduler = run(Streaming, fake)
    after = fake.log.index(("complete", "run", "Stage1[1]"))
    # the very next submission is Stage2[1], while Stage1[0] and Stage1[2] are still running
    assert fake.log[after + 1] == ("submit", "run", "Stage2[1]")
    assert fake.log.index(("complete", "run", "Stage1[0]")) > after + 1
    assert fake.log.index(("submit", "run", "Stage2[0]")) > fake.log.index(("complete", "run", "Stage1[0]"))
    assert fake.submitted("run")[:4] == ["Items", "Stage1[0]", "Stage1[1]", "Stage1[2]"]
    assert phases(scheduler) == {"Items": "finished", "Stage1": "finished", "Stage2": "finished"}


# -- bounded in flight ----------------------------------------------------------------------------------


class Wide(Flow): ...


@Wide.register
class Many(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Wide.register(foreach=ForEach(parameters=[Parameter(Many, "n")]), retry=Retry(attempts=2, delay=1, jitter=0))
class Each(Layer):
    def __call__(self, many: Many) -> None:
        self.n = many.n


@Wide.register
class Gate1(Layer):
    @hooks.entry
    def yes(self) -> bool:
        return True


@Wide.register
class Gate2(Layer):
    @hooks.entry
    def yes(self) -> bool:
        return True


def test_never_more_than_capacity_in_flight(clock: Clock) -> None:
    fake = Fake(clock, limit=2)
    scheduler = run(Wide, fake, count=7)
    assert fake.most_in_flight == 2
    assert len(fake.submitted("run")) == 1 + 7 + 2
    assert scheduler.layers["Each"].finished == 7


@dataclass
class Burst(Fake):
    """Completes every task in flight at each wait, as Ray's wait hands back many at once."""

    waits: int = 0

    def wait(self, timeout: float | None, *, urgent: bool = True) -> list[Completion]:
        self.waits += 1
        completions = Fake.wait(self, timeout, urgent=urgent)
        while timeout is None and self.pending:
            completions += Fake.wait(self, timeout, urgent=urgent)
        return completions


def test_the_observer_sees_one_snapshot_a_step_not_one_a_completion(clock: Clock) -> None:
    """A snapshot copies every task in flight: the observer gets one after each wait's completions are
    carried out and the state advanced (and one before the first wait), the last showing the end."""
    fake = Burst(clock)
    seen: list[Snapshot] = []
    Wide(datastore=datastores.Memory(), executor=fake)(observer=seen.append, count=20)
    assert len(fake.completed) >= fake.waits + 20  # waits completed many tasks each
    assert len(seen) == fake.waits + 1
    assert seen[-1].layers["Each"].finished == 20 and not seen[-1].in_flight


def test_entry_tasks_respect_capacity(clock: Clock) -> None:
    fake = Fake(clock, limit=1)
    run(Wide, fake, count=2)
    assert fake.most_in_flight == 1


def test_retries_respect_capacity(clock: Clock) -> None:
    # Each[0] fails; while its retry waits, a queued split takes the free slot; when the timer fires
    # the retry must wait for a slot too.
    fake = Fake(clock, limit=2, pick=prefer("Many", "Each[0]"), errors={("Each[0]", 1): RuntimeError("once")})
    scheduler = run(Wide, fake, count=4)
    assert fake.most_in_flight == 2
    assert scheduler.layers["Each"].finished == 4
    assert [t.attempt for t in fake.tasks if t.label == "Each[0]" and t.kind.value == "run"] == [1, 2]


# -- retries ----------------------------------------------------------------------------------------------


class Retrying(Flow): ...


@Retrying.register(retry=Retry(attempts=3, delay=5, backoff=2, jitter=0))
class Flaky(Layer):
    def __call__(self) -> None:
        self.memory = self.configuration.container.memory
        self.attempt = self.state.attempt


class RetryingWithHook(Flow): ...


@RetryingWithHook.register(retry=Retry(attempts=3, delay=5, backoff=2, jitter=0))
class Hooked(Layer):
    def __call__(self) -> None:
        self.memory = self.configuration.container.memory

    @hooks.retry
    def more_memory(self) -> None:
        assert isinstance(self.state.error, MemoryError)
        self.configuration.container.memory *= 2


def test_failed_attempts_are_retried_after_backoff(clock: Clock) -> None:
    fake = Fake(clock, errors={("Flaky", 1): RuntimeError("1"), ("Flaky", 2): RuntimeError("2")})
    scheduler = run(Retrying, fake)
    assert [t.attempt for t in fake.tasks] == [1, 2, 3]
    assert fake.timeouts == [5.0, 10.0]  # delay, then delay * backoff
    assert phases(scheduler) == {"Flaky": "finished"}


def test_retry_gives_up_after_attempts(clock: Clock) -> None:
    errors: dict[tuple[str, int], BaseException] = {("Flaky", i): RuntimeError(f"attempt {i}") for i in (1, 2, 3)}
    fake = Fake(clock, errors=errors)
    scheduler, _ = fail(Retrying, fake, RuntimeError, "attempt 3")
    assert [t.attempt for t in fake.tasks] == [1, 2, 3]
    assert phases(scheduler) == {"Flaky": "failed"}


def test_retry_hooks_run_before_the_wait_and_set_the_next_configuration(clock: Clock) -> None:
    fake = Fake(clock, errors={("Hooked", 1): MemoryError(), ("Hooked", 2): MemoryError()})
    run(RetryingWithHook, fake)
    assert [(t.kind.value, t.attempt) for t in fake.tasks] == [
        ("run", 1),
        ("retry", 1),
        ("run", 2),
        ("retry", 2),
        ("run", 3),
    ]
    runs = [t for t in fake.tasks if t.kind.value == "run"]
    assert [t.configuration.container.memory for t in runs] == [1500, 3000, 6000]


# -- failure -----------------------------------------------------------------------------------------------


class Failing(Flow): ...


@Failing.register
class Bad(Layer):
    def __call__(self) -> None:
        raise KeyError("bad")


@Failing.register
class Good(Layer):
    def __call__(self) -> None:
        self.ok = True


@Failing.register
class AfterGood(Layer):
    def __call__(self, good: Good) -> None: ...


@Failing.register
class AfterBad(Layer):
    def __call__(self, bad: Bad) -> None: ...


def test_failure_stops_new_work_and_raises_after_in_flight_settles(clock: Clock) -> None:
    fake = Fake(clock, pick=prefer("Bad"))
    scheduler, error = fail(Failing, fake, KeyError, "bad")
    # Good was in flight when Bad failed: it was completed before the raise, and nothing else started
    assert fake.log == [
        ("submit", "run", "Bad"),
        ("submit", "run", "Good"),
        ("complete", "run", "Bad"),
        ("complete", "run", "Good"),
    ]
    assert phases(scheduler) == {"Bad": "failed", "Good": "finished", "AfterGood": "waiting", "AfterBad": "waiting"}
    notes = "\n".join(getattr(error, "__notes__", []))
    assert "Failing.Bad" in notes and "resume" in notes


def test_failure_leaves_queued_units_unstarted(clock: Clock) -> None:
    fake = Fake(clock, limit=2, errors={("Each[0]", 1): RuntimeError("x"), ("Each[0]", 2): RuntimeError("x")})
    fail(Wide, fake, RuntimeError, "x", count=5)
    each = [label for label in fake.submitted("run") if label.startswith("Each[")]
    assert "Each[4]" not in each
    assert not fake.pending


def test_hooks_send_back_only_the_container(clock: Clock) -> None:
    """A configuration holds classes (ForEach layers, Catch exceptions); they must not travel back."""
    fake = Fake(clock, errors={("Hooked", 1): MemoryError()})
    run(RetryingWithHook, fake)
    returned = [c.value for c in fake.completed if c.task.kind.value == "retry"]
    assert [type(value) for value in returned] == [Container]
    assert returned[0].memory == 3000
