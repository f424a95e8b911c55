"""laminar on Ray against raw Ray: chain, fan-out, big data and scale, A/B interleaved.

One process, one local Ray. Every laminar run writes its artifacts durably to a
``Local`` datastore in a fresh temporary directory: that is part of the cost
measured. Each figure is the median of ``--rounds`` rounds (15; ``--big-rounds``, 3,
for the runs that take seconds), laminar and raw Ray alternating within a round,
printed per task and as a ratio to raw Ray: the median of the rounds' own ratios
(a round's runs are seconds apart, while the machine's speed drifts over minutes),
with their interquartile range::

    .venv/bin/python benchmarks/ray_overhead.py            # the full run (< 10 minutes on 2 cores)
    .venv/bin/python benchmarks/ray_overhead.py --quick    # smaller sizes, one minute or so
    .venv/bin/python benchmarks/ray_overhead.py --only chain fanout

Every workload also runs on ``executors.Thread()`` (``laminar-thread``): in this
process, so for big data the driver holds the array. Driver peak RSS is the
growth of this process's high-water mark (VmHWM, reset through
``/proc/self/clear_refs`` before each run) over its RSS at the start.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors
from laminar.configurations.layers import ForEach, Parameter
from laminar.executors import Executor
from laminar_ray import Ray

GIB = 1 << 30
MIB = 1 << 20


# -- memory ----------------------------------------------------------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> int:
    """Reset this process's peak RSS to its current RSS (Linux); return the current RSS."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    return _status("VmRSS")


def peak_growth(start: int) -> int:
    return max(0, _status("VmHWM") - start)


# -- flows built programmatically ------------------------------------------------------------------


def chain_flow(layers: int) -> type[Flow]:
    """``layers`` dependent layers, each ``self.x = prev.x + 1``."""
    flow = type("Chain", (Flow,), {"__module__": __name__})
    previous: type[Layer] | None = None
    for i in range(layers):
        if previous is None:

            def call(self: Any) -> None:
                self.x = 0

            call.__annotations__ = {"return": None}
        else:

            def call(self: Any, prev: Any) -> None:
                self.x = prev.x + 1

            call.__annotations__ = {"prev": previous, "return": None}
        layer = type(f"L{i}", (Layer,), {"__call__": call, "__module__": __name__})
        flow.register(layer)
        previous = layer
    return flow


class FanOut(Flow): ...


@FanOut.register
class Items(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=list(range(p.count)))


@FanOut.register(foreach=ForEach(parameters=[Parameter(layer=Items, attribute="n")]))
class Square(Layer):
    def __call__(self, items: Items) -> None:
        self.square = items.n * items.n


@FanOut.register
class Total(Layer):
    def __call__(self, square: Square) -> None:
        self.total = sum(square.square)


class Scale(Flow): ...


@Scale.register
class Many(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(n=range(p.count))


@Scale.register(foreach=ForEach(parameters=[Parameter(layer=Many, attribute="n")]))
class Trivial(Layer):
    def __call__(self, many: Many) -> None:
        self.n = many.n


class BigArray(Flow): ...


@BigArray.register
class MakeArray(Layer):
    def __call__(self, p: Parameters) -> None:
        self.array = np.ones(p.size // 8, dtype=np.float64)


@BigArray.register
class SumArray(Layer):
    def __call__(self, make: MakeArray) -> None:
        self.total = float(make.array.sum())


class BigTable(Flow): ...


@BigTable.register
class MakeTable(Layer):
    def __call__(self, p: Parameters) -> None:
        self.table = pa.table({"x": np.ones(p.size // 8, dtype=np.int64)})


@BigTable.register
class SumTable(Layer):
    def __call__(self, make: MakeTable) -> None:
        self.total = pc.sum(make.table["x"]).as_py()


# -- raw Ray counterparts --------------------------------------------------------------------------


@ray.remote
def increment(x: int) -> int:
    return x + 1


@ray.remote
def square(n: int) -> int:
    return n * n


@ray.remote
def total(*values: int) -> int:
    return sum(values)


@ray.remote
def make_array(size: int) -> Any:
    return np.ones(size // 8, dtype=np.float64)


@ray.remote
def sum_array(array: Any) -> float:
    return float(array.sum())


@ray.remote
def make_table(size: int) -> Any:
    return pa.table({"x": np.ones(size // 8, dtype=np.int64)})


@ray.remote
def sum_table(table: Any) -> int:
    return int(pc.sum(table["x"]).as_py())


def raw_chain(layers: int) -> None:
    ref = increment.remote(-1)
    for _ in range(layers - 1):
        ref = increment.remote(ref)
    assert ray.get(ref) == layers - 1


def raw_fanout(count: int) -> None:
    assert ray.get(total.remote(*[square.remote(n) for n in range(count)])) == sum(n * n for n in range(count))


def raw_big(make: Any, add: Any, size: int) -> None:
    assert ray.get(add.remote(make.remote(size))) == size // 8


# -- measuring -------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    rss: int  # driver peak RSS growth, bytes
    cpu: float  # driver process CPU seconds


def measure(body: Callable[[], None]) -> Sample:
    start_rss = reset_peak()
    cpu = time.process_time()
    started = time.perf_counter()
    body()
    sample = Sample(time.perf_counter() - started, peak_growth(start_rss), time.process_time() - cpu)
    _clean()
    return sample


def laminar_run(
    flow: type[Flow], executor: Executor, check: Callable[[Any], None], **parameters: Any
) -> Callable[[], None]:
    def body() -> None:
        root = tempfile.mkdtemp(prefix="laminar-bench-")
        _roots.append(root)
        execution = flow(datastore=datastores.Local(root), executor=executor)(progress=False, **parameters)
        check(execution)

    return body


_roots: list[str] = []  # datastores of finished runs, removed after each measurement (not timed)


def _clean() -> None:
    while _roots:
        shutil.rmtree(_roots.pop(), ignore_errors=True)
    # The disk's writeback of the run just measured (and of its removal) must not land on the next one.
    os.sync()


def median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(sample, field) for sample in samples)


def paired_ratio(found: list[Sample], raw: list[Sample]) -> str:
    """The median of the rounds' ratios to raw Ray, each between two runs of one round (seconds apart),
    with their interquartile range: the machine's speed drifts between rounds, which a ratio of the two
    variants' medians would mix in."""
    ratios = [sample.seconds / base.seconds for sample, base in zip(found, raw, strict=True)]
    if len(ratios) < 4:
        return f"{statistics.median(ratios):5.2f}x raw"
    low, _, high = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):5.2f}x raw (IQR {low:.2f}-{high:.2f})"


def compare(
    title: str, tasks: int, variants: dict[str, Callable[[], None]], rounds: int, *, warm: bool = True
) -> dict[str, list[Sample]]:
    """Run every variant once per round, interleaved; print medians and the paired ratios to ``raw``."""
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    if warm:  # functions exported, workers started, caches filled: not measured
        for body in variants.values():
            body()
            _clean()
    for _ in range(rounds):
        for name, body in variants.items():
            samples[name].append(measure(body))
    raw = samples.get("raw")
    print(f"\n{title} ({tasks} tasks, median of {rounds})")
    for name, found in samples.items():
        seconds = median(found, "seconds")
        ratio = paired_ratio(found, raw) if raw is not None and name != "raw" else ""
        print(
            f"  {name:<14} {seconds:8.3f} s  {1000 * seconds / tasks:8.3f} ms/task  {ratio:<26}"
            f"  driver peak +{median(found, 'rss') / MIB:7.1f} MiB  driver CPU {median(found, 'cpu'):7.2f} s"
        )
    sys.stdout.flush()
    return samples


def check_chain(layers: int) -> Callable[[Any], None]:
    last = f"L{layers - 1}"

    def check(execution: Any) -> None:
        assert execution.layer(last).x == layers - 1

    return check


def check_fanout(count: int) -> Callable[[Any], None]:
    def check(execution: Any) -> None:
        assert execution.layer(Total).total == sum(n * n for n in range(count))

    return check


def run_chain(args: argparse.Namespace, ray_executor: Ray) -> None:
    layers = 20 if args.quick else 100
    flow = chain_flow(layers)
    compare(
        f"chain: {layers} dependent layers",
        layers,
        {
            "raw": lambda: raw_chain(layers),
            "laminar": laminar_run(flow, ray_executor, check_chain(layers)),
            "laminar-thread": laminar_run(flow, executors.Thread(), check_chain(layers)),
        },
        args.rounds,
    )


def run_fanout(args: argparse.Namespace, ray_executor: Ray) -> None:
    counts = [200] if args.quick else [1_000, 10_000]
    for count in counts:
        variants: dict[str, Callable[[], None]] = {
            "raw": lambda count=count: raw_fanout(count),  # type: ignore[misc]
            "laminar": laminar_run(FanOut, ray_executor, check_fanout(count), count=count),
            "laminar-thread": laminar_run(FanOut, executors.Thread(), check_fanout(count), count=count),
        }
        # The first size warms up (workers, exported functions); the next needs no warm-up round of its own.
        warm = count == counts[0]
        rounds = args.rounds if count <= 1_000 else args.big_rounds
        compare(f"fan-out: ForEach over {count} items + join", count + 2, variants, rounds, warm=warm)


def run_big(args: argparse.Namespace, ray_executor: Ray) -> None:
    size = 128 * MIB if args.quick else GIB

    def checked(expected: Any) -> Callable[[Any], None]:
        def check(execution: Any) -> None:
            assert expected(execution) == size // 8

        return check

    for label, flow, layer, make, add in [
        ("numpy array", BigArray, SumArray, make_array, sum_array),
        ("Arrow table", BigTable, SumTable, make_table, sum_table),
    ]:
        check = checked(lambda e, layer=layer: e.layer(layer).total)  # type: ignore[misc]
        found = compare(
            f"big data: a {size / GIB:g} GiB {label} made by one layer, summed by the next",
            2,
            {
                "raw": lambda make=make, add=add: raw_big(make, add, size),  # type: ignore[misc]
                "laminar": laminar_run(flow, ray_executor, check, size=size),
                # in-process: the driver holds the array while a layer makes it or sums it
                "laminar-thread": laminar_run(flow, executors.Thread(), check, size=size),
            },
            args.big_rounds,
            warm=False,  # seconds per run: a first export of the functions is noise
        )
        growth = median(found["laminar"], "rss")
        print(f"  laminar driver peak RSS growth: {growth / MIB:.1f} MiB = {100 * growth / size:.1f}% of the artifact")


def run_scale(args: argparse.Namespace, ray_executor: Ray) -> None:
    count = 5_000 if args.quick else 100_000

    def check(execution: Any) -> None:
        assert execution.layer(Trivial).splits == count

    found = compare(
        f"scale: ForEach over {count} splits, trivial work",
        count + 1,
        {
            "laminar": laminar_run(Scale, ray_executor, check, count=count),
            "laminar-thread": laminar_run(Scale, executors.Thread(), check, count=count),
        },
        1,
        warm=False,
    )
    for name, (sample,) in found.items():
        print(
            f"  {name}: wall {sample.seconds:.1f} s, driver peak RSS +{sample.rss / MIB:.0f} MiB, "
            f"driver CPU {1e6 * sample.cpu / count:.0f} us per split"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a minute or so")
    parser.add_argument(
        "--rounds", type=int, default=15, help="rounds (median) of the chain and the fan-outs up to 1,000; default 15"
    )
    parser.add_argument(
        "--big-rounds", type=int, default=3, help="rounds of the runs that take seconds: fan-out of 10,000, big data"
    )
    parser.add_argument("--only", nargs="*", choices=["chain", "fanout", "big", "scale"], default=None)
    args = parser.parse_args()
    chosen = args.only or ["chain", "fanout", "big", "scale"]
    started = time.perf_counter()
    ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:
        executor = Ray()
        raw_fanout(100)  # workers started, functions exported
        laminar_run(FanOut, executor, check_fanout(100), count=100)()
        _clean()
        print(f"laminar vs raw Ray, {os.cpu_count()} cores, Ray {ray.__version__}; durable Local datastore in /tmp")
        for name, function in [("chain", run_chain), ("fanout", run_fanout), ("big", run_big), ("scale", run_scale)]:
            if name in chosen:
                function(args, executor)
    finally:
        ray.shutdown()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
