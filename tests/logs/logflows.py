"""Flows the log tests run in processes of their own (importable by name: their workers import it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from laminar import Flow, Layer, Parameters
from laminar.configurations.layers import ForEach, Parameter, Retry


class Noisy(Flow): ...


@Noisy.register
class Items(Layer):
    def __call__(self) -> None:
        self.shard(n=[0, 1, 2])


@Noisy.register(foreach=ForEach(parameters=[Parameter(layer=Items, attribute="n")]))
class Shout(Layer):
    def __call__(self, items: Items, p: Parameters) -> None:
        print(f"loud {items.n} out")
        print(f"loud {items.n} err", file=sys.stderr)
        sys.stdout.flush()
        subprocess.run([sys.executable, "-c", f"print('from a subprocess {items.n}')"], check=True)
        if items.n == p.fail:
            raise ValueError(f"split {items.n} fails")
        self.n = items.n


class Flaky(Flow): ...


@Flaky.register(retry=Retry(attempts=2, delay=0))
class Again(Layer):
    def __call__(self) -> None:
        print(f"try {self.state.attempt}")
        if self.state.attempt == 1:
            raise RuntimeError("the first try fails")
        self.ok = True


class Doomed(Flow): ...


@Doomed.register
class Dies(Layer):
    def __call__(self) -> None:
        print("before dying", flush=True)
        time.sleep(2.5)  # long enough for its log to be written while it runs
        os.kill(os.getpid(), signal.SIGKILL)


class Slow(Flow): ...


@Slow.register
class Talk(Layer):
    def __call__(self, p: Parameters) -> None:
        for n in range(p.lines):
            print(f"line {n}", flush=True)
            time.sleep(p.pause)
        self.done = True


class Long(Flow): ...


@Long.register
class Much(Layer):
    def __call__(self, p: Parameters) -> None:
        print("a" * 100 + "m" * (p.size - 200) + "z" * 100)


class Chatty(Flow): ...


@Chatty.register
class Topics(Layer):
    def __call__(self) -> None:
        self.shard(n=[0, 1, 2, 3])


@Chatty.register(foreach=ForEach(parameters=[Parameter(layer=Topics, attribute="n")]))
class Say(Layer):
    def __call__(self, topics: Topics) -> None:
        import logging

        for k in range(3):
            print(f"said {topics.n}.{k}", flush=True)
            logging.getLogger("user").warning("warned %s.%s", topics.n, k)
            time.sleep(0.25)
        self.n = topics.n


class Queue(Flow): ...


@Queue.register
class Tickets(Layer):
    def __call__(self) -> None:
        self.shard(n=list(range(8)))


@Queue.register(foreach=ForEach(parameters=[Parameter(layer=Tickets, attribute="n")]))
class Serve(Layer):
    def __call__(self, tickets: Tickets) -> None:
        time.sleep(4)  # 8 splits on 2 CPUs: most wait their turn, long past the autoscaler's first report
        self.n = tickets.n
