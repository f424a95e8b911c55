"""Fine-grained fan-outs: laminar's ForEach on Ray against raw Ray one task per item and hand-batched.

The baselines of issue #26 (adaptive split batching), paired in one run on one local Ray, in the style of
``ray_overhead.py`` (whose measuring helpers it uses): every variant runs once per round, interleaved,
each round starting with the next variant, each laminar run writing its records and artifacts durably to a
fresh ``Local`` datastore::

    .venv/bin/python benchmarks/fanout_scale.py                 # 100,000 trivial items, then the real work
    .venv/bin/python benchmarks/fanout_scale.py --quick         # 10,000 trivial items, less work
    .venv/bin/python benchmarks/fanout_scale.py --items 1000000 --only trivial

Variants:

- ``laminar``: ``ForEach`` over the items on ``Ray()``, one split an item.
- ``raw-per-item``: one ``.remote()`` per item, all submitted at once, then one ``ray.get`` of them all.
- ``raw-batched``: what a Ray expert writes: the items cut into ``4 x CPUs`` chunks, one task a chunk
  (a few tasks per CPU balance uneven chunks without paying per-item overhead).

Workloads: ``trivial`` (N items, each returns its number) and ``work`` (1,000 splits of 10 ms and 200 of
100 ms of CPU-bound work: a busy loop on the worker thread's CPU clock, not a sleep, so each item costs
the same CPU however loaded the machine is). For each variant: wall, the driver's CPU seconds (this
process, every thread: Ray's core worker included, whose own timers cost CPU even while the driver only
waits: printed first, per second idle) per item, and the growth of the driver's peak RSS; each wall is
also given as a ratio to each raw variant measured in the same round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import ray

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import ForEach, Parameter
from laminar_ray import Ray

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ray_overhead import MIB, Sample, _clean, laminar_run, measure  # the sibling script's helpers


def spin(seconds: float) -> None:
    """Busy for ``seconds`` of this thread's CPU: real work whose cost does not depend on the machine's load."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


# -- laminar ---------------------------------------------------------------------------------------


class Trivial(Flow): ...


@Trivial.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Trivial.register(foreach=ForEach(parameters=[Parameter(layer=Items, attribute="n")]))
class Echo(Layer):
    def __call__(self, items: Items) -> None:
        self.n = items.n


class Work(Flow): ...


@Work.register
class Jobs(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Work.register(foreach=ForEach(parameters=[Parameter(layer=Jobs, attribute="n")]))
class Spin(Layer):
    def __call__(self, jobs: Jobs, p: Parameters) -> None:
        spin(p.ms / 1000)
        self.n = jobs.n


def splits_of(layer: type[Layer], count: int) -> Callable[[Any], None]:
    def check(execution: Any) -> None:
        assert execution.layer(layer).splits == count

    return check


# -- raw Ray ---------------------------------------------------------------------------------------


@ray.remote
def echo(n: int) -> int:
    return n


@ray.remote
def echo_chunk(items: list[int]) -> list[int]:
    return [n for n in items]


@ray.remote
def spin_one(n: int, ms: float) -> int:
    spin(ms / 1000)
    return n


@ray.remote
def spin_chunk(items: list[int], ms: float) -> list[int]:
    for _ in items:
        spin(ms / 1000)
    return items


def chunks(count: int, parts: int) -> list[list[int]]:
    """``range(count)`` cut into ``parts`` chunks of sizes differing by at most one."""
    size, extra = divmod(count, parts)
    cuts, start = [], 0
    for part in range(parts):
        end = start + size + (part < extra)
        if end > start:
            cuts.append(list(range(start, end)))
        start = end
    return cuts


def raw_per_item(count: int, ms: float | None) -> Callable[[], None]:
    def body() -> None:
        if ms is None:
            refs = [echo.remote(n) for n in range(count)]
        else:
            refs = [spin_one.remote(n, ms) for n in range(count)]
        assert ray.get(refs) == list(range(count))

    return body


def raw_batched(count: int, ms: float | None, parts: int) -> Callable[[], None]:
    def body() -> None:
        if ms is None:
            refs = [echo_chunk.remote(chunk) for chunk in chunks(count, parts)]
        else:
            refs = [spin_chunk.remote(chunk, ms) for chunk in chunks(count, parts)]
        assert [n for chunk in ray.get(refs) for n in chunk] == list(range(count))

    return body


# -- comparing -------------------------------------------------------------------------------------

RAW = ("raw-per-item", "raw-batched")


def ratio(found: list[Sample], base: list[Sample]) -> str:
    """The median of the rounds' own wall ratios (a round's runs are seconds apart, the machine drifts)."""
    ratios = [sample.seconds / other.seconds for sample, other in zip(found, base, strict=True)]
    return f"{statistics.median(ratios):.2f}x"


def compare(title: str, items: int, variants: dict[str, Callable[[], None]], rounds: int, warm: bool) -> None:
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    if warm:  # workers started, functions exported: not measured
        for body in variants.values():
            measure(body)
    names = list(variants)
    for round in range(rounds):
        # Each round starts with another variant: the first run after a cleanup is not always the fastest.
        for name in names[round % len(names) :] + names[: round % len(names)]:
            samples[name].append(measure(variants[name]))
    print(f"\n{title} (median of {rounds})")
    for name, found in samples.items():
        seconds = statistics.median(sample.seconds for sample in found)
        cpu = statistics.median(sample.cpu for sample in found)
        rss = statistics.median(sample.rss for sample in found)
        ratios = "  ".join(f"{ratio(found, samples[raw])} {raw}" for raw in RAW if raw in samples and raw != name)
        print(
            f"  {name:<13} wall {seconds:8.3f} s   driver CPU {cpu:7.2f} s = {1e6 * cpu / items:6.1f} us/split"
            f"   driver peak RSS +{rss / MIB:7.1f} MiB   {ratios}"
        )
    sys.stdout.flush()


def run_trivial(args: argparse.Namespace, executor: Ray, parts: int) -> None:
    count = args.items or (10_000 if args.quick else 100_000)
    compare(
        f"trivial: {count} items, raw batched as {min(parts, count)} tasks",
        count,
        {
            "raw-batched": raw_batched(count, None, parts),
            "raw-per-item": raw_per_item(count, None),
            "laminar": laminar_run(Trivial, executor, splits_of(Echo, count), count=count),
        },
        args.rounds,
        warm=False,  # a first run is the real cost at this size; the warm-up in main() started the workers
    )


def run_work(args: argparse.Namespace, executor: Ray, parts: int) -> None:
    sizes = [(250, 10.0), (50, 100.0)] if args.quick else [(1_000, 10.0), (200, 100.0)]
    for count, ms in sizes:
        compare(
            f"work: {count} items of {ms:g} ms CPU, raw batched as {min(parts, count)} tasks",
            count,
            {
                "raw-batched": raw_batched(count, ms, parts),
                "raw-per-item": raw_per_item(count, ms),
                "laminar": laminar_run(Work, executor, splits_of(Spin, count), count=count, ms=ms),
            },
            args.work_rounds,
            warm=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 trivial items and a quarter of the work")
    parser.add_argument("--items", type=int, default=None, help="trivial items (default 100,000; --quick 10,000)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the trivial fan-out (default 1)")
    parser.add_argument("--work-rounds", type=int, default=3, help="rounds of each real-work fan-out (default 3)")
    parser.add_argument("--only", nargs="*", choices=["trivial", "work"], default=None)
    args = parser.parse_args()
    chosen = args.only or ["trivial", "work"]
    started = time.perf_counter()
    ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:
        executor = Ray()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        parts = 4 * cpus
        warm_up = [raw_per_item(100, None), raw_batched(100, None, parts)]
        warm_up += [raw_per_item(10, 1.0), raw_batched(10, 1.0, 2)]
        for body in warm_up:
            body()  # workers started, functions exported
        laminar_run(Trivial, executor, splits_of(Echo, 100), count=100)()
        laminar_run(Work, executor, splits_of(Spin, 10), count=10, ms=1.0)()
        _clean()
        print(f"fine-grained fan-outs: laminar vs raw Ray, {cpus} CPUs, Ray {ray.__version__}; durable Local datastore")
        idle = time.process_time()
        time.sleep(2.0)
        print(f"driver CPU while idle: {(time.process_time() - idle) / 2.0:.3f} s a second (in every figure below)")
        if "trivial" in chosen:
            run_trivial(args, executor, parts)
        if "work" in chosen:
            run_work(args, executor, parts)
    finally:
        ray.shutdown()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
