"""The fan-out benchmark's second run with caching on, against its first: time and datastore requests.

``benchmarks/ray_overhead.py``'s fan-out (``Items`` shards ``count`` numbers, ``Square`` squares each in
a foreach split, ``Total`` joins them), on one local Ray, with ``FanOut(cache=Cache())``: every layer
cached. Each round runs, on a fresh datastore, a first run with the cache off, then (on another fresh
datastore) a cold run with it on (which writes the entries) and the second, warm run that takes every
unit from the cache: paired in one round, the median of ``--rounds`` printed. On ``Local`` (durable,
in /tmp) for time; on S3 (moto in server mode on loopback) for time and requests, counted by the
server: every HTTP request of every process (the driver and Ray's workers)::

    .venv/bin/python benchmarks/cache.py            # 1,000 items, 5 rounds
    .venv/bin/python benchmarks/cache.py --quick    # 200 items, 3 rounds
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray
from ray_overhead import FanOut, Total

from laminar.configurations import datastores
from laminar.configurations.layers import Cache
from laminar.datastore import Datastore
from laminar_ray import Ray


class Counting:
    """A WSGI middleware that counts the requests it passes on (thread safe)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.count += 1
        return self.app(environ, start_response)


class S3:
    """moto's S3 on 127.0.0.1 behind :class:`Counting`."""

    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.counting = Counting(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, self.counting, threaded=True)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def datastore(self) -> Datastore:
        import boto3

        options = {
            "endpoint_url": self.endpoint,
            "key": "k",
            "secret": "s",
            "client_kwargs": {"region_name": "us-east-1"},
        }
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        client.create_bucket(Bucket=bucket)
        return datastores.S3(root=f"s3://{bucket}/laminar", **options)

    def stop(self) -> None:
        self._server.shutdown()


def timed(run: Callable[[], Any], counter: Counting | None) -> tuple[float, int]:
    before = counter.count if counter is not None else 0
    started = time.perf_counter()
    run()
    return time.perf_counter() - started, (counter.count - before) if counter is not None else 0


def round_on(make: Callable[[], Datastore], executor: Ray, count: int, counter: Counting | None) -> dict[str, Any]:
    """One round: a first run without the cache, then a cold and a warm run with it, each checked."""
    expected = sum(n * n for n in range(count))

    def run(store: Datastore, cache: Cache | None) -> Callable[[], None]:
        def body() -> None:
            execution = FanOut(datastore=store, executor=executor, cache=cache)(progress=False, count=count)
            assert execution.layer(Total).total == expected

        return body

    found = {"off": timed(run(make(), None), counter)}
    cached = make()
    found["cold"] = timed(run(cached, Cache()), counter)
    found["warm"] = timed(run(cached, Cache()), counter)
    return found


def report(title: str, rounds: list[dict[str, Any]], requests: bool) -> None:
    print(f"\n{title} (median of {len(rounds)})")
    for name, label in [
        ("off", "first run, cache off"),
        ("cold", "first run, cache on"),
        ("warm", "second run, cache on"),
    ]:
        seconds = statistics.median(r[name][0] for r in rounds)
        ratio = statistics.median(r[name][0] / r["off"][0] for r in rounds)
        line = f"  {label:<22} {seconds:8.3f} s  {ratio:5.2f}x the first run without cache"
        if requests:
            line += f"  {statistics.median(r[name][1] for r in rounds):7.0f} requests"
        print(line)
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 items, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (median); default 5, 3 with --quick")
    parser.add_argument("--count", type=int, default=None, help="foreach items; default 1,000, 200 with --quick")
    args = parser.parse_args()
    count = args.count or (200 if args.quick else 1_000)
    rounds = args.rounds or (3 if args.quick else 5)
    started = time.perf_counter()
    ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    roots: list[str] = []
    s3 = S3()
    try:
        executor = Ray()

        def local() -> Datastore:
            roots.append(tempfile.mkdtemp(prefix="laminar-bench-cache-"))
            return datastores.Local(roots[-1])

        round_on(local, executor, 50, None)  # workers started, functions exported: not measured
        print(f"fan-out of {count} items + join, caching off and on, {os.cpu_count()} cores, Ray {ray.__version__}")
        report(
            f"Local datastore: {count + 2} units",
            [round_on(local, executor, count, None) for _ in range(rounds)],
            False,
        )
        report(
            f"S3 (moto on loopback): {count + 2} units, requests counted by the server",
            [round_on(s3.datastore, executor, count, s3.counting) for _ in range(rounds)],
            True,
        )
    finally:
        ray.shutdown()
        s3.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
