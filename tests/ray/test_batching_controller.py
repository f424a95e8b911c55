"""The batch-size controller (laminar_ray.batching) against literal sequences, and ForEach's ``batch``.

The controller is pure (no clock, no Ray), so these drive it one batch at a time with chosen durations.
"""

from __future__ import annotations

import math
import random

import pytest

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import ForEach, Parameter
from laminar.errors import ConfigurationError
from laminar.options import LayerConfiguration
from laminar_ray.batching import MAXIMUM, Controller


def drain(controller: Controller, total: int, slots: int, per_split: float) -> list[int]:
    """Submit a whole fan-out of ``total`` splits of ``per_split`` seconds, observing each batch as it is cut
    (as if it ran at once); return the sizes."""
    sizes = []
    remaining = total
    while remaining:
        size = controller.size(remaining=remaining, slots=slots)
        assert 1 <= size <= remaining
        sizes.append(size)
        remaining -= size
        controller.observe(splits=size, seconds=size * per_split)
    return sizes


def test_it_starts_with_one_split_and_grows_by_at_most_doubling_while_batches_run_short() -> None:
    controller = Controller(target=0.05)
    sizes = []
    for _ in range(8):
        size = controller.size(remaining=10_000, slots=2)
        sizes.append(size)
        controller.observe(splits=size, seconds=size * 0.0001)  # 0.1 ms a split: ideal 500
    assert sizes == [1, 2, 4, 8, 16, 32, 64, 128]


def test_it_settles_at_the_size_that_runs_a_batch_for_the_target() -> None:
    controller = Controller(target=0.05)
    sizes: list[int] = []
    for _ in range(30):
        size = controller.size(remaining=10**6, slots=2)
        controller.observe(splits=size, seconds=size * 0.001)  # 1 ms a split: 50 make the target
        sizes.append(size)
    assert sizes[-10:] == [50] * 10
    assert max(sizes) == 50  # never overshoots the target


def test_it_never_exceeds_its_maximum_however_fast_splits_are() -> None:
    controller = Controller(target=0.05)
    for _ in range(40):
        size = controller.size(remaining=10**7, slots=2)
        controller.observe(splits=size, seconds=0.0)  # below the clock's resolution
    assert controller.size(remaining=10**7, slots=2) == MAXIMUM
    assert Controller(maximum=7).size(remaining=100, slots=1) == 1


def test_slow_splits_shrink_the_size_at_once_and_splits_of_a_second_run_one_per_task() -> None:
    controller = Controller(target=0.05)
    for _ in range(12):
        size = controller.size(remaining=10**6, slots=2)
        controller.observe(splits=size, seconds=size * 0.0001)
    assert controller.size(remaining=10**6, slots=2) == 500
    controller.observe(splits=500, seconds=500 * 0.001)  # splits became 10x slower: 50 make the target
    assert controller.size(remaining=10**6, slots=2) == 50
    controller.observe(splits=50, seconds=50 * 1.0)  # a second each
    assert controller.size(remaining=10**6, slots=2) == 1
    for _ in range(5):
        controller.observe(splits=1, seconds=1.0)
        assert controller.size(remaining=10**6, slots=2) == 1


def test_a_fan_out_of_slow_splits_runs_one_split_a_task_from_the_first() -> None:
    assert drain(Controller(target=0.05), total=20, slots=2, per_split=0.2) == [1] * 20


def test_there_are_never_fewer_batches_than_slots_while_work_remains_and_the_tail_gets_finer() -> None:
    controller = Controller(target=0.05)
    for _ in range(20):  # warmed up on fast splits: it would take 1024 a batch
        controller.observe(splits=controller.size(remaining=10**6, slots=4), seconds=0.0)
    assert controller.size(remaining=10**6, slots=4) == MAXIMUM
    sizes = drain(controller, total=100, slots=4, per_split=0.0)
    assert sum(sizes) == 100
    remaining = 100
    for size in sizes:  # guided self-scheduling: each batch at most its share of what is left
        assert size <= math.ceil(remaining / 4)
        remaining -= size
    assert sizes[:4] == [25, 19, 14, 11]
    assert sizes[-4:] == [1, 1, 1, 1]  # the last splits of the fan-out, one per slot


def test_a_tail_batch_kept_small_by_the_parallelism_rule_does_not_lower_the_size() -> None:
    controller = Controller(target=0.05)
    for _ in range(10):
        controller.observe(splits=controller.size(remaining=10**6, slots=2), seconds=0.0)
    before = controller.size(remaining=10**6, slots=2)
    controller.observe(splits=1, seconds=0.0)
    assert controller.size(remaining=10**6, slots=2) == before


def test_random_durations_always_cut_the_whole_fan_out_within_the_rules() -> None:
    rng = random.Random(26)
    for _ in range(200):
        controller = Controller(target=rng.choice([0.01, 0.05, 0.2]))
        total, slots = rng.randint(1, 5_000), rng.randint(1, 16)
        remaining, sizes = total, []
        while remaining:
            size = controller.size(remaining=remaining, slots=slots)
            assert 1 <= size <= min(remaining, math.ceil(remaining / slots), MAXIMUM)
            sizes.append(size)
            remaining -= size
            controller.observe(splits=size, seconds=size * rng.choice([0.0, 1e-5, 1e-3, 0.1, 2.0]))
        assert sum(sizes) == total
        assert len(sizes) >= min(slots, total)


def test_a_pinned_size_is_kept_whatever_the_durations_and_the_last_batch_is_what_is_left() -> None:
    controller = Controller(pinned=30)
    assert drain(controller, total=100, slots=8, per_split=5.0) == [30, 30, 30, 10]
    assert drain(Controller(pinned=1), total=5, slots=1, per_split=0.0) == [1] * 5
    assert Controller(pinned=30).size(remaining=0, slots=2) == 0


def test_a_report_covers_one_split_until_durations_are_measured_then_what_runs_in_report_seconds() -> None:
    controller = Controller(target=0.05, report=0.005)
    assert controller.together() == 1  # nothing measured: each split is reported as it ends
    controller.observe(splits=4, seconds=4 * 0.0001)  # 0.1 ms a split
    assert controller.together() == 50
    controller.observe(splits=2, seconds=2 * 1.0)  # slow now: one a report again
    assert controller.together() == 1


def test_a_report_never_covers_more_than_a_batch_holds_at_most_and_a_pinned_size_reports_each_split() -> None:
    fast = Controller(maximum=100, report=1.0)
    fast.observe(splits=10, seconds=0.0)
    assert fast.together() == 1  # a duration of 0 measures nothing
    fast.observe(splits=10, seconds=1e-6)
    assert fast.together() == 100
    pinned = Controller(pinned=100)
    pinned.observe(splits=100, seconds=0.001)
    assert pinned.together() == 1


def test_nothing_remaining_is_a_batch_of_none() -> None:
    assert Controller().size(remaining=0, slots=4) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"target": 0.0}, "target must be > 0 seconds (got 0.0)"),
        ({"maximum": 0}, "maximum must be >= 1 split (got 0)"),
        ({"pinned": 0}, "pinned must be >= 1 split or None to adapt (got 0)"),
    ],
)
def test_a_controller_refuses_sizes_that_cannot_work(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match="Controller: " + message.replace("(", r"\(").replace(")", r"\)")):
        Controller(**arguments)  # type: ignore[arg-type]


# -- ForEach(batch=...) ----------------------------------------------------------------------------


class Batched(Flow): ...


@Batched.register
class Source(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(3))


def test_foreach_batch_defaults_to_adaptive_and_takes_a_whole_number_of_splits() -> None:
    parameters = [Parameter(layer=Source, attribute="n")]
    assert ForEach(parameters=parameters).batch is None
    assert ForEach(parameters=parameters, batch=1).batch == 1
    assert ForEach(parameters, batch=250).batch == 250
    configuration = LayerConfiguration(foreach=ForEach(parameters, batch=8))
    copy = configuration.copy_for_run()
    assert copy.foreach is not None and copy.foreach.batch == 8


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "4"])
def test_foreach_batch_refuses_what_is_not_a_whole_number_of_splits(value: object) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ForEach([Parameter(layer=Source, attribute="n")], batch=value)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "ForEach: batch: batch must be a whole number of splits >= 1, or None to let the backend"
        f" choose (got {value!r})"
    )


def test_foreach_batch_is_validated_on_assignment_too() -> None:
    foreach = ForEach([Parameter(layer=Source, attribute="n")])
    with pytest.raises(ConfigurationError, match="batch must be a whole number of splits >= 1"):
        foreach.batch = 0
    foreach.batch = 16
    assert foreach.batch == 16
